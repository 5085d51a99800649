"""Verify loop: apply the plan, measure it against the full model, correct the predictor, re-solve.

As HALP does for CNNs, the latency model is calibrated on the device instead of trusted. The
full model stays bound for the whole loop and every candidate is timed *paired* with it
(interleaved rounds, ``runners.timing.paired``): round 0 times the full model alone (the
predictor is re-anchored on it — savings scaled by measured/profiled full latency in ``scale``
mode, shifted in ``additive`` — and a relative budget such as 70% is resolved against it);
each round then times the planned model beside the full one.

The budget is one-sided (``ldprune_deploy.budget``): a plan meets it when its p90 plus a
margin for the reference's drift in that round is at or under the budget; the evaluator's gate applies the
same rule. A plan that misses is re-solved with the measured gap (upper bound, margin
included), so the next plan aims below the budget by the spread the device showed; one that
beats the budget by more than ``tolerance`` is re-solved to keep more importance. A plan is
read as its paired ratio to the full model, so a machine that speeds up or slows down between
rounds moves the reference and the candidate together: that is reported as drift, not as a
wrong plan or an infeasible budget.
The plan returned is the measured one that met the budget with the most importance kept, or,
when none did within ``max_rounds``, the closest one, marked as missing the budget.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import replace
from typing import Any

from ..budget import latency_verdict
from ..device import device_fingerprint
from ..errors import BudgetMissed, Infeasible, LdpruneError
from ..models import load_model, parse_dtype
from ..runners import RunSpec, get_runner
from ..runners.timing import Variant, open_variant, paired
from ..surgery import apply_plan
from ..artifacts import PrunePlan
from ..unet import model_fingerprint

log = logging.getLogger("ldprune")
_SCALE_RANGE = (0.05, 4.0)   # a measured/predicted saving ratio outside this is noise, not a model
MOVED_FLOOR = 0.01           # the reference moving less than 1 % between rounds is not called drift


def _free() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover - cleanup only
        pass


def verify_loop(planner, model=None, runner=None) -> PrunePlan:
    """Run the loop for ``planner`` (a core.Planner); returns the chosen plan with ``measured`` set."""
    cfg, prof = planner.config, planner.profile
    runner = runner or get_runner(cfg.backend or prof["backend"])
    dtype = cfg.dtype or prof.get("dtype") or "fp32"
    if model is None:
        spec = cfg.model or prof.get("model")
        if not spec:
            raise LdpruneError("--verify needs the model to measure and the profile names none", "pass --model")
        model, info = load_model(spec, device=getattr(runner, "device", "cpu"), dtype=parse_dtype(dtype), quiet=True)
    else:
        model, info = load_model(model)
    fp = model_fingerprint(model)
    if fp != prof["model_fingerprint"]:
        raise LdpruneError(f"--model has fingerprint {fp}, the profile and scores are for {prof['model_fingerprint']}",
                           "verify on the model that was profiled and scored")
    rs = RunSpec(batch=int(cfg.batch or prof.get("batch") or 1), resolution=cfg.resolution or prof.get("resolution"),
                 dtype=dtype, text_len=prof.get("text_len"), warmup=cfg.warmup, iters=cfg.iters)
    ref = open_variant(runner, model, info, rs)
    try:
        return _Loop(planner, runner, model, info, rs, ref, dtype).run()
    finally:
        ref.close()


class _Loop:
    def __init__(self, planner, runner, model, info, rs: RunSpec, ref: Variant, dtype: str):
        self.planner, self.runner, self.model, self.info, self.rs, self.ref = planner, runner, model, info, rs, ref
        self.cfg, self.dtype = planner.config, dtype

    def run(self) -> PrunePlan:
        cfg, planner = self.cfg, self.planner
        base_run = paired([self.ref], self.rs, name=self.runner.name)
        full = base_run.reference
        self.full0 = full.median_ms
        self.spread0 = (full.p90_ms - full.p10_ms) / self.full0 if self.full0 > 0 else 0.0
        self.lat = next((b for b in planner.budgets if b.kind == "latency_ms"), None)
        budgets = self._budgets(self.full0)
        base = planner.problem
        # anchor the predictor on the runner's own full-model figure: with the scale correction
        # every saving is assumed to shift with it (clocks, another runtime), else only the offset
        anchor = self.full0 / base.full_ms if cfg.correction == "scale" and base.full_ms > 0 else 1.0
        problem = base.calibrated(self.full0, base.scale * anchor)
        rounds: list[dict[str, Any]] = []
        tried: list[tuple[PrunePlan, Any, dict]] = []
        stop = None
        for r in range(1, cfg.max_rounds + 1):
            try:
                sel = planner.select(problem, budgets)
            except Infeasible as e:
                stop = f"round {r}: the corrected predictor finds no plan: {e.message}"
                if rounds and rounds[-1].get("reference_moved"):
                    stop += " (the reference drifted during verify: re-run on a quiet machine)"
                break
            plan = planner.to_plan(problem, sel, budgets)
            rec, m, verdict = self._measure(plan, r, problem, sorted(sel.chosen))
            rounds.append(rec)
            tried.append((plan, m, verdict))
            if (rec["met"] and not rec["unused_budget"]) or r == cfg.max_rounds:
                break
            problem, rec["correction"] = _correct(problem, cfg.correction, rec["predicted_ms"], rec["upper_norm_ms"],
                                                  self.full0)
            budgets = self._budgets(self.full0)
        if not tried:
            raise Infeasible(stop or "verify: no plan to measure", "relax the budget")
        chosen = _best_round(rounds)
        plan, m, verdict = tried[chosen]
        rec = rounds[chosen]
        plan.measured = {"latency_ms": m.median_ms, "p10_ms": m.p10_ms, "p90_ms": m.p90_ms, "n": m.n,
                         "upper_ms": verdict["upper_ms"], "budget_ms": verdict["limit_ms"],
                         "meets_budget": bool(rec["met"]), "drift_ms": verdict["drift_ms"],
                         "runner": self.runner.name, "dtype": self.dtype, "batch": self.rs.batch,
                         "resolution": self.rs.resolution, "full_latency_ms": rec["reference_ms"],
                         "speedup": rec["reference_ms"] / m.median_ms, "error_pct": rec["error_pct"],
                         "timing": "paired with the full model, interleaved rounds",
                         "peak_memory_mb": m.peak_memory_mb}
        plan.meta["verify"] = {"runner": self.runner.name, "tolerance": cfg.tolerance, "correction": cfg.correction,
                               "max_rounds": cfg.max_rounds, "met": bool(rec["met"]), "chosen_round": chosen + 1,
                               "rule": verdict["rule"], "stopped": stop,
                               "budget_ms": self.lat.relative * self.full0 if self.lat is not None and self.lat.relative
                               else (self.lat.value if self.lat is not None else None),
                               "baseline": {"profile_full_ms": planner.problem.full_ms, "measured_full_ms": self.full0,
                                            "anchor_scale": anchor, "p10_ms": full.p10_ms, "p90_ms": full.p90_ms,
                                            "drift": base_run.drift},
                               "conditions": full.extra.get("conditions"),
                               "rounds": rounds, "device": device_fingerprint(getattr(self.runner, "device", None))}
        if not rec["met"]:
            log.warning("VERIFY MISSED THE BUDGET after %d round(s): best plan measured %.3f ms (p90 + drift %.3f ms) "
                        "> %.3f ms%s", len(rounds), m.median_ms, verdict["upper_ms"], verdict["limit_ms"],
                        f"; {stop}" if stop else "")
        return plan

    def _budgets(self, ref_ms: float) -> list:
        """The planner's budgets with a relative latency budget resolved against ``ref_ms``."""
        return [replace(b, value=b.relative * ref_ms) if b.kind == "latency_ms" and b.relative else b
                for b in self.planner.budgets]

    def _measure(self, plan: PrunePlan, r: int, problem, chosen: list[int]) -> tuple[dict[str, Any], Any, dict[str, Any]]:
        pruned = apply_plan(self.model, plan)
        cand = open_variant(self.runner, pruned, self.info, self.rs)
        try:
            pr = paired([self.ref, cand], self.rs, name=self.runner.name)
        finally:
            cand.close()
            del pruned, cand
            _free()
        m, ref_ms = pr.candidates[0], pr.reference.median_ms
        if self.lat is None:
            limit = float("inf")
        else:
            limit = self.lat.relative * ref_ms if self.lat.relative else self.lat.value
        verdict = latency_verdict(m, limit, pr.drift["range_frac"])
        moved = ref_ms / self.full0 - 1.0
        moved_flag = abs(moved) > max(2 * self.spread0, MOVED_FLOOR)
        if moved_flag:
            log.warning("verify round %d: the full model now measures %.3f ms, %.1f%% off its %.3f ms at the start: the "
                        "machine's speed changed (drift); plans are read as paired ratios to it", r, ref_ms,
                        100 * moved, self.full0)
        # the plan at the round-0 speed: its paired ratio to the full model times the round-0 full
        # latency (a clock change scales both), the margin scaled with it
        norm = self.full0 * pr.ratio[0]["median"]
        upper_norm = norm * verdict["upper_ms"] / m.median_ms
        limit_norm = limit * self.full0 / ref_ms if self.lat is not None and not self.lat.relative else (
            self.lat.relative * self.full0 if self.lat is not None else float("inf"))
        pred = plan.predicted["latency_ms"]
        met = bool(verdict["passed"])
        rec = {"round": r, "n_modifications": len(plan.modifications), "predicted_ms": pred,
               "predicted_ms_uncorrected": self.planner.problem.predicted_ms(chosen),
               "measured_ms": m.median_ms, "p10_ms": m.p10_ms, "p90_ms": m.p90_ms, "upper_ms": verdict["upper_ms"],
               "budget_ms": None if self.lat is None else limit, "reference_ms": ref_ms,
               "reference_moved_pct": 100 * moved, "reference_moved": moved_flag, "drift": pr.drift,
               "delta_ms": pr.delta[0], "measured_norm_ms": norm, "upper_norm_ms": upper_norm,
               "gap_ms": norm - pred, "error_pct": 100.0 * (pred - norm) / norm,
               "importance_lost": plan.predicted["importance_lost"],
               "savings_scale": problem.scale, "full_ms_used": problem.full_ms, "met": met,
               # faster than the budget needs by more than the tolerance: room for a plan that keeps more
               "unused_budget": self.lat is not None and met and (limit_norm - upper_norm) > self.cfg.tolerance * limit_norm}
        log.info("verify round %d: %d mods, predicted %.3f ms, measured %.3f ms (p90 + drift %.3f ms; budget %s)", r,
                 len(plan.modifications), pred, m.median_ms, verdict["upper_ms"],
                 f"{limit:.3f} ms" if self.lat is not None else "size only")
        return rec, m, verdict


