"""Probe: which torch settings bring the FULL SD1.5 UNet under 6 ms a call on one GPU, and what FP8 linears add.

Self-contained on purpose (no ``ldprune_deploy`` import): it builds the SD1.5 UNet with diffusers'
``UNet2DConditionModel`` from the config in ``ldprune_deploy/presets.py`` (copied below), random
weights drawn on the GPU, fp16, batch 2 (a CFG pair), 512x512 (latent 64x64), text 77x768.

Each variant is a set of settings (memory format, fused QKV, SDPA backend, cuDNN benchmark,
FP8 linears, eager or ``torch.compile`` with some inductor options, and whose CUDA graph):
it is built on its own deep copy of the model, called once (the compile, timed as ``compile_s``),
captured, timed alone briefly, and checked against the fp16 (and fp32) eager output. At the end all
built variants are timed INTERLEAVED in one process (rounds x calls, the order rotated each round),
so their ratios are paired. Each variant's failure is recorded, not fatal; a watchdog writes the
JSON and stops the process at ``--seconds-budget`` whatever is running.

GPU (the H200 machine; diffusers travels as a wheel in the git-ignored .whl/):
    pip install -q --no-deps --target /tmp/site .whl/*.whl
    PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 python3 benchmarks/fast_unet_probe.py \
        --out $OUT/probe.json --seconds-budget 540
CPU smoke (tiny UNet, fp32; checks the script end to end, its figures mean nothing):
    python3 benchmarks/fast_unet_probe.py --smoke --out /tmp/probe.json

Variant names (``--variants a,b,...``; ``--list`` prints them with their settings):
    eager_graph*   eager UNet inside one CUDA graph of our own
    ro*            torch.compile(mode="reduce-overhead") (inductor's CUDA graph trees)
    cl_frz*        torch.compile(options=freezing + conv_1x1_as_mm [+ GEMM autotune]) with fused QKV,
                   channels_last, inside one CUDA graph of our own (``torch.cuda.CUDAGraph``)
    *_fp8*         every nn.Linear of the transformer blocks through ``torch._scaled_mm`` in
                   float8 e4m3 (weights pre-quantized, activations scaled dynamically per tensor or per row)
Variants that differ only in the cuDNN benchmark flag share one compiled artifact: the flag acts
at capture, when cuDNN picks its convolution algorithms. GEMM-autotuning variants (``*_mm*``,
``*_mat*``) are built last, after a first interleaved timing of the others: cold, their autotuning
took > 5 minutes on the H200 (about 14 s per GEMM shape), so a budget cut still leaves paired figures.

Results: benchmarks/results/runners/h200-fast-probe-2026-12-04.json (and .log), two runs on one H200.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import subprocess
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

SCHEMA = "ldprune.fast-unet-probe/1"

# ldprune_deploy/presets.py, "sd15" (diffusers' published SD1.5 unet/config.json)
_SD_DOWN = ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"]
_SD_UP = ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3
SD15 = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
            block_out_channels=[320, 640, 1280, 1280], down_block_types=_SD_DOWN, up_block_types=_SD_UP,
            cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32,
            flip_sin_to_cos=True, freq_shift=0, act_fn="silu", downsample_padding=1)
# same block structure, tiny widths (CPU smoke); widths stay multiples of 16 for the FP8 path
TINY = dict(SD15, block_out_channels=[32, 64, 64, 64], cross_attention_dim=32, norm_num_groups=8)

FLOPS_SD15_B2_512 = 1.607e12     # per call (README); floor at the H200's ~790 TFLOP/s bf16 GEMM rate
GEMM_RATE = 790e12

_FRZ = {"freezing": True, "conv_1x1_as_mm": True}
_MM = {"max_autotune_gemm": True, "max_autotune_gemm_backends": "ATEN,TRITON",
       "max_autotune_conv_backends": "ATEN", "coordinate_descent_tuning": False, "max_autotune_pointwise": False}

# settings: engine eager|compile; graph own|inductor|none; channels_last; fuse_qkv; sdpa default|cudnn;
# cudnn_benchmark (at capture); fp8 None|tensor|row; mode / options for torch.compile
VARIANTS: dict[str, dict[str, Any]] = {
    "eager_graph": dict(engine="eager", graph="own"),
    "eager_graph_cl": dict(engine="eager", graph="own", channels_last=True),
    "eager_graph_cl_bench": dict(engine="eager", graph="own", channels_last=True, cudnn_benchmark=True),
    "eager_graph_cl_cudnnattn": dict(engine="eager", graph="own", channels_last=True, sdpa="cudnn"),
    "eager_graph_cl_fp8": dict(engine="eager", graph="own", channels_last=True, fp8="tensor"),
    "ro": dict(engine="compile", graph="inductor", mode="reduce-overhead"),
    "ro_cl": dict(engine="compile", graph="inductor", mode="reduce-overhead", channels_last=True),
    "cl_frz": dict(engine="compile", graph="own", channels_last=True, fuse_qkv=True, options=_FRZ),
    "cl_frz_bench": dict(engine="compile", graph="own", channels_last=True, fuse_qkv=True, options=_FRZ,
                         cudnn_benchmark=True),
    "cl_frz_cudnnattn_bench": dict(engine="compile", graph="own", channels_last=True, fuse_qkv=True, options=_FRZ,
                                   sdpa="cudnn", cudnn_benchmark=True),
    # cuDNN attention is torch 2.11's pick for every SD1.5 shape; the two others first instead
    "cl_frz_flash": dict(engine="compile", graph="own", channels_last=True, fuse_qkv=True, options=_FRZ, sdpa="flash"),
    "cl_frz_eff": dict(engine="compile", graph="own", channels_last=True, fuse_qkv=True, options=_FRZ,
                       sdpa="efficient"),
    # inductor fuses nodes that share no buffer too: fewer of the ~610 kernels (and their ~0.24 ms of gaps) a call
    "cl_frz_aggr": dict(engine="compile", graph="own", channels_last=True, fuse_qkv=True,
                        options={**_FRZ, "aggressive_fusion": True}),
    "cl_frz_fp8": dict(engine="compile", graph="own", channels_last=True, fuse_qkv=True, options=_FRZ, fp8="tensor"),
    "cl_frz_fp8_bench": dict(engine="compile", graph="own", channels_last=True, fuse_qkv=True, options=_FRZ,
                             fp8="tensor", cudnn_benchmark=True),
    "cl_frz_fp8row": dict(engine="compile", graph="own", channels_last=True, fuse_qkv=True, options=_FRZ, fp8="row"),
    "cl_frz_fp8row_bench": dict(engine="compile", graph="own", channels_last=True, fuse_qkv=True, options=_FRZ,
                                fp8="row", cudnn_benchmark=True),
    "cl_frz_mm_bench": dict(engine="compile", graph="own", channels_last=True, fuse_qkv=True,
                            options={**_FRZ, **_MM}, cudnn_benchmark=True),
    "cl_frz_mm_fp8_bench": dict(engine="compile", graph="own", channels_last=True, fuse_qkv=True,
                                options={**_FRZ, **_MM}, fp8="tensor", cudnn_benchmark=True),
    "cl_frz_mat_bench": dict(engine="compile", graph="own", channels_last=True, fuse_qkv=True,
                             mode="max-autotune-no-cudagraphs", options=_FRZ, cudnn_benchmark=True),
    "cl_ro_frz": dict(engine="compile", graph="inductor", channels_last=True, fuse_qkv=True,
                      options={**_FRZ, "triton.cudagraphs": True}, cudnn_benchmark=True),
}
DEFAULT = ("eager_graph,eager_graph_cl,eager_graph_cl_bench,eager_graph_cl_cudnnattn,eager_graph_cl_fp8,"
           "ro_cl,cl_frz,cl_frz_bench,cl_frz_fp8,cl_frz_fp8_bench,cl_frz_mm_bench,ro")

T0 = time.perf_counter()


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


# ----------------------------------------------------------------------------------------- state

class State:
    """Everything the JSON holds; written after each step and by the watchdog at the deadline."""

    def __init__(self, out: Path, args):
        self.out = out
        self.lock = threading.Lock()
        self.doc: dict[str, Any] = {"schema": SCHEMA, "status": "running", "args": vars(args), "variants": []}

    def write(self) -> None:
        with self.lock:
            self.doc["elapsed_s"] = round(time.perf_counter() - T0, 1)
            tmp = self.out.with_suffix(self.out.suffix + ".tmp")
            tmp.write_text(json.dumps(self.doc, indent=1, default=str))
            os.replace(tmp, self.out)


def fingerprint(device: str) -> dict[str, Any]:
    import diffusers
    fp: dict[str, Any] = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "python": platform.python_version(),
                          "torch": torch.__version__, "diffusers": diffusers.__version__, "cpu_count": os.cpu_count()}
    try:
        import triton
        fp["triton"] = triton.__version__
    except ImportError as e:
        fp["triton"] = f"unavailable: {e}"
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        fp.update(gpu=torch.cuda.get_device_name(), capability=".".join(map(str, torch.cuda.get_device_capability())),
                  sm_count=p.multi_processor_count, memory_gib=round(p.total_memory / 2**30, 1),
                  cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
        try:
            q = "driver_version,name,memory.total,clocks.sm,clocks.max.sm,power.draw,power.limit,temperature.gpu"
            r = subprocess.run(["nvidia-smi", f"--query-gpu={q}", "--format=csv,noheader"], capture_output=True,
                               text=True, timeout=20, check=False)
            fp["nvidia_smi"] = dict(zip(q.split(","), [s.strip() for s in r.stdout.strip().split(",")]))
            fp["driver"] = fp["nvidia_smi"].get("driver_version")
        except Exception as e:  # noqa: BLE001
            fp["nvidia_smi"] = f"unavailable: {e}"
    return fp


# ------------------------------------------------------------------------------------------ FP8

E4M3_MAX = 448.0


class FP8Linear(torch.nn.Module):
    """``y = x W^T + b`` through ``torch._scaled_mm`` in float8 e4m3.

    Weights are quantized once (per tensor, or per output row for ``row``); activations are
    scaled dynamically each call by their amax (per tensor, or per row). ``_scaled_mm`` wants
    A row-major (M, K) and B column-major (K, N): ``wq`` is stored (N, K) row-major and passed
    transposed. Per-row scaling is run with a bf16 output (what cuBLASLt supports for it) and
    cast back. K and N must be multiples of 16 (the caller checks).
    """

    def __init__(self, lin: torch.nn.Linear, scaling: str, bias_in_mm: bool = True):
        super().__init__()
        self.scaling = scaling
        self.bias_in_mm = bias_in_mm and scaling == "tensor"
        self.out_dtype = lin.weight.dtype
        w = lin.weight.detach().float()
        if scaling == "tensor":
            ws = (w.abs().amax() / E4M3_MAX).clamp(min=1e-12)
            self.register_buffer("w_scale", ws.reshape(()).contiguous())
        elif scaling == "row":
            ws = (w.abs().amax(dim=1, keepdim=True) / E4M3_MAX).clamp(min=1e-12)   # (N, 1)
            self.register_buffer("w_scale", ws.t().contiguous())                        # (1, N)
        else:
            raise ValueError(f"unknown fp8 scaling {scaling!r}")
        self.register_buffer("wq", (w / ws).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn).contiguous())
        self.register_buffer("bias", None if lin.bias is None else lin.bias.detach().clone())
        self.in_features, self.out_features = lin.in_features, lin.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x2 = x.reshape(-1, shape[-1])
        if self.scaling == "tensor":
            s = (x2.abs().amax().float() / E4M3_MAX).clamp(min=1e-12)
            xq = (x2.float() / s).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn).contiguous()
            y = torch._scaled_mm(xq, self.wq.t(), scale_a=s, scale_b=self.w_scale,
                                 bias=self.bias if self.bias_in_mm else None, out_dtype=self.out_dtype)
            if self.bias is not None and not self.bias_in_mm:
                y = y + self.bias
        else:
            s = (x2.abs().amax(dim=1, keepdim=True).float() / E4M3_MAX).clamp(min=1e-12)   # (M, 1)
            xq = (x2.float() / s).clamp(-E4M3_MAX, E4M3_MAX).to(torch.float8_e4m3fn).contiguous()
            y = torch._scaled_mm(xq, self.wq.t(), scale_a=s, scale_b=self.w_scale, out_dtype=torch.bfloat16)
            y = y.to(self.out_dtype)
            if self.bias is not None:
                y = y + self.bias
        return y.reshape(*shape[:-1], self.out_features)


def _bias_in_scaled_mm_ok(device, dtype) -> bool:
    """Whether this build's ``_scaled_mm`` takes a bias of the output dtype (cuBLASLt epilogue)."""
    try:
        a = torch.randn(16, 32, device=device).to(torch.float8_e4m3fn)
        one = torch.ones((), device=device)
        torch._scaled_mm(a, a.t(), scale_a=one, scale_b=one, bias=torch.zeros(16, device=device, dtype=dtype),
                         out_dtype=dtype)
        return True
    except Exception:  # noqa: BLE001
        return False


