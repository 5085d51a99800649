"""LoRA after pruning: adapt a LoRA made for the original UNet to a pruned one.

``adapt_lora(state_dict, plan, unet=...)`` maps a diffusers/peft LoRA state dict
(``unet.<module>.lora_A.weight`` / ``lora_B.weight``; the ``unet.`` prefix is optional and
the older ``.lora.down`` / ``.lora.up`` naming is accepted) onto the pruned model:

* ``remove``    adapters of the operator and of everything inside it are dropped (lost by definition);
* ``shortcut``  only ``conv_shortcut`` survives, every other adapter inside the resnet is dropped;
* ``width:r``   sliced exactly as ``surgery.mods`` sliced the base weights: attention
                to_q/to_k/to_v lora_B rows and to_out.0 lora_A columns of the kept heads; feed-forward
                proj lora_B rows (both GEGLU halves) and net.2 lora_A columns; resnet conv1 /
                time_emb_proj lora_B rows and conv2 lora_A input channels of the kept groups;
* ``fp8``       dropped with a note: ``Fp8Linear`` has no LoRA hook (fuse the LoRA before
                quantising instead: fuse-then-prune).

The report measures each module's update as ``||B @ A||_F^2`` (squared Frobenius norm, additive
over modules) and gives the share of the adapter's total that was dropped or sliced away.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..artifacts import PrunePlan
from ..errors import LdpruneError

TEXT_ENCODER_PREFIXES = ("text_encoder.", "text_encoder_2.")
NON_DIFFUSERS_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")   # diffusers' own test for them
_SUFFIX = re.compile(r"^(?P<mod>.+?)\.(?P<part>lora_A|lora_B|lora\.down|lora\.up)(?:\.(?P<name>[^.]+))?\.weight$")


@dataclass
class LoraReport:
    kept: list[str] = field(default_factory=list)
    sliced: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    total_norm2: float = 0.0
    dropped_norm2: float = 0.0
    sliced_away_norm2: float = 0.0

    @property
    def dropped_share(self) -> float:
        return self.dropped_norm2 / self.total_norm2 if self.total_norm2 else 0.0

    @property
    def sliced_away_share(self) -> float:
        return self.sliced_away_norm2 / self.total_norm2 if self.total_norm2 else 0.0

    @property
    def lost_share(self) -> float:
        return self.dropped_share + self.sliced_away_share

    def format(self, max_lines: int = 8) -> str:
        def block(title: str, names: list[str]) -> list[str]:
            out = [f"{title}: {len(names)}"]
            out += [f"  {n}" for n in names[:max_lines]]
            if len(names) > max_lines:
                out.append(f"  ... and {len(names) - max_lines} more")
            return out

        lines = [f"LoRA after pruning: {len(self.kept)} kept, {len(self.sliced)} sliced, "
                 f"{len(self.dropped)} dropped modules",
                 f"adapter update lost: {self.lost_share:.1%} of ||B@A||_F^2 "
                 f"(dropped {self.dropped_share:.1%}, sliced away {self.sliced_away_share:.1%})"]
        lines += block("dropped", self.dropped) + block("sliced", self.sliced)
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _delta_norm2(a: torch.Tensor, b: torch.Tensor) -> float:
    a2 = a.detach().float().reshape(a.shape[0], -1)
    b2 = b.detach().float().reshape(b.shape[0], -1)
    return float((b2 @ a2).pow(2).sum())


def _split(state_dict: dict[str, torch.Tensor]) -> tuple[dict[str, dict[str, torch.Tensor]], dict[str, Any]]:
    """``{module: {"A": .., "B": ..}}`` and the remaining keys (e.g. ``.alpha``) by module."""
    mods: dict[str, dict[str, torch.Tensor]] = {}
    extra: dict[str, Any] = {}
    for key, t in state_dict.items():
        k = key[len("unet."):] if key.startswith("unet.") else key
        if k.startswith(TEXT_ENCODER_PREFIXES):
            raise LdpruneError(f"LoRA key '{key}' is for the text encoder",
                               "adapt only the UNet part (pruning does not touch the text encoder), or load the "
                               "whole LoRA into the pipeline with load_lora(pipe, lora)")
        if k.startswith(NON_DIFFUSERS_PREFIXES):
            # kohya/A1111 naming: diffusers converts it (and its per-module alphas) only inside its own loader,
            # onto the unpruned module names and shapes, so it cannot be adapted here key by key
            raise LdpruneError(f"LoRA key '{key}' is in the kohya/A1111 naming, which adapt_lora does not read",
                               "fuse it into the unpruned pipeline (pipe.load_lora_weights(file); pipe.fuse_lora()) "
                               "and prune that UNet with the same plan (apply_plan): fuse-then-prune equals "
                               "prune-then-adapt")
        m = _SUFFIX.match(k)
        if m is None:
            extra[k] = t
            continue
        part = "A" if m["part"] in ("lora_A", "lora.down") else "B"
        mods.setdefault(m["mod"], {})[part] = t
    for mod, ab in mods.items():
        if set(ab) != {"A", "B"}:
            raise LdpruneError(f"LoRA module '{mod}' lacks its {'B' if 'A' in ab else 'A'} matrix",
                               "pass a complete LoRA state dict")
    return mods, extra


def _inside(mod: str, op: str) -> bool:
    return mod == op or mod.startswith(op + ".")


def _width_slices(op: str, kind: str, keep: list[int], sub: str, a: torch.Tensor, b: torch.Tensor,
                  unet: nn.Module | None) -> tuple[torch.Tensor | None, torch.Tensor | None] | None:
    """``(b_rows, a_cols)`` index tensors for module ``op.sub`` of a narrowed operator, or None if untouched."""
    keep_t = torch.tensor(keep, dtype=torch.long)

    def pruned(path: str) -> nn.Module:
        if unet is None:
            raise LdpruneError(f"slicing the LoRA of narrowed '{op}' needs the pruned UNet",
                               "pass unet=<pruned unet> (load_lora does)")
        return unet.get_submodule(f"{op}.{path}")

    if kind in ("attn1", "attn2", "attention"):
        if sub not in ("to_q", "to_k", "to_v", "to_out.0"):
            return None
        n_q = pruned("to_q").out_features
        n_kv = pruned("to_k").out_features
        dh, dkv = n_q // len(keep), n_kv // len(keep)
        q_idx = torch.tensor([i * dh + j for i in keep for j in range(dh)])
        kv_idx = torch.tensor([i * dkv + j for i in keep for j in range(dkv)])
        if sub == "to_q":
            return q_idx, None
        if sub in ("to_k", "to_v"):
            return kv_idx, None
        return None, q_idx
    if kind == "ff":
        if sub == "net.0.proj":
            inner_half = b.shape[0]
            # GEGLU doubles the proj rows: [value | gate]; the out layer says how wide the hidden layer is
            out_in = None
            if unet is not None:
                out_in = pruned("net.0.proj").out_features
            gated = (out_in == 2 * len(keep)) if out_in is not None else None
            if gated is None:
                raise LdpruneError(f"cannot tell if '{op}' is gated", "pass unet=<pruned unet>")
            return (torch.cat([keep_t, keep_t + inner_half // 2]) if gated else keep_t), None
        if sub == "net.2":
            return None, keep_t
        return None
    if kind == "resnet":
        conv1 = pruned("conv1")
        per = conv1.out_channels // len(keep)
        ch = torch.tensor([g * per + i for g in keep for i in range(per)])
        if sub == "conv1":
            return ch, None
        if sub == "conv2":
            return None, ch
        if sub == "time_emb_proj":
            tep = pruned("time_emb_proj")
            if tep.out_features == 2 * conv1.out_channels:  # scale_shift: [scale | shift]
                return torch.cat([ch, ch + b.shape[0] // 2]), None
            return ch, None
        return None
    raise LdpruneError(f"no LoRA slicing rule for width-narrowed '{op}' ({kind})", "file an issue")


def adapt_lora(state_dict: dict[str, torch.Tensor], plan: PrunePlan, *, unet: nn.Module | None = None,
               prefix: str = "unet.") -> tuple[dict[str, torch.Tensor], LoraReport]:
    """A LoRA state dict for the pruned UNet, and a report of what was dropped or sliced.

    ``plan`` must have its width ``keep`` lists resolved (``model_plan(pruned)`` has); ``unet``
    is the pruned UNet, needed to slice narrowed attention heads / resnet groups."""
    from .mods import kind_of

    mods, extra = _split(state_dict)
    report = LoraReport()
    out: dict[str, torch.Tensor] = {}
    kinds = {}
    for m in plan.modifications:
        if m.modification.startswith("width:") and m.keep is None:
            raise LdpruneError(f"plan's width modification of '{m.operator}' has no resolved 'keep'",
                               "use model_plan(pruned_unet), which records the kept units")
    dropped_mods: set[str] = set()
    for mod, ab in sorted(mods.items()):
        a, b = ab["A"], ab["B"]
        n2 = _delta_norm2(a, b)
        report.total_norm2 += n2
        owner = next((m for m in plan.modifications if _inside(mod, m.operator)), None)
        action = "keep"
        if owner is not None:
            kind = owner.modification
            if kind == "remove":
                action = "drop"
            elif kind == "shortcut":
                action = "keep" if mod == f"{owner.operator}.conv_shortcut" else "drop"
            elif kind == "fp8":
                action = "drop"
                report.notes.append(f"{mod}: dropped, operator is fp8 (Fp8Linear has no LoRA hook; "
                                    "fuse the LoRA before pruning instead)")
            elif kind.startswith("width:"):
                op_kind = kinds.get(owner.operator)
                if op_kind is None:
                    if unet is None:
                        raise LdpruneError(f"slicing the LoRA of narrowed '{owner.operator}' needs the pruned UNet",
                                           "pass unet=<pruned unet> (load_lora does)")
                    parent_path, _, _ = owner.operator.rpartition(".")
                    parent = unet.get_submodule(parent_path) if parent_path else unet
                    op_kind = kind_of(owner.operator, unet.get_submodule(owner.operator), parent)
                    kinds[owner.operator] = op_kind
                sub = mod[len(owner.operator) + 1:]
                sl = _width_slices(owner.operator, op_kind, list(owner.keep), sub, a, b, unet)
                if sl is not None:
                    rows, cols = sl
                    if rows is not None:
                        b = b.index_select(0, rows.to(b.device))
                    if cols is not None:
                        a = a.index_select(1, cols.to(a.device))
                    action = "slice"
        if action == "drop":
            report.dropped.append(mod)
            report.dropped_norm2 += n2
            dropped_mods.add(mod)
            continue
        if action == "slice":
            report.sliced.append(mod)
            report.sliced_away_norm2 += n2 - _delta_norm2(a, b)
        else:
            report.kept.append(mod)
        out[f"{prefix}{mod}.lora_A.weight"] = a.contiguous()
        out[f"{prefix}{mod}.lora_B.weight"] = b.contiguous()
    for k, t in extra.items():  # e.g. "<module>.alpha": keep for surviving modules only
        mod = k.rsplit(".", 1)[0]
        if mod not in dropped_mods:
            out[f"{prefix}{k}"] = t
    return out, report


def _read(lora: str | Path | dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(lora, dict):
        return lora
    p = Path(lora)
    if p.is_dir():
        cands = sorted(p.glob("*.safetensors"))
        if not cands:
            raise LdpruneError(f"no .safetensors LoRA file in {p}", "pass the file itself")
        p = cands[0]
    from safetensors.torch import load_file

    return load_file(str(p))


def load_lora(target: Any, lora: str | Path | dict[str, torch.Tensor], plan: PrunePlan | None = None,
              *, adapter_name: str | None = None) -> LoraReport:
    """Adapt ``lora`` to a pruned UNet (or a pipeline holding one) and load it with diffusers' loader.

    A pipeline gets ``pipe.load_lora_weights`` with the adapted UNet part and any text-encoder part
    unchanged; a bare UNet gets ``unet.load_lora_adapter``. ``plan`` defaults to the plan the pruned
    UNet records (``model_plan``). ``pipe.load_lora_weights`` on the unadapted file fails on every
    narrowed operator (size mismatch) and drops removed operators' adapters without a word: hence this."""
    from ..unet import model_plan

    unet = getattr(target, "unet", target)
    plan = plan or model_plan(unet)
    if plan is None:
        raise LdpruneError("the UNet records no prune plan", "pass plan=, or load it with load_pruned / apply_plan")
    raw = _read(lora)
    text = {k: v for k, v in raw.items() if k.startswith(TEXT_ENCODER_PREFIXES)}
    pipe = hasattr(target, "load_lora_weights")
    if text and not pipe:
        raise LdpruneError(f"the LoRA has {len(text)} text-encoder tensors and the target is a bare UNet",
                           "pass the pipeline (load_lora(pipe, lora)) to load them too, "
                           "or drop the text_encoder.* keys")
    sd, report = adapt_lora({k: v for k, v in raw.items() if k not in text}, plan, unet=unet)
    if text:
        report.notes.append(f"{len(text)} text-encoder tensors loaded unchanged "
                            "(pruning does not touch the text encoder)")
    if not sd and not text:
        report.notes.append("nothing left to load: every adapter was on a removed operator")
        return report
    if pipe:
        target.load_lora_weights({**sd, **text}, adapter_name=adapter_name)
    else:
        unet.load_lora_adapter(sd, prefix="unet", adapter_name=adapter_name)
    return report
