"""Planner: exactness against brute force, conflicts, budgets, monotonicity, rank order."""

from __future__ import annotations

import itertools

import pytest

from _planner_synth import FULL_MS, make_profile, make_scores, synth
from ldprune_deploy.errors import Infeasible, LdpruneError
from ldprune_deploy.budget import Budget
from ldprune_deploy.planner import PlanConfig, Planner, plan
from ldprune_deploy.artifacts import Modification, find_conflicts


def _candidates(scores, profile):
    out = []
    for r in scores["scores"]:
        sv = profile["operators"][r["operator"]]["savings_ms"][r["modification"]]["isolated"]
        out.append((r["operator"], r["modification"], r["score"], sv))
    return out


def _nested(a, b):
    return a == b or b.startswith(a + ".") or a.startswith(b + ".")


def brute_force(scores, profile, budget_ms):
    """Least total score over every legal subset meeting the budget (exhaustive)."""
    cands = _candidates(scores, profile)
    ops = sorted({c[0] for c in cands})
    per_op = {o: [None] + [c for c in cands if c[0] == o] for o in ops}
    best = None
    for combo in itertools.product(*per_op.values()):
        chosen = [c for c in combo if c is not None]
        if any(_nested(a[0], b[0]) for a, b in itertools.combinations(chosen, 2)):
            continue
        if FULL_MS - sum(c[3] for c in chosen) > budget_ms + 1e-9:
            continue
        cost = sum(max(c[2], 0) for c in chosen)
        if best is None or cost < best[0] - 1e-12:
            best = (cost, chosen)
    return best


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("frac", [0.85, 0.7, 0.55])
def test_optimal_against_brute_force(seed, frac):
    scores, profile = synth(n_ops=5, seed=seed)
    bf = brute_force(scores, profile, frac * FULL_MS)
    if bf is None:
        with pytest.raises(LdpruneError, match="minimum achievable"):
            plan(scores, profile, budget=f"{frac * 100}%")
        return
    pl = plan(scores, profile, budget=f"{frac * 100}%")
    assert pl.predicted["latency_ms"] <= frac * FULL_MS + 1e-9
    assert pl.predicted["score_lost"] == pytest.approx(bf[0], abs=1e-6)
    assert not find_conflicts(pl.modifications)
    assert len(set(pl.operators)) == len(pl.operators)
    assert pl.meta["solver"]["status"] == "optimal"


def test_conflicts_respected_when_parent_and_child_are_cheapest():
    # The parent and its child are both nearly free and save a lot: only one may be taken.
    ops = {"a": {"savings_ms": {"remove": {"isolated": 6.0}}},
           "a.ff": {"savings_ms": {"remove": {"isolated": 6.0}}},
           "b": {"savings_ms": {"remove": {"isolated": 6.0}}}}
    scores = make_scores([{"operator": "a", "modification": "remove", "score": 0.01},
                          {"operator": "a.ff", "modification": "remove", "score": 0.01},
                          {"operator": "b", "modification": "remove", "score": 0.5}])
    pl = plan(scores, make_profile(ops), budget="8.5ms")   # needs 11.5 ms saved: two of them
    assert sorted(pl.operators) in (["a", "b"], ["a.ff", "b"])
    assert not find_conflicts(pl.modifications)


def test_budget_100_percent_gives_empty_plan():
    scores, profile = synth(seed=1)
    for b in ("100%", "1x", f"{FULL_MS + 5}ms"):
        pl = plan(scores, profile, budget=b)
        assert pl.modifications == []
        assert pl.predicted["latency_ms"] == FULL_MS and pl.predicted["importance_lost"] == 0.0


def test_zero_score_operators_are_not_taken_needlessly():
    scores, profile = synth(seed=2)
    for r in scores["scores"]:
        r["score"] = 0.0
    pl = plan(scores, profile, budget="95%")   # 1 ms: one modification suffices
    assert len(pl.modifications) == 1


def test_infeasible_reports_minimum_and_unmodifiable_operators():
    scores, profile = synth(n_ops=3, seed=3)
    profile["operators"]["conv_noscore"] = {"savings_ms": {"remove": {"isolated": 3.0}}}
    profile["operators"]["blocks.1"]["savings_ms"] = {"remove": {"isolated": -0.1}, "width:0.5": {"isolated": 0.0}}
    best = Planner(scores, profile, PlanConfig(budget="100%")).problem
    total = sum(best.saving_ms[best.saving_ms > 0])
    with pytest.raises(Infeasible) as e:
        plan(scores, profile, budget="5%")
    msg = str(e.value)
    assert "minimum achievable" in msg and "conv_noscore (no score)" in msg and "blocks.1 (saves nothing)" in msg
    least = float(msg.split("minimum achievable ")[1].split(" ms")[0])
    assert FULL_MS - total - 1e-3 <= least < FULL_MS


