"""``fp8``: an operator's linear layers computed in float8 (e4m3) with dynamic activation scaling.

Not pruning, but the same kind of decision: it changes the output a little (scored by LD-Pruner /
LAPTOP like any modification) and saves latency on GPUs with FP8 tensor cores (profiled like any
modification), so the planner can trade it against removals under one budget. Attention q/k/v/out
and feed-forward linears qualify when both their dimensions are multiples of 16 (``_scaled_mm``'s
rule). Weights are quantized once with one scale per tensor; activations get one scale per call
(amax / 448), the "dynamic per-tensor" recipe of torchao's float8 inference configs.

It runs in PyTorch only: ``torch._scaled_mm`` has no ONNX form, so export and the ONNX Runtime /
TensorRT runners refuse an FP8 model, and only GPUs of compute capability 8.9 or newer (Ada,
Hopper, Blackwell) run it fast. On the CPU it runs (for scoring) but saves nothing.
"""

from __future__ import annotations

import torch
from torch import nn

from .mods import _shallow_copy

E4M3 = getattr(torch, "float8_e4m3fn", None)
E4M3_MAX = 448.0
_KINDS = ("attn1", "attn2", "attention", "ff")


class Fp8Linear(nn.Module):
    """``nn.Linear`` with e4m3 weights (one scale) and per-call activation scaling."""

    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        scale = (w.abs().amax().float() / E4M3_MAX).clamp_min(1e-12)
        # Stored as integer views: model.half() / .to(dtype) cast every floating tensor, and would turn
        # the 8-bit weight back into 16 bits and the scale _scaled_mm wants in fp32 into fp16. A frozen
        # parameter, not a buffer: size budgets and the catalogue count it like the weight it replaces.
        self.weight_u8 = nn.Parameter((w.float() / scale).to(E4M3).view(torch.uint8), requires_grad=False)
        self.register_buffer("scale_i32", scale.reshape(1).view(torch.int32))
        self.bias = linear.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, self.in_features)
        a_scale = (x2.abs().amax().float() / E4M3_MAX).clamp_min(1e-12)
        xq = (x2.float() / a_scale).to(E4M3).contiguous()   # _scaled_mm wants a row-major left operand
        # mat2 must be column-major: the (out, in) row-major weight transposed is
        w_scale = self.scale_i32.view(torch.float32).reshape(())
        out = torch._scaled_mm(xq, self.weight_u8.view(E4M3).t(), scale_a=a_scale, scale_b=w_scale,
                               out_dtype=x.dtype)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fp8=e4m3"


def _linears(kind: str, module: nn.Module) -> dict[str, nn.Linear]:
    """Attribute path -> linear layer, for the layers ``fp8`` converts."""
    if kind == "ff":
        net = getattr(module, "net", None)
        if net is None:
            return {}
        out = {f"net.{i}": l for i, l in enumerate(net) if isinstance(l, nn.Linear)}
        proj = getattr(net[0], "proj", None)
        if isinstance(proj, nn.Linear):
            out["net.0.proj"] = proj
        return out
    out = {n: getattr(module, n, None) for n in ("to_q", "to_k", "to_v")}
    to_out = getattr(module, "to_out", None)
    if to_out is not None and len(to_out) and isinstance(to_out[0], nn.Linear):
        out["to_out.0"] = to_out[0]
    return {n: l for n, l in out.items() if isinstance(l, nn.Linear)}


def fp8_eligible(kind: str, module: nn.Module) -> bool:
    ls = _linears(kind, module) if kind in _KINDS and E4M3 is not None else {}
    return bool(ls) and all(l.in_features % 16 == 0 and l.out_features % 16 == 0 for l in ls.values())


def _replace(root: nn.Module, path: str, new: nn.Module) -> nn.Module:
    """A shallow copy of ``root`` with the child at dotted ``path`` replaced (copies along the path)."""
    head, _, rest = path.partition(".")
    copy_ = _shallow_copy(root)
    child = root._modules[head]
    copy_._modules[head] = new if not rest else _replace(child, rest, new)
    return copy_


def quantized_copy(kind: str, module: nn.Module) -> nn.Module:
    """A shallow copy of ``module`` with its eligible linears in FP8 (the original is untouched)."""
    new = module
    # the GEGLU projection sits inside net.0: convert the deepest paths first
    for path, lin in sorted(_linears(kind, module).items(), key=lambda kv: -kv[0].count(".")):
        new = _replace(new, path, Fp8Linear(lin))
    return new


def has_fp8(model: nn.Module) -> bool:
    return any(isinstance(m, Fp8Linear) for m in model.modules())


def fp8_runs_fast_here(device: torch.device | str) -> tuple[bool, str]:
    """Whether FP8 matmuls run on tensor cores on ``device`` (else why not, in words)."""
    device = torch.device(device)
    if device.type != "cuda":
        return False, f"{device.type} has no FP8 tensor cores (fp8 plans are timed on CUDA GPUs of compute capability >= 8.9)"
    cap = torch.cuda.get_device_capability(device)
    if cap < (8, 9):
        return False, f"{torch.cuda.get_device_name(device)} (compute capability {cap[0]}.{cap[1]}) has no FP8 tensor cores; it needs 8.9 or newer"
    return True, ""
