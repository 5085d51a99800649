"""Screen candidate plans by a short distillation, then distil the best one (issue 23).

Landed plans of one criterion at one measured latency recover very differently: on emoji-t2i the
same recipe's students end 13.0-15.5 in proxy alignment, and nothing measured before distillation
(importance lost, the pruned student's metrics) orders them. This tries the plans instead of
ranking them. Measured on the H100 (2026-12-06, results/quality/h100-2026-12-06-screen): a 200-step
screen did not order the 2 800-step finals (Spearman -0.04 over 15 plans), and three plans
distilled under two or three seeds each put about a third of that spread in the distillation seed.

Each ``--group SEED=PLAN[,PLAN...]`` is one run of the recipe over K candidate plans (e.g. the
landed plans of K scoring seeds). Every candidate is distilled with the final run's settings (seed
SEED, the learning-rate schedule of the final length) and stopped after ``--screen-steps`` updates;
that student is measured on the *training* split (samples from training captions: proxy alignment,
and proxy-FID against the training images). Only that reading selects (``--select``); the held-out
metrics are measured at the screen too, for the record. The chosen plan is then distilled from the
start for the final length, whose first ``--screen-steps`` updates are the screen's, so one run's
optimizer steps add up to ``--steps``: final = steps - (K - 1) x screen-steps.

A group of one plan is distilled as it is, for ``--steps`` with ``--k 1``, without a screen: the
same rows and table for a plan's distillation under another seed.

With ``--known`` each candidate's earlier full-length row (the ``work/rows`` file beside its plan
file, same modifications) is read, and the summary reports how well the screen's readings order
those finals (Spearman): the check that a screen predicts anything.

Rows are kept under OUT/work/rows with their fingerprints (``_quality.RowStore``), so groups may run
as separate processes side by side over one OUT and a last pass with every group tabulates them.

    python benchmarks/quality_screen.py --teacher T --out OUT/quality/screen --known \\
        --group 0=A/plans/plan-…-s0.json,B/plans/plan-…-s1.json,C/plans/plan-…-s2.json --steps 2800
CPU smoke (figures mean nothing): python benchmarks/quality_screen.py --smoke --out /tmp/qs --group 0=PLAN,PLAN
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _quality as Q  # noqa: E402
import _work_files as WF  # noqa: E402

SELECT = {"val-alignment": ("alignment", max), "val-fid": ("fid", min)}


class _Screened(Exception):
    """Raised from the distillation's step hook once the screen's student is measured."""


def parse_groups(specs: list[str]) -> list[tuple[int, list[Path]]]:
    """'SEED=PLAN[,PLAN...]' -> (seed, plan files); every problem in one error."""
    out, bad = [], []
    for spec in specs or []:
        seed, _, files = spec.partition("=")
        if not seed.strip().lstrip("-").isdigit() or not files:
            bad.append(f"{spec!r} is not SEED=PLAN[,PLAN...]")
            continue
        paths = [Path(f) for f in files.split(",") if f]
        bad += [f"no plan file {p}" for p in paths if not p.is_file()]
        out.append((int(seed), paths))
    if not out and not bad:
        bad.append("no --group given")
    if bad:
        raise SystemExit("--group: " + "; ".join(bad) + " (pass --group SEED=PLAN[,PLAN...] with saved plan files)")
    return out


def digest(plan) -> str:
    mods = sorted(f"{m.operator}:{m.modification}" for m in plan.modifications)
    return hashlib.sha256("\n".join(mods).encode()).hexdigest()[:10]


def known_final(path: Path, plan) -> dict | None:
    """The full-length row beside a plan file (…/work/plans/plan-KEY-sN.json -> …/work/rows/row-KEY-
    preserved-normalized-sN.json) when it was made from the same modifications."""
    row = WF.row_beside_plan(path)
    if row is None or not row.is_file():
        return None
    kept = json.loads(row.read_text())
    r = kept.get("row") or {}
    if sorted(map(tuple, r.get("modifications") or [])) != sorted((m.operator, m.modification) for m in plan.modifications):
        return None
    st = (kept.get("fingerprint") or {}).get("settings") or {}
    return {"row": str(row), "steps": st.get("steps"), "settings": st, "fid": r.get("fid_distilled"),
            "alignment": r.get("alignment_distilled"), "measured_on": r.get("measured_on")}


def screen(t, a, plan, seed: int, final_steps: int, metrics: dict, out: Path) -> dict:
    """Distil ``plan`` with the final run's settings, stop after ``a.screen_steps`` updates, measure."""
    got: dict = {}

    def measure(model):
        # a plain copy: accelerate wraps the training module's forward in its mixed-precision autocast
        clone = Q.prune(t, plan)
        clone.load_state_dict(model.state_dict())
        clone = clone.float().eval()
        got.update({name: m.measure(clone) for name, m in metrics.items()})
        raise _Screened

    t0 = time.perf_counter()
    try:
        Q.distill_student(t, Q.prune(t, plan), a, out, seed=seed, steps=final_steps, eval_at=[a.screen_steps],
                          metric=measure)
    except _Screened:
        pass
    finally:
        t.unet.float()
    if not got:
        raise SystemExit(f"the screen of {out.name} never reached step {a.screen_steps}")
    return {"seed": seed, **Q.plan_summary(plan), "screen_steps": a.screen_steps, "schedule_steps": final_steps,
            **{f"{k}_{name}": v for name, m in got.items() for k, v in m.items()},
            "screen_seconds": round(time.perf_counter() - t0, 1)}


