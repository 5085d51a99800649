"""``plan()``: choose the modifications that meet a budget while losing the least importance."""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any


from ..errors import Infeasible, LdpruneError
from ..artifacts import Modification, PrunePlan, Scores
from .config import STRATEGIES, PlanConfig
from ..budget import Budget, Limit
from .problem import Problem, attach_sizes, build_problem, check_inputs, file_digest, load_inputs
from .solve import Need, Selection, max_saving, rank_select, solve_milp

log = logging.getLogger("ldprune")


class Planner:
    """A loaded problem plus its budgets; ``select``/``to_plan`` are reused by verify and pareto."""

    def __init__(self, scores: dict, profile: dict, config: PlanConfig, sources: tuple[Any, Any] = (None, None)):
        if config.budget is not None and config.speedup is not None:
            raise LdpruneError("both --budget and --speedup were given", "give one latency target")
        lat = Budget.parse(config.budget) if config.budget is not None else (
            Budget.parse(config.speedup, "speedup") if config.speedup is not None else None)
        if lat is None and not (config.max_params or config.max_flops):
            raise LdpruneError("no budget given", "pass --budget 70% | --budget 8.5ms | --speedup 1.5x | "
                               "--max-params 60% | --max-flops 60%")
        check_inputs(scores, profile, batch=config.batch, resolution=config.resolution,
                     absolute_ms=lat is not None and lat.kind == "ms")
        if config.mods:
            scores = Scores({**scores, "scores": [e for e in scores["scores"]
                                                  if e["modification"] in config.mods
                                                  or e["modification"].split(":", 1)[0] in config.mods]})
        self.scores, self.profile, self.config = scores, profile, config
        self.problem: Problem = build_problem(scores, profile, method=config.method,
                                              allow_missing=config.allow_missing)
        if not len(self.problem):
            raise LdpruneError("no operator has both a score and a profiled saving",
                               "check that scores and profile come from the same catalogue")
        self.problem.set_caps(config.caps)
        if config.max_params or config.max_flops or config.strategy == "params":
            attach_sizes(self.problem, profile, config.model, flops=bool(config.max_flops))
        self.budgets: list[Limit] = []
        if lat is not None:
            self.budgets.append(lat.resolve(self.problem.full_ms))
        if config.max_params:
            self.budgets.append(Budget.parse(config.max_params, "params").resolve(self.problem.total_params))
        if config.max_flops:
            self.budgets.append(Budget.parse(config.max_flops, "flops").resolve(self.problem.total_flops))
        self.inputs = {"scores": {**file_digest(sources[0] if sources[0] is not None else scores),
                                  "method": scores.get("method"), "model_fingerprint": scores.get("model_fingerprint")},
                       "profile": {**file_digest(sources[1] if sources[1] is not None else profile),
                                   "backend": profile.get("backend"), "dtype": profile.get("dtype"),
                                   "batch": profile.get("batch"), "resolution": profile.get("resolution"),
                                   "gpu": (profile.get("device") or {}).get("gpu"),
                                   "method": self.problem.info["method"]},
                       "model_fingerprint": profile["model_fingerprint"]}

    # -- constraints -----------------------------------------------------------------
    def needs(self, p: Problem, budgets: list[Limit], kinds: tuple[str, ...] = ("latency_ms", "params", "flops")) -> list[Need]:
        out = []
        for b in budgets:
            if b.kind not in kinds:
                continue
            if b.kind == "latency_ms":
                out.append(Need(b.kind, p.saving_ms, p.full_ms - b.value, p.full_ms))
            elif b.kind == "params":
                out.append(Need(b.kind, p.params_saved, p.total_params - b.value, p.total_params))
            else:
                out.append(Need(b.kind, p.flops_saved, p.total_flops - b.value, p.total_flops))
        return out

    def select(self, p: Problem, budgets: list[Limit], strategy: str | None = None) -> Selection:
        strategy = strategy or self.config.strategy
        if strategy == "rank":
            sel = rank_select(p, self.needs(p, budgets))
        elif strategy == "params":
            sel = self._params_select(p, budgets)
        else:
            sel = solve_milp(p, self.needs(p, budgets), time_limit_s=self.config.time_limit_s)
        if sel.status == "infeasible":
            self._infeasible(p, budgets, strategy, sel)
        return sel

    def _params_select(self, p: Problem, budgets: list[Limit]) -> Selection:
        """Latency-blind: minimise importance under a params budget. Given a latency target
        as well, the params budget is tightened (bisection) until the plan meets it — how a
        size-driven method would be pushed to a latency target."""
        size = self.needs(p, budgets, ("params", "flops"))
        lat = [b for b in budgets if b.kind == "latency_ms"]
        if not size and not lat:
            raise LdpruneError("strategy 'params' needs a size or latency budget", "pass --max-params 60%")
        sel = solve_milp(p, size, time_limit_s=self.config.time_limit_s)
        if not lat or sel.status == "infeasible" or p.predicted_ms(sel.chosen) <= lat[0].value:
            return sel
        base = next((n.need for n in size if n.name == "params"), 0.0)
        top = float(p.params_saved[max_saving(p, p.params_saved).chosen].sum())
        lo, hi, best = max(base, 0.0), top, None
        for _ in range(24):
            mid = (lo + hi) / 2
            needs = [n for n in size if n.name != "params"] + [Need("params", p.params_saved, mid, p.total_params)]
            s = solve_milp(p, needs, time_limit_s=self.config.time_limit_s)
            if s.status != "infeasible" and p.predicted_ms(s.chosen) <= lat[0].value:
                best, hi = s, mid
            else:
                lo = mid
            if hi - lo < 1e-4 * p.total_params:
                break
        if best is None:
            s = solve_milp(p, [n for n in size if n.name != "params"] + [Need("params", p.params_saved, top, p.total_params)])
            if s.status != "infeasible" and p.predicted_ms(s.chosen) <= lat[0].value:
                best, hi = s, top
        if best is None:
            return Selection([], "infeasible", {"solver": "params bisection", "status": "latency not reached"})
        best.info["params_budget_used"] = float(p.total_params - hi)
        return best

    def _infeasible(self, p: Problem, budgets: list[Limit], strategy: str, sel: Selection) -> None:
        parts = []
        for b in budgets:
            coef = {"latency_ms": p.saving_ms, "params": p.params_saved, "flops": p.flops_saved}[b.kind]
            full = {"latency_ms": p.full_ms, "params": p.total_params, "flops": p.total_flops}[b.kind]
            best = max_saving(p, coef)
            least = full - float(coef[best.chosen].sum())
            if least > b.value + 1e-9 * abs(full):
                unit = " ms" if b.kind == "latency_ms" else f" {b.kind}"
                parts.append(f"{b.kind} budget {b.spec} = {b.value:.4g}{unit} is below the minimum achievable "
                             f"{least:.4g}{unit} (full model {full:.4g}{unit})")
        if strategy == "rank" and not parts:
            parts.append("the rank order runs out of operators before the budget is met "
                         f"(predicted savings when exhausted: {sel.info.get('exhausted_predicted')})")
        if strategy == "params" and not parts:
            parts.append("no params budget makes the latency-blind plan meet the latency budget")
        if not parts:
            parts.append("the budgets cannot be met together")
        if p.caps:
            parts[-1] += " under the caps " + ", ".join(f"{c.pattern}={c.limit}" for c in p.caps)
        dead = [o for o in dict.fromkeys(p.ops) if max(p.saving_ms[i] for i in range(len(p)) if p.ops[i] == o) <= 0]
        cannot = [f"{o} ({why})" for o, why in sorted(p.excluded.items())] + [f"{o} (saves nothing)" for o in dead]
        shown = "; ".join(cannot[:12]) + (f"; … {len(cannot) - 12} more" if len(cannot) > 12 else "")
        raise Infeasible(f"infeasible ({strategy}): " + "; ".join(parts)
                           + (f". Operators that cannot be modified: {shown}" if cannot else
                              ". Every profiled operator is already a candidate"),
                           "relax the budget" + (" or the --cap limits" if p.caps else "")
                           + ", or score/profile the operators listed so they can be modified")

    # -- output ------------------------------------------------------------------------
    def to_plan(self, p: Problem, sel: Selection, budgets: list[Limit], strategy: str | None = None) -> PrunePlan:
        chosen = sorted(sel.chosen)
        pred: dict[str, Any] = {"latency_ms": p.predicted_ms(chosen), "full_latency_ms": p.full_ms,
                                "saving_ms": float(p.saving_ms[chosen].sum()) if chosen else 0.0,
                                "importance_lost": float(p.importance[chosen].sum()) if chosen else 0.0,
                                "score_lost": float(p.scores[chosen].sum()) if chosen else 0.0}
        if p.params_saved is not None:
            pred["params"] = p.total_params - float(p.params_saved[chosen].sum())
        if p.flops_saved is not None:
            pred["flops"] = p.total_flops - float(p.flops_saved[chosen].sum())
        primary = budgets[0].to_json()
        if budgets[0].kind == "latency_ms":
            primary["full_latency_ms"] = p.full_ms
        if len(budgets) > 1:
            primary["constraints"] = [b.to_json() for b in budgets]
        need = p.full_ms - budgets[0].value if budgets[0].kind == "latency_ms" else None
        choices = [{"operator": p.ops[i], "modification": p.mods[i], "score": float(p.scores[i]),
                    "importance": float(p.importance[i]), "saving_ms": float(p.saving_ms[i]),
                    **({"share_of_cut": float(p.saving_ms[i] / need)} if need and need > 0 else {})}
                   for i in chosen]
        meta = {"strategy": strategy or self.config.strategy, "solver": sel.info, "inputs": self.inputs,
                "normalisation": {"importance": "score clipped at 0 / sum over operators of their largest score",
                                  "importance_total": p.importance_total, "latency": "saving / full latency",
                                  "savings_scale": p.scale},
                "choices": choices, "excluded": dict(sorted(p.excluded.items())),
                "config": {k: v for k, v in asdict(self.config).items() if v is not None}}
        return PrunePlan(model_fingerprint=self.profile["model_fingerprint"],
                         modifications=[Modification(p.ops[i], p.mods[i]) for i in chosen],
                         model=str(self.profile.get("model", "")), budget=primary, predicted=pred, meta=meta)

    def run(self, budgets: list[Limit] | None = None, strategy: str | None = None) -> PrunePlan:
        budgets = budgets or self.budgets
        return self.to_plan(self.problem, self.select(self.problem, budgets, strategy), budgets, strategy)


