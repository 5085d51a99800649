"""benchmarks/diagnostics/landing_pairs.py: two landings of the same seeds compared from their files."""

import importlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "diagnostics"))
LP = importlib.import_module("landing_pairs")
CAP = r"(attn2|attentions\.[0-9]+):remove=4"


def _spec(root: Path, name: str, plans: dict[int, list[str]], caps=None, full_ms=2.6, landed=True) -> Path:
    """A spec folder with one ld-pruner-prompt row and plan per seed (plans: seed -> 'operator:modification')."""
    d = root / name
    (d / "work" / "plans").mkdir(parents=True)
    rows = []
    for seed, mods in plans.items():
        rows.append({"method": "ld-pruner-prompt", "strategy": "latency-aware", "init": "preserved",
                     "feature_kd": "normalized", "seed": seed, "measured_cut": 0.354, "fid_distilled": 150.0 + seed,
                     "alignment_distilled": 14.0 + len(mods) / 10})
        plan = {"modifications": [dict(zip(("operator", "modification"), m.split(":"))) for m in mods],
                "predicted": {"importance_lost": 0.1 + len(mods) / 100},
                "meta": {"verify": {"baseline": {"measured_full_ms": full_ms}, "chosen_round": 2,
                                    "rounds": [{"savings_scale": 1.0}, {"savings_scale": 0.9}]},
                         "landing": {"landed": landed, "rounds": [{"ratio": 0.58}, {"ratio": 0.648}]}}}
        (d / "work" / "plans" / f"plan-ld-pruner-prompt-latency-aware-s{seed}.json").write_text(json.dumps(plan))
    rows.append({**rows[0], "method": "ld-pruner"})   # another criterion's row: not paired
    (d / "quality_strategies.json").write_text(json.dumps({"rows": rows, "caps": caps}))
    return d


def test_two_landings_of_a_seed_are_compared_by_plan_and_student(tmp_path):
    a = _spec(tmp_path, "a", {3: ["up.attentions.0:remove", "up.resnets.0:shortcut", "mid.attn2:remove"],
                              4: ["up.resnets.1:shortcut"]}, caps=[CAP], full_ms=2.5)
    b = _spec(tmp_path, "b", {3: ["up.attentions.0:remove", "up.resnets.1:shortcut"], 4: ["up.resnets.1:shortcut"],
                              5: ["x:remove"]}, landed=False)
    r = LP.compare(a, b)
    assert [x["seed"] for x in r["seeds"]] == [3, 4] and r["caps"] == [CAP]   # seed 5 is only in b
    s3, s4 = r["seeds"]
    assert s3["shared"] == 1 and s3["only_a"] == ["mid.attn2:remove", "up.resnets.0:shortcut"]
    assert s3["only_b"] == ["up.resnets.1:shortcut"] and not s3["same_plan"] and s4["same_plan"]
    assert s3["a"]["cap_matches"] == {CAP: 2} and s3["b"]["cap_matches"] == {CAP: 1}
    assert s3["b_minus_a"]["alignment_distilled"] == pytest.approx(-0.1)
    assert s3["verify_full_ms_rel_diff"] == pytest.approx(0.04)
    assert s3["a"]["landing_ratio_range"] == [0.58, 0.648] and s3["b"]["landed"] is False
    assert s3["a"]["verify_savings_scale"] == 0.9 and s3["a"]["landing_step_median"] == pytest.approx(0.068)
    assert "| 3 | 1 / 3 / 2 | 2 / 1 |" in LP.table(r) and "not landed, 2 rounds" in LP.table(r)


def test_no_shared_seed_and_a_wrong_folder_are_one_clear_error(tmp_path, capsys):
    a = _spec(tmp_path, "a", {0: ["x:remove"]})
    b = _spec(tmp_path, "b", {1: ["x:remove"]})
    out = tmp_path / "pairs.json"
    assert LP.main([str(a), str(b), "--out", str(out)]) == 2
    assert "share no seed" in capsys.readouterr().err and not out.exists()
    assert LP.main([str(a), str(tmp_path / "nothing")]) == 2
    assert "has no quality_strategies.json" in capsys.readouterr().err
    assert LP.main([str(a), str(a), "--out", str(out)]) == 0 and json.loads(out.read_text())["seeds"][0]["same_plan"]
