"""The planning problem: candidates (operator, modification) with importance, saving and size.

Scores and profiles come from different tools with different units; everything the solver
sees is normalised here (importance as a share of the model's total, savings as a share of
full latency, size as a share of the full model) so any scoring method plugs in.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LdpruneError
from ..profiler.predict import full_latency_ms, profile_method, savings_table
from ..artifacts import Modification, Profile, Scores, find_conflicts
from .config import parse_cap

log = logging.getLogger("ldprune")


@dataclass
class Cap:
    """At most ``limit`` chosen candidates among ``members`` (those whose 'operator:modification'
    matches ``pattern``)."""

    pattern: str
    limit: int
    members: list[int]


def cap_members(spec: str, names: list[str]) -> Cap:
    """The ``REGEX=N`` cap ``spec`` over ``names`` ('operator:modification'): the indices of those it matches."""
    pattern, limit = parse_cap(spec)
    rx = re.compile(pattern)
    return Cap(pattern, limit, [i for i, name in enumerate(names) if rx.search(name)])


def caps_exceeded(mods: list[Modification], specs: list[str] | None) -> list[str]:
    """The ``REGEX=N`` caps that the modifications ``mods`` exceed (a saved plan checked against caps)."""
    names = [f"{m.operator}:{m.modification}" for m in mods]
    return [spec for spec in specs or () if len((c := cap_members(spec, names)).members) > c.limit]


@dataclass
class Problem:
    ops: list[str]                      # operator of each candidate
    mods: list[str]                     # modification of each candidate
    scores: np.ndarray                  # raw score (higher = more important)
    importance: np.ndarray              # normalised, clipped at 0
    saving_ms: np.ndarray               # predicted latency saved
    full_ms: float
    conflicts: list[tuple[str, str]]    # (ancestor, nested) operator pairs among the candidates
    excluded: dict[str, str]            # operator -> why it is not a candidate
    importance_total: float             # the raw-score sum that 'importance' is a share of
    params_saved: np.ndarray | None = None
    flops_saved: np.ndarray | None = None
    total_params: float | None = None
    total_flops: float | None = None
    scale: float = 1.0                  # verify-loop calibration of savings
    info: dict[str, Any] = field(default_factory=dict)
    caps: list[Cap] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ops)

    def index(self) -> dict[tuple[str, str], int]:
        return {(o, m): i for i, (o, m) in enumerate(zip(self.ops, self.mods))}

    def over_caps(self, sel) -> list[Cap]:
        """The caps that selection ``sel`` (candidate indices) exceeds."""
        chosen = set(sel)
        return [c for c in self.caps if len(chosen.intersection(c.members)) > c.limit]

    def set_caps(self, specs: list[str] | None) -> None:
        """``REGEX=N`` caps (``PlanConfig.caps``); one that matches no candidate is refused as a likely typo."""
        names = [f"{o}:{m}" for o, m in zip(self.ops, self.mods)]
        self.caps = [cap_members(spec, names) for spec in specs or ()]
        for spec, cap in zip(specs or (), self.caps):
            if not cap.members:
                raise LdpruneError(f"--cap {spec!r} matches no candidate of this plan",
                                   f"match 'operator:modification' as the scores name them, e.g. {', '.join(names[:3])}")

    def predicted_ms(self, sel: list[int]) -> float:
        return self.full_ms - float(self.saving_ms[sel].sum()) if sel else self.full_ms

    def calibrated(self, full_ms: float, scale: float) -> "Problem":
        """A copy whose predictor is re-anchored on a measured full latency and scaled savings."""
        p = copy.copy(self)
        p.saving_ms = self.saving_ms * (scale / self.scale)
        p.full_ms, p.scale = float(full_ms), float(scale)
        return p


def file_digest(src: str | Path | dict) -> dict[str, Any]:
    if isinstance(src, dict):
        blob = json.dumps(src, sort_keys=True, default=str).encode()
        return {"path": None, "sha256": hashlib.sha256(blob).hexdigest()[:16]}
    return {"path": str(src), "sha256": hashlib.sha256(Path(src).read_bytes()).hexdigest()[:16]}


def load_inputs(scores: str | Path | dict, profile: str | Path | dict) -> tuple[Scores, Profile]:
    s = Scores.from_json(scores) if isinstance(scores, dict) else Scores.load(scores)
    p = Profile.from_json(profile) if isinstance(profile, dict) else Profile.load(profile)
    return s, p


def check_inputs(scores: dict, profile: dict, *, batch: int | None, resolution: int | None,
                 absolute_ms: bool) -> None:
    fs, fp = scores.get("model_fingerprint"), profile.get("model_fingerprint")
    if fs != fp:
        raise LdpruneError(
            f"scores are for model {fs} ({scores.get('model', '?')}) but the profile is for model "
            f"{fp} ({profile.get('model', '?')})",
            "score and profile the same model (same preset or folder)")
    for name, want in (("batch", batch), ("resolution", resolution)):
        have = profile.get(name)
        if want is None or have is None or int(want) == int(have):
            continue
        msg = f"the profile was measured at {name} {have}, but {name} {want} was requested"
        if absolute_ms:
            raise LdpruneError(msg + "; a budget in ms does not transfer between shapes",
                               f"profile at {name} {want} (`ldprune profile --{name} {want}`) "
                               "or give the budget relative to the full model (e.g. 70%)")
        log.warning("%s; the relative budget is applied to the profile's shapes", msg)


def build_problem(scores: dict, profile: dict, *, method: str | None = None,
                  allow_missing: bool = False) -> Problem:
    method = profile_method(profile, method)
    table = savings_table(profile, method)
    seen: dict[tuple[str, str], float] = {}
    for i, rec in enumerate(scores["scores"]):
        try:
            key, val = (str(rec["operator"]), str(rec["modification"])), float(rec["score"])
        except (KeyError, TypeError, ValueError):
            raise LdpruneError(f"scores entry {i} is malformed: {rec!r}",
                               "each entry needs 'operator', 'modification' and a numeric 'score'") from None
        if not math.isfinite(val):
            raise LdpruneError(f"score of {key[0]} {key[1]} is {val}", "re-run scoring; a score must be finite")
        if key in seen:
            raise LdpruneError(f"scores list {key[0]} {key[1]} twice", "keep one entry per (operator, modification)")
        seen[key] = val
    missing = [k for k in seen if k not in table]
    excluded: dict[str, str] = {}
    if missing:
        ops = sorted({o for o, _ in missing})
        if not allow_missing:
            shown = ", ".join(f"{o} {m}" for o, m in missing[:8]) + (" …" if len(missing) > 8 else "")
            raise LdpruneError(
                f"the profile ({method}) has no saving for {len(missing)} scored modification(s) of "
                f"{len(ops)} operator(s): {shown}",
                "re-profile with the current catalogue, or pass --allow-missing to plan without them")
        log.warning("skipping %d scored modification(s) the profile lacks (--allow-missing): %s",
                    len(missing), ", ".join(ops))
        for o, m in missing:
            excluded.setdefault(o, f"no {method} saving in the profile")
    for o, _m in table:
        if not any(so == o for so, _ in seen):
            excluded.setdefault(o, "no score")
    keys = [k for k in seen if k in table]
    for o in {o for o, _ in keys}:
        excluded.pop(o, None)
    raw = np.array([seen[k] for k in keys], dtype=float)
    clipped = np.clip(raw, 0.0, None)
    # share of "every operator modified in its most damaging way": same scale for any method
    per_op: dict[str, float] = {}
    for (o, _), v in zip(keys, clipped):
        per_op[o] = max(per_op.get(o, 0.0), v)
    total = float(sum(per_op.values())) or 1.0
    full = full_latency_ms(profile)
    saving = np.array([table[k] for k in keys], dtype=float)
    odd = [f"{k[0]} {k[1]} ({table[k]:.3g} ms)" for k in keys if abs(table[k]) >= full]
    if odd:
        # a single operator cannot save more than the whole model takes: the profile is noisy
        log.warning("PROFILE LOOKS UNRELIABLE: %d saving(s) are as large as the full model (%.3g ms), e.g. %s; "
                    "predictions from it are not trustworthy (re-profile on an idle device)",
                    len(odd), full, ", ".join(odd[:3]))
    conflicts = find_conflicts([Modification(o, "") for o in sorted({o for o, _ in keys})])
    return Problem(ops=[o for o, _ in keys], mods=[m for _, m in keys], scores=raw,
                   importance=clipped / total, saving_ms=saving, full_ms=full, conflicts=conflicts, excluded=excluded,
                   importance_total=total,
                   info={"method": method, "n_negative_scores": int((raw < 0).sum()),
                         "n_skipped_missing": len(missing), "implausible_savings": odd[:20]})


def attach_sizes(problem: Problem, profile: dict, model: str | None, *, flops: bool) -> None:
    """Params/FLOPs saved per candidate, from the catalogue of the profiled architecture."""
    from ..catalogue import build_catalogue
    from ..models import load_model

    spec = model or profile.get("model")
    if not spec:
        raise LdpruneError("a size budget needs the model's catalogue, and the profile names no model",
                           "pass --model")
    unet, info = load_model(spec, device="meta", quiet=True)
    cat = build_catalogue(unet, info, batch=int(profile.get("batch") or 1),
                          resolution=profile.get("resolution"), flops=flops)
    if cat.model_fingerprint != profile["model_fingerprint"]:
        raise LdpruneError(f"model {spec} has fingerprint {cat.model_fingerprint}, the profile is for "
                           f"{profile['model_fingerprint']}", "pass the model the profile was measured on")
    params, fl = [], []
    for o, m in zip(problem.ops, problem.mods):
        try:
            op = cat.get(o)
        except KeyError:
            raise LdpruneError(f"operator {o} is not in the catalogue of {spec}",
                               "score and profile this model's catalogue") from None
        opt = op.mod(m)
        if opt is None:
            raise LdpruneError(f"{m} is not a legal modification of {o}", "re-score with the current catalogue")
        params.append(op.params - opt.params)
        fl.append(op.flops - opt.flops)
    problem.params_saved = np.array(params, dtype=float)
    problem.total_params = float(cat.total_params)
    if flops:
        problem.flops_saved = np.array(fl, dtype=float)
        problem.total_flops = float(cat.total_flops)
