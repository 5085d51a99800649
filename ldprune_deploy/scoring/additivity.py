"""Additivity check: is the score of a set of modifications the sum of their single scores?

One-shot selection (rank singles, prune the cheapest) is only sound where this holds, so
the check is stored next to the scores: for K random conflict-free sets, Pearson and
Spearman between Σ single scores and the measured joint score.
"""

from __future__ import annotations

import math
import random
from typing import Any

from ..artifacts import Modification, find_conflicts


def additivity_sets(candidates: list[tuple[str, str]], k: int, max_size: int, seed: int) -> list[list[tuple[str, str]]]:
    """K random sets of 2..max_size candidates, no operator inside (or equal to) another."""
    rng = random.Random(f"additivity-{seed}")
    sets = []
    for _ in range(k):
        size = rng.randint(2, max(2, min(max_size, len(candidates))))
        order = list(candidates)
        rng.shuffle(order)
        chosen: list[tuple[str, str]] = []
        for c in order:
            trial = [Modification(o, m) for o, m in chosen + [c]]
            if not find_conflicts(trial):
                chosen.append(c)
            if len(chosen) == size:
                break
        if len(chosen) >= 2:
            sets.append(sorted(chosen, key=candidates.index))
    return sets


def _corr(x: list[float], y: list[float]) -> tuple[float | None, float | None]:
    from scipy import stats

    pts = [(a, b) for a, b in zip(x, y) if math.isfinite(a) and math.isfinite(b)]
    if len(pts) < 3 or len({a for a, _ in pts}) < 2 or len({b for _, b in pts}) < 2:
        return None, None  # undefined (too few points or a constant series)
    xs, ys = zip(*pts)
    return float(stats.pearsonr(xs, ys)[0]), float(stats.spearmanr(xs, ys)[0])


def additivity_report(sets: list[list[tuple[str, str]]], singles: dict[tuple[str, str], float],
                      joint: dict[int, dict[str, Any]], max_size: int) -> dict[str, Any]:
    rows = []
    for j, s in enumerate(sets):
        total = sum(singles[c] for c in s)
        rows.append({"modifications": [list(c) for c in s], "sum_single": total, "joint": joint[j]["score"],
                     "joint_parts": joint[j]["parts"]})
    pearson, spearman = _corr([r["sum_single"] for r in rows], [r["joint"] for r in rows])
    ratios = [r["joint"] / r["sum_single"] for r in rows if r["sum_single"] > 0 and math.isfinite(r["joint"])]
    return {"k": len(rows), "max_set_size": max_size, "pearson": pearson, "spearman": spearman,
            "median_joint_over_sum": sorted(ratios)[len(ratios) // 2] if ratios else None, "sets": rows}
