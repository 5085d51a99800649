"""The modifications an operator admits, and the modules that replace it.

``remove``     the operator becomes an identity (its residual branch contributes nothing);
``shortcut``   a resnet whose channels change keeps only its own 1x1 ``conv_shortcut``;
``width:<r>``  the same operator, narrower inside (resnet inner channels, attention heads,
               feed-forward hidden units), keeping the largest-magnitude channels/heads.

Replacement modules reuse the original parameter tensors (sliced for ``width``), so every
surviving weight is bit-identical to the original.
"""

from __future__ import annotations

import copy
from typing import Sequence

import torch
from torch import nn

WIDTH_RATIOS = (0.25, 0.5, 0.75)

# Module class name -> operator kind (for children of a BasicTransformerBlock the kind
# comes from the attribute name instead; see ``kind_of``).
_CLASS_KINDS = {
    "ResnetBlock2D": "resnet",
    "Transformer2DModel": "transformer",
    "BasicTransformerBlock": "transformer_block",
    "Downsample2D": "downsample",
    "Upsample2D": "upsample",
    "TimestepEmbedding": "time_embedding",
}
_SUBLAYER_KINDS = {"attn1": "attn1", "attn2": "attn2", "ff": "ff"}
PRUNABLE_KINDS = ("resnet", "transformer", "transformer_block", "attn1", "attn2", "ff", "attention")


def kind_of(name: str, module: nn.Module, parent: nn.Module | None) -> str | None:
    cls = type(module).__name__
    leaf = name.rsplit(".", 1)[-1]
    if parent is not None and type(parent).__name__ == "BasicTransformerBlock" and leaf in _SUBLAYER_KINDS:
        return _SUBLAYER_KINDS[leaf]
    if cls == "BasicTransformerBlock" and parent is not None and len(parent) < 2:
        return None  # the only block of its transformer: removing it = removing the transformer
    if cls == "Attention" and getattr(module, "residual_connection", False):
        return "attention"  # UNet2DModel's self-attention block (residual inside)
    if cls in _CLASS_KINDS:
        return _CLASS_KINDS[cls]
    if name in ("conv_in", "conv_out", "conv_norm_out", "time_embedding", "add_embedding",
                "class_embedding", "encoder_hid_proj", "time_proj", "add_time_proj"):
        return name
    return None


# --------------------------------------------------------------------------- replacements