def final(t, a, plan, seed: int, final_steps: int, metrics: dict, out: Path) -> dict:
    trained, _, secs = Q.distill_student(t, Q.prune(t, plan), a, out, seed=seed, steps=final_steps)
    got = {name: m.measure(trained) for name, m in metrics.items()}
    return {"seed": seed, **Q.plan_summary(plan), "steps": final_steps,
            **{f"{k}_{name}": v for name, m in got.items() for k, v in m.items()}, "distill_seconds": round(secs, 1)}


def choose(cands: list[tuple[dict, object]], select: str) -> tuple[dict, object]:
    """The (candidate, plan) whose training-split reading is best; the held-out readings are not looked at."""
    key, pick = SELECT[select]
    return pick(cands, key=lambda cp: cp[0][f"{key}_val"])


def spearman(xs: list[float], ys: list[float]) -> dict:
    from scipy.stats import spearmanr

    if len(xs) < 3:
        return {"n": len(xs), "rho": None, "p": None}
    r = spearmanr(xs, ys)
    return {"n": len(xs), "rho": round(float(r.statistic), 4), "p": round(float(r.pvalue), 4)}


def predictiveness(cands: list[dict]) -> dict:
    """How the screen's readings order the candidates' earlier full-length finals."""
    k = [c for c in cands if c.get("known") and c["known"].get("alignment") is not None]
    out = {"candidates_with_final": len(k), "final_steps": sorted({c["known"]["steps"] for c in k})}
    for metric in ("alignment", "fid"):
        for split in ("val", "held"):
            xs = [c[f"{metric}_{split}"] for c in k if c.get(f"{metric}_{split}") is not None]
            ys = [c["known"][metric] for c in k if c.get(f"{metric}_{split}") is not None]
            out[f"screen_{metric}_{split}_vs_final_{metric}"] = spearman(xs, ys)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    Q.add_common_args(ap, steps=2800, seeds="0", fid_n=500)
    ap.add_argument("--group", action="append", metavar="SEED=PLAN[,PLAN...]",
                    help="one run of the recipe: its distillation seed and candidate plan files (repeatable)")
    ap.add_argument("--screen-steps", type=int, default=200, help="updates before a candidate is measured (default 200)")
    ap.add_argument("--k", type=int,
                    help="candidates per run that the step budget is split over (default: the largest group); the "
                         "schedule every screen and final run uses is steps - (k - 1) x screen-steps long")
    ap.add_argument("--select", choices=list(SELECT), default="val-alignment",
                    help="the training-split reading that picks the plan (default val-alignment; val-fid for an "
                         "unconditional teacher)")
    ap.add_argument("--no-final", dest="final", action="store_false", help="screens only (no final distillation)")
    ap.add_argument("--known", action="store_true",
                    help="read each candidate's earlier full-length row beside its plan file and report how the "
                         "screens order those")
    a = ap.parse_args(argv)
    groups = parse_groups(a.group)   # before any output
    Q.finish_args(a, "emoji-t2i")
    a.seed_list = [s for s, _ in groups]   # the header's seeds: the groups' (--seeds is not read)
    if a.smoke:
        a.screen_steps = 1
    k = a.k or max(len(p) for _, p in groups)
    final_steps = a.steps - (k - 1) * a.screen_steps
    if a.screen_steps < 1 or final_steps <= a.screen_steps:
        raise SystemExit(f"--steps {a.steps} cannot hold {k} candidates' screens of {a.screen_steps} steps and a longer "
                         "final run: lower --screen-steps or --k")
    if a.final and (over := [s for s, p in groups if len(p) > k]):
        raise SystemExit(f"--group {over[0]} has more than --k {k} candidates: its steps would exceed --steps")
    out = Path(a.out)
    work = out / "work"
    t0 = time.perf_counter()
    t = Q.load_teacher(a.teacher, a.data, a.emb)
    if a.select == "val-alignment" and t.cond_train is None:
        raise SystemExit(f"--select val-alignment needs a text-to-image teacher; {t.hint['name']} has no captions: "
                         "pass --select val-fid")
    from ldprune_deploy.artifacts import PrunePlan

    metrics = {"val": Q.ProxyMetric(t, a, split="train"), "held": Q.ProxyMetric(t, a)}
    rows = Q.RowStore(t, a, work)
    teacher = {name: m.measure(t.unet) for name, m in metrics.items()}
    runs = []
    for seed, paths in groups:
        unique: dict[str, tuple[Path, object]] = {}
        for path in paths:
            plan = PrunePlan.load(path)
            if (d := digest(plan)) in unique:
                print(f"seed {seed}: {path} repeats an earlier candidate's modifications; screened once")
            unique.setdefault(d, (path, plan))
        cands = []
        for d, (path, plan) in unique.items():
            if a.final and len(unique) == 1:   # nothing to choose between: distilled as it is, unscreened
                c = {"seed": seed, **Q.plan_summary(plan), "screen_steps": 0}
            else:
                c = rows.row(f"screen{a.screen_steps}of{final_steps}-{d}-s{seed}", plan, lambda: screen(
                    t, a, plan, seed, final_steps, metrics, work / f"distill-screen-{d}-s{seed}"))
            c = {**c, "plan_file": str(path), "digest": d}
            if a.known:
                c["known"] = known_final(path, plan)
            cands.append((c, plan))
        best, best_plan = choose(cands, a.select) if len(cands) > 1 else cands[0]
        key = SELECT[a.select][0]
        run = {"seed": seed, "candidates": [c for c, _ in cands], "chosen": best["digest"], "final": None}
        if a.final:
            run["final"] = rows.row(f"final{final_steps}-{best['digest']}-s{seed}", best_plan, lambda: final(
                t, a, best_plan, seed, final_steps, metrics, work / f"distill-final-{best['digest']}-s{seed}"))
            run["total_steps"] = final_steps + (len(cands) - 1) * a.screen_steps
        runs.append(run)
        print(f"seed {seed}: chose {best['digest']} ({a.select} {best.get(key + '_val', 'not screened')}) of {len(cands)}"
              + (f"; final {metrics['held'].name} {run['final']['fid_held']}, alignment "
                 f"{run['final']['alignment_held']}" if run["final"] else ""))
    res = summarize(a, t, metrics["held"], teacher, runs, k, final_steps)
    res["wall_seconds"] = round(time.perf_counter() - t0, 1)
    res["rows_resumed"] = rows.counts()
    Q.write(out, "quality_screen", res, table(res))
    print(res["table_md"])
    return 0


