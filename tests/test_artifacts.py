"""The typed artefacts: each round-trips through save/load and refuses another kind, a newer major
version or a missing key with one error that names the file."""

import json
from pathlib import Path

import pytest

from ldprune_deploy.artifacts import PLAN_SCHEMA, PROFILE_SCHEMA, SCORES_SCHEMA, Modification, Profile, PrunePlan, Scores
from ldprune_deploy.budget import Budget
from ldprune_deploy.errors import LdpruneError

PROFILE = {"model": "m", "model_fingerprint": "fp", "backend": "cpu", "full_latency_ms": {"median_ms": 10.0},
           "operators": {"a": {"savings_ms": {"remove": 1.0}}}}
SCORES = {"model": "m", "model_fingerprint": "fp", "method": "ld-pruner",
          "scores": [{"operator": "a", "modification": "remove", "score": 0.5}]}
PLAN = {"model": "m", "model_fingerprint": "fp", "modifications": [{"operator": "a", "modification": "remove"}]}
ROOT = Path(__file__).resolve().parents[1]


def test_round_trips(tmp_path):
    prof = Profile.from_json({"schema": PROFILE_SCHEMA, **PROFILE})
    back = Profile.load(prof.save(tmp_path / "p.json"))
    assert back == prof and back.full_ms == 10.0 and back.model_fingerprint == "fp"
    sc = Scores.from_json({"schema": SCORES_SCHEMA, **SCORES})
    assert Scores.load(sc.save(tmp_path / "s.json"), model_fingerprint="fp") == sc
    plan = PrunePlan("fp", [Modification("a", "width:0.5", [0, 2])], model="m")
    again = PrunePlan.load(plan.save(tmp_path / "plan.json"))
    assert again.modifications == plan.modifications and json.loads((tmp_path / "plan.json").read_text())["schema"] == PLAN_SCHEMA


@pytest.mark.parametrize("cls,schema,doc,missing", [(Profile, PROFILE_SCHEMA, PROFILE, "lacks 'model_fingerprint'"),
                                                     (Scores, SCORES_SCHEMA, SCORES, "lacks 'model_fingerprint'"),
                                                     (PrunePlan, PLAN_SCHEMA, PLAN, "malformed")])
def test_wrong_kind_newer_major_and_missing_key(tmp_path, cls, schema, doc, missing):
    other = SCORES_SCHEMA if cls is Profile else PROFILE_SCHEMA
    major = schema.replace("/1", "/2")
    cases = {"kind": ({"schema": other, **doc}, "expected"), "major": ({"schema": major, **doc}, "this version reads"),
             "key": ({"schema": schema, **{k: v for k, v in doc.items() if k != "model_fingerprint"}}, missing)}
    for name, (data, needle) in cases.items():
        f = tmp_path / f"{name}.json"
        f.write_text(json.dumps(data))
        with pytest.raises(LdpruneError, match=needle) as e:
            cls.load(f)
        assert str(f) in str(e.value)


def test_scores_refuses_malformed_entries_unfinished_runs_and_other_models(tmp_path):
    f = tmp_path / "s.json"
    f.write_text(json.dumps({"schema": SCORES_SCHEMA, **SCORES, "scores": [{"operator": "a"}]}))
    with pytest.raises(LdpruneError, match="malformed entry"):
        Scores.load(f)
    f.write_text(json.dumps({"schema": SCORES_SCHEMA, **SCORES, "complete": False}))
    with pytest.raises(LdpruneError, match="unfinished run"):
        Scores.load(f)
    f.write_text(json.dumps({"schema": SCORES_SCHEMA, **SCORES}))
    with pytest.raises(LdpruneError, match="this model is other"):
        Scores.load(f, model_fingerprint="other")


@pytest.mark.parametrize("spec,kind", [("fast", "latency"), ("70", "latency"), ("0ms", "latency"), ("-1x", "latency"),
                                       ("nanms", "latency"), ("lots", "params"), ("0%", "flops")])
def test_budget_refuses_unreadable_specs(spec, kind):
    with pytest.raises(LdpruneError):
        Budget.parse(spec, kind)


def test_committed_artefacts_still_load():
    """The on-disk formats stay readable: the shipped profiles and a recorded recipe run."""
    profiles = sorted((ROOT / "profiles").glob("*.json"))
    assert profiles and all(Profile.load(f).full_ms > 0 for f in profiles)
    run = ROOT / "benchmarks" / "results" / "recipes" / "emoji-t2i"
    plan = PrunePlan.load(run / "plan.json")
    assert plan.modifications and Scores.load(run / "scores.json", model_fingerprint=plan.model_fingerprint)
