"""benchmarks/score_cli.py: which runs it accepts (the runs themselves need a GPU or take seconds)."""

import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "score_cli.py"
sys.path.insert(0, str(SCRIPT.parent))
import score_cli  # noqa: E402


def test_repeatability_runs_are_named_and_each_gets_fresh_caches():
    assert [r for r, _ in score_cli.FRESH] == ["cold-again", "cold-deterministic"]
    assert dict(score_cli.FRESH)["cold-deterministic"] == ["--inductor", "deterministic=true"]


@pytest.mark.parametrize("runs", ["cold,cold-again", "cudnn-benchmark", "cold,nope"])
def test_smoke_and_unknown_runs_are_refused_before_anything_runs(tmp_path, runs):
    argv = ["--out", str(tmp_path), "--runs", runs] + ([] if runs == "cold,nope" else ["--smoke"])
    with pytest.raises(SystemExit) as e:
        score_cli.main(argv)
    assert e.value.code == 2
    assert not any(tmp_path.iterdir())
