"""Planner frontier: predicted vs measured latency after the verify loop, and importance kept
by latency-aware vs rank vs params at equal measured latency.

GPU (the figures the README quotes):
    python benchmarks/planner_frontier.py --model sd15 --backend torch-graph --dtype fp16 --batch 2 \
        --profile profiles/<gpu>-sd15-torch-graph-b2-512.json [--scores scores.json] --out benchmarks/results/planner_frontier
CPU smoke (tiny-t2i, seconds; checks the script end to end, its figures mean nothing):
    python benchmarks/planner_frontier.py --smoke --out /tmp/planner_frontier_smoke

Without --profile the script profiles the model itself (isolated method). Without --scores it
uses a weight-magnitude proxy (sum |w| of what a modification removes): with random-weight
presets importance is not meaningful, so only the latency side (prediction error) is a
finding then; the importance comparison needs a real scores file.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from ldprune_deploy.jsonio import write_json_atomic
from ldprune_deploy.catalogue import build_catalogue
from ldprune_deploy.device import device_fingerprint
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.models import load_model
from ldprune_deploy.planner import PlanConfig, Planner, STRATEGIES
from ldprune_deploy.planner.pareto import sweep, plot, markdown
from ldprune_deploy.planner.problem import load_inputs
from ldprune_deploy.planner.verify import verify_loop


def magnitude_scores(model_name: str, batch: int, resolution: int | None) -> dict:
    unet, info = load_model(model_name, quiet=True)
    cat = build_catalogue(unet, info, batch=batch, resolution=resolution, flops=False)
    entries = []
    for op in cat.prunable:
        mass = float(sum(p.detach().abs().sum() for p in unet.get_submodule(op.id).parameters()))
        for m in op.modifications:
            removed = 1.0 - m.params / op.params if op.params else 1.0
            entries.append({"operator": op.id, "modification": m.name, "score": mass * removed,
                            "parts": {"abs_weight_sum": mass, "params_removed_share": removed}})
    return {"schema": "ldprune.scores/1", "method": "magnitude-proxy", "params": {"note": "sum |w| removed"},
            "model": model_name, "model_fingerprint": cat.model_fingerprint, "scores": entries}


def make_profile(args, out: Path) -> Path:
    from ldprune_deploy.profiler import ProfileConfig, profile

    path = out / "profile.json"
    cfg = ProfileConfig(backend=args.backend, batch=args.batch, resolution=args.resolution, dtype=args.dtype,
                        methods=("isolated",), output=path, overwrite=True, warmup=args.warmup, iters=args.iters,
                        op_warmup=2 if args.smoke else 3, op_iters=5 if args.smoke else 30, progress=not args.smoke)
    profile(args.model, cfg)
    return path


def interp(points: list[tuple[float, float]], x: float) -> float | None:
    """Importance kept at measured latency ``x`` along one strategy's measured points."""
    pts = sorted(points)
    if not pts or x < pts[0][0] or x > pts[-1][0]:
        return None
    xs, ys = zip(*pts)
    return float(np.interp(x, xs, ys))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="sd15")
    ap.add_argument("--profile", help="profile JSON (default: profile the model here, isolated method)")
    ap.add_argument("--scores", help="scores JSON (default: weight-magnitude proxy)")
    ap.add_argument("--backend", default="torch-graph")
    ap.add_argument("--dtype", default="fp16")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--resolution", type=int)
    ap.add_argument("--budgets", default="90,80,70,60,50", help="percent of the full model's latency")
    ap.add_argument("--strategies", default=",".join(STRATEGIES))
    ap.add_argument("--tolerance", type=float, default=0.03)
    ap.add_argument("--max-rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--smoke", action="store_true", help="tiny-t2i on the cpu runner, fp32, 64 px, few iterations")
    args = ap.parse_args(argv)
    if args.smoke:
        args.model, args.backend, args.dtype, args.batch, args.resolution = "tiny-t2i", "cpu", "fp32", 1, 64
        args.warmup, args.iters, args.budgets = 1, 3, "90,70,50"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    profile_path = Path(args.profile) if args.profile else make_profile(args, out)
    if args.scores:
        scores_path = Path(args.scores)
    else:
        scores_path = write_json_atomic(out / "scores-magnitude.json",
                                        magnitude_scores(args.model, args.batch, args.resolution))
    scores, prof = load_inputs(scores_path, profile_path)
    strategies = [s for s in args.strategies.split(",") if s]
    budgets = [float(b) for b in args.budgets.split(",")]
    unet, info = load_model(args.model, quiet=True)
    rows = []
    for pct in budgets:
        for strategy in strategies:
            cfg = PlanConfig(budget=f"{pct:g}%", strategy=strategy, model=args.model, verify=True,
                             backend=args.backend, dtype=args.dtype, tolerance=args.tolerance,
                             max_rounds=args.max_rounds, warmup=args.warmup, iters=args.iters)
            row = {"budget_pct": pct, "strategy": strategy}
            try:
                planner = Planner(scores, prof, cfg, sources=(scores_path, profile_path))
                pl = verify_loop(planner, model=unet)
            except LdpruneError as e:
                row["error"] = str(e)
                rows.append(row)
                print(f"{pct:g}% {strategy}: {e}", file=sys.stderr)
                continue
            ver = pl.meta["verify"]
            first = ver["rounds"][0]
            row.update({"budget_ms": ver["budget_ms"], "n_modifications": len(pl.modifications),
                        "rounds": len(ver["rounds"]), "met": ver["met"],
                        "predicted_ms": pl.predicted["latency_ms"], "measured_ms": pl.measured["latency_ms"],
                        "error_pct": pl.measured["error_pct"],
                        "first_round_error_pct": first["error_pct"],
                        "profile_only_error_pct": 100 * (first["predicted_ms_uncorrected"] - first["measured_ms"])
                        / first["measured_ms"],
                        "full_measured_ms": pl.measured["full_latency_ms"],
                        "speedup": pl.measured["speedup"], "importance_lost": pl.predicted["importance_lost"],
                        "importance_kept": 1 - pl.predicted["importance_lost"], "verify_rounds": ver["rounds"],
                        "modifications": [m.to_json() for m in pl.modifications]})
            rows.append(row)
            print(f"{pct:g}% {strategy}: {row['n_modifications']} mods, predicted {row['predicted_ms']:.3f} ms, "
                  f"measured {row['measured_ms']:.3f} ms ({row['error_pct']:+.1f}%), rounds {row['rounds']}, "
                  f"kept {row['importance_kept']:.4f}", flush=True)
    ok = [r for r in rows if "error" not in r]
    equal = []
    for r in (r for r in ok if r["strategy"] == "latency-aware"):
        e = {"measured_ms": r["measured_ms"], "latency-aware": r["importance_kept"]}
        for s in strategies:
            if s != "latency-aware":
                e[s] = interp([(x["measured_ms"], x["importance_kept"]) for x in ok if x["strategy"] == s],
                              r["measured_ms"])
        equal.append(e)
    cfg = PlanConfig(budget="100%", model=args.model)
    front = sweep(Planner(scores, prof, cfg, sources=(scores_path, profile_path)), tuple(strategies), n=12)
    write_json_atomic(out / "pareto_predicted.json", front)
    plot(front, out / "pareto_predicted.png")
    (out / "pareto_predicted.md").write_text(markdown(front))
    result = {"schema": "ldprune.bench.planner_frontier/1", "smoke": args.smoke, "model": args.model,
              "backend": args.backend, "dtype": args.dtype, "batch": args.batch,
              "resolution": args.resolution or info.resolution, "device": device_fingerprint(
                  "cuda" if args.backend not in ("cpu", "ort-cpu") else "cpu"),
              "profile": str(profile_path), "scores": str(scores_path), "scores_method": scores.get("method"),
              "tolerance": args.tolerance, "max_rounds": args.max_rounds, "rows": rows,
              "importance_kept_at_equal_measured_latency": equal, "wall_time_s": time.time() - t0}
    path = write_json_atomic(out / "planner_frontier.json", result)
    (out / "planner_frontier.md").write_text(table_md(result))
    print(table_md(result))
    print(f"wrote {path} ({result['wall_time_s']:.0f} s)")
    return 0


