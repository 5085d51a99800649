"""benchmarks/diagnostics/weight_drift.py's arithmetic (the figures come from the trials' weight
files; here only what turns two states into a relative change)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "diagnostics"))

import weight_drift  # noqa: E402


def test_drift_of_a_known_change():
    a = {"w": torch.tensor([1.0, 2.0, -4.0, 0.0]), "step": torch.tensor([3])}
    b = {"w": torch.tensor([1.1, 2.0, -4.0, 0.5]), "step": torch.tensor([9])}
    d = weight_drift.drift(a, b)
    assert d["relative_l2"] == pytest.approx((0.1 ** 2 + 0.5 ** 2) ** 0.5 / 21 ** 0.5)
    # the exact zero is left out of the relative changes: 0.1, 0, 0 -> median 0
    assert d["median_relative"] == pytest.approx(0.0)
    assert d["elements"] == 4   # the integer tensor is not weights


def test_drift_of_a_multiplicative_perturbation_is_its_scale():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(200_000, generator=g)
    s = 3e-3
    d = weight_drift.drift({"w": w}, {"w": w * (1 + s * torch.randn(w.shape, generator=g))})
    assert d["relative_l2"] == pytest.approx(s, rel=0.02)
    assert d["median_relative"] == pytest.approx(0.6745 * s, rel=0.02)


def test_mismatched_states_are_refused():
    with pytest.raises(ValueError, match="different tensors"):
        weight_drift.drift({"a": torch.ones(2)}, {"b": torch.ones(2)})
    with pytest.raises(ValueError, match="not one architecture"):
        weight_drift.drift({"a": torch.ones(2)}, {"a": torch.ones(3)})


def test_cli_writes_the_pairs(tmp_path):
    for name, v in (("x", 1.0), ("y", 1.5)):
        (tmp_path / name / "unet").mkdir(parents=True)
        save_file({"w": torch.full((4,), v, dtype=torch.float16)},
                  str(tmp_path / name / "unet" / weight_drift.WEIGHTS))
    out = tmp_path / "drift.json"
    assert weight_drift.main(["--pair", f"x={tmp_path / 'x'}", f"y={tmp_path / 'y'}", "--out", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["schema"] == "ldprune.bench.weight_drift/1"
    assert [(p["from"], p["to"]) for p in d["pairs"]] == [("x", "y")]
    assert d["pairs"][0]["relative_l2"] == pytest.approx(0.5)


def test_cli_names_a_missing_weight_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        weight_drift.main(["--pair", f"x={tmp_path}", f"y={tmp_path}", "--out", str(tmp_path / "o.json")])
    assert e.value.code != 0
    assert "diffusion_pytorch_model.safetensors" in capsys.readouterr().err