def summarize(a, t, held, teacher: dict, runs: list[dict], k: int, final_steps: int) -> dict:
    finals = [r["final"] for r in runs if r["final"]]
    recipe = None
    if finals:
        tf, ta = teacher["held"]["fid"], teacher["held"]["alignment"]
        cut, fid = Q.mean_spread([f["measured_cut"] for f in finals]), Q.mean_spread([f["fid_held"] for f in finals])
        al = Q.mean_spread([f["alignment_held"] for f in finals]) if ta is not None else None
        teacher_steps = (t.curve or {}).get("steps_done")
        total = max(r["total_steps"] for r in runs if r["final"])
        recipe = {"seeds": [r["seed"] for r in runs if r["final"]], "cut": cut, "metric": fid, "alignment": al,
                  "metric_ratio": fid["mean"] / tf, "alignment_ratio": al["mean"] / ta if al else None,
                  "total_steps": total, "teacher_steps": teacher_steps,
                  "targets": {"cut >= 35 %": cut["mean"] >= 0.35, "proxy-FID <= +10 %": fid["mean"] <= 1.10 * tf,
                              **({"alignment >= -5 %": al["mean"] >= 0.95 * ta} if al else {}),
                              "steps <= 1/8": bool(teacher_steps) and total <= teacher_steps / 8}}
    cands = [c for r in runs for c in r["candidates"]]
    return {**Q.header(a, "quality_screen", t, held), "budget_steps": a.steps, "k": k, "screen_steps": a.screen_steps,
            "final_steps": final_steps, "select": a.select,
            "selection_reads": "training split only (samples from training captions; proxy-FID against the training "
                               "images); the held-out readings are recorded, not used",
            "teacher_metrics": teacher, "runs": runs, "recipe": recipe,
            "predictiveness": predictiveness(cands) if a.known else None}


