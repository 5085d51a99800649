"""benchmarks/diagnostics/plan_features.py: plan features against the distilled students, from committed files."""

import importlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "diagnostics"))
PF = importlib.import_module("plan_features")
from ldprune_deploy.errors import LdpruneError  # noqa: E402


def _spec(root: Path, name: str, rows: list[tuple[int, list[str], float, float]], lr=5e-4, **distill) -> Path:
    """A spec folder whose ld-pruner-prompt rows are (seed, 'operator:modification' list, alignment, proxy-FID)."""
    d = root / name
    d.mkdir()
    out = [{"method": "ld-pruner-prompt", "strategy": "latency-aware", "init": "preserved", "feature_kd": "normalized",
            "seed": s, "modifications": [m.split(":") for m in mods], "alignment_distilled": al, "fid_distilled": fid,
            "alignment_pruned": 9.0, "fid_pruned": 300.0 + s, "importance_lost": 0.1, "measured_cut": 0.354}
           for s, mods, al, fid in rows]
    out.append({**out[0], "method": "ld-pruner", "alignment_distilled": 0.0})   # another criterion: not read
    (d / "quality_strategies.json").write_text(json.dumps({"rows": out, "distill": {"steps": 2800, "lr": lr,
                                                                                    "losses": f"text {name}", **distill}}))
    return d


MID = ["mid_block.resnets.0:remove", "mid_block.attentions.0:remove", "mid_block.resnets.1:remove"]


def test_features_rank_plans_and_a_plan_under_two_seeds_is_averaged(tmp_path):
    a = _spec(tmp_path, "a", [(0, ["up_blocks.2.resnets.0:shortcut"], 13.0, 160.0),
                              (1, MID[:1] + ["up_blocks.0.attentions.0.transformer_blocks.0.attn2:remove"], 14.0, 150.0)])
    b = _spec(tmp_path, "b", [(2, MID[:2], 15.0, 145.0), (3, MID, 16.0, 140.0),
                              (4, ["up_blocks.2.resnets.0:shortcut"], 12.0, 170.0),   # seed 0's plan again
                              (0, ["up_blocks.2.resnets.0:shortcut"], 13.0, 160.0)])  # and seed 0's row again
    plans = PF.plans_of([a, b], "ld-pruner-prompt")
    assert len(plans) == 4
    again = next(p for p in plans if p["modifications"] == ["up_blocks.2.resnets.0:shortcut"])
    assert [(f["seed"], f["alignment"]) for f in again["finals"]] == [(0, 13.0), (4, 12.0)]
    f = PF.features(next(p for p in plans if len(p["modifications"]) == 2 and "mid_block.resnets.0:remove" in
                         p["modifications"] and "mid_block.attentions.0:remove" not in p["modifications"]))
    assert f["mid block"] == 1 and f["cross-attentions removed"] == 1 and f["modifications"] == 2
    assert f["alignment before distillation"] == 9.0
    c = PF.correlate(plans)
    al = c["by_target"]["alignment"]
    assert al["mid block"]["rho"] == pytest.approx(1.0)   # 0, 1, 2, 3 mid-block ops: 12.5, 14, 15, 16
    assert al["up_blocks.2"]["rho"] == pytest.approx(-3 / 15 ** 0.5)   # ranks with ties: 4, 2, 2, 2 against 1-4
    assert al["mid block"]["p_bonferroni"] == pytest.approx(min(1.0, al["mid block"]["p"] * c["features_tested"]))
    assert al["importance lost"]["rho"] is None and "same in every plan" in al["importance lost"]["note"]
    assert list(al)[0] == "mid block"   # strongest first
    assert c["by_target"]["proxy-FID"]["mid block"]["rho"] == pytest.approx(-1.0)


def test_folders_distilled_otherwise_are_refused_and_the_cli_writes_its_json(tmp_path, capsys):
    a = _spec(tmp_path, "a", [(0, MID[:1], 13.0, 160.0), (1, MID[:2], 14.0, 150.0), (2, MID, 15.0, 140.0)])
    other = _spec(tmp_path, "other", [(3, MID, 15.0, 140.0)], lr=1e-3)
    with pytest.raises(LdpruneError, match="distilled with other settings"):
        PF.plans_of([a, other], "ld-pruner-prompt")
    assert PF.main([str(a), str(other), "--out", str(tmp_path / "x.json")]) == 2 and not (tmp_path / "x.json").exists()
    assert "other settings" in capsys.readouterr().err
    assert PF.main([str(a), "--out", str(tmp_path / "pf.json")]) == 0
    res = json.loads((tmp_path / "pf.json").read_text())
    assert res["schema"] == PF.SCHEMA and res["plans"] == 3 and len(res["per_plan"]) == 3
    assert res["by_target"]["alignment"]["mid block"]["rho"] == pytest.approx(1.0)
    assert PF.main([str(_spec(tmp_path, "two", [(0, MID[:1], 13.0, 1.0), (1, MID, 14.0, 1.0)])),
                    "--out", str(tmp_path / "y.json")]) == 2


def test_a_setting_left_unrecorded_is_its_default_and_a_changed_one_is_refused(tmp_path):
    """Results name a later distillation setting (here the feature-KD weight) only when it is not the default, so a
    folder without it and one that names the default distilled alike; one with another weight did not."""
    a = _spec(tmp_path, "a", [(0, MID[:1], 13.0, 160.0)])
    named = _spec(tmp_path, "named", [(1, MID, 15.0, 140.0)], lambda_feat=1.0, snr_gamma=None)
    assert len(PF.plans_of([a, named], "ld-pruner-prompt")) == 2
    feat01 = _spec(tmp_path, "feat01", [(2, MID[:2], 14.0, 150.0)], lambda_feat=0.1)
    with pytest.raises(LdpruneError, match="feat01 distilled with other settings"):
        PF.plans_of([a, feat01], "ld-pruner-prompt")