def swap_fp8(model: torch.nn.Module, scaling: str) -> dict[str, Any]:
    """Every nn.Linear inside a transformer block (attn q/k/v/out, fused qkv/kv, GEGLU proj, ff out) -> FP8.

    SD1.5's proj_in / proj_out are 1x1 convolutions (use_linear_projection=False): not converted here.
    """
    p = next(model.parameters())
    bias_ok = _bias_in_scaled_mm_ok(p.device, p.dtype)
    n = skipped = 0
    for name, mod in list(model.named_modules()):
        if "transformer_blocks" not in name:
            continue
        for cname, child in list(mod.named_children()):
            if type(child) is torch.nn.Linear:
                if child.in_features % 16 or child.out_features % 16:
                    skipped += 1
                    continue
                setattr(mod, cname, FP8Linear(child, scaling, bias_in_mm=bias_ok))
                n += 1
    return {"fp8_linears": n, "fp8_skipped_not_multiple_of_16": skipped, "fp8_bias_in_scaled_mm": bias_ok}


# ------------------------------------------------------------------------------------- building

def sdpa_ctx(which: str):
    if which in (None, "default"):
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel
    # the named backend first where it supports the shape, the others after it
    firsts = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
              "efficient": SDPBackend.EFFICIENT_ATTENTION}
    if which not in firsts:
        raise ValueError(f"unknown sdpa setting {which!r}")
    order = [firsts[which]] + [b for b in firsts.values() if b is not firsts[which]]
    try:
        return sdpa_kernel(order, set_priority=True)
    except TypeError:
        return sdpa_kernel(order)


