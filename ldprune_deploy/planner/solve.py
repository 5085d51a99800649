"""Selection of modifications: exact MILP (HiGHS), LD-Pruner's rank order, and bounds.

Constraints are "savings >= need" rows over binary x (one per candidate), each normalised
(share of full latency / params / FLOPs) so HiGHS sees coefficients of similar size.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

from .problem import Problem

# Objective = SCALE * importance + TIE per modification. HiGHS stops within an absolute gap
# of 1e-6, so the tie-break (prefer fewer modifications among equal importance, e.g. with
# zero scores) must be larger than that, and small against real importance differences.
SCALE, TIE = 1e4, 1e-3
_STATUS = {0: "optimal", 1: "limit reached", 2: "infeasible", 3: "unbounded", 4: "error"}


@dataclass
class Need:
    """Require sum(coef[x]) >= need, where coef are savings of one resource."""

    name: str          # latency_ms | params | flops
    coef: np.ndarray   # absolute savings per candidate
    need: float        # absolute amount to save
    norm: float        # full-model amount, to normalise


@dataclass
class Selection:
    chosen: list[int]
    status: str
    info: dict[str, Any] = field(default_factory=dict)


def structure_rows(p: Problem) -> tuple[lil_matrix, int]:
    """At most one modification per operator; never an operator and one nested inside it."""
    by_op: dict[str, list[int]] = {}
    for i, o in enumerate(p.ops):
        by_op.setdefault(o, []).append(i)
    groups = [v for v in by_op.values() if len(v) > 1] + [by_op[a] + by_op[b] for a, b in p.conflicts]
    a = lil_matrix((len(groups), len(p)))
    for r, g in enumerate(groups):
        for i in g:
            a[r, i] = 1.0
    return a, len(groups)


def solve_milp(p: Problem, needs: list[Need], objective: np.ndarray | None = None,
               time_limit_s: float = 60.0) -> Selection:
    """Minimise importance (or ``objective``) subject to every ``need``; exact (gap 0)."""
    n = len(p)
    if all(nd.need <= 0 for nd in needs) and objective is None:
        return Selection([], "optimal", {"solver": "trivial: budget met by the full model", "time_s": 0.0})
    c = SCALE * p.importance + TIE if objective is None else objective
    struct, n_struct = structure_rows(p)
    cons = []
    if n_struct:
        cons.append(LinearConstraint(struct.tocsr(), -np.inf, 1.0))
    for nd in needs:
        if nd.need > 0:
            cons.append(LinearConstraint((nd.coef / nd.norm)[None, :], nd.need / nd.norm, np.inf))
    for cap in p.caps:
        row = np.zeros(n)
        row[cap.members] = 1.0
        cons.append(LinearConstraint(row[None, :], -np.inf, cap.limit))
    t0 = time.perf_counter()
    with _silence_stdout():
        res = milp(c, integrality=np.ones(n), bounds=Bounds(0, 1), constraints=cons,
                   options={"mip_rel_gap": 0.0, "time_limit": time_limit_s, "presolve": True})
    dt = time.perf_counter() - t0
    status = _STATUS.get(res.status, str(res.status))
    chosen = [] if res.x is None else [int(i) for i in np.flatnonzero(res.x > 0.5)]
    info = {"solver": "scipy.optimize.milp (HiGHS)", "status": status, "message": str(res.message),
            "time_s": round(dt, 4), "n_vars": n, "n_rows": n_struct + len(cons) - (1 if n_struct else 0),
            "mip_gap": None if res.x is None else getattr(res, "mip_gap", None)}
    if res.status == 1 and res.x is not None:
        info["warning"] = "time limit reached: feasible but not proven optimal"
    return Selection(chosen, status if res.x is not None else "infeasible" if res.status == 2 else status, info)


@contextlib.contextmanager
def _silence_stdout():
    """Some HiGHS builds print internal debug lines to fd 1 even with disp=False; they would
    corrupt the CLI's output (and JSON printed to stdout), so fd 1 is muted during a solve."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        yield
        return
    sys.stdout.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
            yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)


def max_saving(p: Problem, coef: np.ndarray, needs: list[Need] = ()) -> Selection:
    """The selection saving the most of ``coef`` (e.g. latency) under the other needs."""
    obj = -coef / (np.abs(coef).max() or 1.0) * SCALE + TIE
    return solve_milp(p, list(needs), objective=obj)


def _nested(a: str, b: str) -> bool:
    return a == b or b.startswith(a + ".") or a.startswith(b + ".")


_AGGRESSIVENESS = ("remove", "shortcut", "width:0.25", "width:0.5", "width:0.75")


def _strength(mod: str) -> int:
    return _AGGRESSIVENESS.index(mod) if mod in _AGGRESSIVENESS else len(_AGGRESSIVENESS)


def primary_candidates(p: Problem) -> list[int]:
    """Each operator's most aggressive modification (remove > shortcut > narrowest width).

    LD-Pruner modifies an operator by removing or replacing it; ranking every width
    variant separately would let an operator's mildest variant (lowest score) block its
    real modification and its parent's, so the published baseline could never reach a
    deep budget.
    """
    best: dict[str, int] = {}
    for i, (op, mod) in enumerate(zip(p.ops, p.mods)):
        if op not in best or _strength(mod) < _strength(p.mods[best[op]]):
            best[op] = i
    return sorted(best.values())


def rank_select(p: Problem, needs: list[Need]) -> Selection:
    """LD-Pruner as published: lowest score first, until every need is met.

    One modification per operator (its most aggressive one, see ``primary_candidates``); a
    candidate that conflicts with one already taken, or would exceed a cap, is skipped; savings
    never influence the order.
    """
    t0 = time.perf_counter()
    order = sorted(primary_candidates(p), key=lambda i: (p.scores[i], i))
    chosen: list[int] = []
    got = {nd.name: 0.0 for nd in needs}

    def met() -> bool:
        return all(got[nd.name] >= nd.need - 1e-12 for nd in needs)

    for i in order:
        if met():
            break
        if any(_nested(p.ops[i], p.ops[j]) for j in chosen) or p.over_caps(chosen + [i]):
            continue
        chosen.append(i)
        for nd in needs:
            got[nd.name] += float(nd.coef[i])
    ok = met()
    return Selection(chosen if ok else [], "optimal" if ok else "infeasible",
                     {"solver": "rank (ascending score, greedy)", "status": "met" if ok else "exhausted",
                      "time_s": round(time.perf_counter() - t0, 4), "n_vars": len(p),
                      "exhausted_predicted": {nd.name: float(got[nd.name]) for nd in needs}})
