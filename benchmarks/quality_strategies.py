"""Strategy comparison at equal *measured* latency (issue 8, experiment 1).

At a ~35 % latency cut (budget 65 % of the full model, torch-graph runner on the device, the
profile measured in this same run), five plans for one trained teacher:

  ld-pruner / latency-aware   LD-Pruner importance, exact knapsack on measured savings
  ld-pruner / rank            LD-Pruner importance, LD-Pruner's latency-blind rank order
  laptop / latency-aware      LAPTOP-Diff one-shot output-loss criterion
  magnitude / latency-aware   weight magnitude
  random / latency-aware      random importance (the floor)

Every plan goes through the planner's verify loop, so each row carries its measured latency
and cut (comparisons are at equal measured latency, within the verify tolerance). For each
seed (scoring samples, random scores, distillation data order) the proxy-FID is measured
right after pruning and after the same short distillation (task + output KD + normalized
feature KD). Output: OUT/quality_strategies.{json,md,png}; the markdown table is printed last.

Device (one H100, expected ~4 min with the defaults: 3 seeds x 5 plans x 300 steps at batch
128, proxy-FID on 500 samples x 25 DDIM steps, scoring N_gen 64 x 10 steps):
    python benchmarks/quality_strategies.py --teacher $T/emoji-uig --out $OUT/quality/strategies
CPU smoke (< 1 min; its figures mean nothing):
    python benchmarks/quality_strategies.py --smoke --out /tmp/qs
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _quality as Q  # noqa: E402

PLANS = [("ld-pruner", "latency-aware"), ("ld-pruner", "rank"), ("laptop", "latency-aware"),
         ("magnitude", "latency-aware"), ("random", "latency-aware")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    Q.add_common_args(ap, steps=300, seeds="0,1,2", fid_n=500)
    ap.add_argument("--budget", default="65%", help="latency budget (default 65%%: a 35%% cut)")
    a = ap.parse_args(argv)
    Q.finish_args(a, "emoji-uig")
    out = Path(a.out)
    work = out / "work"
    t0 = time.perf_counter()
    t = Q.load_teacher(a.teacher, a.data, a.emb)
    store = Q.PlanStore(a, work)
    cands = None
    prof = store.profile(lambda: Q.profile_teacher(t, a, work, cands))
    metric = Q.ProxyMetric(t, a) if store.train else None
    teacher_fid = metric(t.unet) if metric else None
    rows = []
    magnitude_scores = None
    for seed in a.seed_list:
        cache: dict[str, dict] = {}

        def scores_for(method: str) -> dict:
            nonlocal magnitude_scores
            if method not in cache:
                if method == "magnitude" and magnitude_scores is not None:
                    cache[method] = magnitude_scores   # deterministic: scored once
                else:
                    cache[method] = Q.score_teacher(t, a, method, seed, work, cands)
                    if method == "magnitude":
                        magnitude_scores = cache[method]
            return cache[method]

        for method, strategy in PLANS:
            plan = store.plan(f"{method}-{strategy}-s{seed}",
                              lambda: Q.plan_verified(t, a, scores_for(method), prof, strategy, a.budget))
            if not store.train:
                print(f"seed {seed} {method}/{strategy}: {len(plan.modifications)} mods, measured "
                      f"{Q.plan_summary(plan)['measured_cut']:.1%} cut (plan saved)")
                continue
            student = Q.prune(t, plan)
            fid_pruned = metric(student)
            trained, _, secs = Q.distill_student(t, student, a, work / f"distill-{method}-{strategy}-s{seed}",
                                                 seed=seed, steps=a.steps)
            row = {"method": method, "strategy": strategy, "seed": seed, **Q.plan_summary(plan),
                   "student_params": Q.params(student), "fid_pruned": fid_pruned,
                   "fid_distilled": metric(trained), "distill_seconds": round(secs, 1)}
            rows.append(row)
            print(f"seed {seed} {method}/{strategy}: {row['n_modifications']} mods, measured cut "
                  f"{row['measured_cut']:.1%}, {metric.name} pruned {fid_pruned:.2f} -> distilled {row['fid_distilled']:.2f}")
    if not store.train:
        return 0
    summary = []
    for method, strategy in PLANS:
        rs = [r for r in rows if (r["method"], r["strategy"]) == (method, strategy)]
        summary.append({"method": method, "strategy": strategy,
                        **{k: Q.mean_spread([r[k] for r in rs]) for k in
                           ("measured_ms", "measured_cut", "fid_pruned", "fid_distilled", "student_params")}})
    res = {**Q.header(a, "quality_strategies", t, metric), "budget": a.budget,
           "profile": {"backend": a.backend, "batch": a.profile_batch, "full_ms": prof.get("full", {}).get("median_ms")
                       if isinstance(prof.get("full"), dict) else None},
           "teacher_fid": teacher_fid, "rows": rows, "summary": summary,
           "wall_seconds": round(time.perf_counter() - t0, 1)}
    m = metric.name
    lines = [f"Strategy comparison, budget {a.budget} ({a.backend}, batch {a.profile_batch}); teacher {t.hint['name']} "
             f"{m} {teacher_fid:.2f}; seeds {a.seed_list}; {a.steps} distillation steps; {m} on {a.fid_n} samples x "
             f"{a.sample_steps} DDIM steps; mean ± std over seeds" + (" — SMOKE, figures meaningless" if a.smoke else ""),
             "", f"| criterion | planner | measured ms | measured cut | {m} pruned | {m} distilled | params |",
             "|---|---|---|---|---|---|---|"]
    for s in summary:
        lines.append(f"| {s['method']} | {s['strategy']} | {Q.fmt(s['measured_ms'], 3)} | "
                     f"{Q.fmt({k: (v * 100 if isinstance(v, float) else v) for k, v in s['measured_cut'].items()}, 1)} % | "
                     f"{Q.fmt(s['fid_pruned'])} | {Q.fmt(s['fid_distilled'])} | {s['student_params']['mean'] / 1e6:.2f} M |")
    table = "\n".join(lines)
    Q.write(out, "quality_strategies", res, table)
    Q.plot_png(out / "quality_strategies.png",
               {f"{r['method']}/{r['strategy']}": [] for r in rows[:0]} |
               {f"{s['method']}/{s['strategy']}": [(r["measured_cut"] * 100, r["fid_distilled"]) for r in rows
                                                   if (r["method"], r["strategy"]) == (s["method"], s["strategy"])]
                for s in summary},
               xlabel="measured latency cut (%)", ylabel=f"{m} after distillation",
               title=f"{t.hint['name']}: strategies at budget {a.budget}", hlines={"teacher": teacher_fid})
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