def table_md(res: dict) -> str:
    lines = [f"# Planner frontier — {res['model']}, {res['backend']}, {res['dtype']}, batch {res['batch']}, "
             f"{res['resolution']} px ({res['device'].get('gpu') or res['device'].get('cpu')})", "",
             f"scores: {res['scores_method']}" + (" (SMOKE: figures mean nothing)" if res["smoke"] else ""), "",
             "| budget | strategy | mods | rounds | predicted ms | measured ms | error % | first-round error % "
             "| met | importance kept |", "|---:|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in res["rows"]:
        if "error" in r:
            lines.append(f"| {r['budget_pct']:g}% | {r['strategy']} | – | – | – | – | – | – | infeasible | – |")
            continue
        lines.append(f"| {r['budget_pct']:g}% ({r['budget_ms']:.2f} ms) | {r['strategy']} | {r['n_modifications']} | "
                     f"{r['rounds']} | {r['predicted_ms']:.3f} | {r['measured_ms']:.3f} | {r['error_pct']:+.1f} | "
                     f"{r['first_round_error_pct']:+.1f} | {'yes' if r['met'] else 'NO'} | {r['importance_kept']:.4f} |")
    eq = res["importance_kept_at_equal_measured_latency"]
    lines += ["", "Importance kept at equal measured latency (others interpolated along their measured points):", ""]
    if eq:
        names = [k for k in eq[0] if k != "measured_ms"]
        lines += ["| measured ms | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    for e in eq:
        vals = [("–" if v is None else f"{v:.4f}") for k, v in e.items() if k != "measured_ms"]
        lines.append(f"| {e['measured_ms']:.3f} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
