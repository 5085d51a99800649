"""One summary of the quality evidence (issue 23), built only from committed result files, and
the README's quality section rendered from it.

    python benchmarks/quality_summary.py            # write benchmarks/results/quality/summary.json + README section
    python benchmarks/quality_summary.py --check    # exit 1 if either is out of date (the test runs this)

Inputs: benchmarks/results/train_proxies.json (proxies), benchmarks/assets/teachers/curves.json
(teachers: plateau verdict, sanity ladders), the strategy / audio results of the device runs named
in ``SOURCES`` (each task from the run that used its current teacher) and the text-to-image headline
variants in ``HEADLINE_T2I``; the proxy sweep that chose the adopted recipe (``PROXY_SWEEP``) is reported. Verdicts
(targets met or not, which headline variant leads) are computed here from those numbers, never typed in.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ldprune_deploy.quality.evidence import paired_seeds_needed, pooled_std  # noqa: E402
from ldprune_deploy.quality.numerics import recorded_precision  # noqa: E402
from _work_files import BASE_ROW, DISTILL_DEFAULTS, base_rows, distill_settings  # noqa: E402

# the runs measured against the teachers before the committed ones stay committed as history: the first
# two with the earlier proxies, the third (2026-12-04 10:28-10:55 UTC) adopted the proxies of the sweep
# below and re-ran every comparison, and a follow-up distilled its headline plans longer
ADOPT_RUN = "benchmarks/results/quality/h200-2026-12-04-adopt"
FOLLOWUP = "benchmarks/results/quality/h200-2026-12-04-followup"
HISTORY = ["benchmarks/results/quality/h200-2026-12-04", "benchmarks/results/quality/h200-2026-12-04-uig-resume",
           ADOPT_RUN, FOLLOWUP]
# against the fresh teachers (notes-uag's still committed, the emoji ones until 2026-12-05): the fourth run
# (2026-12-04 15:21-15:35 UTC) landed every comparison's plans and, on a fresh machine at 15:50-15:52, the
# audio distillation; the fifth (17:27-17:54) landed again the five plans whose landing had failed and ran the
# emoji distillations, then (on the next machine) the longer text-to-image headline variants from the same plans
FRESH_RUN = "benchmarks/results/quality/h200-2026-12-04-fresh"
RUN = "benchmarks/results/quality/h200-2026-12-04-reland"
# the sixth (2026-12-04 19:09-19:39 UTC, this session's two machines): the prompt-aware criterion's plans with
# every cross-attention kept, planned and landed on the emoji-t2i teacher of then, distilled three ways
XATTN_PROMPT = "benchmarks/results/quality/h200-2026-12-04-xattn-prompt"
# against the emoji teachers adopted on 2026-12-05 (plateau in fp32): the emoji-uig plans landed at 18:53 UTC
# (PLANS), the emoji-t2i plans and both comparisons' distillations at 21:42-21:54 UTC (NEW_RUN)
PLANS = "benchmarks/results/quality/h100-2026-12-05-plans"
NEW_RUN = "benchmarks/results/quality/h100-2026-12-05-comparisons"
# the same emoji-t2i plans distilled 2 800 steps (1/8 of the adopted teacher's), 22:18-22:28 UTC
HEADLINE_RUN = "benchmarks/results/quality/h100-2026-12-05-headline"
# 2026-12-06 03:28-03:42 UTC: the prompt-aware criterion's plans keeping every cross-attention, planned and landed on
# the adopted emoji-t2i teacher, distilled 2 800 steps (3 seeds), and two one-seed learning-rate screens of them
PROMPT_HEADLINE_RUN = "benchmarks/results/quality/h100-2026-12-06-headline-prompt"
# 04:33-04:55 UTC: the committed ld-pruner-prompt plans (no exclusion) distilled 2 800 steps, with and without an EMA
# of the student, and the LD-Pruner plans at lr 1e-3, 3 seeds each
LEVERS_RUN = "benchmarks/results/quality/h100-2026-12-06-headline-levers"
# 05:53-06:15 UTC: the same ld-pruner-prompt plans without caption dropout, with output-KD weight 3, and with both
# changes' mix (no dropout, weight 0.5), 3 seeds each
LOSSES_RUN = "benchmarks/results/quality/h100-2026-12-06-headline-losses"
# 07:31-07:57 UTC: the no-dropout distillation of those plans at batch 256 and at lr 1e-3 (six seeds side by side),
# then the no-dropout headline itself again on the same machine (REPEAT: the same seeds and settings)
NODROP_RUN = "benchmarks/results/quality/h100-2026-12-06-headline-nodrop"
# 09:17-09:32 UTC: the no-dropout headline's plans re-landed with at most 4, and at most 3, cross-attentions removed
# (plan --cap; 4 chosen after seeing seed 0, the weakest, remove 5), then distilled alike, six seeds side by side
CAP_RUN = "benchmarks/results/quality/h100-2026-12-06-headline-cap"
# 09:40-09:51 UTC: the cap-4 recipe on seeds never looked at (3, 4, 5: scored, planned and landed under the cap on the
# comparison's profile, then distilled side by side); the device budget ended before seeds 3 and 4 finished
FRESH_SEEDS_RUN = "benchmarks/results/quality/h100-2026-12-06-fresh-seeds"
# 10:56-11:09 UTC: seeds 3 and 4 of that recipe finished from the committed plans (seed 5's row reused), and the
# same three seeds planned again from the same scores without the cap; 11:14-11:25 UTC: the recipe on seeds 6-8
FRESH_SEEDS_RUN_2 = "benchmarks/results/quality/h100-2026-12-06-fresh-seeds-2"
# 13:44-13:52 UTC: the cap-4 plans of seeds 3-5 distilled with --caption-mix 0.5 (half the rows on blended captions,
# KD terms only); the landed plans' paired ratios measured again before (ratio-repeat.json)
CAPTION_MIX_RUN = "benchmarks/results/quality/h100-2026-12-06-caption-mix"
# 14:59-15:09 UTC: landed plans screened by 200 distillation steps and the best of three distilled (quality_screen.py:
# three runs over the cap-4 plans of seeds 0-8, six more plans screened only); 15:12-15:24 UTC: three landed plans
# distilled 2 800 steps under other seeds
SCREEN_RUN = "benchmarks/results/quality/h100-2026-12-06-screen"
# 17:06-17:20 UTC: the cap-4 plans of seeds 0-5 (the committed files) distilled again with --snr-gamma 5 (min-SNR-5
# weighting of the task and output-KD terms), six side by side (seeds 6-8 dropped when the device budget shrank)
SNR_RUN = "benchmarks/results/quality/h100-2026-12-06-snr"
# 18:34-18:57 UTC: the scores of seeds 0-8 re-planned and re-landed under the cap-4 cap and at most one up_blocks.2
# modification (plan_features' proxy-FID hypothesis, written down before the run), distilled as the cap-4 rows were,
# nine side by side
U2CAP_RUN = "benchmarks/results/quality/h100-2026-12-06-u2cap"
# 20:14-20:31 UTC, on an H200 (no H100 came): the cap-4 plans of seeds 0-4 distilled with min-SNR-5 and the feature-KD
# weight 0.1 (hypotheses written down before the run), five side by side; then seed 0 of the min-SNR-5 recipe alone,
# the same plan and settings as its H100 row (DEVICE_REPEAT)
FEAT01_RUN = "benchmarks/results/quality/h200-2026-12-06-feat01"
# the no-dropout ld-pruner-prompt recipe's spec folders, each listed alone and in its recipe's pool below
NODROP_S0_2, NOCAP_S3_5 = f"{LOSSES_RUN}/headline-2800-prompt-nodrop-emoji-t2i", f"{FRESH_SEEDS_RUN_2}/fresh-nodrop-emoji-t2i"
CAP4_S0_2, CAP4_S3_5, CAP4_S6_8 = (f"{CAP_RUN}/headline-2800-prompt-nodrop-cap4-emoji-t2i",
                                   f"{FRESH_SEEDS_RUN_2}/fresh-nodrop-cap4-emoji-t2i",
                                   f"{FRESH_SEEDS_RUN_2}/fresh-nodrop-cap4-s678-emoji-t2i")
SNR5_S0_2, SNR5_S3_5 = f"{SNR_RUN}/snr5-cap4-s012-emoji-t2i", f"{SNR_RUN}/snr5-cap4-s345-emoji-t2i"
U2CAP = tuple(f"{U2CAP_RUN}/u2cap-cap4-{s}-emoji-t2i" for s in ("s012", "s345", "s678"))
FEAT01_S0_2, FEAT01_S3_4 = f"{FEAT01_RUN}/feat01-snr5-cap4-s012-emoji-t2i", f"{FEAT01_RUN}/feat01-snr5-cap4-s34-emoji-t2i"
SNR5_H200_S0 = f"{FEAT01_RUN}/snr5-h200-s0-emoji-t2i"
PROMPT_S0_2 = f"{LEVERS_RUN}/headline-2800-prompt-emoji-t2i"
REPEAT = (NODROP_S0_2, f"{NODROP_RUN}/headline-2800-prompt-nodrop-repeat-emoji-t2i",
          "ld-pruner-prompt")
# a seed distilled again on another GPU type (the same plan and settings): what a pair across GPU types carries
DEVICE_REPEAT = (SNR5_S0_2, SNR5_H200_S0, "ld-pruner-prompt")
SOURCES = {"emoji-uig": NEW_RUN, "emoji-t2i": NEW_RUN, "notes-uag": FRESH_RUN}
# the curves file of the teacher each task's comparison run distilled from: the committed ones (the emoji ones
# adopted on 2026-12-05; the teachers committed before them are kept beside the fresh runs that trained them)
COMMITTED_CURVES = "benchmarks/assets/teachers/curves.json"
EARLIER_CURVES = "benchmarks/results/quality/h200-2026-12-04-fresh-teachers/committed-until-2026-12-05-curves.json"
COMPARISON_TEACHERS = {"emoji-uig": COMMITTED_CURVES, "emoji-t2i": COMMITTED_CURVES, "notes-uag": COMMITTED_CURVES}
# the text-to-image headline candidates, (name, folder, criterion of the row, curves of the teacher it distilled
# from); a tuple of folders pools one recipe's seeds from several runs, and a variant whose run is in a pool does
# not lead on its own seeds: the lead is chosen among the others against the comparison's teacher; the ones against the earlier teacher
# (10 000 steps) stay listed: plans that keep every cross-attention, the prompt-aware criterion, longer distillations
HEADLINE_T2I = [
    ("LD-Pruner latency-aware, 200 steps (the comparison rows)", f"{NEW_RUN}/strategies-emoji-t2i", "ld-pruner",
     COMMITTED_CURVES),
    ("LD-Pruner + prompt effect (ld-pruner-prompt), 200 steps (the comparison rows)", f"{NEW_RUN}/strategies-emoji-t2i",
     "ld-pruner-prompt", COMMITTED_CURVES),
    ("LD-Pruner latency-aware, 2800 steps", f"{HEADLINE_RUN}/headline-2800-emoji-t2i", "ld-pruner", COMMITTED_CURVES),
    ("ld-pruner-prompt plans keeping every cross-attention, 2800 steps",
     f"{PROMPT_HEADLINE_RUN}/headline-2800-prompt-xattn-emoji-t2i", "ld-pruner-prompt", COMMITTED_CURVES),
    ("the same plans (seed 0), 2800 steps at lr 1e-3", f"{PROMPT_HEADLINE_RUN}/screen-2800-prompt-xattn-lr1e-3-emoji-t2i",
     "ld-pruner-prompt", COMMITTED_CURVES),
    ("the same plans (seed 0), 2800 steps at lr 2e-4", f"{PROMPT_HEADLINE_RUN}/screen-2800-prompt-xattn-lr2e-4-emoji-t2i",
     "ld-pruner-prompt", COMMITTED_CURVES),
    ("LD-Pruner + prompt effect (ld-pruner-prompt) plans, 2800 steps", PROMPT_S0_2, "ld-pruner-prompt", COMMITTED_CURVES),
    ("the same ld-pruner-prompt plans, 2800 steps, EMA 0.995 of the student",
     f"{LEVERS_RUN}/headline-2800-prompt-ema-emoji-t2i", "ld-pruner-prompt", COMMITTED_CURVES),
    ("LD-Pruner latency-aware, 2800 steps at lr 1e-3", f"{LEVERS_RUN}/headline-2800-lr1e-3-emoji-t2i", "ld-pruner",
     COMMITTED_CURVES),
    ("ld-pruner-prompt plans, 2800 steps, no caption dropout", NODROP_S0_2, "ld-pruner-prompt", COMMITTED_CURVES),
    ("ld-pruner-prompt plans, 2800 steps, output-KD weight 3", f"{LOSSES_RUN}/headline-2800-prompt-out3-emoji-t2i",
     "ld-pruner-prompt", COMMITTED_CURVES),
    ("ld-pruner-prompt plans, 2800 steps, no caption dropout, output-KD weight 0.5",
     f"{LOSSES_RUN}/headline-2800-prompt-nodrop-out05-emoji-t2i", "ld-pruner-prompt", COMMITTED_CURVES),
    ("ld-pruner-prompt plans, 2800 steps, no caption dropout, batch 256",
     f"{NODROP_RUN}/headline-2800-prompt-nodrop-b256-emoji-t2i", "ld-pruner-prompt", COMMITTED_CURVES),
    ("ld-pruner-prompt plans, 2800 steps, no caption dropout, lr 1e-3",
     f"{NODROP_RUN}/headline-2800-prompt-nodrop-lr1e3-emoji-t2i", "ld-pruner-prompt", COMMITTED_CURVES),
    ("ld-pruner-prompt plans re-landed with at most 4 cross-attentions removed (cap chosen after seeing these seeds), "
     "2800 steps, no caption dropout", CAP4_S0_2, "ld-pruner-prompt", COMMITTED_CURVES),
    ("ld-pruner-prompt plans re-landed with at most 3 cross-attentions removed, 2800 steps, no caption dropout",
     f"{CAP_RUN}/headline-2800-prompt-nodrop-cap3-emoji-t2i", "ld-pruner-prompt", COMMITTED_CURVES),
    ("the cap-4 recipe on fresh seeds 3-5, 2800 steps, no caption dropout", CAP4_S3_5, "ld-pruner-prompt",
     COMMITTED_CURVES),
    ("the cap-4 recipe on fresh seeds 6-8, 2800 steps, no caption dropout", CAP4_S6_8, "ld-pruner-prompt",
     COMMITTED_CURVES),
    ("seeds 3-5 planned again without the cap (no plan exceeded it: they differ by the landing's measurements), "
     "2800 steps, no caption dropout", NOCAP_S3_5, "ld-pruner-prompt", COMMITTED_CURVES),
    ("the cap-4 plans of seeds 3-5, 2800 steps, no caption dropout, half the rows on blended captions (KD only)",
     f"{CAPTION_MIX_RUN}/mix05-cap4-s345-emoji-t2i", "ld-pruner-prompt", COMMITTED_CURVES),
    ("the cap-4 recipe on every seed it was distilled with: 0-2, the cap chosen on them, and 3-8, fresh",
     (CAP4_S0_2, CAP4_S3_5, CAP4_S6_8), "ld-pruner-prompt", COMMITTED_CURVES),
    ("ld-pruner-prompt plans without a cap, no caption dropout, on every seed it was distilled with",
     (NODROP_S0_2, NOCAP_S3_5), "ld-pruner-prompt", COMMITTED_CURVES),
    ("the cap-4 plans of seeds 0-2, 2800 steps, no caption dropout, min-SNR-5 weighting of the task and output KD",
     SNR5_S0_2, "ld-pruner-prompt", COMMITTED_CURVES),
    ("the cap-4 plans of seeds 3-5, 2800 steps, no caption dropout, min-SNR-5 weighting of the task and output KD",
     SNR5_S3_5, "ld-pruner-prompt", COMMITTED_CURVES),
    ("the cap-4 plans with min-SNR-5 weighting (`--snr-gamma 5`) on every seed it was distilled with",
     (SNR5_S0_2, SNR5_S3_5), "ld-pruner-prompt", COMMITTED_CURVES),
    ("the cap-4 recipe with at most one up_blocks.2 modification (`--cap '^up_blocks\\.2\\.=1'`, plans re-landed from the "
     "same scores), seeds 0-8", U2CAP, "ld-pruner-prompt", COMMITTED_CURVES),
    ("the cap-4 plans of seeds 0-2 (landed on an H100), min-SNR-5, feature-KD weight 0.1 (`--lambda-feat 0.1`), "
     "distilled on an H200", FEAT01_S0_2, "ld-pruner-prompt", COMMITTED_CURVES),
    ("the cap-4 plans of seeds 3-4 (landed on an H100), min-SNR-5, feature-KD weight 0.1, distilled on an H200",
     FEAT01_S3_4, "ld-pruner-prompt", COMMITTED_CURVES),
    ("the cap-4 plans (landed on an H100) with min-SNR-5 and feature-KD weight 0.1 on every seed it was distilled with",
     (FEAT01_S0_2, FEAT01_S3_4), "ld-pruner-prompt", COMMITTED_CURVES),
    ("the min-SNR-5 recipe's seed 0 distilled again on an H200 (its row above: an H100)", SNR5_H200_S0,
     "ld-pruner-prompt", COMMITTED_CURVES),
    ("LD-Pruner latency-aware, 200 steps (the comparison rows)", f"{RUN}/strategies-emoji-t2i", "ld-pruner", EARLIER_CURVES),
    ("every cross-attention kept out of the plan, 960 steps", f"{RUN}/keep-xattn-emoji-t2i", "ld-pruner", EARLIER_CURVES),
    ("every cross-attention kept out of the plan, 1250 steps", f"{RUN}/keep-xattn-1250-emoji-t2i", "ld-pruner",
     EARLIER_CURVES),
    ("LD-Pruner + prompt effect (ld-pruner-prompt) plans, 1250 steps", f"{RUN}/prompt-1250-emoji-t2i",
     "ld-pruner-prompt", EARLIER_CURVES),
    ("ld-pruner-prompt plans keeping every cross-attention, 1250 steps", f"{XATTN_PROMPT}/keep-xattn-emoji-t2i",
     "ld-pruner-prompt", EARLIER_CURVES),
    ("ld-pruner-prompt plans keeping every cross-attention, 1250 steps, EMA 0.995 of the student",
     f"{XATTN_PROMPT}/keep-xattn-ema-emoji-t2i", "ld-pruner-prompt", EARLIER_CURVES),
    ("ld-pruner-prompt plans keeping every cross-attention, 1250 steps at batch 256",
     f"{XATTN_PROMPT}/keep-xattn-b256-emoji-t2i", "ld-pruner-prompt", EARLIER_CURVES)]
# the fresh teachers (2026-12-04 13:33-13:59 UTC, trained from scratch with a step budget, so the cosine
# ends annealed): the committed ones
FRESH = "benchmarks/results/quality/h200-2026-12-04-fresh-teachers"
PROXY_SWEEP = "benchmarks/results/proxy_experiments/h200-2026-12-04-sweep"
# the adopted emoji recipe trained again with other seeds (and with the caption head): its run-to-run spread
PROXY_REPEATS = "benchmarks/results/proxy_experiments/cpu-2026-12-05-repeats"
# the committed teachers' proxy-FID over sampling seeds and under small weight perturbations
# (benchmarks/diagnostics/metric_noise.py): what the plateau rule's noise leaves out
METRIC_NOISE = "benchmarks/results/quality/metric-noise-cpu-2026-12-04.json"
METRIC_NOISE_TEACHERS = EARLIER_CURVES   # the weights it measured: the teachers committed on 2026-12-04
# teacher settings tried beside the committed teachers (quality_session.sh trials), not adopted: their curves
TRIALS = "benchmarks/results/quality/*-trials/*-curves.json"
# how far each warm-restart segment moved the trial's weights (benchmarks/diagnostics/weight_drift.py), on the
# scale of METRIC_NOISE's perturbations
WEIGHT_DRIFT = "benchmarks/results/quality/*-trials/weight-drift-*.json"
# the same diagnostic on a trial's end weights (its "trial" field names it)
TRIAL_METRIC_NOISE = "benchmarks/results/quality/*-trials/metric-noise-*.json"
SUMMARY = "benchmarks/results/quality/summary.json"
SCHEMA = "ldprune.quality-summary/1"
BEGIN, END = "<!-- quality-summary:begin -->", "<!-- quality-summary:end -->"
ACCURACY_BAR = 0.85


def load(rel: str) -> dict:
    return json.loads((ROOT / rel).read_text())


def _meets_bar(head_index: int, accuracy: float) -> bool | None:
    # the bar is for the label the metric is named by (the first head); the others are auxiliary
    # heads that shape the features, reported without a verdict
    return accuracy >= ACCURACY_BAR if head_index == 0 else None


def _bar_cell(meets: bool | None, na: str, no: str = "no") -> str:
    return f"n/a ({na})" if meets is None else ("yes" if meets else no)


def proxies(tp: dict) -> dict:
    out = {}
    for name, p in tp["proxies"].items():
        if name == "align":
            out["emoji-alignment"] = {
                "heldout_accuracy": p["image_to_text_top1"], "majority_baseline": p["chance_top1"],
                "measure": f"held-out image -> caption retrieval top-1 among {p['n_candidates']} captions "
                           f"(top-5 {p['image_to_text_top5']:.3f}); baseline = chance", "meets_85pct": None}
            continue
        for i, (head, h) in enumerate(p["heads"].items()):
            out[f"{name}/{head}"] = {"heldout_accuracy": h["held_out_accuracy"], "majority_baseline": h["majority_baseline"],
                                     "classes": h["classes"], "n_held_out": p["n_held_out"],
                                     "meets_85pct": _meets_bar(i, h["held_out_accuracy"]),
                                     **({} if i == 0 else {"measure": "auxiliary head"})}
    return out


def teachers(curves: dict) -> dict:
    from ldprune_deploy.quality.evidence import pass_rate_if_flat, trend

    out = {}
    for name, t in curves["teachers"].items():
        best = min(range(len(t["proxy_fid"])), key=lambda i: t["proxy_fid"][i])
        # curves before 2026-12-05 lost the total to the per-log-line list of the same name: its last
        # entry is the time at the last logged step (<= 50 steps before the end)
        total = t.get("train_seconds_total", t["train_seconds"])
        rec = {"steps": t["steps_done"], "train_s": total[-1] if isinstance(total, list) else total, "plateau": t["plateau"]["plateau"],
               "plateau_detail": {**{k: t["plateau"][k] for k in ("window_from_step", "points_in_window", "window_range",
                                                                  "seed_range", "rule")},
                                  # curves before 2026-12-04 10:00 start at step 1/N of training: covered
                                  "window_covered": t["plateau"].get("window_covered", True),
                                  # the rule's chance to pass a curve that only carries sampling noise
                                  "pass_rate_if_flat": pass_rate_if_flat(t["plateau"]["points_in_window"],
                                                                         len(t["final_seeds"])),
                                  "seeds": len(t["final_seeds"])},
               "metric": "proxy-FAD" if t["data"] == "notes" else "proxy-FID", "final_mean": t["final"]["mean"],
               "final_std": t["final"]["std"], "best": t["proxy_fid"][best], "best_step": t["proxy_fid_step"][best],
               # the drift test beside the range rule, recomputed from the curve (older files lack it)
               "plateau_trend": {k: v for k, v in trend(t["proxy_fid_step"], t["proxy_fid"], t["steps_done"],
                                                        t["final_seeds"]).items() if k != "rule"},
               "ladder": t["ladder"], "reference": t["fid_reference"],
               # older files stamp only the header (the latest run), not when each teacher was trained
               "device": t.get("trained", curves)["device"], "date": t.get("trained", curves)["date"]}
        rec["eval_precision"] = recorded_precision(t)
        if "shadow" in t:   # the same checkpoints and seeds measured in the other precision (--shadow-precision)
            sh = t["shadow"]
            rec["shadow"] = {"eval_precision": sh["eval_precision"], "plateau": sh["plateau"]["plateau"],
                             "window_range": sh["plateau"]["window_range"], "seed_range": sh["plateau"]["seed_range"],
                             "final_mean": sh["final"]["mean"], "final_std": sh["final"]["std"]}
        if "segments" in t:
            rec["segments"] = t["segments"]
        if t.get("earlier_curves"):   # re-measured from a resume step (train_teachers --new-curve)
            rec["curve_from_step"] = t["proxy_fid_step"][0]
            rec["earlier_curves"] = [{"proxy_accuracy": c["proxy_accuracy"], "until_step": c["until_step"],
                                      "eval_precision": recorded_precision(c),
                                      "final_mean": (c.get("final") or {}).get("mean"),
                                      "plateau": (c.get("plateau") or {}).get("plateau")} for c in t["earlier_curves"]]
        if "alignment_ladder" in t:
            rec.update(alignment_final_mean=t["final_alignment"]["mean"], alignment_plateau=t["alignment_plateau"]["plateau"],
                       alignment_ladder=t["alignment_ladder"])
        out[name] = rec
    return out


def _strategy_run(folder: str) -> dict:
    r = load(f"{folder}/quality_strategies.json")
    return {"result": r, "teacher": {"metric": r["teacher_fid"], "alignment": r.get("teacher_alignment"),
                                      "distill_steps": r["distill"]["steps"], "date": r["device"]["date"],
                                      "device": r["device"].get("gpu"), "run": folder}}


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


BASE = ("ld-pruner", *BASE_ROW)


def _is_base(row: dict) -> bool:
    return (row["criterion"], row["planner"], row["init"], row["feature_kd"]) == BASE


FID_LIMIT, ALIGN_FLOOR = 1.10, 0.95   # issue 23's text-to-image targets, as ratios to the teacher


def t2i_variant(name: str, folder: str | tuple[str, ...], criterion: str, curves: str) -> dict:
    """One text-to-image headline candidate: its rows of ``criterion`` (latency-aware, preserved weights,
    normalized feature KD) against the teacher measured in the same run; ``curves``: that teacher's curves
    file (its training steps are what the student's steps are a share of). ``folder`` may be a tuple: one
    recipe's seeds pooled from several runs (``pooled_row``)."""
    pool = None
    if isinstance(folder, tuple):
        pool, folder = folder, folder[0]
    r = _strategy_run(folder)
    row = pooled_row(pool, criterion) if pool else next(
        c for c in r["result"]["comparisons"]
        if (c["criterion"], c["planner"], c["init"], c["feature_kd"]) == (criterion, *BASE[1:]))
    if pool:   # the pool's device and date: its last run's
        r = {**r, "teacher": {**r["teacher"], **{k: _strategy_run(pool[-1])["teacher"][k] for k in ("device", "date")}}}
    th = r["teacher"]
    teacher_steps = load(curves)["teachers"]["emoji-t2i"]["steps_done"]   # what teachers() reports as its steps
    fid_ratio, al_ratio = row["metric_mean"] / th["metric"], row["alignment_mean"] / th["alignment"]
    steps_share = th["distill_steps"] / teacher_steps
    return {"variant": name, "run": folder, **({"pooled_runs": row["pooled_runs"]} if pool else {}), "criterion": criterion,
            "exclude": r["result"].get("exclude"), "seeds": row["seeds"], "cut_mean": row["cut_mean"],
            "metric_mean": row["metric_mean"], "metric_std": row["metric_std"], "alignment_mean": row["alignment_mean"],
            "alignment_std": row["alignment_std"], "teacher_metric": th["metric"], "teacher_alignment": th["alignment"],
            "metric_ratio": fid_ratio, "alignment_ratio": al_ratio, "distill_steps": th["distill_steps"],
            "distill_batch": r["result"]["distill"]["batch"], "distill_lr": r["result"]["distill"]["lr"],
            "distill_ema": r["result"]["distill"].get("ema"),
            **{f"distill_{k}": v for k, v in distill_settings(r["result"]).items() if k in DISTILL_DEFAULTS},
            "teacher_curves": curves, "current_teacher": curves == COMPARISON_TEACHERS["emoji-t2i"],
            "teacher_steps": teacher_steps, "steps_share": steps_share, "device": th["device"], "date": th["date"],
            "targets": _t2i_targets(row["cut_mean"], fid_ratio, al_ratio, steps_share),
            # each target again with its mean moved one std over the seeds the wrong way: a target met by less
            # than the spread is not shown to hold for another seed (None with one seed: no spread)
            "targets_beyond_spread": None if len(row["seeds"]) < 2 else _t2i_targets(
                row["cut_mean"] - row["cut_std"], (row["metric_mean"] + row["metric_std"]) / th["metric"],
                (row["alignment_mean"] - row["alignment_std"]) / th["alignment"], steps_share)}


def variant_runs() -> set[str]:
    """The run folders the text-to-image variants read (a pooled variant's every run)."""
    return {f.rsplit("/", 1)[0] for v in HEADLINE_T2I for f in ((v[1],) if isinstance(v[1], str) else v[1])}


# what makes runs one recipe: the same distillation, teacher measurement, budget, plan filters and metric
POOL_SAME = ("distill", "teacher_fid", "teacher_alignment", "budget", "exclude", "caps", "metric")


def _recipe_part(result: dict, key: str):
    return distill_settings(result) if key == "distill" else result.get(key)


def pooled_row(folders: tuple[str, ...], criterion: str) -> dict:
    """One recipe's seeds from several runs as one comparison row (mean, sample std): every run must share
    ``POOL_SAME`` and no seed may repeat, else ValueError naming the run that differs."""
    results = {f: _strategy_run(f)["result"] for f in folders}
    first = results[folders[0]]
    rows: dict[int, dict] = {}
    per_run: dict[str, list[int]] = {}
    for f, res in results.items():
        differs = [k for k in POOL_SAME if _recipe_part(res, k) != _recipe_part(first, k)]
        if differs:
            raise ValueError(f"{f} is not the recipe of {folders[0]}: {', '.join(differs)} differ")
        mine = base_rows(res, criterion)
        if twice := sorted(set(mine) & set(rows)):
            raise ValueError(f"seed {twice[0]} is in two pooled runs (the second: {f})")
        rows.update(mine)
        per_run[f] = sorted(mine)
    xs = [rows[k] for k in sorted(rows)]
    def ms(key):
        v = [x[key] for x in xs]
        return statistics.mean(v), statistics.stdev(v) if len(v) > 1 else 0.0
    (cut, cut_sd), (fid, fid_sd), (al, al_sd) = ms("measured_cut"), ms("fid_distilled"), ms("alignment_distilled")
    return {"seeds": sorted(rows), "cut_mean": cut, "cut_std": cut_sd, "metric_mean": fid, "metric_std": fid_sd,
            "alignment_mean": al, "alignment_std": al_sd,
            "pooled_runs": [{"run": f, "seeds": seeds} for f, seeds in per_run.items()]}


# one setting changed on the same seeds (a distillation setting on the same landed plans, or a plan cap on the same
# scores): (lever, its runs, the runs it changed, criterion)
LEVER_PAIRS = [
    ("no caption dropout", (NODROP_S0_2,), (PROMPT_S0_2,), "ld-pruner-prompt"),
    ("EMA 0.995 of the student", (f"{LEVERS_RUN}/headline-2800-prompt-ema-emoji-t2i",), (PROMPT_S0_2,), "ld-pruner-prompt"),
    ("output-KD weight 3", (f"{LOSSES_RUN}/headline-2800-prompt-out3-emoji-t2i",), (PROMPT_S0_2,), "ld-pruner-prompt"),
    ("output-KD weight 0.5", (f"{LOSSES_RUN}/headline-2800-prompt-nodrop-out05-emoji-t2i",), (NODROP_S0_2,),
     "ld-pruner-prompt"),
    ("batch 256", (f"{NODROP_RUN}/headline-2800-prompt-nodrop-b256-emoji-t2i",), (NODROP_S0_2,), "ld-pruner-prompt"),
    ("lr 1e-3", (f"{NODROP_RUN}/headline-2800-prompt-nodrop-lr1e3-emoji-t2i",), (NODROP_S0_2,), "ld-pruner-prompt"),
    ("half the rows on blended captions", (f"{CAPTION_MIX_RUN}/mix05-cap4-s345-emoji-t2i",), (CAP4_S3_5,),
     "ld-pruner-prompt"),
    ("min-SNR-5 weighting of the task and output KD", (SNR5_S0_2, SNR5_S3_5), (CAP4_S0_2, CAP4_S3_5), "ld-pruner-prompt"),
    ("at most one up_blocks.2 modification (plans re-landed)", U2CAP, (CAP4_S0_2, CAP4_S3_5, CAP4_S6_8),
     "ld-pruner-prompt"),
    ("feature-KD weight 0.1, across GPU types", (FEAT01_S0_2, FEAT01_S3_4), (SNR5_S0_2, SNR5_S3_5), "ld-pruner-prompt"),
    ("feature-KD weight 0.1, on one GPU type", (FEAT01_S0_2,), (SNR5_H200_S0,), "ld-pruner-prompt"),
]
PAIR_METRICS = {"alignment": "alignment_distilled", "proxy-FID": "fid_distilled"}


def _same_plan(a: dict, b: dict) -> bool:
    """Whether two rows were distilled from the same plan (the same modifications, in any order)."""
    return sorted(map(tuple, a["modifications"])) == sorted(map(tuple, b["modifications"]))


def lever_pair(name: str, lever: tuple[str, ...], base: tuple[str, ...], criterion: str) -> dict:
    """One setting's effect seed by seed: each seed's row of ``lever`` minus the row of ``base`` of the same seed,
    the settings that differ between the two runs (their distillations' and the plan caps; none: ValueError), and
    per metric the mean difference, its std and standard error. With the caps unchanged both rows must come from the
    same landed plan (else ValueError); a changed cap re-lands the seed's scores, so its plans may differ
    (``plans_moved``: on how many seeds they did). ``across_devices``: the two sides' rows were distilled on other
    GPU types (a seed's distillation repeats exactly on one type only, see ``DEVICE_REPEAT``)."""
    def rows(folders):
        got, settings, devices = {}, [], set()
        for f in folders:
            res = _strategy_run(f)["result"]
            devices.add(res["device"].get("gpu"))
            settings.append({**distill_settings(res), "caps": res.get("caps") or []})
            if settings[-1] != settings[0]:
                raise ValueError(f"{name}: {f} distilled with other settings than {folders[0]}")
            mine = base_rows(res, criterion)
            if twice := sorted(set(mine) & set(got)):
                raise ValueError(f"{name}: seed {twice[0]} is in two of {folders}")
            got |= mine
        return got, settings[0], devices
    (new, d_new, dev_new), (old, d_old, dev_old) = rows(lever), rows(base)
    seeds = sorted(set(new) & set(old))
    if not seeds:
        raise ValueError(f"{name}: no seed is in both {lever} and {base}")
    changed = {k: [d_old.get(k), d_new.get(k)] for k in sorted(set(d_old) | set(d_new)) if d_old.get(k) != d_new.get(k)}
    if not changed:
        raise ValueError(f"{name}: the runs distilled with the same settings (a repeat, not a lever)")
    moved = [s for s in seeds if not _same_plan(new[s], old[s])]
    if moved and "caps" not in changed:
        raise ValueError(f"{name}: seed {moved[0]} was distilled from another plan than its base row")
    from scipy import stats

    diffs = {}
    for m, key in PAIR_METRICS.items():
        d = [new[s][key] - old[s][key] for s in seeds]
        sd = statistics.stdev(d) if len(d) > 1 else None
        se = None if sd is None else sd / len(d) ** 0.5
        # paired t-test: two-sided p of the mean difference over n - 1 degrees of freedom
        p = None if not se else float(2 * stats.t.sf(abs(statistics.mean(d)) / se, len(d) - 1))
        diffs[m] = {"per_seed": dict(zip(map(str, seeds), d)), "mean": statistics.mean(d), "std": sd, "se": se,
                    "p": p, "resolved": None if p is None else p < 0.05}
    return {"lever": name, "runs": list(lever), "base_runs": list(base), "criterion": criterion, "seeds": seeds,
            "changed": changed, "plans_moved": len(moved), "devices": {"lever": sorted(dev_new), "base": sorted(dev_old)},
            "across_devices": len(dev_new | dev_old) > 1, "difference": diffs}


def lever_pairs(head: dict) -> dict:
    """Every lever's pair; the per-seed difference's std pooled over the distillation levers paired on one GPU type
    (the same plans: a plan lever's difference also redraws the plan, a pair across GPU types the numerics), and how
    many paired seeds would resolve the alignment the text-to-image headline ``head`` lacks to its bound (p < 0.05,
    80 % power)."""
    pairs = [lever_pair(*p) for p in LEVER_PAIRS]
    pooled = pooled_std([list(p["difference"]["alignment"]["per_seed"].values()) for p in pairs
                         if not p["plans_moved"] and not p["across_devices"]])
    gap = ALIGN_FLOOR * head["teacher_alignment"] - head["alignment_mean"]
    return {"rule": "a difference is resolved when a paired t-test over the seeds gives p < 0.05 (two-sided)",
            "pairs": pairs, "alignment_difference_std": pooled["std"], "dof": pooled["dof"],
            "headline_gap": gap, "seeds_to_resolve_gap": paired_seeds_needed(pooled["std"], gap) if gap > 0 else None}


def _t2i_targets(cut: float, fid_ratio: float, al_ratio: float, steps_share: float) -> dict:
    return {"cut >= 35 %": cut >= 0.35, "proxy-FID <= +10 %": fid_ratio <= FID_LIMIT,
            "alignment >= -5 %": al_ratio >= ALIGN_FLOOR, "steps <= 1/8": steps_share <= 1 / 8}


def repeat(first: str, again: str, criterion: str) -> dict:
    """The same settings distilled twice on ``again``'s seeds (all of them in ``first``, from the same plans): each
    seed's metrics in both runs and the largest difference, the repeat noise that a per-seed comparison of two
    variants stands on; ``devices``: the GPU of each run, ``teacher_equal``: whether both measured the teacher alike."""
    def seeds(folder):
        r = _strategy_run(folder)
        return r, base_rows(r["result"], criterion)
    (r1, a), (r2, b) = seeds(first), seeds(again)
    if distill_settings(r1["result"]) != distill_settings(r2["result"]) or not b or not set(b) <= set(a):
        raise ValueError(f"{again} does not repeat {first}: its distillation settings or seeds differ")
    if moved := [k for k in b if not _same_plan(a[k], b[k])]:
        raise ValueError(f"{again} does not repeat {first}: seed {moved[0]} was distilled from another plan")
    keys = {"proxy-FID": "fid_distilled", "alignment": "alignment_distilled", "measured_cut": "measured_cut"}
    t1, t2 = r1["teacher"], r2["teacher"]
    return {"first": first, "again": again, "criterion": criterion, "seeds": sorted(b),
            "dates": [t1["date"], t2["date"]], "device": t2["device"], "devices": [t1["device"], t2["device"]],
            "teacher": [t1["metric"], t1["alignment"]],
            "teacher_equal": (t1["metric"], t1["alignment"]) == (t2["metric"], t2["alignment"]),
            "per_seed": {str(k): {m: [a[k][f], b[k][f]] for m, f in keys.items()} for k in sorted(b)},
            "max_abs_diff": {m: max(abs(a[k][f] - b[k][f]) for k in b) for m, f in keys.items()}}


LEAD_SEEDS = 3   # a headline stands on 3 seeds, as every comparison; a one-seed screening row never leads


def lead_variant(variants: list[dict]) -> dict:
    """The headline: among the variants against the comparison's teacher with 3 seeds, not part of a pooled
    variant (a recipe leads on every seed it was distilled with, not on a subset), the one meeting the most
    targets, then the one closest to the teacher's alignment."""
    pooled = {p["run"] for v in variants for p in v.get("pooled_runs", ())}
    current = [v for v in variants if v["current_teacher"] and len(v["seeds"]) >= LEAD_SEEDS
               and ("pooled_runs" in v or v.get("run") not in pooled)]
    if not current:
        raise ValueError(f"no text-to-image headline variant with {LEAD_SEEDS} seeds was distilled from the comparison's "
                         "teacher: add one to HEADLINE_T2I (a run against COMPARISON_TEACHERS['emoji-t2i'])")
    return max(current, key=lambda v: (sum(v["targets"].values()), v["alignment_ratio"]))


def headlines(rows: list[dict], here: dict, teach: dict) -> dict:
    """``teach``: the teachers the comparison runs distilled from."""
    variants = [t2i_variant(*v) for v in HEADLINE_T2I]
    lead = lead_variant(variants)
    uag = next(r for r in rows if r["task"] == "notes-uag" and _is_base(r))
    uh = here["notes-uag"]
    return {
        "text_to_image": {"task": "emoji-t2i", **lead, "variants": variants, "repeat": repeat(*REPEAT),
                          "device_repeat": repeat(*DEVICE_REPEAT),
                          "rule": f"among the variants with {LEAD_SEEDS} seeds distilled from the comparison's teacher, "
                                  "each recipe on every seed it was distilled with (a run pooled into a variant "
                                  "does not lead on its own seeds), the one meeting the most targets, then the "
                                  "highest alignment ratio"},
        "audio": {"task": "notes-uag", "cut_mean": uag["cut_mean"], "metric_ratio": uag["metric_mean"] / uh["metric"],
                  "teacher_plateau": teach["notes-uag"]["plateau"],
                  "targets": {"cut >= 20 %": uag["cut_mean"] >= 0.20,
                              "proxy-FAD <= +10 %": uag["metric_mean"] / uh["metric"] <= 1.10}}}


def proxy_sweep(folder: str = PROXY_SWEEP) -> list[dict]:
    """Proxy variants trained on the GPU in the second run: the sweep that chose the adopted recipe
    (64 px emoji, width 64, 100 epochs; the adopted proxies add a finer auxiliary head each)."""
    out = []
    for f in sorted((ROOT / folder).glob("proxy-*.json")):
        r = json.loads(f.read_text())
        for name, p in r["proxies"].items():
            for i, (head, h) in enumerate(p["heads"].items()):
                out.append({"proxy": name, "input_side": _side(f.stem), "width": p.get("width"),
                            "epochs": p["epochs"], "label": head, "heldout_accuracy": h["held_out_accuracy"],
                            "majority_baseline": h["majority_baseline"],
                            "meets_85pct": _meets_bar(i, h["held_out_accuracy"]),
                            "device": r["device"], "date": r["date"], "file": f"{folder}/{f.name}"})
    return out


def proxy_repeats(tp: dict, folder: str = PROXY_REPEATS) -> dict:
    """The primary label's held-out accuracy over trainings of the adopted emoji recipe: the committed
    one (``tp``) and the folder's repeats, the plain ones (no caption head) summarised as mean ± std."""
    runs = [_proxy_run(tp, "benchmarks/results/train_proxies.json", committed=True)]
    runs += [_proxy_run(json.loads(f.read_text()), f"{folder}/{f.name}", committed=False)
             for f in sorted((ROOT / folder).glob("*.json"))]
    from ldprune_deploy.quality.evidence import spread

    for r in runs:
        r["recipe"] = _is_recipe(r, runs[0])
    plain = spread([r["heldout_accuracy"] for r in runs if r["recipe"]])
    n = tp["proxies"]["emoji"]["n_held_out"]
    return {"label": tp["proxies"]["emoji"]["label"], "recipe": "64 px, width 64, 100 epochs, three heads", "runs": runs,
            "n_held_out": n, "heldout_se": (ACCURACY_BAR * (1 - ACCURACY_BAR) / n) ** 0.5,
            "plain": plain, "mean_meets_85pct": plain["mean"] >= ACCURACY_BAR}


def _proxy_run(result: dict, file: str, committed: bool) -> dict:
    """One emoji-proxy training (a train_proxies.py result) as a row of ``proxy_repeats``."""
    # proxies trained before train_proxies.py recorded their AdamW decay / label smoothing used its default
    from ldprune_deploy.quality.proxy import LABEL_SMOOTHING, WEIGHT_DECAY

    p = result["proxies"]["emoji"]
    run = {"seed": p["seed"], "device": result["device"], "date": result["date"],
           "caption_head": "caption_head" in p, "width": p.get("width"), "epochs": p["epochs"],
           "weight_decay": p.get("weight_decay", WEIGHT_DECAY),
           "label_smoothing": p.get("label_smoothing", LABEL_SMOOTHING), "heldout_accuracy": p["held_out_accuracy"],
           "committed": committed, "file": file}
    if "caption_head" in p:
        run |= {"caption_retrieval_top1": p["caption_head"]["retrieval_top1"],
                "caption_chance_top1": p["caption_head"]["chance_top1"]}
    return run


_VARIED = {"width": "width {}", "epochs": "{} epochs", "weight_decay": "weight decay {:g}",
           "label_smoothing": "label smoothing {:g}"}


def _is_recipe(run: dict, committed: dict) -> bool:
    """A repeat of the committed recipe: no caption head, the committed width, epochs, weight decay and
    label smoothing."""
    return not run["caption_head"] and all(run[k] == committed[k] for k in _VARIED)


def _variant(run: dict, committed: dict) -> str:
    """What a non-recipe run changed, in words: "width 96, 150 epochs"."""
    return ", ".join(f.format(run[k]) for k, f in _VARIED.items() if run[k] != committed[k])


def _side(stem: str) -> int | None:
    # proxy-<modality>-<side>-<width>-<epochs>: side 0 = the mel spectrogram's own size
    side = int(stem.split("-")[2])
    return side or None


def metric_noise(rel: str = METRIC_NOISE, d: dict | None = None) -> dict:
    """Per teacher: the sampling-seed range and, per perturbation scale, the draws' range and their
    mean shift from seed 0, with the machine and date they were measured on (``d``: the file at
    ``rel``, if already read)."""
    d = load(rel) if d is None else d
    dev = d["device"]
    out = {}
    for name, rows in d["teachers"].items():
        seeds = rows["seeds"]
        pert = {k.split()[1]: {"values": v["values"], "range": v["range"], "mean_shift": v["shift_from_seed0"]}
                for k, v in rows.items() if k.startswith("perturbed ") and not k.endswith("alignment")}
        out[name] = {"device": dev.get("gpu") or f"{dev.get('kind')} ({dev.get('threads')} threads)",
                     "date": dev["date"], "file": rel,
                     "settings": {**d["settings"], "eval_precision": recorded_precision(d["settings"])},
                     "seeds": seeds["values"], "seed_range": seeds["range"], "perturbed": pert}
        if "bf16-rounded weights" in rows:   # the same seeds with the weights rounded to bf16 (--bf16-rounded)
            r = rows["bf16-rounded weights"]
            out[name]["bf16_rounded"] = {"values": r["values"], "paired_shift": r["paired_shift"]["values"],
                                         "paired_shift_mean": r["paired_shift"]["mean"]}
    return out


def noise_with_teachers() -> dict:
    """``metric_noise()`` with, per teacher, what the GPU measured at the end of training the weights
    it perturbed (METRIC_NOISE_TEACHERS): their final seeds and the curve's last-20 % range."""
    measured = teachers(load(METRIC_NOISE_TEACHERS))
    return {name: {**m, **({"teacher_on_gpu": {"final_mean": measured[name]["final_mean"],
                                               "final_std": measured[name]["final_std"],
                                               "window_range": measured[name]["plateau_detail"]["window_range"]}}
                           if name in measured else {})}
            for name, m in metric_noise().items()}


def teacher_trials(pattern: str = TRIALS) -> list[dict]:
    """Each trial curve (one teacher per file) summarised like a committed teacher, with its settings."""
    out = []
    for f in sorted(ROOT.glob(pattern)):
        curves = json.loads(f.read_text())
        for name, rec in teachers(curves).items():
            raw = curves["teachers"][name]
            out.append({"label": f.name.removesuffix("-curves.json"), "teacher": name, "file": str(f.relative_to(ROOT)),
                        "dropout": raw.get("dropout", 0.0), "ema_decay": raw.get("ema_decay"),
                        "segment_steps": [g["steps"] for g in raw.get("segments", [])],
                        "segment_lr_scales": [g.get("lr_scale", 1.0) for g in raw.get("segments", [])],
                        **{k: rec[k] for k in ("steps", "train_s", "plateau", "plateau_detail", "plateau_trend", "metric",
                                               "final_mean", "final_std", "device", "date")},
                        "eval_precision": rec["eval_precision"], **({"shadow": rec["shadow"]} if "shadow" in rec else {}),
                        **({"alignment_final_mean": rec["alignment_final_mean"]} if "alignment_final_mean" in rec else {})})
    return out


def trial_metric_noise(pattern: str = TRIAL_METRIC_NOISE) -> list[dict]:
    """``metric_noise`` of each trial file, one entry per teacher in it, with the trial's label."""
    out = []
    for f in sorted(ROOT.glob(pattern)):
        rel, d = str(f.relative_to(ROOT)), json.loads(f.read_text())
        label = d.get("trial", f.stem.removeprefix("metric-noise-"))
        for name, m in metric_noise(rel, d).items():
            # files written before metric_noise.py recorded --teachers call any weights "the committed" ones
            weights = m["settings"]["weights"].replace("the committed fp16 files", "its fp16 end weights")
            weights = re.sub(r"^the fp16 files in \S+", "its fp16 end weights", weights)
            out.append({"trial": label, "teacher": name, **m, "settings": {**m["settings"], "weights": weights}})
    return out


def weight_drift(pattern: str = WEIGHT_DRIFT) -> list[dict]:
    """Each measured pair of segment ends: labels, relative L2 change, where and when it was measured."""
    out = []
    for f in sorted(ROOT.glob(pattern)):
        d = json.loads(f.read_text())
        out += [{"from": p["from"], "to": p["to"], "relative_l2": p["relative_l2"], "median_relative": p["median_relative"],
                 "file": str(f.relative_to(ROOT)), "date": d["device"]["date"]} for p in d["pairs"]]
    return out


def _noise_text(m: dict) -> str:
    """One metric-noise entry: where it was measured, the sampling seeds, the perturbation draws."""
    rounded = m.get("bf16_rounded")
    return (f"([metric_noise.py](benchmarks/diagnostics/metric_noise.py), {m['device']}, {m['date'][:10]}, "
            f"{m['settings']['weights']}, {m['settings']['fid_n']} samples; [JSON]({m['file']})): "
            f"{len(m['seeds'])} sampling seeds {', '.join(f'{v:.1f}' for v in m['seeds'])} (range {m['seed_range']:.1f})"
            + (f"; the weights rounded to bf16, the same seeds: {', '.join(f'{v:.1f}' for v in rounded['values'])} "
               f"(paired shift {', '.join(f'{v:+.1f}' for v in rounded['paired_shift'])})" if rounded else "")
            + f"; every weight × (1 + s·N(0, 1)), seed 0, {m['settings']['draws']} draws: " + "; ".join(
                f"s = {k}: {', '.join(f'{v:.1f}' for v in p['values'])} (shift {p['mean_shift']:+.1f})"
                for k, p in m["perturbed"].items()))


def _steps_cell(trial: dict) -> str:
    """"14000 (10000 + 4000 at 0.3× lr)" for a resumed trial, the plain step count otherwise."""
    seg, lrs = trial.get("segment_steps") or [], trial.get("segment_lr_scales") or []
    if len(seg) < 2:
        return str(trial["steps"])
    lrs = lrs if len(lrs) == len(seg) else [1.0] * len(seg)
    return f"{trial['steps']} ({' + '.join(str(n) if lr == 1 else f'{n} at {lr:g}× lr' for n, lr in zip(seg, lrs))})"


def plan_screen(folder: str = SCREEN_RUN) -> dict:
    """The screened recipe's runs, how the screens ordered the plans' earlier finals, and the same plans
    distilled under other seeds (quality_screen.py)."""
    rec, pool, again = (load(f"{folder}/{n}/quality_screen.json") for n in ("recipe", "pool", "seeds"))
    r = rec["recipe"]
    return {"run": folder, "device": rec["device"]["gpu"], "date": rec["device"]["date"], "select": rec["select"],
            "k": rec["k"], "screen_steps": rec["screen_steps"], "final_steps": rec["final_steps"],
            "teacher": rec["teacher_metrics"]["held"],
            "recipe": {"seeds": r["seeds"], "cut_mean": r["cut"]["mean"], "metric_mean": r["metric"]["mean"],
                       "metric_std": r["metric"]["std"], "alignment_mean": r["alignment"]["mean"],
                       "alignment_std": r["alignment"]["std"], "metric_ratio": r["metric_ratio"],
                       "alignment_ratio": r["alignment_ratio"], "total_steps": r["total_steps"], "targets": r["targets"]},
            "screen_vs_final": pool["predictiveness"], "screen_vs_final_recipe_plans": rec["predictiveness"],
            "seed_repeats": seed_repeats(again)}


def seed_repeats(res: dict) -> dict:
    """Each plan's 2 800-step finals under its own seed (the earlier row) and the other seeds of ``res``; the
    within-plan std pooled over plans (each with its n - 1 degrees of freedom)."""
    plans: dict[str, list[dict]] = {}
    for run in res["runs"]:
        (c,) = run["candidates"]
        got = plans.setdefault(c["digest"], [])
        if (kn := c.get("known")) and not got:
            got.append({"seed": int(re.search(r"-s(\d+)\.json$", kn["row"]).group(1)), "alignment": kn["alignment"],
                        "metric": kn["fid"], "earlier": True})
        got.append({"seed": run["seed"], "alignment": run["final"]["alignment_held"], "metric": run["final"]["fid_held"],
                    "earlier": False})
    pooled = {}
    for k in ("alignment", "metric"):
        p = pooled_std([[x[k] for x in v] for v in plans.values()])
        pooled[k] = {"within_plan_std": p["std"], "dof": p["dof"]}
    return {"steps": res["final_steps"], "plans": plans, "pooled": pooled}


def comparison_teachers(teach: dict) -> dict:
    """What the summary keeps of the teachers a comparison run distilled from."""
    return {n: {k: t[k] for k in ("steps", "train_s", "plateau", "metric", "final_mean", "final_std", "date")}
            for n, t in teach.items()}


def build() -> dict:
    teach = teachers(load(COMMITTED_CURVES))
    used = {task: teachers(load(path))[task] for task, path in COMPARISON_TEACHERS.items()}
    rows, here = comparisons(SOURCES)
    tp = load("benchmarks/results/train_proxies.json")
    return {"schema": SCHEMA, "runs": SOURCES, "proxies": proxies(tp),
            "proxy_sweep": proxy_sweep(), "proxy_repeats": proxy_repeats(tp),
            "teachers": teach, "teacher_trials": teacher_trials(), "teacher_metric_noise": noise_with_teachers(),
            "teacher_trial_metric_noise": trial_metric_noise(),
            "teacher_weight_drift": weight_drift(),
            "comparison_teachers": comparison_teachers(used),
            "comparisons": rows, "teacher_metric_in_comparison_runs": here,
            "headlines": (head := headlines(rows, here, used)), "plan_screen": plan_screen(),
            "lever_pairs": lever_pairs(head["text_to_image"]),
            "rules": {"differs": "|mean_a - mean_b| > std_a + std_b over the seeds (quality.evidence.differs)",
                      "plateau": "range of the curve over the last 20 % of steps <= range over the final sampling seeds "
                                 "(3 or 5) at the end, curve and seeds evaluated in the teacher's eval_precision",
                      "plateau_trend": "reported beside it: least-squares drift over the same window beyond 2 standard "
                                       "errors from the seed std (quality.evidence.trend)",
                      "equal latency": "every plan is landed by measurement toward [0.99, 1] x the budget "
                                       "(planner.landing; teacher_metric_in_comparison_runs.<task>.landing counts those "
                                       "that got there); each comparison's mean cut within 1 % of the task's others"}}


def _trend_cell(tr: dict) -> str:
    if tr.get("trend") is None:
        return "–"
    return f"{tr['trend']} ({tr['drift']:+.1f} ± {tr['drift_se']:.1f}; {tr['scatter_vs_seeds']:.1f}×)"


def _plateau_cell(t: dict) -> str:
    """"yes (2.6 vs 4.3, fp32); bf16 shadow: no (14.7 vs 4.3)": the verdict, window vs seed range, the
    precision it was evaluated in, and the same checkpoints' verdict in the other precision if measured."""
    pl, sh = t["plateau_detail"], t.get("shadow")
    cell = (f"{'yes' if t['plateau'] else '**no**'} ({pl['window_range']:.1f} vs {pl['seed_range']:.1f}, "
            f"{recorded_precision(t)})")
    if sh:
        cell += (f"; {sh['eval_precision']} shadow: {'yes' if sh['plateau'] else 'no'} "
                 f"({sh['window_range']:.1f} vs {sh['seed_range']:.1f})")
    return cell


def _adopted(trial: dict, committed: dict) -> bool:
    """Is this trial the committed teacher (same steps and final metric)?"""
    c = committed.get(trial["teacher"], {})
    return c.get("steps") == trial["steps"] and c.get("final_mean") == trial["final_mean"]


def _pct(x: float, nd: int = 1) -> str:
    return f"{100 * x:.{nd}f} %"


def _run_link(folder: str) -> str:   # a committed results folder, linked by its last path part
    return f"[{folder.rsplit('/', 1)[1]}]({folder}/)"


def render(s: dict) -> str:
    L = [BEGIN, "<!-- generated by benchmarks/quality_summary.py from benchmarks/results/quality/summary.json -->", ""]
    runs = sorted(set(s["runs"].values()) | {f.rsplit("/", 1)[0] for v in s["headlines"]["text_to_image"]["variants"]
                                             for f in [v["run"], *(p["run"] for p in v.get("pooled_runs", ()))]})
    measured = [*s["teacher_metric_in_comparison_runs"].values(), *s["headlines"]["text_to_image"]["variants"]]
    devices = sorted({v["device"] for v in measured})
    L += [f"Comparisons and headlines: {', '.join(devices)}, {', '.join(sorted({v['date'][:10] for v in measured}))}, "
          f"[quality_session.sh evidence](benchmarks/device/quality_session.sh) "
          f"(teachers one after another, then plans timed alone on torch-graph at batch 8, then the distillations "
          f"sharing the GPU); results in " + ", ".join(map(_run_link, runs)) + " ("
          + "; ".join(f"{task}: {r.rsplit('/', 1)[1]}" for task, r in s["runs"].items()) + "), summary in "
          "[summary.json](benchmarks/results/quality/summary.json). Every metric's reference is the held-out "
          "quarter of the data (never trained on by a teacher, a student or a proxy). "
          f"{_run_link(NEW_RUN)} distilled from the emoji teachers adopted on 2026-12-05 "
          f"(its emoji-uig plans landed on the same teacher earlier that day: {_run_link(PLANS)}); "
          f"{_run_link(HEADLINE_RUN)} distilled its emoji-t2i LD-Pruner latency-aware plans "
          "2 800 steps on the next machine (`quality_session.sh headline` with SEEDS_APART=1: the three seeds side by "
          f"side); {_run_link(PROMPT_HEADLINE_RUN)} planned and landed the prompt-aware "
          "criterion's plans with every cross-attention kept on the same teacher, then distilled them 2 800 steps, its "
          "three seeds and two one-seed learning-rate screens side by side; "
          f"{_run_link(LEVERS_RUN)} distilled the comparison's ld-pruner-prompt plans 2 800 "
          "steps and its LD-Pruner plans at lr 1e-3, six seeds side by side, then the ld-pruner-prompt plans with an "
          "EMA of the student on the same machine; "
          f"{_run_link(LOSSES_RUN)} distilled the same ld-pruner-prompt plans without caption dropout and with an "
          "output-KD weight of 3, six seeds side by side, then both changes' mix (no dropout, weight 0.5) on the same "
          "machine; "
          f"{_run_link(NODROP_RUN)} distilled them without caption dropout at batch 256 and at lr 1e-3, six seeds "
          "side by side, then the no-dropout variant again, three seeds side by side on the same machine (the repeat "
          "below); "
          f"{_run_link(CAP_RUN)} re-landed the no-dropout variant's plans with `plan --cap` (at most 4, and at most 3, "
          "cross-attentions removed; cap 4 was chosen after seeing that seed 0, the weakest, removed 5) on the GPU "
          "alone and distilled them alike, six seeds side by side; "
          f"{_run_link(FRESH_SEEDS_RUN)} scored, planned and landed the cap-4 recipe for seeds 3, 4 and 5 on the "
          "comparison's profile, then distilled them side by side; the session's device time ended with only seed 5 "
          f"distilled; {_run_link(FRESH_SEEDS_RUN_2)} distilled seeds 3 and 4 from those plans (seed 5's row reused) "
          "beside the same three seeds planned again from the same scores without the cap (six side by side, after "
          "the re-landings on the GPU alone), then on the next lease scored, planned and landed the recipe for seeds "
          "6, 7 and 8 and distilled them side by side; "
          f"{_run_link(CAPTION_MIX_RUN)} distilled the cap-4 plans of seeds 3-5 again with `--caption-mix 0.5` "
          "(half of each batch on blended captions, trained by the KD terms only), three side by side, after "
          "measuring six landed plans' paired ratios four times each on the GPU alone; "
          f"{_run_link(FEAT01_RUN)} distilled the cap-4 plans (landed on an H100) of seeds 0-4 with min-SNR-5 and "
          "feature-KD weight 0.1 on an H200, five side by side, then the min-SNR-5 recipe's seed 0 alone on the same "
          "machine (the GPU-type repeat below). "
          "The text-to-image variants marked 'earlier' below were distilled from the emoji-t2i teacher before "
          "(10 000 steps): the 1250-step ones of h200-2026-12-04-reland ran on that run's next machine "
          "([quality_session.sh headline](benchmarks/device/quality_session.sh), the two distillations sharing the "
          "GPU; the same teacher and landed plans as the shorter rows); h200-2026-12-04-xattn-prompt planned and "
          "landed its own plans on that teacher (the prompt-aware criterion, every cross-attention kept), distilled "
          "them plainly and with an EMA side by side, then at batch 256 alone on the next machine. The runs "
          "before, measured against the teachers before those (the first two also with the earlier proxies, 78.4 % / "
          "76.8 %), stay committed as history: "
          + ", ".join(map(_run_link, HISTORY)) + ".", "",
          "**Proxies** (held-out accuracy vs majority-class baseline; bar 85 %):", "",
          "| proxy / label | held-out accuracy | baseline | ≥ 85 % |", "|---|---|---|---|"]
    for name, p in s["proxies"].items():
        meets = _bar_cell(p["meets_85pct"], "auxiliary head" if p.get("measure") == "auxiliary head" else "retrieval",
                          no="**no**")
        L.append(f"| {name} | {_pct(p['heldout_accuracy'])} | {_pct(p['majority_baseline'], 2)} | {meets} |")
    rep = s.get("proxy_repeats")
    if rep and len(rep["runs"]) > 1:
        def run(r):
            return (f"{_pct(r['heldout_accuracy'], 2)} (seed {r['seed']}, {r['device']}"
                    + (", committed" if r["committed"] else "") + ")")
        recipe = [r for r in rep["runs"] if r["recipe"]]
        other = [r for r in rep["runs"] if not r["caption_head"] and not r["recipe"]]
        cap = [r for r in rep["runs"] if r["caption_head"]]
        pl = rep["plain"]
        L += ["", f"The {rep['label']} label's run-to-run spread: the adopted recipe ({rep['recipe']}) trained "
              f"{pl['n']} times gives " + ", ".join(run(r) for r in recipe)
              + f": {_pct(pl['mean'], 2)} ± {pl['std'] * 100:.2f} points, mean "
              + ("at or above" if rep["mean_meets_85pct"] else "below") + " the bar (the binomial standard error of "
              f"one accuracy on {rep['n_held_out']} held-out items is ±{rep['heldout_se'] * 100:.1f} points at 85 %)"
              + ("; with a caption head (predicting each glyph's MiniLM caption embedding): "
                 + ", ".join(f"{run(r)}, caption retrieval top-1 {_pct(r['caption_retrieval_top1'])} "
                           f"(chance {_pct(r['caption_chance_top1'], 2)})" for r in cap)
                 if cap else "")
              + "".join(f"; {_variant(r, rep['runs'][0])}: {run(r)}" for r in other)
              + f" ([runs]({PROXY_REPEATS}/))."]
    sweep = s.get("proxy_sweep") or []
    if sweep:
        L += ["", f"The sweep that chose the adopted recipe ({sweep[0]['device']}, {sweep[0]['date']}; "
              f"[sweep]({PROXY_SWEEP}/); without the auxiliary subgroup / program heads the proxies above add; "
              "the 32 px / width 24 / 30 epoch rows are the proxies every earlier run was measured with):", "",
              "| proxy | input side | width | epochs | label | held-out accuracy | ≥ 85 % |", "|---|---|---|---|---|---|---|"]
        for v in sweep:
            meets = _bar_cell(v["meets_85pct"], "auxiliary head")
            L.append(f"| {v['proxy']} | {v['input_side'] or 'mel'} | {v['width']} | {v['epochs']} | {v['label']} | "
                     f"{_pct(v['heldout_accuracy'])} | {meets} |")
    L += ["", f"**Teachers** ([curves.json]({COMMITTED_CURVES})): each trained from scratch with a step budget so "
          f"the cosine ends annealed (notes-uag: {_run_link(FRESH)}), the emoji ones then resumed in warm-restart segments at lower learning rates "
          "(the trials below); a teacher's machine and date are its last segment's. Plateau: curve range over the "
          "last 20 % of steps ≤ range over the final sampling seeds, both evaluated in the precision named (bf16 "
          "autocast, or fp32 with TF32 off: [quality.numerics](ldprune_deploy/quality/numerics.py)); trend: "
          "least-squares drift over that window beyond 2 standard errors from the seed std, and the window's "
          "scatter about its line in seed stds; ladder: real training split ≪ teacher ≪ uniform noise, against "
          "the held-out split:", "",
          "| teacher | trained | steps | train s | final | best (step) | plateau | trend (drift ± se; scatter) | ladder: real / teacher / noise |",
          "|---|---|---|---|---|---|---|---|---|"]
    for name, t in s["teachers"].items():
        r = list(t["ladder"]["rungs"].values())
        seg = t.get("segments") or []
        when = t["date"][:16].replace("T", " ") + (f" ({len(seg)} segments: " + " + ".join(str(x["steps"]) for x in seg)
                                                   + " steps)" if len(seg) > 1 else "")
        if "curve_from_step" in t:
            prev = t["earlier_curves"][-1]
            why = (f"in {t['eval_precision']}" if prev["eval_precision"] != t["eval_precision"] else "with these proxies")
            when += f"; curve measured {why} from step {t['curve_from_step']}"
        L.append(f"| {name} | {when} | {t['steps']} | {t['train_s']:.0f} | {t['metric']} {t['final_mean']:.1f} ± {t['final_std']:.1f} | "
                 f"{t['best']:.1f} ({t['best_step']}) | {_plateau_cell(t)} | {_trend_cell(t['plateau_trend'])} | "
                 f"{r[0]:.1f} / {r[1]:.1f} / {r[2]:.1f} {'✓' if t['ladder']['holds'] else '✗'} |")
    rates = sorted({(t["plateau_detail"]["points_in_window"], t["plateau_detail"].get("seeds", 3),
                     t["plateau_detail"]["pass_rate_if_flat"])
                    for t in s["teachers"].values() if t["plateau_detail"].get("pass_rate_if_flat") is not None})
    if rates:
        L += ["", "The range rule is strict: a curve that is flat but for sampling noise (its window points as "
              "scattered as the seeds) passes it with probability " + ", ".join(
                  f"{p:.2f} with {n} points in the window against {k} seeds" for n, k, p in rates)
              + " (`quality.evidence.pass_rate_if_flat`, Monte Carlo), so failing it does not "
              "show that a teacher still improves; the trend column tests that."]
    trials = s.get("teacher_trials") or []
    if trials:
        L += ["", "Teacher settings tried (the adopted ones marked; a trial resumed from another's weights lists its "
              "segments' steps, its machine and date are the last segment's):", "",
              "| trial | teacher | dropout | EMA | trained | steps | final | committed teacher | plateau | trend |",
              "|---|---|---|---|---|---|---|---|---|---|"]
        for t in trials:
            c = s["teachers"].get(t["teacher"], {})
            align = (f"; alignment {t['alignment_final_mean']:.2f} vs {c['alignment_final_mean']:.2f}"
                     if "alignment_final_mean" in t and "alignment_final_mean" in c else "")
            mark = " (adopted)" if _adopted(t, s["teachers"]) else ""
            L.append(f"| [{t['label']}]({t['file']}){mark} | {t['teacher']} | {t['dropout']} | {t['ema_decay']} | "
                     f"{t['device']}, {t['date'][:10]} | {_steps_cell(t)} | {t['metric']} {t['final_mean']:.1f} ± "
                     f"{t['final_std']:.1f} ({t['eval_precision']}){align} | {c.get('final_mean', float('nan')):.1f} ± "
                     f"{c.get('final_std', float('nan')):.1f} ({c.get('eval_precision', '?')}) | "
                     f"{_plateau_cell(t)} | {_trend_cell(t['plateau_trend'])} |")
    for name, m in s.get("teacher_metric_noise", {}).items():
        t = m.get("teacher_on_gpu")
        L += ["", f"Metric noise of {name} " + _noise_text(m)
              + (f". On the GPU, at the end of training (fp32 EMA weights, bf16 autocast), the same 3 seeds gave "
                 f"{t['final_mean']:.1f} ± {t['final_std']:.1f} and the curve's last-20 % range was "
                 f"{t['window_range']:.1f}." if t else ".")]
    for m in s.get("teacher_trial_metric_noise") or []:
        drawn = [v for p in m["perturbed"].values() for v in p["values"]]
        L += ["", f"Metric noise of the {m['trial']} trial's end weights ({m['teacher']}) " + _noise_text(m)
              + (f"; the {len(drawn)} perturbed draws together {statistics.fmean(drawn):.1f} ± {statistics.stdev(drawn):.1f}, "
                 f"{statistics.stdev(drawn) / statistics.stdev(m['seeds']):.1f}× the sampling seeds' std"
                 if len(drawn) > 1 and len(m["seeds"]) > 1 else "") + "."]
    drift = s.get("teacher_weight_drift") or []
    if drift:
        L += ["", "Weights moved by each warm-restart segment ([weight_drift.py](benchmarks/diagnostics/weight_drift.py), "
              "‖w_end − w_start‖ / ‖w_start‖ over the segment-end fp16 files, the scale of the perturbations above): "
              + "; ".join(f"{d['from']} → {d['to']} {d['relative_l2']:.1e}" for d in drift) + " ("
              + ", ".join(f"[JSON]({f})" for f in dict.fromkeys(d["file"] for d in drift)) + ")."]
    used = s["comparison_teachers"]
    same = {n: all(used.get(n, {}).get(k) == t[k] for k in ("steps", "final_mean")) for n, t in s["teachers"].items()}
    if all(same.values()):
        earlier_variants = any(not v["current_teacher"] for v in s["headlines"]["text_to_image"]["variants"])
        L += ["", "Every comparison and headline below was measured against these teachers"
              + (" (the text-to-image variants marked 'earlier' excepted)." if earlier_variants else ".")]
    else:
        earlier = {n: used[n] for n in s["teachers"] if not same[n]}
        L += ["", "The comparisons and headlines of " + ", ".join(earlier) + " below were measured against the "
              "teachers before these (" + "; ".join(
                  f"{n} {t['steps']} steps, {t['metric']} {t['final_mean']:.1f}, plateau {'yes' if t['plateau'] else 'no'}"
                  for n, t in earlier.items()) + "; their curves: "
              + ", ".join(f"[{c}]({c})" for c in sorted({COMPARISON_TEACHERS[n] for n in earlier})) + "); "
              "the comparisons against the teachers above have not been run for them yet"
              + ("; those of " + ", ".join(n for n, ok in same.items() if ok) + " against the teacher above."
                 if any(same.values()) else ".")]
    for name, t in s["teachers"].items():
        if "alignment_ladder" in t:
            rungs = t["alignment_ladder"]["rungs"]
            L += ["", f"Alignment ladder ({name}, 100 × cosine, higher is better): "
                  + ", ".join(f"{k} {v:.1f}" for k, v in rungs.items())
                  + f" — {'holds' if t['alignment_ladder']['holds'] else 'does not hold'} for the first three."]
    L += ["", "**Comparisons at equal measured latency** (3 seeds, mean ± std; 'differs' = the gap to LD-Pruner "
          "latency-aware exceeds the sum of both stds):", "",
          "| task | criterion | planner | init | feature KD | cut | metric | alignment | differs |",
          "|---|---|---|---|---|---|---|---|---|"]
    for c in s["comparisons"]:
        al = f"{c['alignment_mean']:.2f} ± {c['alignment_std']:.2f}" if "alignment_mean" in c else "–"
        d = c.get("vs_ld_pruner_latency_aware", {}).get("exceeds_spread")
        L.append(f"| {c['task']} | {c['criterion']} | {c['planner']} | {c['init']} | {c['feature_kd']} | "
                 f"{_pct(c['cut_mean'])} ± {100 * c['cut_std']:.1f} | {c['metric']} {c['metric_mean']:.1f} ± "
                 f"{c['metric_std']:.1f} | {al} | {'–' if d is None else ('yes' if d else 'no')} |")
    here = s["teacher_metric_in_comparison_runs"]
    L += ["", "Plans in the 1 % window below the budget (landed by measurement; the others ended at the measured "
          "selection nearest it, not slower; the cuts shown are each plan's later verification measurement, "
          "which differs from the landing one by the runner's noise): " + ", ".join(
              f"{k} {v['landing']['landed']}/{v['landing']['plans']} (measured cuts {_pct(v['landing']['cut_min'])}–"
              f"{_pct(v['landing']['cut_max'])})" for k, v in here.items() if "landing" in v) + "."]
    L += ["", "Teachers in the same runs: " + ", ".join(
        f"{k} {v['metric']:.1f}" + (f" (alignment {v['alignment']:.2f})" if v["alignment"] else "") for k, v in here.items())
        + "; distillation " + ", ".join(f"{k} {v['distill_steps']} steps" for k, v in here.items()) + " at batch 128."]
    bf16 = [k for k, v in here.items() if recorded_precision(v) == "bf16"]
    if bf16:
        L += ["", "The metrics of " + ", ".join(bf16) + " were evaluated under bf16 autocast, which shifts each model's "
              "metric by rounding its weights (the fp32 metric noise above): the 3 seeds' spread includes that shift, "
              "and the teacher value a ratio divides by is one draw of it. Later runs evaluate in fp32 "
              "(`--eval-precision`, default fp32)."]
    L += [""]
    h = s["headlines"]
    for key, title in (("text_to_image", "Headline, text-to-image"), ("audio", "Headline, audio")):
        x = h[key]
        L.append(f"**{title}** ({x['task']}{', ' + x['variant'] if 'variant' in x else ''}"
                 f"{', distilled on ' + x['device'] if x.get('device') else ''}): cut {_pct(x['cut_mean'])}, "
                 f"metric {x['metric_ratio']:.2f}× the teacher"
                 + (f", alignment {x['alignment_ratio']:.2f}×, {x['distill_steps']} of the teacher's {x['teacher_steps']} "
                    f"steps" if "alignment_ratio" in x else "")
                 + (f", teacher at a plateau: {'yes' if x['teacher_plateau'] else '**no**'}" if "teacher_plateau" in x else "")
                 + " — "
                 + _verdicts(x["targets"]) + "."
                 + (_beyond_spread(x) if x.get("targets_beyond_spread") else ""))
        L.append("")
        if "variants" in x:
            L += [f"Text-to-image variants (plans landed by measurement on the same budget; mean ± std over the seeds, "
                  f"one seed: no spread; lead: {x['rule']}):", "",
                  "| variant | teacher | seeds | cut | proxy-FID (× teacher) | alignment (× teacher) | steps | targets met "
                  "| beyond 1 std |", "|---|---|---|---|---|---|---|---|---|"]
            for v in x["variants"]:
                who = f"{'committed' if v['current_teacher'] else 'earlier'}, {v['teacher_steps']} steps"
                name = (f"{v['variant']} (seeds " + ", ".join(f"[{_seed_range(p['seeds'])}]({p['run']}/)"
                                                               for p in v["pooled_runs"]) + ")"
                        if "pooled_runs" in v else f"[{v['variant']}]({v['run']}/)")
                L.append(f"| {name} | {who} | {len(v['seeds'])} | {_pct(v['cut_mean'])} | "
                         f"{_spread(v['metric_mean'], v['metric_std'], v['seeds'], 1)} ({v['metric_ratio']:.2f}×) | "
                         f"{_spread(v['alignment_mean'], v['alignment_std'], v['seeds'], 2)} ({v['alignment_ratio']:.2f}×) | "
                         f"{v['distill_steps']} | {sum(v['targets'].values())}/{len(v['targets'])} | "
                         + (f"{sum(b.values())}/{len(b)} |" if (b := v["targets_beyond_spread"]) else "– |"))
            L.append("")
        if "repeat" in x:
            L += [_repeat_line(x["repeat"]), ""]
        if "device_repeat" in x:
            L += [_device_repeat_line(x["device_repeat"]), ""]
        if key == "text_to_image" and s.get("plan_screen"):
            L += [_screen_line(s["plan_screen"], _cap4_recipe(x)), ""]
        if key == "text_to_image" and s.get("lever_pairs"):
            L += _lever_table(s["lever_pairs"])
    L.append(END)
    return "\n".join(L)


def _verdicts(targets: dict) -> str:
    return "; ".join(f"{k}: {'met' if v else '**not met**'}" for k, v in targets.items())


def _beyond_spread(x: dict) -> str:
    """The headline's targets with each mean moved one std over the seeds the wrong way, and the alignment margin."""
    bound = ALIGN_FLOOR * x["teacher_alignment"]
    return (f" With each mean moved one std over its {len(x['seeds'])} seeds the wrong way: "
            + _verdicts(x["targets_beyond_spread"])
            + f" (alignment {x['alignment_mean']:.3f} against the bound {bound:.3f}: "
            f"{x['alignment_mean'] - bound:+.3f}, one std {x['alignment_std']:.3f}).")


def _utc_minute(date: str) -> str:
    return date[:16].replace("T", " ") + " UTC"


def _repeat_line(r: dict) -> str:
    d = r["max_abs_diff"]
    same = not any(d.values())
    per = " / ".join(f"{v['proxy-FID'][1]:.2f}, {v['alignment'][1]:.3f}" for v in r["per_seed"].values())
    return (f"Repeat noise: {_run_link(r['again'].rsplit('/', 1)[0])} distilled "
            f"{_run_link(r['first'])} again ({r['device']}, {_utc_minute(r['dates'][1])}; the same plans, "
            f"seeds {', '.join(map(str, r['seeds']))} and settings; the first run's table {_utc_minute(r['dates'][0])}): "
            f"proxy-FID, alignment per seed {per}; largest difference from the first run {d['proxy-FID']:g} (proxy-FID), "
            f"{d['alignment']:g} (alignment)."
            + (" On this GPU type a seed's distillation and metrics repeat exactly (six or three distillations sharing the GPU), so "
               "two variants' difference on one seed is the setting's effect on that seed, not repeat noise; whether "
               "it holds for other seeds is what the spread over seeds says." if same else ""))


def _device_repeat_line(r: dict) -> str:
    d = r["max_abs_diff"]
    per = "; ".join(f"seed {k}: proxy-FID {v['proxy-FID'][0]:.2f} → {v['proxy-FID'][1]:.2f}, alignment "
                    f"{v['alignment'][0]:.3f} → {v['alignment'][1]:.3f}" for k, v in r["per_seed"].items())
    teacher = (f"the teacher's metrics equal on both ({r['teacher'][0]}, {r['teacher'][1]})" if r["teacher_equal"]
               else "the teacher's metrics differ between them")
    return (f"GPU-type repeat: {_run_link(r['again'])} distilled {_run_link(r['first'])} again on {r['devices'][1]} "
            f"({_utc_minute(r['dates'][1])}; the same plan, seed and settings; first on {r['devices'][0]}; "
            f"{teacher}): {per}. "
            + ("The seed's distillation repeated exactly on the other GPU type." if not any(d.values()) else
               f"A seed's distillation does not repeat across GPU types (here by up to {d['alignment']:.2f} alignment), "
               "so a lever paired across them carries that difference beside its own effect, and such pairs stay out "
               "of the pooled per-seed noise below."))


def _cap4_recipe(t2i: dict) -> dict:
    """The cap-4 recipe on all its seeds: the spread the plan screen's seed repeats are set against."""
    return next(v for v in t2i["variants"] if [p["run"] for p in v.get("pooled_runs", ())] == [CAP4_S0_2, CAP4_S3_5,
                                                                                                 CAP4_S6_8])


def _change_text(key: str, old, new) -> str:
    """One changed setting in a table cell; a plan cap by the caps added and dropped (a regex's | escaped)."""
    if key != "caps":
        return f"{key} {old} → {new}"
    def caps(sign, xs):
        return [f"{sign} `--cap {c}`".replace("|", "\\|") for c in xs]
    return "plan caps " + ", ".join(caps("+", [c for c in new if c not in old]) + caps("−", [c for c in old if c not in new]))


def _lever_table(lp: dict) -> list[str]:
    def cell(d: dict, nd: int) -> str:
        return (f"{d['mean']:+.{nd}f} ± {d['std']:.{nd}f} (se {d['se']:.{nd}f})" if d["std"] is not None
                else f"{d['mean']:+.{nd}f}")

    def resolved(d: dict) -> str:
        return "–" if d["p"] is None else f"{'**yes**' if d['resolved'] else 'no'} (p {d['p']:.2f})"

    L = ["Paired lever tests (one setting changed on the same seeds: a distillation setting on the same landed plans, a "
         "plan cap on the same scores, re-planned and re-landed; each seed's row minus its base row, mean ± std over the "
         f"seeds and the standard error; {lp['rule']}):", "",
         "| lever | changed | seeds | base | alignment difference | resolved | proxy-FID difference | resolved |",
         "|---|---|---|---|---|---|---|---|"]
    for p in lp["pairs"]:
        ch = ", ".join(_change_text(k, a, b) for k, (a, b) in p["changed"].items())
        if p["across_devices"]:
            ch += f"; rows on {', '.join(p['devices']['lever'])}, base rows on {', '.join(p['devices']['base'])}"
        runs = ", ".join(f"[{r.rsplit('/', 1)[-1]}]({r}/)" for r in p["runs"])
        base = ", ".join(f"[{r.rsplit('/', 1)[-1]}]({r}/)" for r in p["base_runs"])
        a, f = p["difference"]["alignment"], p["difference"]["proxy-FID"]
        L.append(f"| {p['lever']} ({runs}) | {ch} | {_seed_range(p['seeds'])} | {base} | {cell(a, 2)} | {resolved(a)} | "
                 f"{cell(f, 1)} | {resolved(f)} |")
    n, gap = lp["seeds_to_resolve_gap"], lp["headline_gap"]
    need = ("The headline meets its alignment bound." if gap <= 0 else
            f"The headline lacks {gap:.2f} alignment to its bound; a lever with exactly that effect would need "
            + (f"{n} paired seeds" if n else "more paired seeds than computed") + " to be resolved (p < 0.05) with 80 % "
            "probability.")
    return L + ["", "Pooled over the distillation levers paired on one GPU type (a plan lever also redraws the plan), "
                    "one seed's alignment "
                    f"difference has std {lp['alignment_difference_std']:.2f} "
                    f"({lp['dof']} degrees of freedom). " + need, ""]


def _screen_line(p: dict, head: dict) -> str:
    r, v, rp = p["recipe"], p["screen_vs_final"], p["seed_repeats"]
    c = p["screen_vs_final_recipe_plans"]["screen_alignment_val_vs_final_alignment"]
    rho = {k: v[f"screen_{k}_vs_final_{k.split('_')[0]}"]["rho"] for k in ("alignment_val", "alignment_held", "fid_val", "fid_held")}
    per = "; ".join(f"{d}: " + ", ".join(f"{x['alignment']:.2f} (seed {x['seed']}{', earlier' if x['earlier'] else ''})"
                                          for x in xs) for d, xs in rp["plans"].items())
    w = rp["pooled"]["alignment"]
    share = w["within_plan_std"] ** 2 / head["alignment_std"] ** 2
    return (f"**Plan screening** ({_run_link(p['run'])}, {p['device']}, {p['date'][:10]}; `quality_screen.py`): "
            f"{len(r['seeds'])} runs each screened {p['k']} landed cap-4 plans (of {p['k']} scoring seeds) for "
            f"{p['screen_steps']} distillation steps on a {p['final_steps']}-step schedule, chose by alignment on "
            f"training captions ({p['select']}; the held-out split was not read) and distilled the choice "
            f"{p['final_steps']} steps ({r['total_steps']} optimizer steps a run): cut {_pct(r['cut_mean'])}, "
            f"proxy-FID {r['metric_mean']:.1f} ± {r['metric_std']:.1f} ({r['metric_ratio']:.2f}×), alignment "
            f"{r['alignment_mean']:.2f} ± {r['alignment_std']:.2f} ({r['alignment_ratio']:.2f}×) — "
            + _verdicts(r["targets"]) + ". The screen does not predict where a plan ends: over the "
            f"{v['candidates_with_final']} plans with a {'/'.join(map(str, v['final_steps']))}-step final, Spearman ρ of "
            f"the screen's training-caption alignment against the final alignment {rho['alignment_val']:+.2f} (its "
            f"held-out alignment {rho['alignment_held']:+.2f}; proxy-FID {rho['fid_val']:+.2f} / {rho['fid_held']:+.2f}), "
            f"over the runs' {p['screen_vs_final_recipe_plans']['candidates_with_final']} cap-4 plans {c['rho']:+.2f}. "
            f"{len(rp['plans'])} plans distilled again under other seeds (the same lease "
            f"day, {rp['steps']} steps; alignment per plan): {per}. The pooled within-plan std {w['within_plan_std']:.2f} "
            f"({w['dof']} degrees of freedom) against {head['alignment_std']:.2f} over the headline's "
            f"{len(head['seeds'])} plans puts about {round(100 * share)} % of that variance in the distillation's own "
            "randomness: if a changed setting redraws it, two settings' three-seed means on the same plans differ by "
            f"~{w['within_plan_std'] * (2 / 3) ** 0.5:.2f} (one std) with no effect at all, more than most levers above "
            "moved them.")


def _seed_range(seeds: list[int]) -> str:
    """[0, 1, 2] -> '0-2' (consecutive), else '0, 2, 5'."""
    consecutive = seeds == list(range(seeds[0], seeds[0] + len(seeds)))
    return f"{seeds[0]}-{seeds[-1]}" if consecutive and len(seeds) > 2 else ", ".join(map(str, seeds))


def _spread(mean: float, std: float, seeds: list, nd: int) -> str:
    return f"{mean:.{nd}f} ± {std:.{nd}f}" if len(seeds) > 1 else f"{mean:.{nd}f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="exit 1 if summary.json or the README section is stale")
    a = ap.parse_args(argv)
    s = build()
    readme = (ROOT / "README.md").read_text()
    if BEGIN not in readme or END not in readme:
        print(f"README.md has no {BEGIN} ... {END} section", file=sys.stderr)
        return 1
    new = readme[:readme.index(BEGIN)] + render(s) + readme[readme.index(END) + len(END):]
    if a.check:
        stale = [p for p, ok in ((SUMMARY, (ROOT / SUMMARY).is_file() and json.loads((ROOT / SUMMARY).read_text()) == s),
                                 ("README.md", new == readme)) if not ok]
        if stale:
            print("out of date: " + ", ".join(stale) + " (run python benchmarks/quality_summary.py)", file=sys.stderr)
            return 1
        return 0
    from ldprune_deploy.jsonio import write_json_atomic

    write_json_atomic(ROOT / SUMMARY, s)
    (ROOT / "README.md").write_text(new)
    print(render(s))
    return 0


if __name__ == "__main__":
    sys.exit(main())
