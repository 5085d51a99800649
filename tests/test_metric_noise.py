"""benchmarks/diagnostics/metric_noise.py's weight perturbation (the figures come from the device;
here only what the perturbation does to a state dict)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "diagnostics"))

from metric_noise import perturbed_state  # noqa: E402


def test_perturbation_is_relative_seeded_and_leaves_integer_tensors():
    state = {"w": torch.full((200, 200), 2.0), "h": torch.full((1000,), -0.5, dtype=torch.float16),
             "n": torch.arange(5)}
    out = perturbed_state(state, 1e-2, seed=7)
    rel = out["w"] / state["w"] - 1
    assert abs(float(rel.std()) - 1e-2) < 1e-3 and abs(float(rel.mean())) < 1e-3   # N(0, scale), relative
    assert out["h"].dtype == torch.float16 and not torch.equal(out["h"], state["h"])
    assert torch.equal(out["n"], state["n"])
    assert torch.equal(perturbed_state(state, 1e-2, seed=7)["w"], out["w"])          # same seed, same draw
    assert not torch.equal(perturbed_state(state, 1e-2, seed=8)["w"], out["w"])
    assert torch.equal(state["w"], torch.full((200, 200), 2.0))                        # the input is untouched
    assert torch.equal(perturbed_state(state, 0.0, seed=7)["w"], state["w"])
