"""benchmarks/score_stability.compare: Spearman and the bottom-k overlap of two scores files."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from score_stability import compare  # noqa: E402


def _scores(values):
    return {"scores": [{"operator": f"op{i}", "modification": "remove", "score": v} for i, v in enumerate(values)]}


def test_same_order_is_one_and_reversed_is_minus_one():
    ref = _scores([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    same = compare(ref, _scores([1, 2, 3, 4, 5, 6]), k=2)
    assert same["spearman"] == pytest.approx(1.0) and same["bottom2_overlap"] == 1.0
    rev = compare(ref, _scores([6, 5, 4, 3, 2, 1]), k=2)
    assert rev["spearman"] == pytest.approx(-1.0) and rev["bottom2_overlap"] == 0.0


def test_bottom_k_is_capped_by_the_number_of_candidates():
    r = compare(_scores([0.3, 0.1, 0.2]), _scores([3, 1, 2]), k=10)
    assert r["bottom_k"] == 3 and r["bottom3_overlap"] == 1.0


def test_different_candidate_sets_are_refused():
    with pytest.raises(ValueError, match="different candidates"):
        compare(_scores([0.1, 0.2]), _scores([0.1, 0.2, 0.3]), k=1)
