"""benchmarks/diagnostics/proxy_agreement.py: one set of samples per model, scored by several proxies."""

import importlib
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "diagnostics"))
sys.path.insert(0, str(ROOT / "benchmarks"))
PA = importlib.import_module("proxy_agreement")


def test_arguments_name_their_form_when_malformed():
    assert PA.parse_proxy("old=/tmp/x") == ("old", "/tmp/x")
    assert PA.parse_row("ld-pruner/latency-aware/2") == ("ld-pruner", "latency-aware", 2)
    for bad in ("old", "=x", "old="):
        with pytest.raises(ValueError, match="NAME=FOLDER"):
            PA.parse_proxy(bad)
    for bad in ("ld-pruner/2", "ld-pruner/latency-aware/x", "a/b/c/1"):
        with pytest.raises(ValueError, match="CRITERION/PLANNER/SEED"):
            PA.parse_row(bad)


def test_agreement_ranks_the_sampled_models_only_and_ratios_divide_by_each_proxys_teacher():
    models = {"teacher": {"kind": "teacher", "fid": {"a": 100.0, "b": 40.0}},
              "x pruned": {"kind": "pruned", "fid": {"a": 200.0, "b": 90.0}},
              "y pruned": {"kind": "pruned", "fid": {"a": 300.0, "b": 80.0}},
              "z distilled": {"kind": "distilled", "fid": {"a": 150.0, "b": 60.0}},
              # the ladder's rungs are left out of the ranking: every proxy orders noise last
              "uniform noise": {"kind": "ladder", "fid": {"a": 900.0, "b": 10.0}}}
    g = PA.agreement(models, ["a", "b"])["b"]
    # a orders teacher < z < x < y, b teacher < z < y < x: one swap among four models
    assert g["n_models"] == 4 and g["vs"] == "a" and g["spearman"] == pytest.approx(0.8)
    PA.ratios(models, ["a", "b"])
    assert models["x pruned"]["ratio_to_teacher"] == {"a": 2.0, "b": 2.25}
    assert models["teacher"]["ratio_to_teacher"] == {"a": 1.0, "b": 1.0}
    # too few sampled models for a rank correlation: None, not a number
    assert PA.agreement({k: models[k] for k in ("teacher", "x pruned", "uniform noise")}, ["a", "b"]) == {"b": None}