@pytest.mark.parametrize("strategy", ["latency-aware", "rank"])
def test_tighter_budget_never_keeps_more_importance(strategy):
    scores, profile = synth(n_ops=8, seed=4)
    lost = []
    for pct in range(100, 30, -5):
        try:
            lost.append(plan(scores, profile, budget=f"{pct}%", strategy=strategy).predicted["importance_lost"])
        except LdpruneError:
            break
    assert len(lost) >= 6
    assert all(b >= a - 1e-9 for a, b in zip(lost, lost[1:]))


def simple_rank(scores, profile, budget_ms):
    """LD-Pruner's procedure written out plainly: each operator's most aggressive modification,
    ascending score, no conflicts."""
    strength = ["remove", "shortcut", "width:0.25", "width:0.5", "width:0.75"].index
    primary = {}
    for c in _candidates(scores, profile):
        if c[0] not in primary or strength(c[1]) < strength(primary[c[0]][1]):
            primary[c[0]] = c
    chosen, saved = [], 0.0
    for op, mod, _score, sv in sorted(primary.values(), key=lambda c: c[2]):
        if FULL_MS - saved <= budget_ms:
            break
        if any(_nested(op, c[0]) for c in chosen):
            continue
        chosen.append((op, mod))
        saved += sv
    return sorted(chosen), FULL_MS - saved <= budget_ms


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("frac", [0.8, 0.6])
def test_rank_reproduces_simple_ordering(seed, frac):
    scores, profile = synth(n_ops=8, seed=seed)
    expected, met = simple_rank(scores, profile, frac * FULL_MS)
    if not met:
        with pytest.raises(LdpruneError, match="rank order runs out|minimum achievable"):
            plan(scores, profile, budget=f"{100 * frac}%", strategy="rank")
        return
    pl = plan(scores, profile, budget=f"{100 * frac}%", strategy="rank")
    assert sorted((m.operator, m.modification) for m in pl.modifications) == expected
    assert pl.meta["strategy"] == "rank"


def test_rank_explicit_example_and_latency_aware_beats_it():
    ops = {"a": {"savings_ms": {"remove": {"isolated": 0.5}}},        # cheapest, tiny saving
           "b": {"savings_ms": {"remove": {"isolated": 1.0}}},
           "c": {"savings_ms": {"remove": {"isolated": 8.0}}}}        # slightly more important, big saving
    scores = make_scores([{"operator": o, "modification": "remove", "score": s}
                          for o, s in (("a", 0.1), ("b", 0.2), ("c", 0.25))])
    rank = plan(scores, make_profile(ops), budget="65%", strategy="rank")
    aware = plan(scores, make_profile(ops), budget="65%")
    assert rank.operators == ["a", "b", "c"]
    assert aware.operators == ["c"]
    assert aware.predicted["importance_lost"] < rank.predicted["importance_lost"]


def test_plan_records_budget_prediction_solver_and_inputs(tmp_path):
    import json

    scores, profile = synth(seed=5)
    sp, pp = tmp_path / "s.json", tmp_path / "p.json"
    sp.write_text(json.dumps(scores))
    pp.write_text(json.dumps(profile))
    pl = plan(sp, pp, budget="70%")
    assert pl.budget == {"kind": "latency_ms", "value": pytest.approx(14.0), "spec": "70%", "relative": 0.7,
                         "full_latency_ms": FULL_MS}
    assert pl.predicted["latency_ms"] == pytest.approx(FULL_MS - sum(c["saving_ms"] for c in pl.meta["choices"]))
    assert pl.meta["solver"]["solver"].startswith("scipy.optimize.milp") and pl.meta["solver"]["time_s"] >= 0
    assert pl.meta["inputs"]["scores"]["path"] == str(sp) and len(pl.meta["inputs"]["scores"]["sha256"]) == 16
    assert pl.meta["inputs"]["model_fingerprint"] == "fp-synth"
    back = type(pl).load(pl.save(tmp_path / "plan.json"))
    assert back.predicted == pl.predicted and back.operators == pl.operators


