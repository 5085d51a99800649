"""planner.landing (plans landed on a measured latency target) and quality.evidence (plateau,
sanity ladder, seed-spread comparisons): pure logic, driven by deterministic fake measurements."""

import numpy as np
import pytest

from ldprune_deploy.planner.landing import land, priority_order, savings_posterior
from ldprune_deploy.planner.problem import Problem
from ldprune_deploy.quality.evidence import differs, ladder, plateau, pooled_std, trend


def _problem(savings, importance, ops=None):
    n = len(savings)
    imp = np.array(importance, dtype=float)
    return Problem(ops=ops or [f"blk.{i}" for i in range(n)], mods=["remove"] * n, scores=imp, importance=imp,
                   saving_ms=np.array(savings, dtype=float), full_ms=10.0, conflicts=[], excluded={},
                   importance_total=1.0)


def _fake(problem, bias=0.0):
    # a deterministic "runner": the plan's latency is the predictor's plus a constant bias
    return lambda sel: (problem.predicted_ms(sel) + bias) / problem.full_ms


def test_rank_plan_is_completed_in_rank_order_until_it_meets_the_target():
    p = _problem([1.0, 0.5, 2.0, 0.3, 0.8], [0.1, 0.2, 0.3, 0.4, 0.5])
    order = priority_order(p, "rank")
    assert order == [0, 1, 2, 3, 4]
    res = land(p, [0], order, _fake(p), target=0.65)
    # 10 ms -> needs 3.5 ms saved: rank order adds 1 (0.5), 2 (2.0) -> 3.5 ms = exactly 0.65
    assert res["landed"] and res["selection"] == [0, 1, 2] and res["ratio"] == pytest.approx(0.65)
    assert res["rounds"][0]["action"].startswith("added")


def test_too_deep_a_cut_is_trimmed_back_into_the_window():
    p = _problem([2.0, 1.5, 0.7, 0.35], [0.1, 0.1, 0.1, 0.1])
    res = land(p, [0, 1, 2, 3], priority_order(p, "latency-aware"), _fake(p), target=0.65)
    # chosen 4.55 ms saved = 0.545; the window is [0.6435, 0.65]: dropping 0.7 gives 0.615, then 0.35 -> 0.65
    assert res["landed"] and 0.65 * 0.99 <= res["ratio"] <= 0.65
    assert any(r["action"].startswith("trimmed") for r in res["rounds"])


def test_unlandable_plan_reports_the_best_selection_not_slower_than_the_target():
    p = _problem([3.0, 3.0], [0.1, 0.2])
    res = land(p, [], priority_order(p, "rank"), _fake(p), target=0.65, max_rounds=6)
    assert not res["landed"] and res["ratio"] <= 0.65
    assert res["rounds"][-1]["action"] in ("no candidate left to add", "nothing left to trim") or len(res["rounds"]) == 6


def test_nested_operators_are_never_both_chosen():
    p = _problem([1.0, 1.0, 1.0], [0.1, 0.2, 0.3], ops=["down.0", "down.0.attn", "up.1"])
    res = land(p, [0], priority_order(p, "rank"), _fake(p), target=0.8)
    assert 1 not in res["selection"] and res["landed"]


def test_a_plan_lands_when_the_runner_saves_more_than_the_profile_says():
    # three candidates save 1.5-2x their isolated (profiled) saving on the "runner", as a trim did on
    # the H200; single add / trim moves planned on the profiled savings never landed this plan (they
    # alternated between 0.47 and 0.73 for 10 rounds); estimates fitted to the measurements and swaps land it
    p = _problem([0.6, 0.7, 0.7, 0.5, 1.0, 0.5, 0.8], [0.4, 0.2, 0.4, 0.4, 0.3, 0.1, 0.4])
    real = p.saving_ms * np.array([1.0, 1.0, 2.0, 1.0, 1.5, 1.0, 1.5])
    res = land(p, [5, 1, 4, 6, 2], priority_order(p, "latency-aware"),
               lambda sel: (p.full_ms - real[list(sel)].sum()) / p.full_ms, target=0.65)
    assert res["landed"] and 0.65 * 0.99 <= res["ratio"] <= 0.65
    assert any("added" in r["action"] and "trimmed" in r["action"] for r in res["rounds"])   # a swap
    assert len({frozenset(r["selection"]) for r in res["rounds"]}) == len(res["rounds"])   # none measured twice