def flags_ctx(spec: dict[str, Any], device: str):
    stack = contextlib.ExitStack()
    if device == "cuda":
        stack.enter_context(torch.backends.cudnn.flags(enabled=True, benchmark=bool(spec.get("cudnn_benchmark")),
                                                       deterministic=False, allow_tf32=True))
    stack.enter_context(sdpa_ctx(spec.get("sdpa")))
    return stack


def _unique_code(fn: Callable, tag: str) -> Callable:
    """A copy of ``fn`` with its own code object: dynamo keeps its cache per code object, so each
    variant's compile is isolated from the others' (no stale entry of another layout or config)."""
    code = fn.__code__.replace(co_name=f"unet_{tag}")
    return types.FunctionType(code, fn.__globals__, code.co_name, fn.__defaults__, fn.__closure__)


def artifact_key(spec: dict[str, Any]) -> str:
    """Variants with an own CUDA graph that differ only in ``cudnn_benchmark`` share the compiled callable."""
    k = {k: v for k, v in spec.items() if not (k == "cudnn_benchmark" and spec.get("graph") == "own")}
    return json.dumps(k, sort_keys=True, default=str)


class Built:
    def __init__(self, name, spec, call, out_fn, model):
        self.name, self.spec, self.call, self.out_fn, self.model = name, spec, call, out_fn, model


