"""Operator catalogue: every operator of a diffusers UNet, its cost and its legal modifications."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from .models import example_inputs, load_model
from .surgery.families import build_replacement, legal_modifications
from .surgery.mods import PRUNABLE_KINDS, kind_of, width_description
from .unet import ModelInfo, build_unet, model_fingerprint, model_plan

CATALOGUE_SCHEMA = "ldprune.catalogue/1"


@dataclass
class ModOption:
    name: str
    params: int          # parameters of the operator after the modification
    flops: int           # FLOPs of the operator after the modification (at the catalogue's shapes)
    detail: str = ""


@dataclass
class Operator:
    id: str
    kind: str
    cls: str
    params: int
    flops: int
    prunable: bool
    modifications: list[ModOption] = field(default_factory=list)

    def mod(self, name: str) -> ModOption | None:
        return next((m for m in self.modifications if m.name == name), None)


@dataclass
class Catalogue:
    model: str
    model_fingerprint: str
    batch: int
    resolution: int
    total_params: int
    total_flops: int
    operators: list[Operator]

    @property
    def prunable(self) -> list[Operator]:
        return [o for o in self.operators if o.prunable]

    def counts(self) -> dict[str, int]:
        return dict(Counter(o.kind for o in self.prunable))

    def candidates(self, mods: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """(operator id, modification) pairs in model order: of the modifications ``mods`` names
        (a family such as ``width`` matches each ``width:*``), by default of every family that is
        not opt-in (``fp8`` saves time only on FP8 GPUs, so it is scored and profiled when asked)."""
        from .surgery.families import FAMILIES

        def wanted(mod: str) -> bool:
            family = mod.split(":", 1)[0]
            if mods:
                return mod in mods or family in mods
            return not FAMILIES.get(family).opt_in

        return [(o.id, m.name) for o in self.prunable for m in o.modifications if wanted(m.name)]

    def get(self, op_id: str) -> Operator:
        for o in self.operators:
            if o.id == op_id:
                return o
        raise KeyError(op_id)

    def to_json(self) -> dict[str, Any]:
        return {"schema": CATALOGUE_SCHEMA, "model": self.model, "model_fingerprint": self.model_fingerprint,
                "batch": self.batch, "resolution": self.resolution, "total_params": self.total_params,
                "total_flops": self.total_flops, "counts": self.counts(),
                "n_candidates": len(self.candidates()),
                "operators": [asdict(o) for o in self.operators]}


def _named_operators(model: nn.Module) -> list[tuple[str, nn.Module, nn.Module | None, str]]:
    out = []
    modules = dict(model.named_modules())
    for name, m in modules.items():
        if not name:
            continue
        parent = modules.get(name.rpartition(".")[0], model if "." not in name else None)
        kind = kind_of(name, m, parent)
        if kind is not None:
            out.append((name, m, parent, kind))
    return out


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as fc:
        fn()
    return int(fc.get_total_flops())


def meta_copy(model: nn.Module) -> nn.Module:
    """The same architecture without weights (a pruned model's plan re-applied), so FLOP
    counting of SDXL costs no memory."""
    plan = model_plan(model)
    meta = build_unet(type(model).__name__, model.config, "meta")
    if plan is not None:
        from .surgery.apply import swap_one
        from .artifacts import Modification

        for m in plan.modifications:
            swap_one(meta, Modification(m.operator, m.modification, m.keep))
    return meta


def build_catalogue(model: nn.Module | str, info: ModelInfo | None = None, *, batch: int = 1,
                    resolution: int | None = None, flops: bool = True) -> Catalogue:
    """List every operator with params, FLOPs at ``batch``×``resolution`` and legal modifications."""
    if not isinstance(model, nn.Module):
        model, info = load_model(model, device="meta")
    info = info or load_model(model)[1]
    meta = meta_copy(model) if flops else model
    ops = _named_operators(meta)
    captured: dict[str, tuple[tuple, dict]] = {}
    op_flops: dict[str, int] = {}
    if flops:
        hooks = [m.register_forward_pre_hook(
            lambda mod, a, kw, name=name: captured.__setitem__(name, (a, kw)), with_kwargs=True)
            for name, m, _, kind in ops if kind in PRUNABLE_KINDS or kind in ("downsample", "upsample")]
        inputs = example_inputs(meta, info, batch=batch, resolution=resolution, device="meta", dtype=torch.float32)
        with FlopCounterMode(display=False) as fc, torch.no_grad():
            meta(**inputs)
        for h in hooks:
            h.remove()
        counts = fc.get_flop_counts()
        root = type(meta).__name__
        for name, *_ in ops:
            op_flops[name] = int(sum(counts.get(f"{root}.{name}", {}).values()))
        total_flops = int(fc.get_total_flops())
    else:
        total_flops = 0
    result = []
    for name, m, parent, kind in ops:
        prunable = kind in PRUNABLE_KINDS
        mods = []
        if prunable:
            for mod in legal_modifications(kind, m):
                new, _ = build_replacement(kind, m, mod, keep=None if not mod.startswith("width:") else
                                           list(range(_units(kind, m, mod))))
                p_after = sum(p.numel() for p in new.parameters()) if new is not None else 0
                f_after = 0
                if flops and new is not None and name in captured and mod != "remove":
                    a, kw = captured[name]
                    with torch.no_grad():
                        f_after = _flops(lambda: new(*a, **kw))
                detail = width_description(kind, m, float(mod.split(":")[1])) if mod.startswith("width:") else ""
                mods.append(ModOption(mod, p_after, f_after, detail))
        result.append(Operator(name, kind, type(m).__name__, sum(p.numel() for p in m.parameters()),
                               op_flops.get(name, 0), prunable, mods))
    return Catalogue(info.name, model_fingerprint(model), batch, resolution or info.resolution,
                     sum(p.numel() for p in model.parameters()), total_flops, result)


def _units(kind, module, mod) -> int:
    from .surgery.mods import width_units

    return width_units(kind, module, float(mod.split(":")[1]))


def format_table(cat: Catalogue, all_ops: bool = False) -> str:
    rows = [("id", "kind", "params", "GFLOPs", "modifications")]
    for o in cat.operators:
        if not (o.prunable or all_ops):
            continue
        mods = ", ".join(m.name + (f" ({m.detail})" if m.detail else "") for m in o.modifications) or "-"
        rows.append((o.id, o.kind, f"{o.params / 1e6:.2f}M", f"{o.flops / 1e9:.2f}", mods))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4] for r in rows]
    counts = ", ".join(f"{k} {v}" for k, v in sorted(cat.counts().items()))
    lines.append(f"\n{cat.model} ({cat.model_fingerprint}): {cat.total_params / 1e6:.1f}M params, "
                 f"{cat.total_flops / 1e12:.3f} TFLOP at batch {cat.batch}, {cat.resolution}px; "
                 f"prunable: {counts}; {len(cat.candidates())} candidate modifications")
    return "\n".join(lines)
