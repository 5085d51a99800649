"""benchmarks/quality_screen.py: candidate plans screened by a short distillation, the best distilled (issue 23)."""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
qscreen = importlib.import_module("quality_screen")
DATA = ROOT / "data_cache"


def _plan_json(mods):
    return {"schema": "ldprune.plan/1", "model_fingerprint": "x",
            "modifications": [{"operator": o, "modification": m} for o, m in mods]}


def test_groups_are_checked_before_anything_is_written(tmp_path):
    good = tmp_path / "p.json"
    good.write_text("{}")
    with pytest.raises(SystemExit, match="'0:p.json' is not SEED=PLAN.*no plan file .*missing.json"):
        qscreen.parse_groups(["0:p.json", f"1={good},{tmp_path / 'missing.json'}"])
    with pytest.raises(SystemExit, match="no --group given"):
        qscreen.parse_groups([])
    assert qscreen.parse_groups([f"3={good},{good}"]) == [(3, [good, good])]
    out = tmp_path / "o"
    with pytest.raises(SystemExit, match="no plan file"):
        qscreen.main(["--teacher", "t", "--out", str(out), "--group", f"0={tmp_path / 'nope.json'}"])
    with pytest.raises(SystemExit, match="cannot hold 3 candidates' screens of 200 steps"):
        qscreen.main(["--teacher", "t", "--out", str(out), "--steps", "500", "--group", f"0={good},{good},{good}"])
    with pytest.raises(SystemExit, match="more than --k 2"):
        qscreen.main(["--teacher", "t", "--out", str(out), "--k", "2", "--group", f"0={good},{good},{good}"])
    assert not out.exists()


def test_the_choice_reads_only_the_training_split():
    # the held-out readings point the other way: the choice must not follow them
    a = {"alignment_val": 9.0, "fid_val": 120.0, "alignment_held": 15.0, "fid_held": 100.0}
    b = {"alignment_val": 10.0, "fid_val": 130.0, "alignment_held": 12.0, "fid_held": 150.0}
    assert qscreen.choose([(a, "A"), (b, "B")], "val-alignment") == (b, "B")
    assert qscreen.choose([(a, "A"), (b, "B")], "val-fid") == (a, "A")


def test_known_final_is_the_row_beside_the_plan_with_the_same_modifications(tmp_path):
    from ldprune_deploy.artifacts import PrunePlan

    work = tmp_path / "run" / "work"
    (work / "plans").mkdir(parents=True)
    (work / "rows").mkdir()
    mods = [("up_blocks.0.attentions.0", "remove"), ("mid_block.resnets.1", "remove")]
    path = work / "plans" / "plan-ld-pruner-prompt-latency-aware-s4.json"
    path.write_text(json.dumps(_plan_json(mods)))
    plan = PrunePlan.load(path)
    assert qscreen.known_final(path, plan) is None   # no row yet
    row = work / "rows" / "row-ld-pruner-prompt-latency-aware-preserved-normalized-s4.json"
    row.write_text(json.dumps({"fingerprint": {"settings": {"steps": 2800}}, "row": {
        "modifications": [list(m) for m in reversed(mods)], "fid_distilled": 150.9, "alignment_distilled": 13.1}}))
    assert qscreen.known_final(path, plan) | {"row": None, "settings": None, "measured_on": None} == {
        "row": None, "steps": 2800, "settings": None, "fid": 150.9, "alignment": 13.1, "measured_on": None}
    other = json.loads(row.read_text())
    other["row"]["modifications"] = [list(mods[0])]   # another plan's row under the same name
    row.write_text(json.dumps(other))
    assert qscreen.known_final(path, plan) is None


def test_predictiveness_orders_the_finals_by_each_screen_reading():
    cands = [{"alignment_val": v, "alignment_held": h, "fid_val": 100 - v, "fid_held": 50 + h,
              "known": {"alignment": f, "fid": 200 - f, "steps": 2800}}
             for v, h, f in [(1, 4, 13.0), (2, 3, 14.0), (3, 2, 15.0), (4, 1, 16.0)]]
    cands.append({"alignment_val": 9, "alignment_held": 9, "fid_val": 9, "fid_held": 9, "known": None})
    p = qscreen.predictiveness(cands)
    assert p["candidates_with_final"] == 4 and p["final_steps"] == [2800]
    assert p["screen_alignment_val_vs_final_alignment"]["rho"] == pytest.approx(1.0)
    assert p["screen_alignment_held_vs_final_alignment"]["rho"] == pytest.approx(-1.0)
    assert p["screen_fid_val_vs_final_fid"]["rho"] == pytest.approx(1.0)
    assert qscreen.spearman([1, 2], [2, 1])["rho"] is None   # too few to say