def prepare_model(base, spec, device, inputs) -> tuple[torch.nn.Module, dict[str, Any], Callable[[], Any]]:
    info: dict[str, Any] = {}
    model = copy.deepcopy(base)
    if spec.get("channels_last"):
        model.to(memory_format=torch.channels_last)
    if spec.get("fuse_qkv"):
        model.fuse_qkv_projections()
    if spec.get("fp8"):
        info.update(swap_fp8(model, spec["fp8"]))
    model.eval().requires_grad_(False)
    sample = inputs["sample_cl"] if spec.get("channels_last") else inputs["sample"]
    t, ehs = inputs["timestep"], inputs["encoder_hidden_states"]

    def raw():
        return model(sample, t, ehs, return_dict=False)[0]
    return model, info, raw


def build_artifact(name, spec, base, device, inputs) -> tuple[Callable[[], Any], torch.nn.Module, dict[str, Any]]:
    """The callable to capture / call (compiled if asked) and its first call done."""
    model, info, raw = prepare_model(base, spec, device, inputs)
    fn = raw
    if spec["engine"] == "compile":
        import torch._inductor.config as ic
        opts = dict(spec.get("options") or {})
        if device != "cuda":
            opts.pop("triton.cudagraphs", None)
        mode = spec.get("mode")
        kw: dict[str, Any] = {"fullgraph": True, "dynamic": False}
        patch = dict(opts)
        if mode and opts:
            # torch.compile takes mode or options, not both: spell the mode's options out
            from torch._inductor import list_mode_options
            patch = {**list_mode_options(mode), **opts}
            if device != "cuda":
                patch.pop("triton.cudagraphs", None)
            kw["options"] = patch
        elif mode:
            kw["mode"] = mode
        elif opts:
            kw["options"] = opts
        info["compile_kwargs"] = {k: v for k, v in kw.items()}
        compiled = torch.compile(_unique_code(raw, name), **kw)
        graph_trees = spec.get("graph") == "inductor" and device == "cuda"

        def fn():
            if graph_trees:
                torch.compiler.cudagraph_mark_step_begin()
            return compiled()
        with ic.patch(patch):
            t0 = time.perf_counter()
            try:
                fn()
            except Exception as e:
                if "fullgraph" in str(e).lower() or "graph break" in str(e).lower():
                    info["fullgraph_failed"] = repr(e)[:300]
                    compiled = torch.compile(_unique_code(raw, name + "_gb"), **{**kw, "fullgraph": False})
                    fn()
                else:
                    raise
            sync(device)
            info["first_call_s"] = round(time.perf_counter() - t0, 2)
    else:
        t0 = time.perf_counter()
        fn()
        sync(device)
        info["first_call_s"] = round(time.perf_counter() - t0, 2)
    return fn, model, info


