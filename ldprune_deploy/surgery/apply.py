"""Apply a PrunePlan to a UNet: on a copy (``apply_plan``) or temporarily in place (``swapped``)."""

from __future__ import annotations

import contextlib
import copy
import logging
from typing import Iterator

from torch import nn

from ..errors import LdpruneError
from ..unet import copy_model_info, model_fingerprint, set_model_plan
from .families import build_replacement, legal_modifications
from .mods import kind_of, norm_feeding, parse_width, select_keep, width_units, width_units_total
from ..artifacts import Modification, PrunePlan, find_conflicts

log = logging.getLogger("ldprune")


def _parent(model: nn.Module, op_id: str) -> tuple[nn.Module, str]:
    parent_path, _, leaf = op_id.rpartition(".")
    return (model.get_submodule(parent_path) if parent_path else model), leaf


def resolve(model: nn.Module, op_id: str) -> tuple[nn.Module, nn.Module, str, str]:
    """``(module, parent, attribute, kind)`` of an operator id, or a clear error."""
    try:
        module = model.get_submodule(op_id)
    except AttributeError:
        raise LdpruneError(f"the model has no operator '{op_id}'",
                           "list valid ids with `ldprune catalogue --model ...`") from None
    parent, leaf = _parent(model, op_id)
    kind = kind_of(op_id, module, parent)
    return module, parent, leaf, kind or "other"


def validate(model: nn.Module, plan: PrunePlan, *, force: bool = False) -> None:
    fp = model_fingerprint(model)
    if plan.model_fingerprint != fp:
        msg = (f"plan is for model fingerprint {plan.model_fingerprint}, this model is {fp}"
               + (f" ({plan.model})" if plan.model else ""))
        if not force:
            raise LdpruneError(msg, "use the plan made for this model, or pass --force to apply it anyway")
        log.warning("%s; applying anyway (--force)", msg)
    conflicts = find_conflicts(plan.modifications)
    if conflicts:
        a, b = conflicts[0]
        raise LdpruneError(f"plan modifies both '{a}' and '{b}', which lies inside it "
                           f"({len(conflicts)} conflict(s))", "keep only one modification per operator tree")
    for m in plan.modifications:
        module, _, _, kind = resolve(model, m.operator)
        legal = legal_modifications(kind, module)
        if m.modification not in legal:
            raise LdpruneError(
                f"modification '{m.modification}' is not legal for '{m.operator}' ({kind})",
                f"legal ones: {', '.join(legal) or 'none (not prunable)'}")
        if m.keep is not None:
            _check_keep(kind, module, m)


def _check_keep(kind: str, module: nn.Module, m: Modification) -> None:
    n = width_units(kind, module, parse_width(m.modification))
    total = width_units_total(kind, module)
    ok = (isinstance(m.keep, list) and len(m.keep) == n and len(set(m.keep)) == n
          and all(isinstance(i, int) and 0 <= i < total for i in m.keep))
    if not ok:
        raise LdpruneError(f"'keep' of {m.operator} {m.modification} must list {n} distinct units in 0..{total - 1}",
                           "fix the list or delete 'keep' to select by weight magnitude")


def swap_one(model: nn.Module, m: Modification) -> list[tuple[nn.Module, str, nn.Module | None]]:
    """Swap one operator in place; fill ``m.keep`` for width modifications; return undo records.

    The one swap every path shares: ``swapped`` / ``apply_plan`` here, ``load_pruned``, and the
    catalogue's FLOP count, so a candidate is measured as it will be built."""
    module, parent, leaf, kind = resolve(model, m.operator)
    if m.modification.startswith("width:") and m.keep is None:
        m.keep = select_keep(kind, module, m.modification)
    new, _ = build_replacement(kind, module, m.modification, m.keep)
    undo = [(parent, leaf, module)]
    setattr(parent, leaf, new)
    norm = norm_feeding(kind, parent) if m.modification == "remove" else None
    if norm is not None:
        undo.append((parent, norm, getattr(parent, norm)))
        setattr(parent, norm, nn.Identity())
    return undo


@contextlib.contextmanager
def swapped(model: nn.Module, mods: list[Modification] | Modification) -> Iterator[nn.Module]:
    """Apply modifications in place for the duration of the block, then restore exactly.

    This is how scoring and profiling try hundreds of candidates without copying the UNet.
    """
    mods = [mods] if isinstance(mods, Modification) else mods
    undo: list[tuple[nn.Module, str, nn.Module | None]] = []
    try:
        for m in mods:
            undo += swap_one(model, Modification(m.operator, m.modification, m.keep))
        yield model
    finally:
        for parent, attr, old in reversed(undo):
            setattr(parent, attr, old)


def apply_plan(model: nn.Module, plan: PrunePlan, *, force: bool = False) -> nn.Module:
    """A new, pruned model; ``model`` is left untouched.

    Width modifications get their kept units resolved (largest magnitude) and recorded in
    the returned model's plan, so the result can be rebuilt exactly by ``load_pruned``.
    """
    validate(model, plan, force=force)
    pruned = copy.deepcopy(model)
    resolved = PrunePlan(**{**plan.__dict__, "modifications": []})
    for m in plan.modifications:
        m2 = Modification(m.operator, m.modification, list(m.keep) if m.keep is not None else None)
        swap_one(pruned, m2)
        resolved.modifications.append(m2)
    resolved.model_fingerprint = model_fingerprint(model)
    copy_model_info(model, pruned)   # the info; the plan is this one
    set_model_plan(pruned, resolved)
    return pruned
