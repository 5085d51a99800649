"""Latency budgets on a GPU the project never profiled: fresh profiles, predictor check, budget grid.

Per model (SD1.5 512 px with isolated + ablation, SD2.1 768 px and SDXL 1024 px isolated; all
batch 2, fp16, torch-graph), in one process per model so every figure comes from one runner path:
  1. ``profile`` fresh -> ``profiles/<gpu>-<model>-torch-graph-b2-<res>.json``;
  2. the predictor check (``predictor_accuracy.accuracy``, k random plans per level) ->
     ``<out>/predictor_accuracy_<gpu>_<model>.json`` (schema ``ldprune.predictor-accuracy/1``);
  3. the budget grid: budgets 90 / 70 / 50 % through ``plan(..., verify=True)`` (magnitude scores:
     the grid tests latency, not quality), each verified plan then timed by the evaluator's latency
     path (``evaluate.measure_latency``, teacher and candidate paired) and gated ->
     rows of ``<out>/budget_grid_<gpu>.json`` (schema ``ldprune.budget-grid/1``).

    python3 benchmarks/portability.py --out benchmarks/results/portability --profiles profiles
    python3 benchmarks/portability.py --models sd21,sdxl --out ... --profiles profiles   # a subset
    python3 benchmarks/portability.py --smoke --out /tmp/portability-smoke                # CPU, seconds

A model whose outputs exist is skipped (``--overwrite`` measures again), so the run can be split
over several device calls.
"""

from __future__ import annotations

import argparse
import gc
import logging
import time
from pathlib import Path

import _common as C
import torch
from predictor_accuracy import accuracy

from ldprune_deploy.artifacts import Profile
from ldprune_deploy.jsonio import read_json, write_json_atomic
from ldprune_deploy.device import device_fingerprint
from ldprune_deploy.evaluation import EvaluateConfig, measure_latency
from ldprune_deploy.budget import Budget
from ldprune_deploy.evaluation.gate import gate
from ldprune_deploy.models import load_model
from ldprune_deploy.planner import PlanConfig, plan
from ldprune_deploy.profiler import ProfileConfig, profile
from ldprune_deploy.runners import RunSpec
from ldprune_deploy.scoring import ScoreConfig, score
from ldprune_deploy.surgery import apply_plan

# model: (resolution, methods)
MODELS = {"sd15": (512, "isolated,ablation"), "sd21": (768, "isolated"), "sdxl": (1024, "isolated")}
BUDGETS = ("90%", "70%", "50%")
log = logging.getLogger("ldprune")


