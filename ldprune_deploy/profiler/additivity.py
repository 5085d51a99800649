"""Is a plan's latency the full latency minus the sum of its savings? Measure random plans and see."""

from __future__ import annotations

import random
from statistics import median
from typing import Any, Callable

from torch import nn

from ..runners import RunSpec, get_runner
from ..artifacts import Modification, find_conflicts
from ..surgery import swapped
from .config import LEVELS
from .methods import nested
from .predict import predict_latency, savings_table


def _leaves(ops: list[str]) -> dict[str, int]:
    """How many leaf operators (those with no profiled operator inside) each operator covers."""
    leaves = [o for o in ops if not any(p != o and p.startswith(o + ".") for p in ops)]
    return {o: sum(1 for l in leaves if nested(o, l)) for o in ops}


def random_plan(options: dict[str, list[str]], level: float, rng: random.Random) -> list[tuple[str, str]]:
    """A conflict-free plan modifying about ``level`` of the operators (counted in leaf operators)."""
    ops = sorted(options)
    cover = _leaves(ops)
    n_leaves = sum(1 for o in ops if not any(p != o and p.startswith(o + ".") for p in ops))
    target = max(1, round(level * n_leaves))
    order = ops[:]
    rng.shuffle(order)
    chosen: list[tuple[str, str]] = []
    covered = 0
    for op in order:
        if covered >= target:
            break
        if covered + cover[op] > target or any(nested(op, o) for o, _ in chosen):
            continue
        chosen.append((op, rng.choice(options[op])))
        covered += cover[op]
    assert not find_conflicts([Modification(o, m) for o, m in chosen])
    return chosen


def plan_options(profile: dict[str, Any]) -> dict[str, list[str]]:
    """op -> modifications that every profiled method has a saving for."""
    tables = [savings_table(profile, m) for m in profile["methods"]]
    opts: dict[str, list[str]] = {}
    for op, rec in profile["operators"].items():
        mods = [mod for mod in rec.get("savings_ms", {}) if all((op, mod) in t for t in tables)]
        if mods:
            opts[op] = sorted(mods)
    return opts


def summarise(plans: list[dict[str, Any]], methods: list[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Per method and level: median / max |relative error| and mean signed error (fractions)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for method in methods:
        per: dict[str, dict[str, float]] = {}
        for level in sorted({p["level"] for p in plans}):
            errs = [(p["predicted_ms"][method] - p["measured_ms"]) / p["measured_ms"]
                    for p in plans if p["level"] == level]
            per[f"level_{level}"] = {"median_err": float(median(abs(e) for e in errs)),
                                     "max_err": float(max(abs(e) for e in errs)),
                                     "mean_signed_err": float(sum(errs) / len(errs)), "n": len(errs)}
        out[method] = per
    return out


def check_additivity(model: nn.Module, profile: dict[str, Any], k: int, *, info=None, levels=LEVELS,
                     seed: int = 0, runner=None, spec: RunSpec | None = None,
                     unit: Callable[[str, Callable[[], Any]], Any] | None = None) -> dict[str, Any]:
    """Time ``k`` random plans per level with the profile's backend; report predicted vs measured.

    ``unit(key, compute)`` lets a resumable caller skip plans it has already measured.
    Returns ``{"summary": {method: {"level_x": {...}}}, "plans": [...]}``.
    """
    from ..models import load_model

    info = info or load_model(model)[1]
    runner = runner or get_runner(profile["backend"])
    spec = spec or RunSpec(batch=profile["batch"], resolution=profile["resolution"], dtype=profile["dtype"],
                           text_len=profile.get("text_len"))
    options = plan_options(profile)
    methods = list(profile["methods"])
    rng = random.Random(seed)
    unit = unit or (lambda key, compute: compute())
    plans = []
    for level in levels:
        for i in range(k):
            pairs = random_plan(options, level, rng)

            def measure(pairs=pairs):
                with swapped(model, [Modification(o, m) for o, m in pairs]):
                    return runner.measure(model, info, spec).median_ms

            measured = unit(f"additivity/{level}/{i}", measure)
            plans.append({"level": level, "modifications": [list(p) for p in pairs], "measured_ms": measured,
                          "predicted_ms": {m: predict_latency(profile, pairs, method=m) for m in methods}})
    return {"summary": summarise(plans, methods), "plans": plans}
