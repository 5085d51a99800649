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


def test_compare_mode_reports_exactness_differences_and_params(tmp_path):
    import json

    from score_stability import main

    ref = {**_scores([1.0, 2.0, 4.0]), "params": {"n_gen": 64, "compile_blocks": {"regions": "wide"}}}
    same = {**_scores([1.0, 2.0, 4.0]), "params": dict(ref["params"])}
    bench = {**_scores([1.01, 2.0, 3.9]), "params": {**ref["params"], "cudnn_benchmark": True}}
    paths = []
    for name, doc in (("ref", ref), ("same", same), ("bench", bench)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(doc))
    assert main(["--compare", *map(str, paths), "--bottom-k", "2", "--name", "cmp", "--out", str(tmp_path / "o")]) == 0
    r = json.loads((tmp_path / "o" / "cmp.json").read_text())
    a, b = r["compared"][str(paths[1])], r["compared"][str(paths[2])]
    assert a["identical"] and a["rel_diff_max"] == 0.0 and a["params_differ"] == {}
    assert not b["identical"] and b["spearman"] == pytest.approx(1.0)
    assert b["rel_diff_max"] == pytest.approx(0.025) and b["rel_diff_median"] == pytest.approx(0.01)
    assert b["params_differ"] == {"cudnn_benchmark": [None, True]}
    with pytest.raises(SystemExit):
        main(["--compare", str(paths[0]), "--out", str(tmp_path / "o")])