def test_budget_forms():
    assert Budget.parse("8.5ms").resolve(20).value == 8.5
    assert Budget.parse("70%").resolve(20).value == pytest.approx(14.0)
    assert Budget.parse("1.5x").resolve(21).value == pytest.approx(14.0)
    assert Budget.parse("1.5", "speedup") == Budget.parse("1.5x")
    assert Budget.parse("500M", "params").resolve(1e9).value == 5e8
    assert Budget.parse("60%", "params").resolve(1e9).value == pytest.approx(6e8)
    assert Budget.parse("70%").resolve(20).relative == pytest.approx(0.7) and Budget.parse("8.5ms").resolve(20).relative is None
    # the gate's reading of the same specs (against the teacher it times)
    assert Budget.parse("8.5ms").limit(20) == 8.5 and Budget.parse("2x").limit(20) == pytest.approx(10)
    scores, profile = synth(seed=6)
    assert plan(scores, profile, speedup=1.25).budget["value"] == pytest.approx(16.0)


@pytest.mark.parametrize("bad", ["-5ms", "0ms", "0%", "-10%", "0x", "abc", "70", "nanms"])
def test_non_positive_or_unreadable_budget(bad):
    scores, profile = synth(seed=7)
    with pytest.raises(LdpruneError):
        plan(scores, profile, budget=bad)


def test_different_models_error_names_both_fingerprints():
    scores, _ = synth(fingerprint="aaaa1111")
    _, profile = synth(fingerprint="bbbb2222")
    with pytest.raises(LdpruneError, match="aaaa1111.*bbbb2222"):
        plan(scores, profile, budget="70%")


def test_profile_missing_operators_listed_or_skipped(caplog):
    scores, profile = synth(n_ops=6, seed=8)
    del profile["operators"]["blocks.3"]
    del profile["operators"]["blocks.4.ff"]
    with pytest.raises(LdpruneError, match="blocks.3.*blocks.4.ff|blocks.4.ff.*blocks.3") as e:
        plan(scores, profile, budget="70%")
    assert "--allow-missing" in e.value.fix
    pl = plan(scores, profile, budget="70%", allow_missing=True)
    assert not {"blocks.3", "blocks.4.ff"} & set(pl.operators)
    assert set(pl.meta["excluded"]) == {"blocks.3", "blocks.4.ff"}


def test_ms_budget_for_other_shapes_is_refused_relative_is_warned(caplog):
    scores, profile = synth(seed=9)
    with pytest.raises(LdpruneError, match="batch 1.*batch 4"):
        plan(scores, profile, budget="12ms", batch=4)
    with pytest.raises(LdpruneError, match="resolution 512.*resolution 768"):
        plan(scores, profile, budget="12ms", resolution=768)
    assert plan(scores, profile, budget="15ms", batch=1, resolution=512).predicted["latency_ms"] <= 15
    assert plan(scores, profile, budget="70%", batch=4).modifications
    assert "batch 4" in caplog.text


def test_config_errors():
    scores, profile = synth(seed=10)
    with pytest.raises(LdpruneError, match="no budget"):
        plan(scores, profile)
    with pytest.raises(LdpruneError, match="both"):
        plan(scores, profile, budget="70%", speedup="1.2x")
    with pytest.raises(LdpruneError, match="'greedy' is not one of latency-aware, rank, params"):
        plan(scores, profile, budget="70%", strategy="greedy")
    bad = dict(scores, scores=scores["scores"] + [scores["scores"][0]])
    with pytest.raises(LdpruneError, match="twice"):
        plan(bad, profile, budget="70%")


def test_negative_scores_are_clipped_not_rewarded():
    scores, profile = synth(seed=11)
    scores["scores"][0]["score"] = -3.0
    pl = plan(scores, profile, budget="100%")
    assert pl.modifications == []
    assert Planner(scores, profile, PlanConfig(budget="90%")).problem.info["n_negative_scores"] == 1


def test_modifications_keep_model_order_and_are_plain_modifications():
    scores, profile = synth(n_ops=8, seed=12)
    pl = plan(scores, profile, budget="50%")
    order = [r["operator"] for r in scores["scores"]]
    assert [order.index(o) for o in pl.operators] == sorted(order.index(o) for o in pl.operators)
    assert all(isinstance(m, Modification) and m.keep is None for m in pl.modifications)


def test_mods_restricts_the_plan_to_those_families():
    """A pruning-only plan from the same scores and profile as a joint one (e.g. with fp8)."""
    scores, profile = synth(seed=11)
    both = plan(scores, profile, budget="75%")
    used = {m.modification for m in both.modifications}
    only = sorted(used)[0]
    restricted = plan(scores, profile, budget="75%", mods=[only.split(":")[0]])
    assert {m.modification.split(":")[0] for m in restricted.modifications} == {only.split(":")[0]}
    assert restricted.predicted["importance_lost"] >= both.predicted["importance_lost"] - 1e-9