class RemovedOperator(nn.Module):
    """Identity for an operator whose output has the shape of its first input."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def forward(self, hidden_states, *args, **kwargs):
        if self.kind == "transformer":
            if kwargs.get("return_dict", True):
                from diffusers.models.modeling_outputs import Transformer2DModelOutput

                return Transformer2DModelOutput(sample=hidden_states)
            return (hidden_states,)
        return hidden_states

    def extra_repr(self) -> str:
        return f"removed {self.kind}"


class ZeroBranch(nn.Module):
    """A residual branch that contributes nothing: ``x + ZeroBranch(...) == x``.

    Returns a 0-d zero so the caller's residual add broadcasts it without allocating a
    full-size tensor of zeros.
    """

    def forward(self, hidden_states, *args, **kwargs):
        return hidden_states.new_zeros(())

    def extra_repr(self) -> str:
        return "removed branch"


class ShortcutResnet(nn.Module):
    """A resnet reduced to its own shortcut convolution (the residual branch dropped)."""

    def __init__(self, conv_shortcut: nn.Module, output_scale_factor: float):
        super().__init__()
        self.conv_shortcut = conv_shortcut
        self.output_scale_factor = output_scale_factor

    def forward(self, input_tensor, temb=None, *args, **kwargs):
        out = self.conv_shortcut(input_tensor)
        return out if self.output_scale_factor == 1.0 else out / self.output_scale_factor


# --------------------------------------------------------------------------- legality


def _resnet_channels(m: nn.Module) -> tuple[int, int]:
    return m.conv1.in_channels, m.conv2.out_channels


def _dedupe_widths(kind: str, module: nn.Module, mods: list[str]) -> list[str]:
    seen, out = set(), []
    for m in mods:
        if m.startswith("width:"):
            n = width_units(kind, module, float(m.split(":")[1]))
            if n in seen:
                continue
            seen.add(n)
        out.append(m)
    return out


def parse_width(mod: str) -> float:
    try:
        r = float(mod.split(":", 1)[1])
    except (IndexError, ValueError):
        raise ValueError(f"malformed width modification '{mod}' (expected width:<ratio>)") from None
    if not 0.0 < r < 1.0:
        raise ValueError(f"width ratio in '{mod}' must be between 0 and 1")
    return r


def _resnet_groups_for(m: nn.Module, r: float) -> int | None:
    """Number of GroupNorm groups kept for ratio ``r`` (whole groups keep the statistics)."""
    groups = m.norm2.num_groups
    per = m.conv1.out_channels // groups
    cands = [k for k in range(1, groups) if (k * per) % 8 == 0] or list(range(1, groups))
    if not cands:
        return None
    return min(cands, key=lambda k: (abs(k - r * groups), k))


def _heads_for(m: nn.Module, r: float) -> int | None:
    k = max(1, round(r * m.heads))
    return k if k < m.heads else None


def _ff_layers(m: nn.Module) -> tuple[nn.Linear, nn.Linear, bool]:
    act = m.net[0]
    proj = act.proj
    out = [l for l in m.net if isinstance(l, nn.Linear)][-1]
    gated = proj.out_features == 2 * out.in_features
    return proj, out, gated


def _ff_units_for(m: nn.Module, r: float) -> int | None:
    _, out, _ = _ff_layers(m)
    inner = out.in_features
    align = 64 if inner >= 512 else 8
    k = max(align, round(r * inner / align) * align)
    return k if k < inner else None


def width_units(kind: str, module: nn.Module, r: float) -> int | None:
    """Kept units (groups for resnets, heads for attention, hidden units for ff) or None."""
    if kind == "resnet":
        return _resnet_groups_for(module, r)
    if kind in ("attn1", "attn2", "attention"):
        return _heads_for(module, r)
    if kind == "ff":
        return _ff_units_for(module, r)
    return None


def width_units_total(kind: str, module: nn.Module) -> int:
    """How many units the full-width operator has (groups, heads or hidden units)."""
    if kind == "resnet":
        return module.norm2.num_groups
    if kind == "ff":
        return _ff_layers(module)[1].in_features
    return module.heads


def width_description(kind: str, module: nn.Module, r: float) -> str:
    n = width_units(kind, module, r)
    if kind == "resnet":
        per = module.conv1.out_channels // module.norm2.num_groups
        return f"{n * per}/{module.conv1.out_channels} channels"
    if kind == "ff":
        return f"{n}/{_ff_layers(module)[1].in_features} hidden"
    return f"{n}/{module.heads} heads"


# --------------------------------------------------------------------------- magnitude selection


def _is_meta(module: nn.Module) -> bool:
    p = next(module.parameters(), None)
    return p is not None and p.is_meta


def select_keep(kind: str, module: nn.Module, mod: str) -> list[int]:
    """Indices of the units to keep for a width modification: the largest by L1 magnitude."""
    r = parse_width(mod)
    n = width_units(kind, module, r)
    if n is None:
        raise ValueError(f"{mod} is not a legal width for this {kind}")
    if _is_meta(module):  # no weights: shapes only (FLOP counting)
        return list(range(n))
    with torch.no_grad():
        scores = _unit_scores(kind, module)
    keep = torch.topk(scores, n, sorted=False).indices
    return sorted(int(i) for i in keep)


def _unit_scores(kind: str, m: nn.Module) -> torch.Tensor:
    if kind == "resnet":
        groups = m.norm2.num_groups
        a = m.conv1.weight.float().abs().flatten(1).mean(1)              # per out channel
        b = m.conv2.weight.float().abs().transpose(0, 1).flatten(1).mean(1)  # per in channel
        return (a / a.mean() + b / b.mean()).view(groups, -1).sum(1)
    if kind in ("attn1", "attn2", "attention"):
        h = m.heads
        parts = [l.weight.float().abs().view(h, -1).mean(1) for l in (m.to_q, m.to_k, m.to_v)]
        parts.append(m.to_out[0].weight.float().abs().t().reshape(h, -1).mean(1))
        return sum(p / p.mean() for p in parts)
    if kind == "ff":
        proj, out, gated = _ff_layers(m)
        inner = out.in_features
        w = proj.weight.float().abs().mean(1)
        a = w.view(2, inner).sum(0) if gated else w
        b = out.weight.float().abs().mean(0)
        return a / a.mean() + b / b.mean()
    raise ValueError(f"no width modification for kind {kind}")


# --------------------------------------------------------------------------- building replacements


def _slice_linear(l: nn.Linear, rows: torch.Tensor | None = None, cols: torch.Tensor | None = None) -> nn.Linear:
    w = l.weight
    if rows is not None:
        w = w.index_select(0, rows)
    if cols is not None:
        w = w.index_select(1, cols)
    new = nn.Linear(w.shape[1], w.shape[0], bias=l.bias is not None, device="meta", dtype=w.dtype)
    new.weight = nn.Parameter(w.clone(), requires_grad=l.weight.requires_grad)
    if l.bias is not None:
        b = l.bias if rows is None else l.bias.index_select(0, rows)
        new.bias = nn.Parameter(b.clone(), requires_grad=l.bias.requires_grad)
    return new


def _slice_conv(c: nn.Conv2d, out_idx: torch.Tensor | None = None, in_idx: torch.Tensor | None = None) -> nn.Conv2d:
    w = c.weight
    if out_idx is not None:
        w = w.index_select(0, out_idx)
    if in_idx is not None:
        w = w.index_select(1, in_idx)
    new = nn.Conv2d(w.shape[1], w.shape[0], c.kernel_size, c.stride, c.padding, c.dilation,
                    bias=c.bias is not None, device="meta", dtype=w.dtype)
    new.weight = nn.Parameter(w.clone(), requires_grad=c.weight.requires_grad)
    if c.bias is not None:
        b = c.bias if out_idx is None else c.bias.index_select(0, out_idx)
        new.bias = nn.Parameter(b.clone(), requires_grad=c.bias.requires_grad)
    return new


def _shallow_copy(module: nn.Module) -> nn.Module:
    """Copy the module object and its child dict, sharing parameter tensors until replaced."""
    new = copy.copy(module)
    new._modules = dict(module._modules)
    new._parameters = dict(module._parameters)
    new._buffers = dict(module._buffers)
    return new


def _narrow_resnet(m: nn.Module, keep_groups: Sequence[int]) -> nn.Module:
    groups = m.norm2.num_groups
    per = m.conv1.out_channels // groups
    dev = m.conv1.weight.device
    ch = torch.tensor([g * per + i for g in keep_groups for i in range(per)], device=dev)
    new = _shallow_copy(m)
    new.conv1 = _slice_conv(m.conv1, out_idx=ch)
    new.conv2 = _slice_conv(m.conv2, in_idx=ch)
    if m.time_emb_proj is not None:
        rows = ch
        if m.time_emb_proj.out_features == 2 * m.conv1.out_channels:  # scale_shift: [scale | shift]
            rows = torch.cat([ch, ch + m.conv1.out_channels])
        new.time_emb_proj = _slice_linear(m.time_emb_proj, rows=rows)
    norm = nn.GroupNorm(len(keep_groups), len(ch), eps=m.norm2.eps, affine=m.norm2.affine, device="meta")
    if m.norm2.affine:
        norm.weight = nn.Parameter(m.norm2.weight.index_select(0, ch).clone())
        norm.bias = nn.Parameter(m.norm2.bias.index_select(0, ch).clone())
    new.norm2 = norm
    return new


def _narrow_attention(m: nn.Module, keep_heads: Sequence[int]) -> nn.Module:
    h = m.heads
    dh = m.to_q.out_features // h
    dkv = m.to_k.out_features // h
    dev = m.to_q.weight.device
    q_idx = torch.tensor([i * dh + j for i in keep_heads for j in range(dh)], device=dev)
    kv_idx = torch.tensor([i * dkv + j for i in keep_heads for j in range(dkv)], device=dev)
    new = _shallow_copy(m)
    new.to_q = _slice_linear(m.to_q, rows=q_idx)
    new.to_k = _slice_linear(m.to_k, rows=kv_idx)
    new.to_v = _slice_linear(m.to_v, rows=kv_idx)
    new.to_out = nn.ModuleList([_slice_linear(m.to_out[0], cols=q_idx), *list(m.to_out)[1:]])
    new.heads = len(keep_heads)
    new.inner_dim = len(q_idx)
    new.inner_kv_dim = len(kv_idx)
    return new


def _narrow_ff(m: nn.Module, keep: Sequence[int]) -> nn.Module:
    proj, out, gated = _ff_layers(m)
    inner = out.in_features
    idx = torch.tensor(list(keep), device=proj.weight.device)
    rows = torch.cat([idx, idx + inner]) if gated else idx
    new = _shallow_copy(m)
    act = _shallow_copy(m.net[0])
    act.proj = _slice_linear(proj, rows=rows)
    out_pos = max(i for i, l in enumerate(m.net) if isinstance(l, nn.Linear))
    layers = list(m.net)
    layers[0] = act
    layers[out_pos] = _slice_linear(out, cols=idx)
    new.net = nn.ModuleList(layers)
    return new


def norm_feeding(kind: str, block: nn.Module) -> str | None:
    """The LayerNorm of a BasicTransformerBlock that only feeds ``kind``'s branch."""
    if getattr(block, "norm_type", None) not in ("layer_norm", "layer_norm_i2vgen"):
        return None
    return {"attn1": "norm1", "ff": "norm3"}.get(kind)
