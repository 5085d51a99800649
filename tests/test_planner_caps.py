"""PlanConfig.caps (`ldprune plan --cap REGEX=N`): at most N chosen modifications match REGEX, in the exact
MILP, LD-Pruner's rank order and the landing on a measured target."""

from __future__ import annotations

import itertools
import json
import re

import numpy as np
import pytest

from _planner_synth import FULL_MS, make_profile, make_scores, synth
from ldprune_deploy.cli import main
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.planner import PlanConfig, plan
from ldprune_deploy.planner.landing import land, priority_order
from ldprune_deploy.planner.problem import Problem


def _count(mods, pattern):
    return sum(bool(re.search(pattern, f"{o}:{m}")) for o, m in mods)


def brute_force(scores, profile, budget_ms, caps):
    """Least total score over every legal subset meeting the budget and the caps (exhaustive)."""
    cands = [(r["operator"], r["modification"], r["score"],
              profile["operators"][r["operator"]]["savings_ms"][r["modification"]]["isolated"]) for r in scores["scores"]]
    ops = sorted({c[0] for c in cands})
    best = None
    for combo in itertools.product(*([None] + [c for c in cands if c[0] == o] for o in ops)):
        chosen = [c for c in combo if c is not None]
        if any(a[0] == b[0] or b[0].startswith(a[0] + ".") or a[0].startswith(b[0] + ".")
               for a, b in itertools.combinations(chosen, 2)):
            continue
        if FULL_MS - sum(c[3] for c in chosen) > budget_ms + 1e-9:
            continue
        if any(_count([c[:2] for c in chosen], p) > n for p, n in caps):
            continue
        cost = sum(max(c[2], 0) for c in chosen)
        if best is None or cost < best - 1e-12:
            best = cost
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("caps", [[(":remove", 1)], [(r"^blocks\.[0-2]", 1), ("width", 2)]])
def test_the_milp_is_optimal_under_the_caps(seed, caps):
    scores, profile = synth(n_ops=5, seed=seed)
    specs = [f"{p}={n}" for p, n in caps]
    bf = brute_force(scores, profile, 0.7 * FULL_MS, caps)
    if bf is None:
        with pytest.raises(LdpruneError, match="under the caps"):
            plan(scores, profile, budget="70%", caps=specs)
        return
    pl = plan(scores, profile, budget="70%", caps=specs)
    mods = [(m.operator, m.modification) for m in pl.modifications]
    assert all(_count(mods, p) <= n for p, n in caps)
    assert pl.predicted["score_lost"] == pytest.approx(bf, abs=1e-6)
    assert pl.meta["config"]["caps"] == specs


def test_a_cap_that_binds_changes_the_plan_and_one_that_does_not_leaves_it():
    scores, profile = synth(n_ops=6, seed=3)
    free = plan(scores, profile, budget="60%")
    n_remove = _count([(m.operator, m.modification) for m in free.modifications], ":remove$")
    assert n_remove >= 2   # the example needs a binding cap
    loose = plan(scores, profile, budget="60%", caps=[f":remove$={n_remove}"])
    tight = plan(scores, profile, budget="60%", caps=[f":remove$={n_remove - 1}"])
    assert loose.modifications == free.modifications
    assert _count([(m.operator, m.modification) for m in tight.modifications], ":remove$") <= n_remove - 1
    assert tight.predicted["importance_lost"] >= free.predicted["importance_lost"] - 1e-12


def test_rank_skips_a_candidate_that_would_exceed_a_cap():
    ops = {o: {"savings_ms": {"remove": {"isolated": s}}} for o, s in (("a", 0.5), ("b", 1.0), ("c", 8.0))}
    scores = make_scores([{"operator": o, "modification": "remove", "score": s}
                          for o, s in (("a", 0.1), ("b", 0.2), ("c", 0.25))])
    assert plan(scores, make_profile(ops), budget="65%", strategy="rank").operators == ["a", "b", "c"]
    capped = plan(scores, make_profile(ops), budget="65%", strategy="rank", caps=["^[ab]:=1"])
    assert capped.operators == ["a", "c"]


def test_landing_never_measures_a_selection_over_a_cap():
    n = 6
    imp = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    p = Problem(ops=[f"x.{i}" if i < 3 else f"y.{i}" for i in range(n)], mods=["remove"] * n, scores=imp,
                importance=imp, saving_ms=np.array([1.0, 1.0, 1.0, 0.5, 0.5, 0.5]), full_ms=10.0, conflicts=[],
                excluded={}, importance_total=1.0)
    seen = []

    def measure(sel):
        seen.append(sorted(sel))
        return p.predicted_ms(sel) / p.full_ms

    free = land(p, [], priority_order(p, "rank"), measure, target=0.75)
    assert free["landed"] and sum(i < 3 for i in free["selection"]) >= 2   # rank order: the x ones first
    seen.clear()
    p.set_caps([r"^x\.=1"])
    res = land(p, [], priority_order(p, "rank"), measure, target=0.75)
    assert all(sum(i < 3 for i in s) <= 1 for s in seen)
    assert res["landed"] and sorted(res["selection"]) == [0, 3, 4, 5]


def test_bad_caps_are_one_error_naming_the_flag():
    with pytest.raises(LdpruneError, match=r"--cap.*not REGEX=N"):
        PlanConfig(budget="70%", caps=["attn2"])
    with pytest.raises(LdpruneError, match="whole number"):
        PlanConfig(budget="70%", caps=["attn2=four"])
    with pytest.raises(LdpruneError, match="bad regular expression"):
        PlanConfig(budget="70%", caps=["(attn2=1"])
    scores, profile = synth(n_ops=3, seed=0)
    with pytest.raises(LdpruneError, match="matches no candidate") as e:
        plan(scores, profile, budget="70%", caps=["attn2=1"])
    assert "blocks.0:remove" in e.value.fix


@pytest.mark.parametrize("argv, msg", [(["--cap", "nope"], "not REGEX=N"), (["--cap", "zzz=1"], "matches no candidate"),
                                       (["--cap", "remove=0", "--cap", "width=0"], "under the caps")])
def test_cli_cap_errors_are_one_line_exit_2(tmp_path, capsys, argv, msg):
    scores, profile = synth(n_ops=4, seed=1)
    sp, pp = tmp_path / "s.json", tmp_path / "p.json"
    sp.write_text(json.dumps(scores))
    pp.write_text(json.dumps(profile))
    code = main(["plan", "--scores", str(sp), "--profile", str(pp), "--budget", "70%", "-o", str(tmp_path / "o.json"),
                 *argv])
    err = capsys.readouterr().err
    assert code == 2 and msg in err and "Traceback" not in err
    assert not (tmp_path / "o.json").exists()


def test_cli_cap_is_repeatable_and_recorded(tmp_path):
    scores, profile = synth(n_ops=6, seed=3)
    sp, pp, out = tmp_path / "s.json", tmp_path / "p.json", tmp_path / "o.json"
    sp.write_text(json.dumps(scores))
    pp.write_text(json.dumps(profile))
    assert main(["plan", "--scores", str(sp), "--profile", str(pp), "--budget", "75%", "-o", str(out),
                 "--cap", ":remove$=2", "--cap", "width=2"]) == 0
    p = json.loads(out.read_text())
    mods = [(m["operator"], m["modification"]) for m in p["modifications"]]
    assert _count(mods, ":remove$") <= 2 and _count(mods, "width") <= 2
    assert p["meta"]["config"]["caps"] == [":remove$=2", "width=2"]
