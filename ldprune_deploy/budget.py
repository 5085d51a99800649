"""Budgets: the one ``Budget`` type and parser, and the one rule for "meets its latency budget".

``Budget.parse("8.5ms" | "70%" | "1.5x")`` is a latency budget (absolute, a share of the full
model / teacher, a speed-up over it); ``Budget.parse("60%" | "500M", kind="params")`` a size
budget. The planner, the evaluator's gate and the recipe checks read budgets only through it;
``Budget.resolve(full)`` gives the ``Limit`` the planner solves against.

The rule, shared by plan --verify and the evaluator's gate:

A budget is one-sided: a model meets it only when its measured latency, with a margin taken
from the measurement's own spread, is at or under it. The upper bound is the candidate's p90
over its timed calls plus the candidate's median times how far (as a fraction) the reference
(the full model / the teacher, timed interleaved in the same run) moved between rounds: a
machine that drifts widens the margin instead of letting a lucky stretch pass a plan.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from .errors import LdpruneError
from .runners import LatencyStats

LATENCY_SYNTAX = "milliseconds (8.5ms), a share of the full model (70%) or a speed-up (1.5x)"
_COUNT = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9, "t": 1e12}


@dataclass(frozen=True)
class Budget:
    """A budget as written. ``kind``: ``ms`` | ``fraction`` | ``speedup`` (latency) or ``params`` |
    ``flops`` (size: ``value`` a count, or with ``relative`` a share of the full model)."""

    kind: str
    value: float
    spec: str
    relative: bool = False

    @classmethod
    def parse(cls, spec: Any, kind: str = "latency") -> "Budget":
        """``kind``: ``latency`` (8.5ms | 70% | 1.5x), ``speedup`` (1.5 or 1.5x), ``params`` or ``flops``
        (60% | 500M | 1.2T | 3e8). Raises the one error naming the syntax."""
        text = str(spec).strip().lower().replace(" ", "")
        if kind in ("params", "flops"):
            m = re.fullmatch(r"([0-9.eE+-]+)(%|[kmgbt]?)", text)
            if not m:
                raise LdpruneError(f"cannot read {kind} budget '{spec}'",
                                   "write a share (60%) or a count such as 500M / 1.2G / 3e8")
            v = _positive(m.group(1), spec, f"{kind} budget")
            if m.group(2) == "%":
                return cls(kind, v / 100.0, str(spec), relative=True)
            return cls(kind, v * _COUNT[m.group(2)], str(spec))
        if kind == "speedup" and not text.endswith("x"):
            text += "x"
            spec = text
        m = re.fullmatch(r"(.+?)(ms|%|x)", text)
        if not m:
            raise LdpruneError(f"latency budget '{spec}' has no unit", f"write it as {LATENCY_SYNTAX}")
        v = _positive(m.group(1), spec, "latency budget")
        unit = m.group(2)
        if unit == "%":
            return cls("fraction", v / 100.0, str(spec), relative=True)
        return cls("speedup" if unit == "x" else "ms", v, str(spec), relative=unit == "x")

    @property
    def is_latency(self) -> bool:
        return self.kind in ("ms", "fraction", "speedup")

    @property
    def share(self) -> float | None:
        """The share of the full model this budget allows (None for absolute budgets)."""
        if self.kind == "speedup":
            return 1.0 / self.value
        return self.value if self.relative else None

    def limit(self, full: float) -> float:
        """The bound in absolute units (ms, parameters, FLOPs) for a full model measuring ``full``."""
        share = self.share
        return self.value if share is None else full * share

    def resolve(self, full: float) -> "Limit":
        return Limit("latency_ms" if self.is_latency else self.kind, self.limit(full), self.spec, self.share)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Limit:
    """A budget resolved against the full model: ``kind`` ``latency_ms`` | ``params`` | ``flops``.
    ``relative`` is the share of the full model it was given as (None for absolute values), so the
    verify loop can re-anchor a relative latency budget on the runner's own measurement."""

    kind: str
    value: float
    spec: str
    relative: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _positive(text: str, spec: Any, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise LdpruneError(f"cannot read {what} '{spec}'", f"write it as {LATENCY_SYNTAX}") from None
    if not v > 0 or not math.isfinite(v):
        raise LdpruneError(f"{what} must be a positive number, got '{spec}'", "give a budget above zero, e.g. 70%")
    return v


RULE = "p90 + median x reference drift <= budget"


def latency_verdict(candidate: LatencyStats, limit_ms: float, drift_frac: float = 0.0) -> dict[str, Any]:
    """``{"limit_ms", "median_ms", "upper_ms", "margin_ms", "passed", ...}`` for one measured candidate.

    ``drift_frac``: the reference's range of round medians over its median (0 when unpaired)."""
    drift_ms = max(0.0, float(drift_frac)) * float(candidate.median_ms)
    upper = float(candidate.p90_ms) + drift_ms
    return {"limit_ms": float(limit_ms), "median_ms": float(candidate.median_ms), "upper_ms": upper,
            "margin_ms": upper - float(candidate.median_ms), "drift_ms": drift_ms,
            "passed": upper <= limit_ms, "rule": RULE}