def capture(fn: Callable[[], Any], device: str, warmup: int = 3) -> tuple[Callable[[], Any], Callable[[], torch.Tensor]]:
    if device != "cuda":
        holder = {}

        def call():
            holder["out"] = fn()
        return call, lambda: holder["out"]
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        for _ in range(warmup):
            fn()
    torch.cuda.current_stream().wait_stream(s)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        out = fn()
    return g.replay, lambda: out


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


# -------------------------------------------------------------------------------------- timing

def time_block(call: Callable[[], Any], n: int, device: str) -> list[float]:
    if device == "cuda":
        ev = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(n)]
        for a, b in ev:
            a.record()
            call()
            b.record()
        ev[-1][1].synchronize()
        return [a.elapsed_time(b) for a, b in ev]
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1e3)
    return out


def stats(xs: list[float]) -> dict[str, float]:
    s = sorted(xs)

    def q(p):
        i = p * (len(s) - 1)
        lo = int(i)
        hi = min(lo + 1, len(s) - 1)
        return s[lo] + (s[hi] - s[lo]) * (i - lo)
    return {"median_ms": round(q(0.5), 4), "p10_ms": round(q(0.1), 4), "p90_ms": round(q(0.9), 4),
            "min_ms": round(s[0], 4), "n": len(s)}


def rel_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    """max over the batch of ||out_i - ref_i|| / ||ref_i|| (fp64); inf if anything is not finite."""
    o, r = out.detach().double().flatten(1), ref.detach().double().flatten(1)
    if not torch.isfinite(o).all():
        return float("inf")
    return float(((o - r).norm(dim=1) / r.norm(dim=1).clamp(min=1e-30)).max())


def sdpa_choices(device: str, dtype) -> dict[str, Any]:
    """Which fused SDPA kernel torch picks for SD1.5's attention shapes, default and cuDNN-first."""
    if device != "cuda":
        return {}
    names = {0: "math", 1: "flash", 2: "efficient", 3: "cudnn", 4: "overrideable"}
    try:
        from torch.nn.attention import SDPBackend
        names = {int(b.value): b.name.lower() for b in SDPBackend if int(b.value) >= 0}
    except (ImportError, TypeError, ValueError) as e:
        say(f"SDPBackend names unavailable ({e}); using torch 2.x numbering")
    res: dict[str, Any] = {}
    for lq, lk, d in [(4096, 4096, 40), (4096, 77, 40), (1024, 1024, 80), (256, 256, 160), (64, 64, 160)]:
        q = torch.randn(2, 8, lq, d, device=device, dtype=dtype)
        k = torch.randn(2, 8, lk, d, device=device, dtype=dtype)
        row = {}
        for which in ("default", "cudnn"):
            try:
                with sdpa_ctx(which):
                    row[which] = names.get(int(torch._fused_sdp_choice(q, k, k)), "?")
            except Exception as e:  # noqa: BLE001
                row[which] = f"error: {e}"[:120]
        res[f"q{lq}_k{lk}_d{d}"] = row
    return res

def is_autotune(spec: dict[str, Any]) -> bool:
    return bool((spec.get("options") or {}).get("max_autotune_gemm") or "autotune" in str(spec.get("mode")))


