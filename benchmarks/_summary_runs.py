"""The committed results ``quality_summary.py`` reads (issue 23), each named once: the device runs' folders, the
text-to-image headline candidates (``HEADLINE_T2I``), the lever pairs (``LEVER_PAIRS``), the teachers' curves, the
proxy and metric-noise files; and how a committed file is read (``load``, relative to ``ROOT``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

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


# 2026-12-07 10:30-10:40 UTC (device clock), on an H100: the same landed plans of both emoji comparisons (NEW_RUN's,
# PLANS_FROM) distilled and measured again with the emoji proxy adopted that day (unweighted classes, EMA, mixup;
# 86.1 % held-out emoji-group accuracy): NEW_RUN's rows were measured with the proxy before it (84.6 %)
PROXY2_RUN = "benchmarks/results/quality/h100-2026-12-07-comparisons"


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


# 2026-12-07 08:10-08:30 UTC, on an H100: the same lever on the cap-4 plans of seeds 0-8 (hypotheses written down
# before the run, screens/2026-12-07-feat01-confirm-h100.env), nine side by side; seeds 0-5 pair with SNR_RUN's rows on
# one GPU type, seeds 0-4 repeat FEAT01_RUN's rows on the other
FEAT01_H100_RUN = "benchmarks/results/quality/h100-2026-12-07-feat01"


# 2026-12-07 12:47-13:01 UTC, on an H100: that recipe's seeds 0-5 distilled again from the same plans and scored with
# the emoji proxy committed that day (hypotheses written down before the run,
# screens/2026-12-07-headline-proxy2-h100.env); seeds 6-8 did not fit the session's device time
PROXY2_HEADLINE_RUN = "benchmarks/results/quality/h100-2026-12-07-headline-proxy2"


# the no-dropout ld-pruner-prompt recipe's spec folders, each listed alone and in its recipe's pool below
NODROP_S0_2, NOCAP_S3_5 = f"{LOSSES_RUN}/headline-2800-prompt-nodrop-emoji-t2i", f"{FRESH_SEEDS_RUN_2}/fresh-nodrop-emoji-t2i"


CAP4_S0_2, CAP4_S3_5, CAP4_S6_8 = (f"{CAP_RUN}/headline-2800-prompt-nodrop-cap4-emoji-t2i",
                                   f"{FRESH_SEEDS_RUN_2}/fresh-nodrop-cap4-emoji-t2i",
                                   f"{FRESH_SEEDS_RUN_2}/fresh-nodrop-cap4-s678-emoji-t2i")


SNR5_S0_2, SNR5_S3_5 = f"{SNR_RUN}/snr5-cap4-s012-emoji-t2i", f"{SNR_RUN}/snr5-cap4-s345-emoji-t2i"


U2CAP = tuple(f"{U2CAP_RUN}/u2cap-cap4-{s}-emoji-t2i" for s in ("s012", "s345", "s678"))


FEAT01_S0_2, FEAT01_S3_4 = f"{FEAT01_RUN}/feat01-snr5-cap4-s012-emoji-t2i", f"{FEAT01_RUN}/feat01-snr5-cap4-s34-emoji-t2i"


SNR5_H200_S0 = f"{FEAT01_RUN}/snr5-h200-s0-emoji-t2i"


FEAT01_H100 = tuple(f"{FEAT01_H100_RUN}/feat01-h100-{s}-emoji-t2i" for s in ("s012", "s345", "s678"))


PROXY2_H100 = tuple(f"{PROXY2_HEADLINE_RUN}/proxy2-h100-{s}-emoji-t2i" for s in ("s012", "s345"))


# the same seeds distilled twice on one GPU type (which repeats a distillation exactly) and scored by the proxy before
# and by the committed one: what changing the proxy alone does to the headline
PROXY_CHANGE = (FEAT01_H100[:2], PROXY2_H100, "ld-pruner-prompt")


PROMPT_S0_2 = f"{LEVERS_RUN}/headline-2800-prompt-emoji-t2i"


REPEAT = (NODROP_S0_2, f"{NODROP_RUN}/headline-2800-prompt-nodrop-repeat-emoji-t2i",
          "ld-pruner-prompt")


# seeds distilled again on another GPU type (the same plans and settings; a tuple pools one side's runs): what a pair
# across GPU types carries
DEVICE_REPEATS = [(SNR5_S0_2, SNR5_H200_S0, "ld-pruner-prompt"),
                  ((FEAT01_S0_2, FEAT01_S3_4), FEAT01_H100[:2], "ld-pruner-prompt")]


# 2026-12-07 23:32-23:37 UTC, on an H100: the emoji-t2i comparison distilled from the plateaued teacher adopted that day
# (35 900 steps), PLATEAU_CONTINUED's 18 landed plans (PLANS_FROM), the same settings and proxy as PROXY2_RUN
# (hypotheses written down before the run, screens/2026-12-08-t2i-comparisons-plateau4.env)
PLATEAU_COMPARISON_RUN = "benchmarks/results/quality/h100-2026-12-07-comparisons-plateau4"


# 23:37-23:44 UTC, the same machine: the headline recipe's seeds 0-2 distilled from that teacher (hypotheses in
# screens/2026-12-08-headline-plateau4-h100.env; seeds 3-5 did not fit the session's device time)
PLATEAU_HEADLINE_RUN = "benchmarks/results/quality/h100-2026-12-07-headline-plateau4"
PLATEAU_S0_2 = f"{PLATEAU_HEADLINE_RUN}/plateau4-s012-emoji-t2i"


# 2026-12-08 01:12-01:36 UTC, on an H100: the same recipe distilled 4 480 steps instead of 2 800 (the limit
# against the 35 900-step teacher is 4 487), seeds 0-2 on PLATEAU_HEADLINE_RUN's plans, seeds 3-5 scored and landed
# there (hypotheses in screens/2026-12-08-headline-plateau4-4480-h100.env, written before the run)
PLATEAU_4480_RUN = "benchmarks/results/quality/h100-2026-12-08-headline-plateau4-4480"
PLATEAU_4480 = (f"{PLATEAU_4480_RUN}/plateau4-4480-s012-emoji-t2i", f"{PLATEAU_4480_RUN}/plateau4-4480-s345-emoji-t2i")


SOURCES = {"emoji-uig": PROXY2_RUN, "emoji-t2i": PLATEAU_COMPARISON_RUN, "notes-uag": FRESH_RUN}


# the curves file of the teacher each task's comparison run distilled from: the committed ones (the emoji ones
# adopted on 2026-12-05; the teachers committed before them are kept beside the fresh runs that trained them)
COMMITTED_CURVES = "benchmarks/assets/teachers/curves.json"


EARLIER_CURVES = "benchmarks/results/quality/h200-2026-12-04-fresh-teachers/committed-until-2026-12-05-curves.json"


# the committed curves from 2026-12-05 until emoji-t2i's plateaued teacher (PLATEAU_CONTINUED's end weights) was
# adopted on 2026-12-07: every emoji-t2i comparison and headline so far distilled from the 22 400-step teacher in
# it, and the rechecks and the continuation were trained on from it
CURVES_UNTIL_1207 = "benchmarks/results/quality/teacher-curves/committed-until-2026-12-07.json"


COMPARISON_TEACHERS = {"emoji-uig": COMMITTED_CURVES, "emoji-t2i": COMMITTED_CURVES,
                       "notes-uag": COMMITTED_CURVES}


# the text-to-image headline candidates, (name, folder, criterion of the row, curves of the teacher it distilled
# from); a tuple of folders pools one recipe's seeds from several runs, and a variant whose run is in a pool does
# not lead on its own seeds: the lead is chosen among the others against the comparison's teacher; the ones against the earlier teacher
# (10 000 steps) stay listed: plans that keep every cross-attention, the prompt-aware criterion, longer distillations
HEADLINE_T2I = [
    ("the same recipe distilled 4 480 steps (the 1/8 limit), seeds 0-5, plateaued teacher (hypotheses written "
     "before the run)", PLATEAU_4480, "ld-pruner-prompt", COMMITTED_CURVES),
    ("the cap-4 plans with min-SNR-5 and feature-KD weight 0.1 on seeds 0-2, distilled from the plateaued teacher "
     "(35 900 steps; hypotheses written before the run)", PLATEAU_S0_2, "ld-pruner-prompt", COMMITTED_CURVES),
    ("LD-Pruner latency-aware, 200 steps (the comparison rows, plateaued teacher)",
     f"{PLATEAU_COMPARISON_RUN}/strategies-emoji-t2i", "ld-pruner", COMMITTED_CURVES),
    ("LD-Pruner + prompt effect (ld-pruner-prompt), 200 steps (the comparison rows, plateaued teacher)",
     f"{PLATEAU_COMPARISON_RUN}/strategies-emoji-t2i", "ld-pruner-prompt", COMMITTED_CURVES),
    ("LD-Pruner latency-aware, 200 steps (the comparison rows)", f"{PROXY2_RUN}/strategies-emoji-t2i", "ld-pruner",
     CURVES_UNTIL_1207),
    ("LD-Pruner + prompt effect (ld-pruner-prompt), 200 steps (the comparison rows)", f"{PROXY2_RUN}/strategies-emoji-t2i",
     "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("LD-Pruner latency-aware, 200 steps (the comparison rows, previous proxy)", f"{NEW_RUN}/strategies-emoji-t2i",
     "ld-pruner", CURVES_UNTIL_1207),
    ("LD-Pruner latency-aware, 2800 steps", f"{HEADLINE_RUN}/headline-2800-emoji-t2i", "ld-pruner", CURVES_UNTIL_1207),
    ("ld-pruner-prompt plans keeping every cross-attention, 2800 steps",
     f"{PROMPT_HEADLINE_RUN}/headline-2800-prompt-xattn-emoji-t2i", "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the same plans (seed 0), 2800 steps at lr 1e-3", f"{PROMPT_HEADLINE_RUN}/screen-2800-prompt-xattn-lr1e-3-emoji-t2i",
     "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the same plans (seed 0), 2800 steps at lr 2e-4", f"{PROMPT_HEADLINE_RUN}/screen-2800-prompt-xattn-lr2e-4-emoji-t2i",
     "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("LD-Pruner + prompt effect (ld-pruner-prompt) plans, 2800 steps", PROMPT_S0_2, "ld-pruner-prompt",
     CURVES_UNTIL_1207),
    ("the same ld-pruner-prompt plans, 2800 steps, EMA 0.995 of the student",
     f"{LEVERS_RUN}/headline-2800-prompt-ema-emoji-t2i", "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("LD-Pruner latency-aware, 2800 steps at lr 1e-3", f"{LEVERS_RUN}/headline-2800-lr1e-3-emoji-t2i", "ld-pruner",
     CURVES_UNTIL_1207),
    ("ld-pruner-prompt plans, 2800 steps, no caption dropout", NODROP_S0_2, "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("ld-pruner-prompt plans, 2800 steps, output-KD weight 3", f"{LOSSES_RUN}/headline-2800-prompt-out3-emoji-t2i",
     "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("ld-pruner-prompt plans, 2800 steps, no caption dropout, output-KD weight 0.5",
     f"{LOSSES_RUN}/headline-2800-prompt-nodrop-out05-emoji-t2i", "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("ld-pruner-prompt plans, 2800 steps, no caption dropout, batch 256",
     f"{NODROP_RUN}/headline-2800-prompt-nodrop-b256-emoji-t2i", "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("ld-pruner-prompt plans, 2800 steps, no caption dropout, lr 1e-3",
     f"{NODROP_RUN}/headline-2800-prompt-nodrop-lr1e3-emoji-t2i", "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("ld-pruner-prompt plans re-landed with at most 4 cross-attentions removed (cap chosen after seeing these seeds), "
     "2800 steps, no caption dropout", CAP4_S0_2, "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("ld-pruner-prompt plans re-landed with at most 3 cross-attentions removed, 2800 steps, no caption dropout",
     f"{CAP_RUN}/headline-2800-prompt-nodrop-cap3-emoji-t2i", "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the cap-4 recipe on fresh seeds 3-5, 2800 steps, no caption dropout", CAP4_S3_5, "ld-pruner-prompt",
     CURVES_UNTIL_1207),
    ("the cap-4 recipe on fresh seeds 6-8, 2800 steps, no caption dropout", CAP4_S6_8, "ld-pruner-prompt",
     CURVES_UNTIL_1207),
    ("seeds 3-5 planned again without the cap (no plan exceeded it: they differ by the landing's measurements), "
     "2800 steps, no caption dropout", NOCAP_S3_5, "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the cap-4 plans of seeds 3-5, 2800 steps, no caption dropout, half the rows on blended captions (KD only)",
     f"{CAPTION_MIX_RUN}/mix05-cap4-s345-emoji-t2i", "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the cap-4 recipe on every seed it was distilled with: 0-2, the cap chosen on them, and 3-8, fresh",
     (CAP4_S0_2, CAP4_S3_5, CAP4_S6_8), "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("ld-pruner-prompt plans without a cap, no caption dropout, on every seed it was distilled with",
     (NODROP_S0_2, NOCAP_S3_5), "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the cap-4 plans of seeds 0-2, 2800 steps, no caption dropout, min-SNR-5 weighting of the task and output KD",
     SNR5_S0_2, "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the cap-4 plans of seeds 3-5, 2800 steps, no caption dropout, min-SNR-5 weighting of the task and output KD",
     SNR5_S3_5, "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the cap-4 plans with min-SNR-5 weighting (`--snr-gamma 5`) on every seed it was distilled with",
     (SNR5_S0_2, SNR5_S3_5), "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the cap-4 recipe with at most one up_blocks.2 modification (`--cap '^up_blocks\\.2\\.=1'`, plans re-landed from the "
     "same scores), seeds 0-8", U2CAP, "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the cap-4 plans of seeds 0-2 (landed on an H100), min-SNR-5, feature-KD weight 0.1 (`--lambda-feat 0.1`), "
     "distilled on an H200", FEAT01_S0_2, "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the cap-4 plans of seeds 3-4 (landed on an H100), min-SNR-5, feature-KD weight 0.1, distilled on an H200",
     FEAT01_S3_4, "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the cap-4 plans (landed on an H100) with min-SNR-5 and feature-KD weight 0.1 on every seed it was distilled with",
     (FEAT01_S0_2, FEAT01_S3_4), "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the min-SNR-5 recipe's seed 0 distilled again on an H200 (its row above: an H100)", SNR5_H200_S0,
     "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the cap-4 plans with min-SNR-5 and feature-KD weight 0.1 (`--lambda-feat 0.1`) on seeds 0-8 (hypotheses "
     "written before the run)", FEAT01_H100, "ld-pruner-prompt", CURVES_UNTIL_1207),
    ("the cap-4 plans with min-SNR-5 and feature-KD weight 0.1 on seeds 0-5, distilled again on one GPU type and scored "
     "with the committed emoji proxy (hypotheses written before the run)", PROXY2_H100, "ld-pruner-prompt",
     CURVES_UNTIL_1207),
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


# the emoji recipe adopted on 2026-12-07 (unweighted classes, EMA 0.998 of the weights, mixup 0.2) and five others,
# six seeds each, side by side on one H100 (benchmarks/proxy_sweep.py; plan: device/screens/2026-12-07-proxy-sweep.sh),
# then the chosen variant and the earlier recipe on fresh seeds 6-11 (screens/2026-12-07-proxy-confirm.sh)
PROXY_RECIPE_SWEEPS = ["benchmarks/results/proxy_experiments/h100-2026-12-07-sweep",
                       "benchmarks/results/proxy_experiments/h100-2026-12-07-confirm"]


# every training of the committed emoji recipe: its run-to-run spread (the earlier recipe's CPU repeats and variants,
# cpu-2026-12-05-repeats, stay committed as history; the sweeps' recipe rows are its spread on the GPU)
PROXY_REPEATS = [f"{d}/runs" for d in PROXY_RECIPE_SWEEPS]


# the same samples scored by the proxy before and the committed one (diagnostics/proxy_agreement.py, this project's CPU):
# the ladder of each and whether they order the emoji-uig teacher and students alike
PROXY_AGREEMENT = "benchmarks/results/proxy_experiments/cpu-2026-12-07-agreement/emoji-uig/proxy_agreement.json"


# the committed teachers' proxy-FID over sampling seeds and under small weight perturbations
# (benchmarks/diagnostics/metric_noise.py): what the plateau rule's noise leaves out
METRIC_NOISE = "benchmarks/results/quality/metric-noise-cpu-2026-12-04.json"


METRIC_NOISE_TEACHERS = EARLIER_CURVES   # the weights it measured: the teachers committed on 2026-12-04


# teacher settings tried beside the committed teachers (quality_session.sh trials), not adopted: their curves
TRIALS = "benchmarks/results/quality/*-trials/*-curves.json"


# the committed emoji teachers trained on from their committed weights with the last segment's settings, a new curve
# measured by the committed emoji proxy (their training curves used the proxy before it): their plateau under that
# proxy (_summary_teachers.plateau_rechecks)
PLATEAU_RECHECK = "benchmarks/results/quality/h100-2026-12-07-plateau-proxy2"


# the committed emoji-t2i teacher trained on much further with the same settings (where it plateaus under the
# committed proxy: a candidate teacher) and a paired-seed diagnostic of its end weights against the committed teacher
# (_summary_teachers.continuations)
PLATEAU_CONTINUED = "benchmarks/results/quality/h100-2026-12-07-plateau4"


# how far each warm-restart segment moved the trial's weights (benchmarks/diagnostics/weight_drift.py), on the
# scale of METRIC_NOISE's perturbations
WEIGHT_DRIFT = "benchmarks/results/quality/*-trials/weight-drift-*.json"


# the same diagnostic on a trial's end weights (its "trial" field names it)
TRIAL_METRIC_NOISE = "benchmarks/results/quality/*-trials/metric-noise-*.json"


SUMMARY = "benchmarks/results/quality/summary.json"


SCHEMA = "ldprune.quality-summary/1"


BEGIN, END = "<!-- quality-summary:begin -->", "<!-- quality-summary:end -->"


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
    ("feature-KD weight 0.1, on one GPU type (H200, one seed)", (FEAT01_S0_2,), (SNR5_H200_S0,), "ld-pruner-prompt"),
    ("feature-KD weight 0.1, on one GPU type (H100)", FEAT01_H100[:2], (SNR5_S0_2, SNR5_S3_5), "ld-pruner-prompt"),
    ("4 480 distillation steps instead of 2 800 (plateaued teacher)", PLATEAU_4480[:1], (PLATEAU_S0_2,),
     "ld-pruner-prompt"),
]


def load(rel: str) -> dict:
    return json.loads((ROOT / rel).read_text())


def _strategy_run(folder: str) -> dict:
    r = load(f"{folder}/quality_strategies.json")
    return {"result": r, "teacher": {"metric": r["teacher_fid"], "alignment": r.get("teacher_alignment"),
                                      "distill_steps": r["distill"]["steps"], "date": r["device"]["date"],
                                      "device": r["device"].get("gpu"), "run": folder}}
