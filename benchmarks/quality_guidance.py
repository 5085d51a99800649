"""Classifier-free guidance of distilled text-to-image students (issue 23).

The quality metrics sample at guidance 1, and the text-to-image headline distils without caption
dropout (``--cond-dropout 0``), so its students never train the unconditional prediction that
guidance above 1 relies on. This script measures what that costs: for each seed it prunes the
teacher by a committed plan (``--plans``: a quality run's work folder), distils one student per
caption-dropout share (``--dropouts``) with otherwise the same settings, and measures the teacher
and every student at each guidance scale (``--guidance``) with the same proxy metric (proxy-FID
and proxy alignment, held-out captions, DDIM). Output: OUT/quality_guidance.{json,md}; the JSON
carries the device fingerprint and every setting.

Device (one H100/H200; the headline recipe, one seed, two students side by side in one process):
    python benchmarks/quality_guidance.py --teacher benchmarks/assets/teachers/emoji-t2i \\
      --plans benchmarks/results/quality/h100-2026-12-06-headline-cap/headline-2800-prompt-nodrop-cap4-emoji-t2i/work \\
      --seeds 0 --steps 2800 --snr-gamma 5 --dropouts 0,0.1 --guidance 1,2,4 --out $OUT/quality/guidance
CPU smoke (< 1 min; its figures mean nothing):
    python benchmarks/quality_guidance.py --smoke --out /tmp/qg
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _quality as Q  # noqa: E402
import _work_files as WF  # noqa: E402

SMOKE_PLAN = [("mid_block.resnets.0", "remove")]   # any valid plan: the smoke teacher has no committed ones


def _floats(text: str, flag: str, lo: float, hi: float) -> list[float]:
    try:
        vals = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise SystemExit(f"{flag} takes comma-separated numbers, e.g. 1,2,4, not {text!r}") from None
    if not vals or any(not lo <= v < hi for v in vals):
        raise SystemExit(f"{flag}: every value must lie in [{lo:g}, {hi:g}), got {text!r}")
    return vals


def _plan(t: Q.Teacher, a, seed: int):
    from ldprune_deploy.artifacts import Modification, PrunePlan
    from ldprune_deploy.unet import model_fingerprint

    if a.smoke:
        return PrunePlan(model_fingerprint(t.unet), [Modification(o, m) for o, m in SMOKE_PLAN])
    criterion, planner = a.criterion.split("/")
    path = WF.plan_file(a.plans, criterion, planner, seed)
    if not path.is_file():
        raise SystemExit(f"{path} is missing: --plans names a quality run's work folder with plans/ for seed {seed} "
                         f"and criterion {a.criterion}")
    return PrunePlan.load(path)


def _measure(metric: Q.ProxyMetric, unet, guidance: list[float], seed: int) -> dict[str, dict]:
    return {f"{g:g}": metric.measure(unet, seed, guidance=g) for g in guidance}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    Q.add_common_args(ap, steps=200, seeds="0", fid_n=500, rows=False)
    ap.add_argument("--plans", help="a quality run's work folder (its plans/ prune the students); required unless --smoke")
    ap.add_argument("--criterion", default="ld-pruner-prompt/latency-aware",
                    help="CRITERION/PLANNER of the plans to use (default ld-pruner-prompt/latency-aware)")
    ap.add_argument("--dropouts", default="0,0.1",
                    help="caption-dropout shares, one student each (default 0,0.1; replaces --cond-dropout)")
    ap.add_argument("--guidance", default="1,2,4", help="guidance scales every model is measured at (default 1,2,4)")
    a = ap.parse_args(argv)
    dropouts = _floats(a.dropouts, "--dropouts", 0.0, 1.0)   # checked before --smoke trains its teacher
    guidance = _floats(a.guidance, "--guidance", 1.0, 50.0)
    if not a.smoke and not a.plans:
        raise SystemExit("--plans DIR is required (a quality run's work folder with plans/) unless --smoke")
    Q.finish_args(a, "emoji-t2i")
    out = Path(a.out)
    t0 = time.perf_counter()
    t = Q.load_teacher(a.teacher, a.data, a.emb)
    if t.cond_train is None:
        raise SystemExit(f"{a.teacher} is unconditional: guidance needs a text-to-image teacher (emoji-t2i)")
    metric = Q.ProxyMetric(t, a)
    result = Q.header(a, "quality_guidance", t, metric)
    result["distill"]["cond_dropout"] = dropouts
    result.update(guidance=guidance, plans=a.plans, criterion=a.criterion, runs=[])
    for seed in a.seed_list:
        plan = _plan(t, a, seed)
        run = {"seed": seed, "plan": Q.plan_summary(plan), "teacher": _measure(metric, t.unet, guidance, seed),
               "students": []}
        for p in dropouts:
            student, _, secs = Q.distill_student(t, Q.prune(t, plan), a, out / "work" / f"s{seed}-drop{p:g}",
                                                 seed=seed, steps=a.steps, cond_dropout=p)
            run["students"].append({"cond_dropout": p, "distill_s": round(secs, 1),
                                    "metrics": _measure(metric, student, guidance, seed)})
            print(f"seed {seed}, dropout {p:g}: {run['students'][-1]['metrics']}", flush=True)
        result["runs"].append(run)
    result["wall_s"] = round(time.perf_counter() - t0, 1)
    Q.write(out, "quality_guidance", result, table(result))
    print(result["table_md"])
    return 0


def table(result: dict) -> str:
    g = result["guidance"]
    head = "| seed | model | " + " | ".join(f"g {v:g}: FID / align" for v in g) + " |"
    lines = [head, "|" + "---|" * (2 + len(g))]

    def row(seed, name, m):
        cells = [f"{m[f'{v:g}']['fid']:.1f} / {m[f'{v:g}']['alignment']:.2f}" for v in g]
        lines.append(f"| {seed} | {name} | " + " | ".join(cells) + " |")

    for run in result["runs"]:
        row(run["seed"], "teacher", run["teacher"])
        for s in run["students"]:
            row(run["seed"], f"student, caption dropout {s['cond_dropout']:g}", s["metrics"])
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