def build_variant(name, st, args, base, device, inputs, ref16, ref32, artifacts, built, compile_seen, left) -> None:
    """Build, check and time alone one variant; its record (or its error) goes into ``st``."""
    spec = VARIANTS[name]
    rec: dict[str, Any] = {"name": name, "settings": spec, "compile_s": None, "median_ms": None, "p10_ms": None,
                           "p90_ms": None, "max_rel_err_vs_fp16": None, "error": None}
    st.doc["variants"].append(rec)
    key = artifact_key(spec)
    if spec["engine"] == "compile" and key not in artifacts:
        est = max(compile_seen) if compile_seen else args.compile_estimate_s
        if is_autotune(spec):
            est *= 2.5
    else:
        est = 15.0
    timing_need = 15 + (len(built) + 1) * (args.warmup + args.rounds * args.calls) * 0.012
    if left() < est + timing_need:
        rec["error"] = f"skipped: {left():.0f}s left, needs ~{est:.0f}s to build + {timing_need:.0f}s to time"
        say(f"{name}: {rec['error']}")
        st.write()
        return
    say(f"{name}: building ({json.dumps(spec, default=str)})")
    rec["error"] = "unfinished: still building when the time budget ran out"
    st.write()
    t0 = time.perf_counter()
    try:
        with torch.no_grad(), flags_ctx(spec, device):
            if key in artifacts:
                fn, model, info = artifacts[key]
                info = dict(info, shared_artifact_with=info.get("built_for"))
            else:
                fn, model, info = build_artifact(name, spec, base, device, inputs)
                info["built_for"] = name
                artifacts[key] = (fn, model, info)
            if spec.get("graph") == "own":
                call, out_fn = capture(fn, device)
            else:
                for _ in range(3):   # cudagraph trees: warm-up, record, replay
                    fn()
                holder: dict[str, Any] = {}

                def call(fn=fn, holder=holder):
                    holder["out"] = fn()
                out_fn = lambda holder=holder: holder["out"]
            call()
            sync(device)
        rec["compile_s"] = round(time.perf_counter() - t0, 2)
        rec["error"] = None
        if spec["engine"] == "compile" and "shared_artifact_with" not in info:
            compile_seen.append(rec["compile_s"])
        rec["build"] = info
        o = out_fn()
        rec["max_rel_err_vs_fp16"] = rel_err(o, ref16)
        rec["rel_err_vs_fp32"] = None if ref32 is None else rel_err(o, ref32)
        with torch.no_grad():
            time_block(call, args.warmup, device)
            rec["solo"] = stats(time_block(call, 2 * args.calls, device))
        built.append(Built(name, spec, call, out_fn, model))
        say(f"{name}: built in {rec['compile_s']}s (first call {info.get('first_call_s')}s); "
            f"solo median {rec['solo']['median_ms']:.3f} ms; rel err vs fp16 {rec['max_rel_err_vs_fp16']:.2e}")
    except Exception as e:  # noqa: BLE001
        rec["error"] = f"{type(e).__name__}: {e}"[:2000]
        rec["traceback"] = traceback.format_exc()[-4000:]
        rec["compile_s"] = round(time.perf_counter() - t0, 2)
        say(f"{name}: FAILED after {rec['compile_s']}s: {rec['error'][:300]}")
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
    st.write()


def interleaved(st, args, built, device, left) -> None:
    """All built variants timed in rounds, the order rotated each round; stats replace earlier ones."""
    recs = {r["name"]: r for r in st.doc["variants"]}
    per_call = {b.name: recs[b.name]["solo"]["median_ms"] for b in built}
    round_s = sum(per_call.values()) * args.calls / 1e3 + 0.05 * len(built)
    warm_s = sum(per_call.values()) * args.warmup / 1e3
    rounds = args.rounds
    while rounds > 1 and warm_s + rounds * round_s > left() - 10:
        rounds -= 1
    say(f"interleaved timing: {len(built)} variants, {rounds} rounds x {args.calls} calls")
    samples: dict[str, list[float]] = {b.name: [] for b in built}
    round_medians: dict[str, list[float]] = {b.name: [] for b in built}
    with torch.no_grad():
        for b in built:
            time_block(b.call, args.warmup, device)
        for r in range(rounds):
            k = r % len(built)
            for b in built[k:] + built[:k]:
                xs = time_block(b.call, args.calls, device)
                samples[b.name] += xs
                round_medians[b.name].append(round(stats(xs)["median_ms"], 4))
    ref_name = next((n for n in ("eager_graph", "ro") if n in samples), None)
    for b in built:
        rec = recs[b.name]
        rec.update(stats(samples[b.name]))
        rec["timed"] = "interleaved"
        rec["round_medians_ms"] = round_medians[b.name]
        rec["interleaved_with"] = [x.name for x in built]
        if ref_name:
            # paired: median over rounds of the ratio of round medians
            rs = sorted(a / c for a, c in zip(round_medians[ref_name], round_medians[b.name]))
            rec[f"speedup_vs_{ref_name}"] = round(rs[len(rs) // 2], 3)
    st.doc["timing"]["rounds_run"] = rounds
    st.write()


# first match wins: inductor's kernels are named after the ops they fused ("..._convolution_native_group_norm_silu"),
# so Triton goes first (the 2026-12-04 probe file counted those as convolution: see its README row)
KERNEL_KINDS = (("Triton (inductor)", ("triton_",)),
                ("attention", ("sdpa", "fmha", "flash", "attention", "attn")),
                ("convolution (cuDNN)", ("fprop", "conv", "implicit_gemm", "winograd")),
                ("GEMM (cuBLAS)", ("gemm", "nvjet", "cutlass", "gemv")))


def kernel_kind(name: str) -> str:
    low = name.lower()
    return next((k for k, keys in KERNEL_KINDS if any(x in low for x in keys)), "other")


def profile_variant(b: Built, calls: int, device: str) -> dict[str, Any]:
    """Where one call's GPU time goes: the kernels of ``calls`` replays (torch.profiler / CUPTI, which
    sees the kernels inside a CUDA graph), summed per kernel name and per kind (name patterns)."""
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    with torch.no_grad():
        time_block(b.call, 3, device)
        t0 = time.perf_counter()
        with profile(activities=acts) as prof:
            for _ in range(calls):
                b.call()
            sync(device)
        wall = (time.perf_counter() - t0) / calls
    per: dict[str, list[float]] = {}
    for e in prof.events():
        if device == "cuda" and e.device_type == torch.autograd.DeviceType.CUDA:
            d = per.setdefault(e.name, [0.0, 0])
            d[0] += e.device_time / calls   # us per call (self and total are the same for a kernel)
            d[1] += 1
    total = sum(v[0] for v in per.values())
    kinds: dict[str, float] = {}
    for name, (us, _) in per.items():
        kind = kernel_kind(name)
        kinds[kind] = kinds.get(kind, 0.0) + us
    top = sorted(per.items(), key=lambda kv: -kv[1][0])[:40]
    return {"calls": calls, "wall_ms_per_call_profiled": round(wall * 1e3, 3), "kernel_ms_per_call": round(total / 1e3, 3),
            "kernels_per_call": round(sum(v[1] for v in per.values()) / calls, 1),
            "by_kind_ms": {k: round(v / 1e3, 3) for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])},
            "top": [{"kernel": n[:160], "kind": kernel_kind(n), "us_per_call": round(v[0], 1),
                     "launches_per_call": round(v[1] / calls, 2)} for n, v in top]}


