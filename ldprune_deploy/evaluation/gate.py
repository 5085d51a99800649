"""The budget gate: latency within budget and every quality drop within its tolerance.

Budget (``ldprune_deploy.budget.Budget``): ``8.5ms`` (candidate latency), ``70%`` (of the teacher's
latency measured in the same run) or ``1.4x`` (minimum speed-up). Quality tolerances (``--max-quality-drop``, repeatable):
``10%`` applies to every metric, ``fid=15%`` to one; a relative drop is
``(cand - teacher) / teacher`` for lower-is-better metrics (FID, FAD) and
``(teacher - cand) / teacher`` for higher-is-better ones (CLIP); a bare number (``fid=2.5``)
is an absolute worsening in the metric's own units.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..budget import Budget, latency_verdict
from ..errors import GateFailed, LdpruneError
from ..runners import LatencyStats

LOWER_IS_BETTER = {"fid": True, "fad": True, "clip": False}


@dataclass
class Tolerance:
    relative: bool
    value: float     # fraction (relative) or metric units (absolute)
    spec: str


def parse_tolerances(specs: list[str] | str | None) -> dict[str, Tolerance]:
    """``["10%", "fid=15%", "clip=0.5"]`` -> {"*": 10 %, "fid": 15 %, "clip": 0.5 absolute}."""
    if specs is None:
        return {}
    out: dict[str, Tolerance] = {}
    for spec in [specs] if isinstance(specs, str) else specs:
        for part in str(spec).split(","):
            part = part.strip()
            if not part:
                continue
            key, _, val = part.rpartition("=") if "=" in part else ("*", "", part)
            key = key.strip().lower() or "*"
            m = re.fullmatch(r"([0-9]*\.?[0-9]+)(%)?", val.strip())
            if not m or (key != "*" and key not in LOWER_IS_BETTER):
                raise LdpruneError(f"cannot read quality tolerance '{part}'",
                                   "write it as 10% (every metric), fid=15% or fad=2.5 (absolute)")
            rel = m.group(2) == "%"
            out[key] = Tolerance(rel, float(m.group(1)) / (100 if rel else 1), part)
    return out


def quality_drop(metric: str, teacher: float, candidate: float) -> dict[str, float | None]:
    worse = candidate - teacher if LOWER_IS_BETTER[metric] else teacher - candidate
    rel = worse / abs(teacher) if teacher else (0.0 if worse <= 0 else float("inf"))
    return {"absolute": worse, "relative": rel}


def gate(latency: dict[str, Any] | None, quality: dict[str, dict[str, Any]], budget: Budget | None,
         tolerances: dict[str, Tolerance]) -> dict[str, Any]:
    """Return ``{"passed", "reasons", "checks"}``; nothing is raised here (see ``enforce``)."""
    checks, reasons = [], []
    if budget is not None and latency is not None:
        limit = budget.limit(latency["teacher_ms"])
        c = latency.get("candidate") or {}
        med = latency["candidate_ms"]
        stats = LatencyStats(med, c.get("p10_ms", med), c.get("p90_ms", med), c.get("n", 1))
        v = latency_verdict(stats, limit, (latency.get("drift") or {}).get("range_frac", 0.0))
        checks.append({"check": "latency", "value_ms": med, "upper_ms": v["upper_ms"], "limit_ms": limit,
                       "rule": v["rule"], "budget": budget.spec, "passed": v["passed"]})
        if not v["passed"]:
            reasons.append(f"too slow: candidate {med:.3f} ms (p90 + drift {v['upper_ms']:.3f} ms) > budget "
                           f"{limit:.3f} ms ({budget.spec}; teacher {latency['teacher_ms']:.3f} ms)")
    for metric, q in quality.items():
        tol = tolerances.get(metric) or tolerances.get("*")
        if tol is None or q.get("skipped"):
            continue
        drop = q["drop"]["relative"] if tol.relative else q["drop"]["absolute"]
        ok = drop <= tol.value
        shown = (lambda v: f"{100 * v:.1f}%") if tol.relative else (lambda v: f"{v:.4g}")
        checks.append({"check": metric, "drop": drop, "limit": tol.value, "relative": tol.relative,
                       "tolerance": tol.spec, "passed": ok})
        if not ok:
            reasons.append(f"too degraded: {q['label']} {q['teacher']:.4g} -> {q['candidate']:.4g} "
                           f"(drop {shown(drop)} > {shown(tol.value)})")
    return {"passed": not reasons, "reasons": reasons, "checks": checks}


def enforce(result: dict[str, Any], report_dir: str | None = None) -> None:
    if not result["passed"]:
        where = f" (report: {report_dir})" if report_dir else ""
        raise GateFailed("gate failed: " + "; ".join(result["reasons"]) + where,
                         "relax --budget / --max-quality-drop, or prune / distill the candidate again")
