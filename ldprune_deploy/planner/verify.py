"""Verify loop: apply the plan, measure it, correct the predictor with the gap and re-solve.

As HALP does for CNNs, the latency model is calibrated on the device instead of trusted:
round 0 measures the full model with the verify runner (the predictor is re-anchored on it —
savings scaled by measured/profiled full latency in ``scale`` mode, shifted in ``additive`` —
and a relative budget such as 70% is re-resolved against it); each round then measures the
planned model, and while its measured latency is off the prediction by more than the
tolerance the savings are rescaled by measured/predicted saving (``scale``, captures
non-additive savings that grow with plan size) or shifted by the gap (``additive``), and the
plan is solved again. Both directions count: a plan that misses the budget is corrected, and
so is one that beats its prediction by more than the tolerance (it modified more than the
budget needed, losing importance for nothing). The plan returned is the measured one that met
the budget with the most importance kept (the last round if none met it).
"""

from __future__ import annotations

import gc
import logging
from dataclasses import replace

from ..device import device_fingerprint
from ..errors import LdpruneError
from ..models import load_model, model_fingerprint, parse_dtype
from ..runners import RunSpec, get_runner
from ..surgery import apply_plan
from ..surgery.plan import PrunePlan

log = logging.getLogger("ldprune")
_SCALE_RANGE = (0.05, 4.0)   # a measured/predicted saving ratio outside this is noise, not a model


def _free() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover - cleanup only
        pass


def verify_loop(planner, model=None, runner=None) -> PrunePlan:
    """Run the loop for ``planner`` (a core.Planner); returns the last plan with ``measured`` set."""
    cfg, prof = planner.config, planner.profile
    if cfg.correction not in ("scale", "additive"):
        raise LdpruneError(f"unknown correction '{cfg.correction}'", "use scale or additive")
    if cfg.max_rounds < 1:
        raise LdpruneError("--max-rounds must be at least 1", "pass --max-rounds 3")
    runner = runner or get_runner(cfg.backend)
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
    full = runner.measure(model, info, rs)
    budgets = [replace(b, value=b.relative * full.median_ms) if b.kind == "latency_ms" and b.relative else b
               for b in planner.budgets]
    lat = next((b for b in budgets if b.kind == "latency_ms"), None)
    base = planner.problem
    # anchor the predictor on the runner's own full-model figure: with the scale correction
    # every saving is assumed to shift with it (clocks, another runtime), else only the offset
    anchor = full.median_ms / base.full_ms if cfg.correction == "scale" and base.full_ms > 0 else 1.0
    problem = base.calibrated(full.median_ms, base.scale * anchor)
    rounds, tried = [], []
    for r in range(1, cfg.max_rounds + 1):
        sel = planner.select(problem, budgets)
        plan = planner.to_plan(problem, sel, budgets)
        pruned = apply_plan(model, plan)
        m = runner.measure(pruned, info, rs)
        tried.append((plan, m))
        del pruned
        _free()
        pred = plan.predicted["latency_ms"]
        profile_pred = planner.problem.predicted_ms(sorted(sel.chosen))
        rec = {"round": r, "n_modifications": len(plan.modifications), "predicted_ms": pred,
               "predicted_ms_uncorrected": profile_pred, "measured_ms": m.median_ms,
               "p10_ms": m.p10_ms, "p90_ms": m.p90_ms, "gap_ms": m.median_ms - pred,
               "error_pct": 100.0 * (pred - m.median_ms) / m.median_ms,
               "importance_lost": plan.predicted["importance_lost"],
               "savings_scale": problem.scale, "full_ms_used": problem.full_ms}
        rounds.append(rec)
        met = lat is None or m.median_ms <= lat.value * (1.0 + cfg.tolerance)
        # faster than predicted by more than the tolerance: the budget had room for a plan that keeps more
        rec["met"], rec["unused_budget"] = met, lat is not None and met and rec["error_pct"] > 100.0 * cfg.tolerance
        log.info("verify round %d: %d mods, predicted %.3f ms, measured %.3f ms (budget %s)", r,
                 len(plan.modifications), pred, m.median_ms, f"{lat.value:.3f} ms" if lat else "size only")
        if (met and not rec["unused_budget"]) or r == cfg.max_rounds:
            break
        problem, rec["correction"] = _correct(problem, cfg.correction, pred, m.median_ms, full.median_ms)
    chosen = _best_round(rounds)
    plan, m = tried[chosen]
    plan.measured = {"latency_ms": m.median_ms, "p10_ms": m.p10_ms, "p90_ms": m.p90_ms, "n": m.n,
                     "runner": runner.name, "dtype": dtype, "batch": rs.batch, "resolution": rs.resolution,
                     "full_latency_ms": full.median_ms, "speedup": full.median_ms / m.median_ms,
                     "error_pct": rounds[chosen]["error_pct"], "peak_memory_mb": m.peak_memory_mb}
    plan.meta["verify"] = {"runner": runner.name, "tolerance": cfg.tolerance, "correction": cfg.correction,
                           "max_rounds": cfg.max_rounds, "met": rounds[chosen]["met"], "chosen_round": chosen + 1,
                           "budget_ms": lat.value if lat else None,
                           "baseline": {"profile_full_ms": base.full_ms, "measured_full_ms": full.median_ms, "anchor_scale": anchor,
                                        "p10_ms": full.p10_ms, "p90_ms": full.p90_ms},
                           "rounds": rounds, "device": device_fingerprint(getattr(runner, "device", None))}
    if not rounds[chosen]["met"]:
        log.warning("VERIFY MISSED THE BUDGET after %d round(s): measured %.3f ms > %.3f ms (+%.0f%% tolerance)",
                    len(rounds), m.median_ms, lat.value, 100 * cfg.tolerance)
    return plan


def _best_round(rounds: list[dict]) -> int:
    """Index of the round whose plan met the budget and lost the least importance (else the last)."""
    met = [i for i, r in enumerate(rounds) if r["met"]]
    if not met:
        return len(rounds) - 1
    return min(met, key=lambda i: (rounds[i]["importance_lost"], -i))


def _correct(problem, mode: str, pred: float, measured: float, full_measured: float):
    """The predictor for the next round, and a record of the correction applied."""
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