def test_confirm_lands_on_the_median_of_repeats_not_on_one_lucky_measurement():
    p = _problem([2.0, 1.475, 0.7, 0.35, 0.05], [0.1] * 5)
    true = _fake(p)
    seen: dict = {}

    def noisy(sel):   # each selection's first reading 0.003 low (one measurement's noise), later ones exact
        k = frozenset(sel)
        seen[k] = seen.get(k, 0) + 1
        return true(sel) - (0.003 if seen[k] == 1 else 0.0)

    order = priority_order(p, "latency-aware")
    # {0, 1} is really 0.6525, slower than the target; its first reading, 0.6495, is in the window
    plain = land(p, [0, 1], order, noisy, target=0.65)
    assert plain["landed"] and plain["selection"] == [0, 1] and true(plain["selection"]) > 0.65
    seen.clear()
    checked = land(p, [0, 1], order, noisy, target=0.65, confirm=2)
    first = checked["rounds"][0]
    assert first["repeats"] == pytest.approx([0.6495, 0.6525, 0.6525]) and first["ratio"] == pytest.approx(0.6525)
    assert first["action"] != "landed"
    assert checked["landed"] and 0.65 * 0.99 <= true(checked["selection"]) <= 0.65
    last = checked["rounds"][-1]
    assert len(last["repeats"]) == 3 and last["ratio"] == pytest.approx(float(np.median(last["repeats"])))
    assert not any("repeats" in r for r in plain["rounds"])
    # a selection is repeated exactly when its first reading is in the window (the cost comes only at acceptance)
    for r in checked["rounds"]:
        assert ("repeats" in r) == (0.65 * 0.99 <= r.get("repeats", [r["ratio"]])[0] <= 0.65), r


def test_savings_posterior_learns_a_candidate_from_two_measurements_one_apart():
    p = _problem([0.5, 0.5, 0.5], [0.1, 0.2, 0.3])
    # {0, 1} measured at 0.90 (1.0 ms saved), {0, 1, 2} at 0.81: candidate 2 saves ~0.9 ms, not 0.5
    est = savings_posterior(p, {frozenset({0, 1}): 0.90, frozenset({0, 1, 2}): 0.81})
    assert est[2] == pytest.approx(0.9, abs=0.02)
    assert est[0] + est[1] == pytest.approx(1.0, abs=0.02)
    # no measurement: the profiled savings; nothing measured about a candidate: its profiled saving
    # times the measured ones' correction
    assert np.allclose(savings_posterior(p, {}), p.saving_ms)
    only = savings_posterior(p, {frozenset({0}): 0.93})   # 0.7 ms measured for a 0.5 ms candidate
    assert only[0] == pytest.approx(0.7, abs=0.02) and only[2] == pytest.approx(0.5 * only[0] / 0.5, abs=0.02)


def test_latency_aware_order_prefers_cheap_importance_per_ms():
    p = _problem([0.1, 2.0, 1.0], [0.1, 0.2, 0.3])
    assert priority_order(p, "latency-aware") == [1, 2, 0]


