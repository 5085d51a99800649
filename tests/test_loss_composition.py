import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "diagnostics"))
LC = importlib.import_module("loss_composition")


def test_composition_averages_each_term_and_gives_the_weighted_feature_share():
    history = [{"step": 1, "total": 0.2, "task": 0.03, "out": 0.02, "feat": 1.5, "feat/mid_block": 1.0, "grad_norm": 3.0},
               {"step": 2, "total": 0.16, "task": 0.02, "out": 0.02, "feat": 1.2, "feat/mid_block": 0.8, "grad_norm": 2.0}]
    c = LC.composition(history, 0.1)
    assert c["mean"] == pytest.approx({"total": 0.18, "task": 0.025, "out": 0.02, "feat": 1.35, "feat/mid_block": 0.9})
    assert "step" not in c["mean"] and "grad_norm" not in c["mean"]
    assert c["feature_share"] == pytest.approx(0.1 * 1.35 / 0.18)


@pytest.mark.parametrize("args,message", [(["--plans", "no-such-plan.json"], "no such plan file: no-such-plan.json"),
                                          (["--plans", __file__, "--lambda-feat", "1,-0.1"], "weights >= 0")])
def test_bad_arguments_stop_before_any_model_is_loaded(tmp_path, args, message):
    with pytest.raises(SystemExit, match=message):
        LC.main([*args, "--out", str(tmp_path / "x.json"), "--teacher", str(tmp_path / "absent")])
    assert not (tmp_path / "x.json").exists()
