"""One summary of the quality evidence (issue 23), built only from committed result files, and
the README's quality section rendered from it.

    python benchmarks/quality_summary.py            # write benchmarks/results/quality/summary.json + README section
    python benchmarks/quality_summary.py --check    # exit 1 if either is out of date (the test runs this)

Inputs: benchmarks/results/train_proxies.json (proxies), benchmarks/assets/teachers/curves.json
(teachers: plateau verdict, sanity ladders), the strategy / audio results of the device runs named
in ``SOURCES`` (each task from the run that used its current teacher) and the text-to-image headline
variants in ``HEADLINE_T2I``; the proxy sweep that chose the adopted recipe (``PROXY_SWEEP``) is reported. Verdicts
(targets met or not, which headline variant leads) are computed from those numbers, never typed in.

The committed runs are named in ``_summary_runs``; the proxies', teachers' and text-to-image parts are built in
``_summary_proxies``, ``_summary_teachers`` and ``_summary_t2i``, the README section in ``_summary_render``; this
script holds the comparisons, the summary's assembly and the command line.
"""

from __future__ import annotations

import argparse
import json
import sys

import _summary_runs as R
from _summary_proxies import proxies, proxy_agreement, proxy_recipe_sweeps, proxy_repeats, proxy_sweep
from _summary_render import render
from _summary_runs import (BEGIN, COMMITTED_CURVES, COMPARISON_TEACHERS, CURVES_UNTIL_1207, END, SCHEMA, SOURCES,
                           SUMMARY, _strategy_run, load)
from _summary_t2i import headlines, lever_pairs, plan_screen
from _summary_teachers import (comparison_teachers, continuations, noise_with_teachers, plateau_rechecks, teacher_trials,
                               teachers, trial_metric_noise, weight_drift, with_rechecks)
from ldprune_deploy.quality.numerics import recorded_precision


def landing(plan_rows: list[dict]) -> dict:
    """How many of a run's plans (one per criterion, planner and seed; the ablations reuse one)
    landed in the 1 % window, and the spread of their measured cuts."""
    plans = {(r["method"], r["strategy"], r["seed"]): r for r in plan_rows}
    cuts = [r["measured_cut"] for r in plans.values()]
    return {"plans": len(plans), "landed": sum(bool(r["landed"]) for r in plans.values()),
            "cut_min": min(cuts), "cut_max": max(cuts)}


def comparisons(sources: dict[str, str]) -> tuple[list[dict], dict]:
    rows, teachers_here = [], {}
    for task in ("emoji-uig", "emoji-t2i"):
        r = _strategy_run(f"{sources[task]}/strategies-{task}")
        teachers_here[task] = {**r["teacher"], "landing": landing(r["result"]["rows"]),
                               "eval_precision": recorded_precision(r["result"]["metric"])}
        rows += r["result"]["comparisons"]
    run = sources["notes-uag"]
    a = load(f"{run}/audio/quality_audio.json")
    cut = a["summary"]["measured_cut"]
    fad = a["summary"]["fad_finetuned"]
    rows.append({"task": "notes-uag", "criterion": "ld-pruner", "planner": "latency-aware", "init": "preserved",
                 "feature_kd": "normalized", "seeds": [r["seed"] for r in a["rows"]], "cut_mean": cut["mean"],
                 "cut_std": cut["std"], "metric": "proxy-FAD", "metric_mean": fad["mean"], "metric_std": fad["std"]})
    teachers_here["notes-uag"] = {"metric": a["teacher_fad"], "alignment": None, "distill_steps": a["distill"]["steps"],
                                  "date": a["device"]["date"], "device": a["device"].get("gpu"), "run": run,
                                  "eval_precision": recorded_precision(a.get("metric"))}
    return rows, teachers_here


def build() -> dict:
    # one summary per curves file: the comparison teachers are mostly the committed ones
    curves = {path: load(path) for path in {COMMITTED_CURVES, CURVES_UNTIL_1207, *COMPARISON_TEACHERS.values()}}
    by_file = {path: teachers(c) for path, c in curves.items()}
    # the committed teachers' plateau under the committed proxy, where their own curves used an earlier one; the
    # rechecks and the continuation resumed the teachers committed before emoji-t2i's continuation was adopted
    before = curves[CURVES_UNTIL_1207]
    rechecks = plateau_rechecks(before)
    for path in (COMMITTED_CURVES, CURVES_UNTIL_1207):
        by_file[path] = with_rechecks(by_file[path], rechecks)
    teach = by_file[COMMITTED_CURVES]
    used = {task: by_file[path][task] for task, path in COMPARISON_TEACHERS.items()}
    rows, here = comparisons(SOURCES)
    tp = load("benchmarks/results/train_proxies.json")
    return {"schema": SCHEMA, "runs": SOURCES, "proxies": proxies(tp),
            "proxy_sweep": proxy_sweep(), "proxy_recipe_sweeps": proxy_recipe_sweeps(), "proxy_repeats": proxy_repeats(tp),
            "teachers": teach, "teacher_trials": teacher_trials(beside=(teach, by_file[CURVES_UNTIL_1207])),
            "teacher_metric_noise": noise_with_teachers(),
            "teacher_trial_metric_noise": trial_metric_noise(),
            "teacher_weight_drift": weight_drift(), "teacher_plateau_rechecks": rechecks,
            "teacher_continuations": continuations(before, curves[COMMITTED_CURVES]),
            "comparison_teachers": comparison_teachers(used),
            "comparisons": rows, "teacher_metric_in_comparison_runs": here, "proxy_agreement": proxy_agreement(),
            "headlines": (head := headlines(rows, here, used)), "plan_screen": plan_screen(),
            "lever_pairs": lever_pairs(head["text_to_image"]),
            "rules": {"differs": "|mean_a - mean_b| > std_a + std_b over the seeds (quality.evidence.differs)",
                      "plateau": "range of the curve over the last 20 % of steps <= range over the final sampling seeds "
                                 "(3 or 5) at the end, curve and seeds evaluated in the teacher's eval_precision; "
                                 "where the teacher's curve used an earlier proxy, the same rule on a curve continued "
                                 "from the committed teacher with the committed proxy (teachers.<name>.plateau_recheck)",
                      "plateau_trend": "reported beside it: least-squares drift over the same window beyond 2 standard "
                                       "errors from the seed std (quality.evidence.trend)",
                      "equal latency": "every plan is landed by measurement toward [0.99, 1] x the budget "
                                       "(planner.landing; teacher_metric_in_comparison_runs.<task>.landing counts those "
                                       "that got there); each comparison's mean cut within 1 % of the task's others"}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 if summary.json or the README section is stale")
    a = ap.parse_args(argv)
    s = build()
    readme = (R.ROOT / "README.md").read_text()
    if BEGIN not in readme or END not in readme:
        print(f"README.md has no {BEGIN} ... {END} section", file=sys.stderr)
        return 1
    section = render(s)
    new = readme[:readme.index(BEGIN)] + section + readme[readme.index(END) + len(END):]
    if a.check:
        stale = [p for p, ok in ((SUMMARY, (R.ROOT / SUMMARY).is_file() and json.loads((R.ROOT / SUMMARY).read_text()) == s),
                                 ("README.md", new == readme)) if not ok]
        if stale:
            print("out of date: " + ", ".join(stale) + " (run python benchmarks/quality_summary.py)", file=sys.stderr)
            return 1
        return 0
    from ldprune_deploy.jsonio import write_json_atomic

    write_json_atomic(R.ROOT / SUMMARY, s)
    (R.ROOT / "README.md").write_text(new)
    print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
