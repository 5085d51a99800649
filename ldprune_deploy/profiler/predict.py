"""Read profiles and predict a plan's latency from them.

prediction = full latency − Σ savings of the plan's modifications (+ an optional measured
correction, e.g. from the planner's verify loop).
"""

from __future__ import annotations

import logging
from typing import Any, Iterable

from ..errors import LdpruneError

log = logging.getLogger("ldprune")


def profile_method(profile: dict[str, Any], method: str | None = None) -> str:
    method = method or profile.get("default_method") or "isolated"
    if method not in profile.get("methods", [method]):
        raise LdpruneError(f"profile has no '{method}' measurements (it has {profile.get('methods')})",
                           "pick one of those methods or re-profile with it")
    return method


def saving_ms(profile: dict[str, Any], op: str, mod: str, method: str | None = None) -> float | None:
    """Latency saved by one modification, or None when the profile has no figure for it."""
    method = profile_method(profile, method)
    entry = profile["operators"].get(op, {}).get("savings_ms", {}).get(mod)
    if entry is None:
        return None
    return entry.get(method)


def savings_table(profile: dict[str, Any], method: str | None = None) -> dict[tuple[str, str], float]:
    method = profile_method(profile, method)
    out = {}
    for op, rec in profile["operators"].items():
        for mod, by_method in rec.get("savings_ms", {}).items():
            if by_method.get(method) is not None:
                out[(op, mod)] = float(by_method[method])
    return out


def full_latency_ms(profile: dict[str, Any]) -> float:
    return float(profile["full_latency_ms"]["median_ms"])


def _pairs(plan) -> list[tuple[str, str]]:
    if hasattr(plan, "modifications"):
        return [(m.operator, m.modification) for m in plan.modifications]
    return [tuple(p) for p in plan]


def predict_latency(profile: dict[str, Any], plan: Any | Iterable[tuple[str, str]], *,
                    method: str | None = None, correction_ms: float = 0.0) -> float:
    """Predicted latency (ms) of the model with ``plan`` applied (a PrunePlan or (op, mod) pairs)."""
    table = savings_table(profile, method)
    missing = [p for p in _pairs(plan) if p not in table]
    if missing:
        raise LdpruneError(f"profile has no saving for {len(missing)} modification(s), e.g. {missing[0]}",
                           "re-profile with the current catalogue")
    return full_latency_ms(profile) - sum(table[p] for p in _pairs(plan)) + correction_ms
