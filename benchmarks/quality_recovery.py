"""Recovery speed, preserved weights vs from scratch, normalized vs plain feature KD (issue 8,
experiments 2-4).

One plan (LD-Pruner scores, latency-aware, budget 65 % = a >= 35 % cut, verified on the
runner so the cut is measured), then three distillation runs of the same length on the
teacher's training split, proxy-FID measured every ``steps/--points`` steps:

  preserved + normalized KD   the student from surgery (surviving teacher weights), LAPTOP-Diff loss
  scratch + normalized KD     the same architecture, randomly initialised (seed Table 3's control)
  preserved + plain KD        BK-SDM's unnormalized feature loss

The main run is compared with the teacher's own training curve (train_teachers.py's
curves.json beside the teacher folder). Target: within +10 % of the teacher's proxy-FID after
<= 1/8 of the teacher's training steps; ``--steps`` defaults to exactly 1/8 of the teacher's
steps (steps_done in curves.json). The teacher's proxy-FID is re-measured here with the same
N and sampler as the students (the curve's own N may differ; both are recorded). Student
curve points are raw weights (no EMA); the teacher's curve is of its EMA weights.

Device (one H100, expected ~3 min: 3 runs x 750 steps at batch 128 + 3 x 6 proxy-FIDs on 500
samples x 25 DDIM steps):
    python benchmarks/quality_recovery.py --teacher $T/emoji-uig --out $OUT/quality/recovery
CPU smoke (< 1 min; figures meaningless):
    python benchmarks/quality_recovery.py --smoke --out /tmp/qr
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _quality as Q  # noqa: E402

RUNS = [("preserved", "normalized"), ("scratch", "normalized"), ("preserved", "plain")]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    Q.add_common_args(ap, steps=0, seeds="0", fid_n=500, rows=False)
    ap.add_argument("--budget", default="65%", help="latency budget (default 65%%: a 35%% cut)")
    ap.add_argument("--points", type=int, default=6, help="proxy-FID points per run (default 6)")
    a = ap.parse_args(argv)
    Q.finish_args(a, "emoji-uig")
    if a.smoke:
        a.points, a.steps = 2, 4
    out, work = Path(a.out), Path(a.out) / "work"
    t0 = time.perf_counter()
    t = Q.load_teacher(a.teacher, a.data, a.emb)
    t_steps = (t.curve or {}).get("steps_done")
    if not a.steps:
        if not t_steps:
            raise SystemExit("no curves.json beside the teacher: pass --steps")
        a.steps = max(1, t_steps // 8)
    seed = a.seed_list[0]
    store = Q.PlanStore(a, work)
    prof = store.profile(lambda: Q.profile_teacher(t, a, work))
    plan = store.plan(f"s{seed}", lambda: Q.plan_verified(
        t, a, Q.score_teacher(t, a, "ld-pruner", seed, work), prof, "latency-aware", a.budget))
    if not store.train:
        print(f"{len(plan.modifications)} mods, measured {Q.plan_summary(plan)['measured_cut']:.1%} cut (plan saved)")
        return 0
    metric = Q.ProxyMetric(t, a)
    teacher_fid = metric(t.unet)
    eval_at = sorted({s for i in range(a.points - 1) if 0 < (s := round(a.steps * (i + 1) / a.points)) < a.steps})
    runs = []
    for init, feat in RUNS:
        student = Q.prune(t, plan, scratch_seed=1000 + seed if init == "scratch" else None)
        fid0 = metric(student)
        _, curve, secs = Q.distill_student(t, student, a, work / f"distill-{init}-{feat}", seed=seed, steps=a.steps,
                                           feat_loss=feat, eval_at=eval_at, metric=metric)
        curve = [(0, fid0)] + curve
        runs.append({"init": init, "feat_loss": feat, "curve": [{"step": s, "fid": f} for s, f in curve],
                     "fid_final": curve[-1][1], "distill_seconds": round(secs, 1)})
        print(f"{init}/{feat}: " + ", ".join(f"{s}:{f:.2f}" for s, f in curve))
    target = 1.10 * teacher_fid
    main_run = runs[0]
    hit = next((p["step"] for p in main_run["curve"] if p["step"] > 0 and p["fid"] <= target), None)
    limit = t_steps / 8 if t_steps else None
    verdict = {"teacher_fid_here": teacher_fid, "target_fid": round(target, 4), "teacher_steps": t_steps,
               "step_limit": limit, "first_step_within_10pct": hit,
               "reached": bool(hit is not None and limit is not None and hit <= limit)}
    res = {**Q.header(a, "quality_recovery", t, metric), "budget": a.budget, "plan": Q.plan_summary(plan),
           "student_params": Q.params(Q.prune(t, plan)), "eval_at": eval_at, "runs": runs, "verdict": verdict,
           "teacher_curve": {k: (t.curve or {}).get(k) for k in ("proxy_fid_step", "proxy_fid", "fid_n",
                                                                  "sample_steps", "batch", "steps_done")},
           "wall_seconds": round(time.perf_counter() - t0, 1)}
    m, ps = metric.name, Q.plan_summary(plan)
    cut = f"{ps['measured_cut']:.1%}" if ps["measured_cut"] is not None else "n/a"
    lines = [f"Recovery of {t.hint['name']} pruned at budget {a.budget} (measured cut {cut}, {a.backend}); seed {seed}; "
             f"{a.steps} steps x batch {a.batch} (teacher: {t_steps} steps x batch {(t.curve or {}).get('batch')}); "
             f"{m} on {a.fid_n} samples x {a.sample_steps} DDIM steps; teacher {m} here {teacher_fid:.2f}, "
             f"target <= {target:.2f}" + (" — SMOKE, figures meaningless" if a.smoke else ""), "",
             f"| init | feature KD | {m} at step 0 | " + " | ".join(f"step {s}" for s in eval_at + [a.steps]) + " |",
             "|---|---|---|" + "---|" * (len(eval_at) + 1)]
    for r in runs:
        lines.append(f"| {r['init']} | {r['feat_loss']} | " + " | ".join(f"{p['fid']:.2f}" for p in r["curve"]) + " |")
    lines += ["", f"Within +10 % of the teacher after <= 1/8 of its steps ({limit}): "
              f"{'yes' if verdict['reached'] else 'no'} (first step within target: {hit})"]
    table = "\n".join(lines)
    Q.write(out, "quality_recovery", res, table)
    series = {f"{r['init']}/{r['feat_loss']}": [(p["step"], p["fid"]) for p in r["curve"]] for r in runs}
    if t.curve and t.curve.get("proxy_fid_step"):
        series["teacher training (curves.json)"] = list(zip(t.curve["proxy_fid_step"], t.curve["proxy_fid"]))
    Q.plot_png(out / "quality_recovery.png", series, xlabel="steps", ylabel=m,
               title=f"{t.hint['name']}: recovery vs teacher training", hlines={"teacher +10%": target})
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
