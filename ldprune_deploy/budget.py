"""The one rule for "meets its latency budget", shared by plan --verify and the evaluator's gate.

A budget is one-sided: a model meets it only when its measured latency, with a margin taken
from the measurement's own spread, is at or under it. The upper bound is the candidate's p90
over its timed calls plus the candidate's median times how far (as a fraction) the reference
(the full model / the teacher, timed interleaved in the same run) moved between rounds: a
machine that drifts widens the margin instead of letting a lucky stretch pass a plan.
"""

from __future__ import annotations

from typing import Any

from .runners import LatencyStats


RULE = "p90 + median x reference drift <= budget"


def latency_verdict(candidate: LatencyStats, limit_ms: float, drift_frac: float = 0.0) -> dict[str, Any]:
    """``{"limit_ms", "median_ms", "upper_ms", "margin_ms", "passed", ...}`` for one measured candidate.

    ``drift_frac``: the reference's range of round medians over its median (0 when unpaired)."""
    drift_ms = max(0.0, float(drift_frac)) * float(candidate.median_ms)
    upper = float(candidate.p90_ms) + drift_ms
    return {"limit_ms": float(limit_ms), "median_ms": float(candidate.median_ms), "upper_ms": upper,
            "margin_ms": upper - float(candidate.median_ms), "drift_ms": drift_ms,
            "passed": upper <= limit_ms, "rule": RULE}
