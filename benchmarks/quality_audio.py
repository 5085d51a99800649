"""UAG (mel-spectrogram UNet2DModel) at ~20 % latency cut: proxy-FAD after finetuning vs the
teacher's (issue 8, experiment 5; seed: FAD 2.0 after 12k steps, better than the original).

LD-Pruner scores, latency-aware plan at budget 80 % (verified on the runner, so the cut is
measured), then distillation (task + output KD + normalized feature KD) on the training
split of the notes mel set. Proxy-FAD = Frechet distance on the proxy mel CNN's features of
generated vs training-split spectrograms (the metric train_teachers.py's UAG curve uses).
Reports teacher, pruned, and finetuned proxy-FAD and whether the finetuned one is within
+10 % of the teacher's, per seed.

Device (one H100, expected ~2 min: 2 seeds x 750 steps at batch 128, proxy-FAD on 500
samples x 25 DDIM steps):
    python benchmarks/quality_audio.py --teacher $T/notes-uag --out $OUT/quality/audio
CPU smoke (< 1 min; figures meaningless):
    python benchmarks/quality_audio.py --smoke --out /tmp/qa
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _quality as Q  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    Q.add_common_args(ap, steps=750, seeds="0,1", fid_n=500)
    ap.add_argument("--budget", default="80%", help="latency budget (default 80%%: a 20%% cut)")
    a = ap.parse_args(argv)
    Q.finish_args(a, "notes-uag")
    out, work = Path(a.out), Path(a.out) / "work"
    t0 = time.perf_counter()
    t = Q.load_teacher(a.teacher, a.data, a.emb)
    if t.hint["data"] != "notes":
        raise SystemExit(f"{a.teacher} is a {t.hint['data']} teacher; this experiment is for the mel (notes-uag) one")
    store = Q.PlanStore(a, work)
    prof = store.profile(lambda: Q.profile_teacher(t, a, work))
    metric = Q.ProxyMetric(t, a) if store.train else None
    kept = Q.RowStore(t, a, work) if store.train else None
    teacher_fad = metric(t.unet) if metric else None
    rows = []
    for seed in a.seed_list:
        plan = store.plan(f"s{seed}", lambda: Q.plan_verified(
            t, a, Q.score_teacher(t, a, "ld-pruner", seed, work), prof, "latency-aware", a.budget))
        if not store.train:
            print(f"seed {seed}: {len(plan.modifications)} mods, measured {Q.plan_summary(plan)['measured_cut']:.1%} cut")
            continue
        rows.append(kept.row(f"s{seed}", plan, lambda: run_one(t, a, metric, plan, seed, work)))
        rows[-1] |= {"ratio_to_teacher": rows[-1]["fad_finetuned"] / teacher_fad,
                     "within_10pct": rows[-1]["fad_finetuned"] <= 1.10 * teacher_fad}
        fad_pruned, fad = rows[-1]["fad_pruned"], rows[-1]["fad_finetuned"]
        print(f"seed {seed}: cut {rows[-1]['measured_cut']:.1%}, proxy-FAD pruned {fad_pruned:.3f} -> {fad:.3f} "
              f"(teacher {teacher_fad:.3f})")
    if not store.train:
        return 0
    summary = {k: Q.mean_spread([r[k] for r in rows]) for k in
               ("measured_ms", "measured_cut", "fad_pruned", "fad_finetuned", "ratio_to_teacher")}
    res = {**Q.header(a, "quality_audio", t, metric), "budget": a.budget, "teacher_fad": teacher_fad,
           "rows": rows, "summary": summary, "all_within_10pct": all(r["within_10pct"] for r in rows),
           "rows_resumed": kept.counts(), "wall_seconds": round(time.perf_counter() - t0, 1)}
    lines = [f"UAG {t.hint['name']} at budget {a.budget} ({a.backend}); seeds {a.seed_list}; {a.steps} steps x batch "
             f"{a.batch}; proxy-FAD on {a.fid_n} samples x {a.sample_steps} DDIM steps" + kept.note(rows)
             + (" — SMOKE, figures meaningless" if a.smoke else ""), "",
             "| model | measured cut | params | proxy-FAD | vs teacher |", "|---|---|---|---|---|",
             f"| teacher | 0 % | {Q.params(t.unet) / 1e6:.2f} M | {teacher_fad:.3f} | 1.00x |"]
    for r in rows:
        cut = f"{r['measured_cut']:.1%}" if r["measured_cut"] is not None else "n/a"
        lines.append(f"| pruned, seed {r['seed']} | {cut} | {r['student_params'] / 1e6:.2f} M | {r['fad_pruned']:.3f} | "
                     f"{r['fad_pruned'] / teacher_fad:.2f}x |")
        lines.append(f"| finetuned, seed {r['seed']} | {cut} | {r['student_params'] / 1e6:.2f} M | "
                     f"{r['fad_finetuned']:.3f} | {r['ratio_to_teacher']:.2f}x |")
    lines += ["", f"Finetuned within +10 % of the teacher's proxy-FAD: {'yes' if res['all_within_10pct'] else 'no'} "
              f"(mean {Q.fmt(summary['fad_finetuned'], 3)} vs {teacher_fad:.3f})"]
    table = "\n".join(lines)
    Q.write(out, "quality_audio", res, table)
    print(table)
    return 0


def run_one(t, a, metric, plan, seed: int, work: Path) -> dict:
    """Prune by ``plan``, measure, distil, measure again: one seed's row (the ratio to the teacher is
    added by the caller, from the teacher measured in that run)."""
    student = Q.prune(t, plan)
    fad_pruned = metric(student)
    trained, _, secs = Q.distill_student(t, student, a, work / f"distill-s{seed}", seed=seed, steps=a.steps)
    return {"seed": seed, **Q.plan_summary(plan), "student_params": Q.params(student), "fad_pruned": fad_pruned,
            "fad_finetuned": metric(trained), "distill_seconds": round(secs, 1)}


if __name__ == "__main__":
    sys.exit(main())