def table(res: dict) -> str:
    th, tv = res["teacher_metrics"]["held"], res["teacher_metrics"]["val"]
    lines = [f"Screened plans: {res['k']} candidates a run, {res['screen_steps']} screen steps each on a "
             f"{res['final_steps']}-step schedule, chosen by {res['select']} (training split); teacher held-out "
             f"{th['fid']} / alignment {th['alignment']}, training split {tv['fid']} / {tv['alignment']}"
             + (" — SMOKE, figures meaningless" if res["smoke"] else ""), "",
             "| seed | plan | cut | screen: train FID / alignment | screen: held-out FID / alignment | earlier final "
             "FID / alignment | chosen | final FID / alignment |", "|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        for c in r["candidates"]:
            kn = c.get("known") or {}
            fin = r["final"] if c["digest"] == r["chosen"] and r["final"] else None
            sc = {k: c.get(k, "–") for k in ("fid_val", "alignment_val", "fid_held", "alignment_held")}
            lines.append(f"| {r['seed']} | {c['digest']} | {c['measured_cut']:.1%} | {sc['fid_val']} / {sc['alignment_val']} | "
                         f"{sc['fid_held']} / {sc['alignment_held']} | "
                         + (f"{kn['fid']} / {kn['alignment']} ({kn['steps']} steps)" if kn else "–")
                         + f" | {'yes' if c['digest'] == r['chosen'] else ''} | "
                         + (f"{fin['fid_held']} / {fin['alignment_held']}" if fin else "") + " |")
    if rec := res["recipe"]:
        al = rec["alignment"]
        what = "Recipe" if res["k"] > 1 else "Plans distilled as given (no screen)"
        lines += ["", f"{what} over seeds {rec['seeds']}: cut {Q.fmt(rec['cut'], 3)}, held-out metric "
                  f"{Q.fmt(rec['metric'])} ({rec['metric_ratio']:.3f}x the teacher)"
                  + (f", alignment {Q.fmt(al)} ({rec['alignment_ratio']:.3f}x)" if al else "")
                  + f"; {rec['total_steps']} optimizer steps a run of the teacher's {rec['teacher_steps']}; targets "
                  + ", ".join(f"{k} {'met' if v else 'missed'}" for k, v in rec["targets"].items())]
    if (p := res["predictiveness"]) and any(isinstance(v, dict) and v.get("rho") is not None for v in p.values()):
        lines += ["", f"Screen vs earlier finals ({p['candidates_with_final']} candidates, final steps "
                  f"{p['final_steps']}): " + "; ".join(
                      f"{k.removeprefix('screen_')} rho {v['rho']} (p {v['p']})" for k, v in p.items()
                      if isinstance(v, dict) and v.get("rho") is not None)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