# ---------------------------------------------------------------------------------------- main

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=False, default="fast_unet_probe.json", help="JSON file to write")
    ap.add_argument("--variants", default=DEFAULT, help="comma-separated names (see --list); order = build order")
    ap.add_argument("--list", action="store_true", help="print the variants and exit")
    ap.add_argument("--seconds-budget", type=float, default=540.0,
                    help="wall-clock budget: variants that would not fit are skipped; at the limit a watchdog "
                         "writes the JSON and exits")
    ap.add_argument("--rounds", type=int, default=6, help="interleaved rounds")
    ap.add_argument("--calls", type=int, default=30, help="calls per variant per round")
    ap.add_argument("--warmup", type=int, default=20, help="warm-up calls per variant before the timed rounds")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--resolution", type=int, default=512, help="pixels; the latent is resolution / 8")
    ap.add_argument("--compile-estimate-s", type=float, default=90.0,
                    help="assumed compile time before one was measured (for skipping what can't fit)")
    ap.add_argument("--no-fp32-ref", action="store_true", help="skip the fp32 eager reference")
    ap.add_argument("--smoke", action="store_true", help="tiny UNet on the CPU in fp32 (script check only)")
    ap.add_argument("--profile", default="", help="comma-separated built variants to profile after the timing "
                                                  "(kernel time per call by kernel and kind); 'all' for every one")
    args = ap.parse_args(argv)
    if args.list:
        for k, v in VARIANTS.items():
            print(f"{k:26s} {json.dumps(v, default=str)}")
        return 0
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    bad = [n for n in names if n not in VARIANTS]
    if bad:
        ap.error(f"unknown variant(s) {bad}; known: {', '.join(VARIANTS)}")

    device = "cpu" if args.smoke or not torch.cuda.is_available() else "cuda"
    dtype = torch.float16 if device == "cuda" else torch.float32
    cfg = TINY if args.smoke else SD15
    latent = args.resolution // 8 if not args.smoke else 16
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    st = State(out, args)
    deadline = args.seconds_budget

    def on_deadline():
        say(f"time budget {deadline:.0f}s reached: writing what there is and stopping")
        st.doc["status"] = "stopped at the time budget (watchdog)"
        try:
            st.write()
        finally:
            os._exit(3)
    dog = threading.Timer(max(deadline - (time.perf_counter() - T0), 1.0), on_deadline)
    dog.daemon = True
    dog.start()

    def left() -> float:
        return deadline - (time.perf_counter() - T0)

    import torch._dynamo.config as dc
    for k in ("cache_size_limit", "recompile_limit"):
        if hasattr(dc, k):
            setattr(dc, k, 64)
    from diffusers import UNet2DConditionModel
    from diffusers.utils import logging as dlog
    dlog.set_verbosity_error()

    st.doc.update(fingerprint=fingerprint(device), device=device, dtype=str(dtype).replace("torch.", ""),
                  model="sd15" if not args.smoke else "sd15-tiny", config=cfg, batch=args.batch,
                  resolution=args.resolution if not args.smoke else latent * 8, latent=latent, text=[77, cfg["cross_attention_dim"]],
                  random_weights=True, inductor_cache_dir=os.environ.get("TORCHINDUCTOR_CACHE_DIR"),
                  floor_ms=round(FLOPS_SD15_B2_512 / GEMM_RATE * 1e3, 3) if not args.smoke else None,
                  timing={"rounds": args.rounds, "calls": args.calls, "warmup": args.warmup,
                          "clock": "cuda events per call" if device == "cuda" else "perf_counter",
                          "order": "interleaved, rotated each round"})
    say(f"device {st.doc['fingerprint'].get('gpu', device)}; torch {torch.__version__}; variants {names}")
    st.doc["sdpa_choice"] = sdpa_choices(device, dtype)
    st.write()

    # ---- base model + inputs + references
    t0 = time.perf_counter()
    torch.manual_seed(0)
    with torch.device(device):
        base = UNet2DConditionModel(**cfg)
    base = base.to(dtype).eval().requires_grad_(False)
    g = torch.Generator(device=device).manual_seed(1)
    sample = torch.randn(args.batch, 4, latent, latent, device=device, dtype=dtype, generator=g)
    inputs = {"sample": sample, "sample_cl": sample.contiguous(memory_format=torch.channels_last),
              "timestep": torch.full((args.batch,), 500.0, device=device),
              "encoder_hidden_states": torch.randn(args.batch, 77, cfg["cross_attention_dim"], device=device,
                                                   dtype=dtype, generator=g)}
    with torch.no_grad():
        ref16 = base(inputs["sample"], inputs["timestep"], inputs["encoder_hidden_states"], return_dict=False)[0].clone()
        ref32 = None
        if not args.no_fp32_ref:
            m32 = copy.deepcopy(base).float()
            prev = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
            ref32 = m32(inputs["sample"].float(), inputs["timestep"], inputs["encoder_hidden_states"].float(),
                        return_dict=False)[0]
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = prev
            del m32
    sync(device)
    st.doc["reference"] = {"build_and_ref_s": round(time.perf_counter() - t0, 2),
                           "params": sum(p.numel() for p in base.parameters()),
                           "ref16_abs_mean": float(ref16.float().abs().mean()),
                           "ref16_finite": bool(torch.isfinite(ref16).all()),
                           "fp16_eager_rel_err_vs_fp32": None if ref32 is None else rel_err(ref16, ref32)}
    say(f"base model + references in {st.doc['reference']['build_and_ref_s']}s; "
        f"fp16 eager vs fp32: {st.doc['reference']['fp16_eager_rel_err_vs_fp32']}")
    st.write()

    # ---- build each variant; autotuning ones (slow to compile) only after a first interleaved timing,
    # so a long autotune cut off by the budget still leaves paired figures for the rest
    artifacts: dict[str, tuple[Callable, torch.nn.Module, dict]] = {}
    built: list[Built] = []
    compile_seen: list[float] = []
    slow = [n for n in names if is_autotune(VARIANTS[n])]
    for phase in ([n for n in names if n not in slow], slow):
        if not phase:
            continue
        n_before = len(built)
        for name in phase:
            build_variant(name, st, args, base, device, inputs, ref16, ref32, artifacts, built, compile_seen, left)
        if len(built) > n_before:
            interleaved(st, args, built, device, left)
    wanted = [b for b in built if args.profile == "all" or b.name in args.profile.split(",")]
    for b in wanted:   # after the timing, so the profiler never touches a timed figure
        rec = next(r for r in st.doc["variants"] if r["name"] == b.name)
        try:
            rec["profile"] = profile_variant(b, 10, device)
            say(f"{b.name}: profile {rec['profile']['kernel_ms_per_call']} ms of kernels per call: "
                f"{rec['profile']['by_kind_ms']}")
        except Exception as e:  # noqa: BLE001
            rec["profile"] = {"error": f"{type(e).__name__}: {e}"[:500]}
        st.write()
    st.doc["status"] = "done" if built else "nothing built"
    st.write()
    dog.cancel()

    # ---- table
    print(f"\n{'variant':26s} {'compile_s':>9s} {'median':>8s} {'p10':>8s} {'p90':>8s} {'rel_err16':>9s}  error")
    for r in st.doc["variants"]:
        f = lambda v, p=3: "-" if v is None else (f"{v:.{p}f}" if isinstance(v, float) else str(v))
        err = "" if not r.get("error") else r["error"][:80]
        re16 = "-" if r.get("max_rel_err_vs_fp16") is None else f"{r['max_rel_err_vs_fp16']:.1e}"
        print(f"{r['name']:26s} {f(r['compile_s'], 1):>9s} {f(r['median_ms']):>8s} {f(r['p10_ms']):>8s} "
              f"{f(r['p90_ms']):>8s} {re16:>9s}  {err}")
    say(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
