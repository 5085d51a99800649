"""Strategy comparison at equal *measured* latency (issue 8, experiment 1).

At a ~35 % latency cut (budget 65 % of the full model, torch-graph runner on the device, the
profile measured in this same run), five plans for one trained teacher:

  ld-pruner / latency-aware   LD-Pruner importance, exact knapsack on measured savings
  ld-pruner / rank            LD-Pruner importance, LD-Pruner's latency-blind rank order
  laptop / latency-aware      LAPTOP-Diff one-shot output-loss criterion
  magnitude / latency-aware   weight magnitude
  random / latency-aware      random importance (the floor)

and, for a text-to-image teacher, a sixth:

  ld-pruner-prompt / latency-aware   LD-Pruner plus how far each sample's response to its prompt
                                     moves (scoring.methods.LDPrunerPrompt)

Every plan goes through the planner's verify loop and is then *landed* (``planner.landing``):
completed in its own strategy's order while slower than the budget, trimmed while faster than it
by more than 1 %, by paired measurement against the full model, so every row sits within 1 %
below the same measured latency. Two ablations on the LD-Pruner latency-aware plan
(``--ablations``, default on): the same architecture from random init (LD-Pruner's Table 3) and
plain instead of LAPTOP's normalized feature KD. For each seed (scoring samples, random scores,
distillation data order) the proxy metric (against the held-out split; T2I samples from held-out
captions, plus the proxy alignment) is measured right after pruning and after the same
distillation (task + output KD + feature KD). Output: OUT/quality_strategies.{json,md,png}
with ``comparisons`` in the ldprune.quality-summary/1 row format; the table is printed last.

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
import _work_files as WF  # noqa: E402

PLANS = [("ld-pruner", "latency-aware"), ("ld-pruner", "rank"), ("laptop", "latency-aware"),
         ("magnitude", "latency-aware"), ("random", "latency-aware")]
# text-to-image teachers only: LD-Pruner plus how far each sample's response to its prompt moves
CONDITIONAL_PLANS = [("ld-pruner-prompt", "latency-aware")]
ALL_PLANS = PLANS + CONDITIONAL_PLANS


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    Q.add_common_args(ap, steps=300, seeds="0,1,2", fid_n=500)
    ap.add_argument("--budget", default="65%", help="latency budget (default 65%%: a 35%% cut)")
    ap.add_argument("--no-land", dest="land", action="store_false",
                    help="keep the verified plans as they are (no landing within 1 %% of the budget)")
    ap.add_argument("--no-ablations", dest="ablations", action="store_false",
                    help="skip the scratch-init and plain-feature-KD runs")
    ap.add_argument("--only", nargs="+", metavar="CRITERION/PLANNER", choices=[f"{m}/{s}" for m, s in ALL_PLANS],
                    help="run only these plans (e.g. ld-pruner/latency-aware for a longer distillation of the headline "
                         "plan); default: all five, and ld-pruner-prompt/latency-aware for a text-to-image teacher")
    ap.add_argument("--exclude", metavar="REGEX",
                    help="keep these candidates out of every plan (ScoreConfig.exclude on 'operator:modification', e.g. "
                         "'attn2|attentions\\.[0-9]+:remove' keeps every cross-attention of a text-to-image teacher)")
    ap.add_argument("--cap", action="append", metavar="REGEX=N",
                    help="at most N modifications matching REGEX in every plan (PlanConfig.caps; repeatable), e.g. "
                         "'(attn2|attentions\\.[0-9]+):remove=4'; with --phase reland a saved plan over a cap is "
                         "planned and landed again")
    ap.add_argument("--smoke-teacher", choices=["emoji-uig", "emoji-t2i"], default="emoji-uig",
                    help="with --smoke: which teacher config the throwaway teacher has")
    a = ap.parse_args(argv)
    Q.finish_args(a, a.smoke_teacher)
    out = Path(a.out)
    work = out / "work"
    t0 = time.perf_counter()
    t = Q.load_teacher(a.teacher, a.data, a.emb)
    known = ALL_PLANS if t.cond_train is not None else PLANS
    plans = [p for p in known if not a.only or f"{p[0]}/{p[1]}" in a.only]
    if a.only and len(plans) < len(a.only):
        raise SystemExit(f"--only {' '.join(a.only)}: ld-pruner-prompt needs a text-to-image teacher")
    store = Q.PlanStore(a, work)
    cands = None
    prof = store.profile(lambda: Q.profile_teacher(t, a, work, cands))
    metric = Q.ProxyMetric(t, a) if store.train else None
    kept = Q.RowStore(t, a, work) if store.train else None
    teacher_m = metric.measure(t.unet) if metric else {"fid": None, "alignment": None}
    teacher_fid = teacher_m["fid"]
    rows = []
    magnitude_scores = None
    probe = Q.LatencyProbe(t, a, prof) if a.land and not a.smoke and store.phase != "train" else None
    target = None
    if probe is not None:
        from ldprune_deploy.budget import Budget

        b = Budget.parse(a.budget, "latency")
        target = b.value if b.relative else None   # a ratio to the full model: '65%' -> 0.65
        if target is None:
            raise SystemExit(f"--budget {a.budget}: landing needs a budget relative to the full model, e.g. 65%")
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

        def make_plan(method: str, strategy: str):
            p = Q.plan_verified(t, a, scores_for(method), prof, strategy, a.budget)
            return Q.land_plan(t, a, scores_for(method), prof, p, strategy, target, probe) if probe else p

        for method, strategy in plans:
            plan = store.plan(WF.plan_key(method, strategy, seed), lambda: make_plan(method, strategy))
            if not store.train:
                print(f"seed {seed} {method}/{strategy}: {len(plan.modifications)} mods, measured "
                      f"{Q.plan_summary(plan)['measured_cut']:.1%} cut, landed {Q.plan_summary(plan)['landed']} (plan saved)")
                continue
            runs = [("preserved", "normalized")]
            if a.ablations and (method, strategy) == PLANS[0]:
                runs += [("scratch", "normalized"), ("preserved", "plain")]
            for init, feat in runs:
                rows.append(kept.row(WF.row_key(method, strategy, init, feat, seed), plan, lambda: run_one(
                    t, a, metric, plan, method, strategy, init, feat, seed, work)))
    if probe is not None:
        probe.close()
    if not store.train:
        return 0
    from ldprune_deploy.quality.evidence import differs

    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault(run_key(r), []).append(r)
    order = sorted(groups, key=lambda k: (ALL_PLANS.index(k[:2]), k[2] != "preserved", k[3] != "normalized"))
    # every group against LD-Pruner latency-aware, preserved weights, normalized KD
    base = [r["fid_distilled"] for r in groups.get((*PLANS[0], "preserved", "normalized"), [])]
    summary, comparisons = [], []
    for key in order:
        rs = groups[key]
        summary.append({"method": key[0], "strategy": key[1], "init": key[2], "feature_kd": key[3],
                        **{k: Q.mean_spread([r[k] for r in rs]) for k in
                           ("measured_ms", "measured_cut", "fid_pruned", "fid_distilled", "alignment_distilled",
                            "student_params")}})
        comparisons.append({**comparison_row(t, metric, key, rs),
                            "vs_ld_pruner_latency_aware": differs([r["fid_distilled"] for r in rs], base)})
    res = {**Q.header(a, "quality_strategies", t, metric), "budget": a.budget, "exclude": a.exclude, "caps": a.cap,
           "profile": {"backend": a.backend, "batch": a.profile_batch, "full_ms": prof.get("full", {}).get("median_ms")
                       if isinstance(prof.get("full"), dict) else None},
           "teacher_fid": teacher_fid, "teacher_alignment": teacher_m["alignment"], "rows": rows, "summary": summary,
           "comparisons": comparisons, "rows_resumed": kept.counts(), "wall_seconds": round(time.perf_counter() - t0, 1)}
    m = metric.name
    al = metric.align is not None
    lines = [f"Strategy comparison, budget {a.budget} ({a.backend}, batch {a.profile_batch}, landed within 1 %: "
             f"{sum(bool(r['landed']) for r in rows)}/{len(rows)} rows); teacher {t.hint['name']} {m} {teacher_fid:.2f}"
             + (f", alignment {teacher_m['alignment']:.2f}" if al else "") + f"; seeds {a.seed_list}; {a.steps} "
             f"distillation steps; {m} vs the held-out split on {a.fid_n} samples x {a.sample_steps} DDIM steps; "
             "mean ± std over seeds; 'differs' = |gap| to LD-Pruner latency-aware > the sum of both stds"
             + kept.note(rows) + (" — SMOKE, figures meaningless" if a.smoke else ""), "",
             f"| criterion | planner | init | feature KD | measured cut | {m} pruned | {m} distilled |"
             + (" alignment |" if al else "") + " differs |", "|---|---|---|---|---|---|---|" + ("---|" if al else "") + "---|"]
    for s_, c in zip(summary, comparisons):
        cut = {k: (v * 100 if isinstance(v, float) else v) for k, v in s_["measured_cut"].items()}
        lines.append(f"| {s_['method']} | {s_['strategy']} | {s_['init']} | {s_['feature_kd']} | {Q.fmt(cut, 1)} % | "
                     f"{Q.fmt(s_['fid_pruned'])} | {Q.fmt(s_['fid_distilled'])} |"
                     + (f" {Q.fmt(s_['alignment_distilled'])} |" if al else "")
                     + f" {'yes' if c['vs_ld_pruner_latency_aware']['exceeds_spread'] else 'no'} |")
    table = "\n".join(lines)
    Q.write(out, "quality_strategies", res, table)
    Q.plot_png(out / "quality_strategies.png",
               {"/".join(key): [(r["measured_cut"] * 100, r["fid_distilled"]) for r in groups[key]] for key in order},
               xlabel="measured latency cut (%)", ylabel=f"{m} after distillation",
               title=f"{t.hint['name']}: strategies at budget {a.budget}", hlines={"teacher": teacher_fid})
    print(table)
    return 0


def run_key(r: dict) -> tuple[str, str, str, str]:
    return r["method"], r["strategy"], r["init"], r["feature_kd"]


def run_one(t, a, metric, plan, method, strategy, init, feat, seed, work) -> dict:
    student = Q.prune(t, plan, scratch_seed=1000 + seed if init == "scratch" else None)
    pruned = metric.measure(student)
    trained, _, secs = Q.distill_student(t, student, a, work / f"distill-{method}-{strategy}-{init}-{feat}-s{seed}",
                                         seed=seed, steps=a.steps, feat_loss=feat)
    done = metric.measure(trained)
    row = {"method": method, "strategy": strategy, "init": init, "feature_kd": feat, "seed": seed,
           **Q.plan_summary(plan), "student_params": Q.params(student), "fid_pruned": pruned["fid"],
           "fid_distilled": done["fid"], "alignment_pruned": pruned["alignment"],
           "alignment_distilled": done["alignment"], "distill_seconds": round(secs, 1)}
    print(f"seed {seed} {method}/{strategy} {init}/{feat}: {row['n_modifications']} mods, measured cut "
          f"{row['measured_cut']:.1%}, {metric.name} pruned {pruned['fid']:.2f} -> distilled {done['fid']:.2f}"
          + ("" if done["alignment"] is None else f", alignment {done['alignment']:.2f}"))
    return row


def comparison_row(t, metric, key, rs) -> dict:
    """One ``ldprune.quality-summary/1`` comparison entry."""
    cut, fid = Q.mean_spread([r["measured_cut"] for r in rs]), Q.mean_spread([r["fid_distilled"] for r in rs])
    out = {"task": t.hint["name"], "criterion": key[0], "planner": key[1], "init": key[2], "feature_kd": key[3],
           "seeds": [r["seed"] for r in rs], "cut_mean": cut["mean"], "cut_std": cut["std"], "metric": metric.name,
           "metric_mean": fid["mean"], "metric_std": fid["std"]}
    if metric.align is not None:
        al = Q.mean_spread([r["alignment_distilled"] for r in rs])
        out.update(alignment_mean=al["mean"], alignment_std=al["std"])
    return out


if __name__ == "__main__":
    sys.exit(main())
