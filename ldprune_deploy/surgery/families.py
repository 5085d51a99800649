"""Modification families in one registry: which operators admit each, and what replaces them.

A family is named by the text before ``:`` in a modification (``remove``, ``shortcut``,
``width:0.5``). Adding a family is one registered class: the catalogue lists it where
``legal`` allows it, scoring and profiling build it, the planner chooses it.
"""

from __future__ import annotations

import abc
from typing import Any, Sequence

from torch import nn

from ..registry import Registry
from .fp8 import fp8_eligible, has_fp8, quantized_copy
from .mods import (
    WIDTH_RATIOS,
    RemovedOperator,
    ShortcutResnet,
    ZeroBranch,
    _dedupe_widths,
    _narrow_attention,
    _narrow_ff,
    _narrow_resnet,
    _resnet_channels,
    _resnet_groups_for,
    select_keep,
    width_units,
)

Replacement = tuple[nn.Module | None, dict[str, Any]]


class Family(abc.ABC):
    """``legal``: the modifications of this family ``module`` admits; ``build``: its replacement
    and side changes to its parent (see ``build_replacement``), or None when not defined."""

    name: str
    opt_in = False   # True: a candidate only where a user names it (e.g. ``--mods fp8``)

    @abc.abstractmethod
    def legal(self, kind: str, module: nn.Module) -> list[str]:
        """The modifications of this family that ``module`` (of operator ``kind``) admits."""

    @abc.abstractmethod
    def build(self, kind: str, module: nn.Module, mod: str, keep: Sequence[int] | None) -> Replacement | None:
        """``module``'s replacement under ``mod`` and side changes to its parent; None: not defined."""


FAMILIES: Registry[type[Family]] = Registry("modification")


def _resamples(module: nn.Module) -> bool:
    return getattr(module, "upsample", None) is not None or getattr(module, "downsample", None) is not None


@FAMILIES.register("remove")
class Remove(Family):
    """The operator contributes nothing: an identity block, a skipped cross-attention, a zero branch."""

    def legal(self, kind, module):
        if kind == "resnet":
            cin, cout = _resnet_channels(module)
            return ["remove"] if cin == cout and not _resamples(module) else []
        return ["remove"] if kind in ("transformer", "transformer_block", "attn1", "attn2", "attention", "ff") else []

    def build(self, kind, module, mod, keep):
        if kind in ("resnet", "transformer", "transformer_block", "attention"):
            return RemovedOperator(kind), {}
        if kind == "attn2":
            return None, {}
        if kind in ("attn1", "ff"):
            return ZeroBranch(), {}
        return None


@FAMILIES.register("shortcut")
class Shortcut(Family):
    """A resnet whose channels change keeps only its own 1x1 ``conv_shortcut``."""

    def legal(self, kind, module):
        ok = kind == "resnet" and module.conv_shortcut is not None and not _resamples(module)
        return ["shortcut"] if ok else []

    def build(self, kind, module, mod, keep):
        if kind != "resnet":
            return None
        return ShortcutResnet(module.conv_shortcut, module.output_scale_factor), {}


@FAMILIES.register("width")
class Width(Family):
    """The same operator, narrower inside, keeping its largest-magnitude channels/heads/units."""

    def legal(self, kind, module):
        if has_fp8(module):   # 8-bit weights are not sliced (narrow first, then quantize)
            return []
        if kind == "resnet":
            return [f"width:{r}" for r in WIDTH_RATIOS if _resnet_groups_for(module, r) is not None]
        if kind in ("attn1", "attn2", "attention", "ff"):
            return [f"width:{r}" for r in WIDTH_RATIOS if width_units(kind, module, r) is not None]
        return []

    def build(self, kind, module, mod, keep):
        narrow = {"resnet": _narrow_resnet, "attn1": _narrow_attention, "attn2": _narrow_attention,
                  "attention": _narrow_attention, "ff": _narrow_ff}.get(kind)
        if narrow is None:
            return None
        return narrow(module, list(keep) if keep is not None else select_keep(kind, module, mod)), {}


@FAMILIES.register("fp8")
class Fp8(Family):
    """Opt-in: candidates only where asked for (``--mods ... fp8``), as its saving exists only on
    FP8-capable GPUs."""

    opt_in = True

    def legal(self, kind, module):
        return ["fp8"] if fp8_eligible(kind, module) else []

    def build(self, kind, module, mod, keep):
        if not fp8_eligible(kind, module):
            return None
        return quantized_copy(kind, module), {}



def legal_modifications(kind: str, module: nn.Module) -> list[str]:
    """Names of the modifications this operator admits (width variants already rounded)."""
    mods = [m for _, fam in FAMILIES.items() for m in fam().legal(kind, module)]
    return _dedupe_widths(kind, module, mods)


def build_replacement(kind: str, module: nn.Module, mod: str, keep: Sequence[int] | None = None) -> Replacement:
    """The module that replaces ``module`` under ``mod`` and side changes to its parent.

    Returns ``(replacement, parent_changes)``; ``replacement`` may be ``None`` (a
    cross-attention set to None is skipped by diffusers, norm included) and
    ``parent_changes`` maps sibling attribute names to their replacements (the norm that
    only fed a removed branch).
    """
    family = mod.split(":", 1)[0]
    built = FAMILIES.get(family)().build(kind, module, mod, keep) if family in FAMILIES else None
    if built is None:
        raise ValueError(f"modification '{mod}' is not defined for a {kind}")
    return built