needs_data = pytest.mark.skipif(
    not (DATA / "emoji.npz").is_file() or not (DATA / "emoji-emb.safetensors").is_file(),
    reason="needs data_cache/emoji.npz and emoji-emb.safetensors (ldprune data emoji, ldprune data embed)")


@needs_data
def test_smoke_screens_each_candidate_distils_the_chosen_one_and_resumes(tmp_path):
    qs = importlib.import_module("quality_strategies")
    q = tmp_path / "q"
    assert qs.main(["--smoke", "--data", str(DATA), "--proxies", str(ROOT / "benchmarks" / "assets"), "--out", str(q),
                    "--smoke-teacher", "emoji-t2i", "--only", "ld-pruner-prompt/latency-aware", "--no-ablations",
                    "--phase", "plan"]) == 0
    first = q / "work" / "plans" / "plan-ld-pruner-prompt-latency-aware-s0.json"
    p = json.loads(first.read_text())
    assert len(p["modifications"]) >= 2
    second = tmp_path / "plan-b.json"
    second.write_text(json.dumps({**p, "modifications": p["modifications"][:-1]}))
    args = ["--smoke", "--data", str(DATA), "--proxies", str(ROOT / "benchmarks" / "assets"), "--out", str(tmp_path / "s"),
            "--known", "--group", f"0={first},{second},{first}"]   # the repeat is screened once
    assert qscreen.main(args) == 0
    res = json.loads((tmp_path / "s" / "quality_screen.json").read_text())
    (run,) = res["runs"]
    assert len(run["candidates"]) == 2 and res["k"] == 3 and res["screen_steps"] == 1
    # smoke: 4 steps in all, so the schedule is 4 - (3 - 1) x 1 = 2 steps long, and the screens stop after 1
    assert res["final_steps"] == 2 and {c["schedule_steps"] for c in run["candidates"]} == {2}
    best = max(run["candidates"], key=lambda c: c["alignment_val"])
    assert run["chosen"] == best["digest"] and run["final"]["n_modifications"] == best["n_modifications"]
    assert run["total_steps"] == 2 + 1 and run["final"]["steps"] == 2
    for c in run["candidates"]:
        assert all(isinstance(c[k], float) for k in ("alignment_val", "fid_val", "alignment_held", "fid_held"))
        assert c["known"] is None   # no rows beside these plans
    assert res["recipe"]["total_steps"] == 3 and set(res["teacher_metrics"]) == {"val", "held"}
    assert res["rows_resumed"]["measured"] == 3
    assert qscreen.main(args) == 0   # a second pass measures nothing again
    again = json.loads((tmp_path / "s" / "quality_screen.json").read_text())
    assert again["rows_resumed"]["resumed"] == 3 and again["rows_resumed"]["measured"] == 0
    assert again["runs"][0]["final"] == run["final"]
    one = ["--smoke", "--data", str(DATA), "--proxies", str(ROOT / "benchmarks" / "assets"), "--out", str(tmp_path / "one"),
           "--k", "1", "--group", f"1={second}"]
    assert qscreen.main(one) == 0   # a group of one: distilled for the whole budget, no screen
    (single,) = json.loads((tmp_path / "one" / "quality_screen.json").read_text())["runs"]
    assert single["total_steps"] == 4 and single["final"]["steps"] == 4 and single["candidates"][0]["screen_steps"] == 0
    assert not any(f.name.startswith("row-screen") for f in (tmp_path / "one" / "work" / "rows").iterdir())


def test_work_file_names_round_trip():
    import _work_files as WF

    plan = WF.plan_file("run/work", "ld-pruner-prompt", "latency-aware", 7)
    assert plan == Path("run/work/plans/plan-ld-pruner-prompt-latency-aware-s7.json")
    assert WF.row_beside_plan(plan) == WF.row_path(
        "run/work", WF.row_key("ld-pruner-prompt", "latency-aware", "preserved", "normalized", 7))
    assert WF.row_beside_plan("x/plans/other.json") is None
