"""Checks that decide whether a quality figure can be believed: is a training curve at a plateau,
does a metric order the sanity ladder, is a difference larger than the seed spread.

Pure functions on numbers (the benchmarks measure, these judge), so they are unit-tested.
"""

from __future__ import annotations

import math
import statistics


def spread(values: list[float]) -> dict:
    v = [float(x) for x in values if x is not None and math.isfinite(x)]
    if not v:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {"mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0,
            "min": min(v), "max": max(v), "n": len(v)}


def paired(differences: list[float]) -> dict:
    """Mean, std and standard error of per-seed differences and the two-sided paired t-test's p over n - 1
    degrees of freedom (None with fewer than two differences or none that differ)."""
    from scipy import stats

    d = [float(x) for x in differences]
    sd = statistics.stdev(d) if len(d) > 1 else None
    se = None if sd is None else sd / len(d) ** 0.5
    p = None if not se else float(2 * stats.t.sf(abs(statistics.mean(d)) / se, len(d) - 1))
    return {"mean": statistics.mean(d) if d else None, "std": sd, "se": se, "p": p}


def format_p(p: float) -> str:
    """A p-value for a table: two decimals, a small one to one significant digit (two decimals print it as 0.00)."""
    return f"p {p:.2f}" if p >= 0.005 else f"p {p:.1g}"


def pooled_std(groups: list[list[float]]) -> dict:
    """The within-group std pooled over groups (each group's variance with its n - 1 degrees of
    freedom; a group of one adds none): the noise of one value when the groups' means differ."""
    parts = [(len(g) - 1, statistics.variance(g)) for g in groups if len(g) > 1]
    dof = sum(d for d, _ in parts)
    return {"std": (sum(d * v for d, v in parts) / dof) ** 0.5 if dof else None, "dof": dof}


def paired_seeds_needed(std: float, effect: float, alpha: float = 0.05, power: float = 0.8, most: int = 10_000
                        ) -> int | None:
    """The fewest paired seeds whose two-sided paired t-test at ``alpha`` detects a true mean difference
    ``effect`` with probability ``power``, when one seed's difference has std ``std`` (noncentral t);
    None beyond ``most``."""
    from scipy import stats

    if effect == 0 or std <= 0:
        return None if effect == 0 else 2
    for n in range(2, most + 1):
        df, nc = n - 1, abs(effect) / (std / n ** 0.5)
        crit = stats.t.ppf(1 - alpha / 2, df)
        if stats.nct.sf(crit, df, nc) + stats.nct.cdf(-crit, df, nc) >= power:
            return n
    return None


def _window(steps: list[int], values: list[float], total_steps: int, last: float):
    """(window start step, the curve's finite (step, value) points, those at or after the start)."""
    start = (1 - last) * total_steps
    valid = [(float(s), float(v)) for s, v in zip(steps, values) if v is not None and math.isfinite(v)]
    return start, valid, [(s, v) for s, v in valid if s >= start - 1e-9]


def plateau(steps: list[int], values: list[float], total_steps: int, seed_values: list[float],
            last: float = 0.2) -> dict:
    """Whether a metric curve is flat over the last ``last`` of training, within its seed spread.

    Flat means: the range (max - min) of the curve's points at or after ``(1 - last) * total_steps``
    is no larger than the range of the same metric measured at the end with different sampling
    seeds (``seed_values``: the noise one evaluation carries). At least two points must fall in
    the window, and the curve must start at or before the window (a curve re-measured with a new
    proxy from a resume point covers only the steps after it), else nothing can be said and
    ``plateau`` is False."""
    start, valid, pts = _window(steps, values, total_steps, last)
    window = [v for _, v in pts]
    covered = bool(valid) and min(s for s, _ in valid) <= start + 1e-9
    seeds = spread(seed_values)
    noise = (seeds["max"] - seeds["min"]) if seeds["n"] >= 2 else None
    change = (max(window) - min(window)) if len(window) >= 2 else None
    ok = covered and change is not None and noise is not None and change <= noise
    return {"plateau": bool(ok), "window_from_step": math.ceil(start), "points_in_window": len(window),
            "window_covered": covered, "window_range": change, "seed_range": noise, "seed_spread": seeds,
            "rule": f"range of the curve over the last {last:.0%} of steps <= range over {seeds['n']} sampling seeds at the end"}


