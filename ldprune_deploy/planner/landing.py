"""Land a plan on a latency target by measurement: complete it with the next candidates in the
strategy's own order while it is too slow, trim it while it is faster than the target by more
than the tolerance. Comparisons of pruning criteria are only fair at equal measured latency, and
a rank-ordered plan (LD-Pruner's latency-blind order) rarely lands on a budget by itself.

The measuring is passed in (``measure(selection) -> ratio to the full model``), so the logic is
tested with a deterministic fake and run with a paired, interleaved runner measurement.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .problem import Problem


def conflicts_with(op: str, chosen_ops: set[str]) -> bool:
    return any(op == c or op.startswith(c + ".") or c.startswith(op + ".") for c in chosen_ops)


def priority_order(problem: Problem, strategy: str) -> list[int]:
    """Candidates in the order a strategy would add them: ``rank`` by importance (least important
    first, LD-Pruner's order); otherwise by importance lost per millisecond saved."""
    imp = problem.importance
    if strategy == "rank":
        return [int(i) for i in np.argsort(imp, kind="stable")]
    gain = np.clip(problem.saving_ms, 1e-9, None)
    useful = [i for i in range(len(problem)) if problem.saving_ms[i] > 0]
    return sorted(useful, key=lambda i: (imp[i] / gain[i], i))


def land(problem: Problem, chosen: list[int], order: list[int], measure: Callable[[list[int]], float],
         target: float, tol: float = 0.01, max_rounds: int = 10) -> dict:
    """Adjust ``chosen`` (candidate indices) until ``target * (1 - tol) <= measure(sel) <= target``.

    ``target`` is a ratio to the full model (0.65 = a 35 % cut). Returns ``{"selection", "ratio",
    "landed", "rounds": [{"n", "ratio", "action"}]}``; when the rounds run out, the measured
    selection nearest the window that is not slower than the target (else the fastest)."""
    sel, seen, rounds = list(chosen), set(), []
    saving = problem.saving_ms
    full = problem.full_ms
    lo = target * (1 - tol)
    for _ in range(max_rounds):
        ratio = float(measure(sel))
        rec = {"n": len(sel), "selection": list(sel), "ratio": ratio}
        rounds.append(rec)
        seen.add(frozenset(sel))
        if lo <= ratio <= target:
            rec["action"] = "landed"
            return {"selection": sel, "ratio": ratio, "landed": True, "rounds": rounds}
        mid = (lo + target) / 2
        if ratio > target:   # too slow: complete in the strategy's order
            need, ops = (ratio - mid) * full, {problem.ops[i] for i in sel}
            added = []
            for i in order:
                if i in sel or conflicts_with(problem.ops[i], ops):
                    continue
                if frozenset(sel + added + [i]) in seen:
                    continue
                added.append(i)
                ops.add(problem.ops[i])
                if saving[added].sum() >= need:
                    break
            if not added:
                rec["action"] = "no candidate left to add"
                break
            sel += added
            rec["action"] = f"added {len(added)}"
        else:                # faster than needed: give back the saving nearest the excess
            room, excess = (target - ratio) * full, (mid - ratio) * full
            fits = [i for i in sel if saving[i] <= room and frozenset(set(sel) - {i}) not in seen]
            pool = fits or [i for i in sel if frozenset(set(sel) - {i}) not in seen]
            if not pool:
                rec["action"] = "nothing left to trim"
                break
            rm = min(pool, key=lambda i: abs(saving[i] - excess))
            sel = [i for i in sel if i != rm]
            rec["action"] = f"trimmed {problem.ops[rm]} {problem.mods[rm]}"
    ok = [r for r in rounds if r["ratio"] <= target]
    best = max(ok, key=lambda r: r["ratio"]) if ok else min(rounds, key=lambda r: r["ratio"])
    return {"selection": best["selection"], "ratio": best["ratio"], "landed": False, "rounds": rounds}