def require_met(plan: PrunePlan, where: str) -> None:
    """Raise ``BudgetMissed`` (exit 3) when ``plan`` was verified and missed its budget."""
    ver = plan.meta.get("verify")
    if ver and not ver["met"]:
        m = plan.measured
        raise BudgetMissed(f"{where}: the best plan of {len(ver['rounds'])} verify round(s) measured "
                           f"{m['latency_ms']:.3f} ms (p90 + drift {m['upper_ms']:.3f} ms) > budget {m['budget_ms']:.3f} ms"
                           f"{'; ' + ver['stopped'] if ver.get('stopped') else ''}; it was written marked as missing",
                           "raise --max-rounds, relax the budget, or re-profile on this device")


def _best_round(rounds: list[dict]) -> int:
    """The round whose plan met the budget and lost the least importance; else the closest miss."""
    met = [i for i, r in enumerate(rounds) if r["met"]]
    if met:
        return min(met, key=lambda i: (rounds[i]["importance_lost"], -i))
    return min(range(len(rounds)), key=lambda i: ((rounds[i]["upper_ms"] - (rounds[i]["budget_ms"] or 0.0))
                                                  / max(rounds[i]["budget_ms"] or 1.0, 1e-9), -i))


def _correct(problem, mode: str, pred: float, measured: float, full_measured: float):
    """The predictor for the next round, and a record of the correction applied.

    ``measured`` is the plan's upper bound at the round-0 speed, so the next plan aims below the
    budget by the margin the device showed."""
    pred_saving = problem.full_ms - pred
    meas_saving = full_measured - measured
    if mode == "scale" and pred_saving > 1e-9 * max(problem.full_ms, 1e-9) and meas_saving > 0:
        lo, hi = _SCALE_RANGE
        ratio = min(max(meas_saving / pred_saving, lo / problem.scale), hi / problem.scale)
        new = problem.calibrated(problem.full_ms, problem.scale * ratio)
        return new, {"kind": "scale", "ratio": ratio, "new_scale": new.scale}
    # additive: the plan's whole gap is carried as a constant offset of the full latency
    gap = measured - pred
    return problem.calibrated(problem.full_ms + gap, problem.scale), {"kind": "additive", "offset_ms": gap}