def pass_rate_if_flat(points: int, seeds: int, draws: int = 200_000, seed: int = 0) -> float | None:
    """How often ``plateau``'s range rule passes a curve that is perfectly flat, its ``points``
    window evaluations varying only as much as the ``seeds`` sampling seeds do (all independent
    draws of one normal distribution): the rule's chance to call a true plateau one. Exactly 0.5
    for points == seeds; 0.38 for the 4-point windows and 3 seeds the teachers use. Monte Carlo,
    fixed seed, so the figure is the same on every machine."""
    if points < 2 or seeds < 2:
        return None
    import numpy as np

    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal((draws, points)), rng.standard_normal((draws, seeds))
    return float(np.mean(np.ptp(a, 1) <= np.ptp(b, 1)))


def trend(steps: list[int], values: list[float], total_steps: int, seed_values: list[float],
          last: float = 0.2) -> dict:
    """Whether the curve still moves over the last ``last`` of training: the least-squares drift
    across that window against twice its standard error were each point an independent draw with
    the seed spread's std (the noise one evaluation carries). Reported beside ``plateau``, which
    compares ranges: with a window of 4 points and 3 seeds at the end, a curve that is only noise
    fails that rule more often than not, while a real trend shows here. ``scatter_vs_seeds`` is the
    residual std about the fitted line over the seeds' std: above 1, evaluations move more between
    nearby checkpoints than between sampling seeds of one checkpoint. Needs 3 points and 2 seeds."""
    pts = _window(steps, values, total_steps, last)[2]
    seeds = spread(seed_values)
    if len(pts) < 3 or seeds["n"] < 2 or not seeds["std"]:
        return {"trend": None, "points_in_window": len(pts), "rule": "needs 3 points in the window and 2 seeds"}
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in pts) / sxx
    span = max(xs) - min(xs)
    drift, se = slope * span, seeds["std"] * span / math.sqrt(sxx)
    resid = [y - (my + slope * (x - mx)) for x, y in pts]
    scatter = math.sqrt(sum(r * r for r in resid) / (len(pts) - 2))
    moving = abs(drift) > 2 * se
    return {"trend": ("up" if drift > 0 else "down") if moving else "none", "drift": drift, "drift_se": se,
            "points_in_window": len(pts), "scatter_vs_seeds": scatter / seeds["std"],
            "rule": "least-squares drift over the window beyond 2 standard errors (seed std, independent points)"}


def ladder(rungs: dict[str, float], order: list[str], higher_is_better: bool = False) -> dict:
    """A sanity ladder: ``order`` from best to worst (e.g. real-vs-real, teacher, noise); the
    metric must be strictly ordered along it. Rungs not in ``order`` are reported, not judged.
    Returns the rungs and whether it holds."""
    vals = [rungs[k] for k in order]
    sign = -1 if higher_is_better else 1
    ok = all(sign * a < sign * b for a, b in zip(vals, vals[1:]))
    return {"rungs": dict(rungs), "order": order, "holds": bool(ok),
            "higher_is_better": higher_is_better}


def differs(a: list[float], b: list[float]) -> dict:
    """Whether two seed groups differ by more than their spread: the gap between the means
    exceeds the sum of the two standard deviations (a deliberately plain rule for 3 seeds,
    where a t-test has little power; stated with every comparison)."""
    sa, sb = spread(a), spread(b)
    if sa["n"] == 0 or sb["n"] == 0:
        return {"gap": None, "exceeds_spread": False}
    gap = sa["mean"] - sb["mean"]
    return {"gap": gap, "exceeds_spread": bool(abs(gap) > sa["std"] + sb["std"]),
            "rule": "|mean_a - mean_b| > std_a + std_b"}