def run_model(model: str, args, out: Path, profiles: Path, grid: dict) -> None:
    smoke = args.smoke
    res, methods = (32, "isolated,ablation") if smoke else MODELS[model]
    dev, dtype, backend, batch = ("cpu", "fp32", "cpu", 1) if smoke else ("cuda", "fp16", "torch-graph", 2)
    slug = C.gpu_slug()
    prof_path = profiles / C.profile_name(model, backend, batch, res)
    acc_path = out / f"predictor_accuracy_{slug}_{model}.json"
    t0 = time.time()
    unet, info = load_model(model, device=dev, dtype=C.parse_dtype(dtype), quiet=True)
    load_s = time.time() - t0
    small = dict(warmup=1, iters=3, op_warmup=1, op_iters=3, include=["mid_block.resnets.0:", "attn2:remove",
                                                                        "up_blocks.1.attentions.0:"]) if smoke else {}
    if args.overwrite or not prof_path.exists():
        profile(unet, ProfileConfig(backend=backend, batch=batch, resolution=res, dtype=dtype, methods=methods,
                                    output=prof_path, overwrite=True, progress=not smoke, **small))
    prof = Profile.load(prof_path, model_fingerprint=info.fingerprint)
    if args.overwrite or not acc_path.exists():
        spec = RunSpec(batch=batch, resolution=res, dtype=dtype, text_len=prof.get("text_len"),
                       **(dict(warmup=1, iters=3) if smoke else dict(warmup=5, iters=30)))
        result = accuracy(unet, info, prof, prof_path, 2 if smoke else args.k, args.seed, spec, dev)
        result["smoke"] = smoke
        write_json_atomic(acc_path, result)
    acc = read_json(acc_path, "ldprune.predictor-accuracy/1", "predictor accuracy")
    for m, by in acc["summary"].items():
        log.info("%s %s predictor median error: %s", model, m,
                 " / ".join(f"{v['median_err'] * 100:.2f}%" for v in by.values()))
    if any(r["model"] == model for r in grid["rows"]) and not args.overwrite:
        return
    grid["rows"] = [r for r in grid["rows"] if r["model"] != model]
    scores_path = out / f"scores-magnitude-{model}.json"
    score(unet, ScoreConfig(method="magnitude", output=scores_path, overwrite=True, progress=False, device=dev,
                            dtype=dtype, **({"include": "mid_block|attn2|up_blocks.1"} if smoke else {})))
    for b in (("95%", "90%") if smoke else BUDGETS):
        t = time.time()
        cfg = PlanConfig(budget=b, verify=True, backend=backend, dtype=dtype, model=model, batch=batch, allow_missing=smoke,
                         resolution=res, warmup=1 if smoke else 10, iters=3 if smoke else 30)
        pl = plan(scores_path, prof_path, cfg, unet=unet)
        pruned = apply_plan(unet, pl)
        _, pinfo = load_model(pruned)
        ecfg = EvaluateConfig(runner=backend, latency_batch=batch, resolution=res, dtype=dtype,
                              warmup=1 if smoke else 10, iters=3 if smoke else 30)
        lat = measure_latency(ecfg, unet, info, pruned, pinfo, dtype)
        g = gate(lat, {}, Budget.parse(b), {})
        check = next(c for c in g["checks"] if c["check"] == "latency")
        m, ver = pl.measured, pl.meta["verify"]
        row = {"model": model, "resolution": res, "budget": b, "budget_ms": m["budget_ms"],
               "predicted_ms": pl.predicted["latency_ms"], "measured_ms": m["latency_ms"],
               "measured_upper_ms": m["upper_ms"], "verify_met": m["meets_budget"],
               "evaluator_ms": lat["candidate_ms"], "evaluator_upper_ms": check["upper_ms"],
               "evaluator_teacher_ms": lat["teacher_ms"], "evaluator_budget_ms": check["limit_ms"],
               "gate": bool(g["passed"]), "n_modifications": len(pl.modifications),
               "verify_rounds": len(ver["rounds"]), "verify_full_ms": ver["baseline"]["measured_full_ms"],
               "reference_drift": {"verify": ver["rounds"][ver["chosen_round"] - 1]["drift"]["range_frac"],
                                   "evaluator": lat["drift"]["range_frac"]},
               "wall_s": round(time.time() - t, 1)}
        grid["rows"].append(row)
        log.info("%s %s: budget %.3f ms, measured %.3f (upper %.3f), evaluator %.3f (upper %.3f, limit %.3f) gate %s",
                 model, b, row["budget_ms"], row["measured_ms"], row["measured_upper_ms"], row["evaluator_ms"],
                 row["evaluator_upper_ms"], row["evaluator_budget_ms"], row["gate"])
        del pruned
        gc.collect()
    grid.setdefault("load_s", {})[model] = round(load_s, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the accuracy and grid JSON")
    ap.add_argument("--profiles", help="folder for the fresh profiles (default: --out)")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("-k", type=int, default=10, help="random plans per level (default 10)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="CPU, tiny-t2i, a few candidates, seconds")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    profiles = Path(args.profiles) if args.profiles else out
    profiles.mkdir(parents=True, exist_ok=True)
    models = ["tiny-t2i"] if args.smoke else args.models.split(",")
    unknown = [m for m in models if m not in MODELS and not args.smoke]
    if unknown:
        ap.error(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    grid_path = out / f"budget_grid_{C.gpu_slug()}.json"
    grid = read_json(grid_path, "ldprune.budget-grid/1", "budget grid") if grid_path.exists() else {"rows": []}
    grid.update({"schema": "ldprune.budget-grid/1", "device": device_fingerprint(C.device_name()),
                 "runner": "cpu" if args.smoke else "torch-graph", "batch": 1 if args.smoke else 2,
                 "dtype": "fp32" if args.smoke else "fp16", "scores": "magnitude (latency is what the grid tests)",
                 "rule": "met when p90 + median x reference drift <= budget (plan --verify and the gate alike)",
                 "smoke": args.smoke})
    for model in models:
        run_model(model, args, out, profiles, grid)
        grid["all_rows_pass"] = all(r["measured_ms"] <= r["budget_ms"] and r["evaluator_ms"] <= r["budget_ms"]
                                    and r["gate"] for r in grid["rows"])
        write_json_atomic(grid_path, grid)
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    print("| model | budget | budget ms | predicted | measured (upper) | evaluator (upper) | gate |")
    for r in grid["rows"]:
        print(f"| {r['model']} | {r['budget']} | {r['budget_ms']:.3f} | {r['predicted_ms']:.3f} | "
              f"{r['measured_ms']:.3f} ({r['measured_upper_ms']:.3f}) | {r['evaluator_ms']:.3f} "
              f"({r['evaluator_upper_ms']:.3f}) | {r['gate']} |")
    print(f"wrote {grid_path}; every row passes: {grid['all_rows_pass']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
