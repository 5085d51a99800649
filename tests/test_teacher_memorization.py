"""benchmarks/diagnostics/teacher_memorization.py's distance helper (the figures come from the
committed teachers; here only the arithmetic that turns images into nearest-neighbour RMSEs)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "diagnostics"))

from teacher_memorization import nearest_rmse  # noqa: E402


def test_nearest_rmse_is_the_per_pixel_rms_to_the_closest_row():
    bank = torch.tensor([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.5, 0.5, 0.5, 0.5]])
    x = torch.tensor([[0.1, 0.1, 0.1, 0.1], [1.0, 1.0, 1.0, 0.0]])
    got = nearest_rmse(x, bank)
    assert torch.allclose(got, torch.tensor([0.1, 0.5]), atol=1e-6)


def test_exclude_self_skips_each_rows_own_copy():
    bank = torch.tensor([[0.0, 0.0], [0.3, 0.4], [1.0, 1.0]])
    assert torch.equal(nearest_rmse(bank[:2], bank), torch.zeros(2))
    got = nearest_rmse(bank[:2], bank, exclude_self=True)
    # row 0's nearest other row is row 1 (rms of (0.3, 0.4)), and row 1's is row 0
    assert torch.allclose(got, torch.full((2,), (0.25 / 2) ** 0.5), atol=1e-6)