def plan(scores: str | Path | dict, profile: str | Path | dict, config: PlanConfig | None = None, *,
         unet=None, **kw) -> PrunePlan:
    """Plan from a scores and a profile (paths or loaded dicts); ``kw`` fills a PlanConfig.
    With ``verify``, an in-memory ``unet`` is measured as is; without one, the model that
    ``config.model`` or the profile names is loaded."""
    config = config or PlanConfig(**kw)
    s, p = load_inputs(scores, profile)
    planner = Planner(s, p, config, sources=(None if isinstance(scores, dict) else scores,
                                            None if isinstance(profile, dict) else profile))
    result = planner.run()
    if verify_here(config, p):
        from .verify import verify_loop

        result = verify_loop(planner, model=unet)
    return result


def verify_here(config: PlanConfig, profile: dict) -> bool:
    """Whether ``plan`` verifies: ``verify=True``, or ``"auto"`` where the backend runs on this machine."""
    if config.verify != "auto":
        return bool(config.verify)
    from ..runners import available_runners

    backend = config.backend or profile.get("backend")
    why = available_runners().get(backend, "unknown runner")
    log.info("plan verify: %s (%s%s)", "on" if not why else "off", backend, f": {why}" if why else "")
    return not why


def importance_kept(plan: PrunePlan) -> float:
    return 1.0 - float((plan.predicted or {}).get("importance_lost", 0.0))


__all__ = ["PlanConfig", "Planner", "STRATEGIES", "plan", "importance_kept"]
