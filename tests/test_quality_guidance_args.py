"""benchmarks/quality_guidance.py refuses bad lists and a missing --plans before it loads anything (no data needed)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


@pytest.mark.parametrize("extra, message", [
    (["--smoke", "--dropouts", "0,1.5"], r"--dropouts: every value must lie in \[0, 1\)"),
    (["--smoke", "--guidance", "0.5"], r"--guidance: every value must lie in \[1, 50\)"),
    (["--smoke", "--guidance", "two"], "--guidance takes comma-separated numbers"),
    (["--teacher", "t"], "--plans DIR is required"),
])
def test_guidance_bad_input(tmp_path, extra, message):
    mod = importlib.import_module("quality_guidance")
    with pytest.raises(SystemExit, match=message):
        mod.main(["--out", str(tmp_path / "o"), *extra])