def test_plateau_rule_compares_curve_range_with_seed_range():
    steps = [100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
    falling = [300, 250, 200, 180, 160, 150, 140, 130, 120, 110]
    flat = [300, 250, 200, 180, 160, 150, 140, 121, 120, 121]
    seeds = [119.0, 121.5, 120.0]
    assert not plateau(steps, falling, 1000, seeds)["plateau"]
    res = plateau(steps, flat, 1000, seeds)
    assert res["plateau"] and res["points_in_window"] == 3 and res["window_range"] == 1 and res["seed_range"] == 2.5
    # fewer than two points in the window: nothing can be said
    assert not plateau([500, 1000], [10, 10], 1000, seeds)["plateau"]
    # a curve that starts inside the window (re-measured from a late resume point) does not cover it
    late = plateau([850, 900, 1000], [120, 121, 120], 1000, seeds)
    assert not late["plateau"] and not late["window_covered"] and late["points_in_window"] == 3
    assert plateau([800, 900, 1000], [120, 121, 120], 1000, seeds)["window_covered"]


def test_range_rule_passes_a_flat_curve_as_often_as_its_window_allows():
    from ldprune_deploy.quality.evidence import pass_rate_if_flat

    # equal counts: by symmetry either range is the larger one half the time
    assert abs(pass_rate_if_flat(3, 3) - 0.5) < 0.005
    # the teachers' windows: 4 points against 3 seeds, a flat curve passes ~38 % of the time
    assert abs(pass_rate_if_flat(4, 3) - 0.380) < 0.005
    # more points in the window, or fewer seeds, make the rule stricter
    assert pass_rate_if_flat(6, 3) < pass_rate_if_flat(4, 3) < pass_rate_if_flat(4, 5)
    assert pass_rate_if_flat(4, 3) == pass_rate_if_flat(4, 3)   # fixed seed: the same figure every time
    assert pass_rate_if_flat(1, 3) is None and pass_rate_if_flat(4, 1) is None


def test_trend_tells_a_drift_from_scatter():
    steps, seeds = [800, 850, 900, 950, 1000], [119.0, 121.0, 120.0]   # seed std 1
    # a steady rise of 2 per point: drift 8 over the window, standard error 1 * 200 / sqrt(25000) = 1.26
    up = trend(steps, [100, 102, 104, 106, 108], 1000, seeds)
    assert up["trend"] == "up" and abs(up["drift"] - 8) < 1e-9 and abs(up["drift_se"] - 200 / 25000 ** 0.5) < 1e-9
    assert up["scatter_vs_seeds"] < 1e-9   # on the line exactly
    assert trend(steps, [108, 106, 104, 102, 100], 1000, seeds)["trend"] == "down"
    # large scatter without a slope: no trend, and the scatter is named (points move 5x the seed std)
    zig = trend(steps, [100, 110, 100, 110, 100], 1000, seeds)
    assert zig["trend"] == "none" and abs(zig["drift"]) < 1e-9 and zig["scatter_vs_seeds"] > 5
    # the range rule fails this curve (range 10 vs 2) while the trend test does not call it moving
    assert not plateau(steps, [100, 110, 100, 110, 100], 1000, seeds)["plateau"]
    # points before the window are ignored; too few points or seeds: no verdict
    assert trend([100, *steps], [500, 100, 102, 104, 106, 108], 1000, seeds)["drift"] == up["drift"]
    assert trend([900, 1000], [1, 2], 1000, seeds)["trend"] is None
    assert trend(steps, [100, 102, 104, 106, 108], 1000, [120.0])["trend"] is None


def test_ladder_and_differs():
    good = ladder({"real": 5.0, "teacher": 40.0, "noise": 400.0}, ["real", "teacher", "noise"])
    assert good["holds"]
    assert not ladder({"real": 50.0, "teacher": 40.0, "noise": 400.0}, ["real", "teacher", "noise"])["holds"]
    assert ladder({"own": 60.0, "teacher": 40.0, "shuffled": 5.0, "noise": 7.0}, ["own", "teacher", "shuffled"],
                  higher_is_better=True)["holds"]
    assert differs([10, 11, 12], [20, 21, 22])["exceeds_spread"]
    assert not differs([10, 14, 18], [12, 16, 20])["exceeds_spread"]


def test_pooled_std_weights_each_groups_variance_by_its_degrees_of_freedom():
    # variances 1 (2 dof) and 2 (1 dof); a group of one adds nothing
    p = pooled_std([[13.0, 14.0, 15.0], [10.0, 12.0], [7.0]])
    assert p["dof"] == 3 and p["std"] == pytest.approx(((2 * 1 + 1 * 2) / 3) ** 0.5)
    assert pooled_std([[1.0], [2.0]]) == {"std": None, "dof": 0}


def test_paired_seeds_needed_matches_the_power_tables_and_a_simulation():
    import numpy as np
    from scipy import stats

    from ldprune_deploy.quality.evidence import paired_seeds_needed

    # paired t-test, two-sided 5 %, 80 % power: 10 pairs for d = 1, 34 for d = 0.5 (Cohen's tables, G*Power)
    assert paired_seeds_needed(1.0, 1.0) == 10 and paired_seeds_needed(2.0, 1.0) == 34
    assert paired_seeds_needed(1.0, -0.5) == 34 and paired_seeds_needed(1.0, 0.0) is None
    assert paired_seeds_needed(1.0, 0.05, most=50) is None
    n = paired_seeds_needed(0.6, 0.3)
    rng = np.random.default_rng(0)
    hits = [float((stats.ttest_1samp(rng.normal(0.3, 0.6, (4000, k)), 0.0, axis=1).pvalue < 0.05).mean())
            for k in (n - 1, n)]
    assert hits[0] < 0.8 + 0.02 and hits[1] > 0.8 - 0.02, (n, hits)


def test_landing_simulation_lands_nearly_every_landable_case():
    """benchmarks/landing_simulation.py (deterministic: seeded fake runners, nothing timed)."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import landing_simulation

    r = landing_simulation.run(40)
    assert r["schema"] == "ldprune.bench.landing_simulation/1" and 0 < r["landable"] <= 40
    assert r["landed"] >= 0.9 * r["landable"] and r["max_rounds_used"] <= 16


def test_reland_phase_keeps_landed_plans_and_replans_the_rest(tmp_path):
    """benchmarks/_quality.PlanStore with --phase reland: the saved profile and every saved plan that
    landed (or never had a landing target) are kept; a plan whose landing failed is made again."""
    import json
    import sys
    from pathlib import Path
    from types import SimpleNamespace

    from ldprune_deploy.artifacts import Modification, PrunePlan

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import _quality as Q

    work = tmp_path / "work"
    a = SimpleNamespace(phase="reland", backend="cpu")
    store = Q.PlanStore(a, work)
    (work / "plans").mkdir(parents=True)
    store.profile_path.write_text(json.dumps({"saved": True}))
    for key, landed in (("ok", True), ("failed", False), ("unlanded", None)):
        meta = {} if landed is None else {"landing": {"landed": landed}}
        PrunePlan("fp", [Modification("blk.0", "remove")], model="m", meta=meta).save(work / "plans" / f"plan-{key}.json")
    made = []

    def make(key):
        made.append(key)
        return PrunePlan("fp", [Modification("blk.1", "remove")], model="m", meta={"landing": {"landed": True}})

    assert store.profile(lambda: pytest.fail("reland re-profiled")) == {"saved": True}
    assert [store.plan(k, lambda k=k: make(k)).modifications[0].operator for k in ("ok", "failed", "unlanded")] == \
        ["blk.0", "blk.1", "blk.0"]
    assert made == ["failed"] and not store.train
    assert PrunePlan.load(work / "plans" / "plan-failed.json").modifications[0].operator == "blk.1"


def test_reland_with_caps_replans_only_the_plans_over_a_cap_and_train_refuses_them(tmp_path):
    """--cap with --phase reland: a saved landed plan within every cap is kept (planning with the caps
    keeps it too), one over a cap is planned and landed again; --phase train stops on a plan over a cap."""
    import sys
    from pathlib import Path
    from types import SimpleNamespace

    from ldprune_deploy.artifacts import Modification, PrunePlan
    from ldprune_deploy.planner.problem import caps_exceeded

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import _quality as Q

    work = tmp_path / "work"
    (work / "plans").mkdir(parents=True)
    caps = [r"(attn2|attentions\.[0-9]+):remove=1"]
    saved = {"within": ["up.attentions.0", "up.resnets.1"], "over": ["up.attentions.0", "up.attentions.1.attn2"]}
    for key, ops in saved.items():
        PrunePlan("fp", [Modification(o, "remove") for o in ops], model="m",
                  meta={"landing": {"landed": True}}).save(work / "plans" / f"plan-{key}.json")
    assert caps_exceeded(PrunePlan.load(work / "plans" / "plan-over.json").modifications, caps) == caps
    assert caps_exceeded(PrunePlan.load(work / "plans" / "plan-within.json").modifications, caps) == []
    with pytest.raises(SystemExit, match="exceeds --cap"):
        Q.PlanStore(SimpleNamespace(phase="train", backend="cpu", cap=caps), work).plan("over", pytest.fail)
    store = Q.PlanStore(SimpleNamespace(phase="reland", backend="cpu", cap=caps), work)
    made = []

    def make(key):
        made.append(key)
        return PrunePlan("fp", [Modification("up.resnets.2", "remove")], model="m", meta={"landing": {"landed": True}})

    assert [[m.operator for m in store.plan(k, lambda k=k: make(k)).modifications] for k in saved] == \
        [saved["within"], ["up.resnets.2"]]
    assert made == ["over"]
    assert Q.PlanStore(SimpleNamespace(phase="train", backend="cpu", cap=caps), work).plan("over", pytest.fail)


def test_replan_plans_every_saved_plan_again_from_the_saved_profile_and_only_with_reland(tmp_path):
    """--replan with --phase reland: every plan is made again (say, the same seeds without the cap they were
    planned with), the saved profile still read; with any other phase it is one error naming the fix."""
    import json
    import sys
    from pathlib import Path
    from types import SimpleNamespace

    from ldprune_deploy.artifacts import Modification, PrunePlan

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import _quality as Q

    work = tmp_path / "work"
    (work / "plans").mkdir(parents=True)
    PrunePlan("fp", [Modification("blk.0", "remove")], model="m",
              meta={"landing": {"landed": True}}).save(work / "plans" / "plan-s3.json")
    store = Q.PlanStore(SimpleNamespace(phase="reland", backend="cpu", replan=True), work)
    store.profile_path.write_text(json.dumps({"saved": True}))
    assert store.profile(lambda: pytest.fail("replan re-profiled")) == {"saved": True}
    new = PrunePlan("fp", [Modification("blk.1", "remove")], model="m", meta={"landing": {"landed": True}})
    assert store.plan("s3", lambda: new).modifications[0].operator == "blk.1"
    assert PrunePlan.load(work / "plans" / "plan-s3.json").modifications[0].operator == "blk.1"
    for phase in ("plan", "train", "all"):
        with pytest.raises(SystemExit, match="--replan goes with --phase reland"):
            Q.PlanStore(SimpleNamespace(phase=phase, backend="cpu", replan=True), work)
