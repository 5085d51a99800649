"""Profiler on CPU: profile format, predictor, fingerprint checks, resume, additivity, bad input."""

import copy
import json
import logging
import random

import pytest
import torch

from ldprune_deploy.artifacts import Profile
from ldprune_deploy.jsonio import write_json_atomic
from ldprune_deploy.cli import main
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.profiler import (ProfileConfig, check_additivity, predict_latency, profile,
                                     savings_table)
from ldprune_deploy.profiler.additivity import random_plan
from ldprune_deploy.profiler.methods import conflict_free_rounds, nested
from ldprune_deploy.profiler.store import partial_path
from ldprune_deploy.runners import RunSpec

# a resnet with a width change, a cross-attention removal (its norm goes too), and the
# transformer containing it: few units, all three code paths
INCLUDE = ["mid_block.resnets.0:(remove|width:0.5)", r"down_blocks.0.attentions.0(:|.transformer_blocks.0.attn2:remove)"]


def _cfg(out=None, **kw):
    base = dict(backend="cpu", batch=1, resolution=32, dtype="fp32", methods="in_situ,isolated,ablation",
                output=out, warmup=1, iters=2, op_warmup=1, op_iters=2, include=INCLUDE, progress=False,
                check_additivity=1, levels=(0.5,), checkpoint_every=1)
    return ProfileConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def prof_and_path(tmp_path_factory, tiny_t2i):
    path = tmp_path_factory.mktemp("prof") / "tiny.json"
    prof = profile(tiny_t2i[0], _cfg(path))
    return prof, path


def test_profile_format(prof_and_path, tiny_t2i):
    prof, path = prof_and_path
    unet, info = tiny_t2i
    assert json.loads(path.read_text()) == json.loads(json.dumps(prof))
    assert not partial_path(path).exists()
    assert prof["schema"] == "ldprune.profile/1" and prof["model_fingerprint"] == info.fingerprint
    assert prof["device"]["kind"] == "cpu" and prof["device"]["torch"] == torch.__version__
    assert (prof["backend"], prof["dtype"], prof["batch"], prof["resolution"]) == ("cpu", "fp32", 1, 32)
    assert prof["shapes"]["sample"] == [1, 4, 4, 4] and prof["text_len"] == info.text_len
    assert prof["methods"] == ["in_situ", "isolated", "ablation"] and prof["default_method"] == "isolated"
    full = prof["full_latency_ms"]
    assert full["n"] == 2 and full["median_ms"] > 0 and prof["wall_time_s"] > 0
    attn2 = "down_blocks.0.attentions.0.transformer_blocks.0.attn2"
    assert set(prof["operators"]) == {"mid_block.resnets.0", "down_blocks.0.attentions.0", attn2}
    assert prof["n_candidates"] == 4
    for op, rec in prof["operators"].items():
        assert rec["flops"] > 0 and rec["kind"] in ("resnet", "transformer", "attn2")
        assert set(rec["latency_ms"]) == {"in_situ", "isolated"} and all(v > 0 for v in rec["tflops"].values())
        for mod, by in rec["savings_ms"].items():
            assert set(by) == {"in_situ", "isolated", "ablation"}
            lo, hi = rec["ablation_spread_ms"][mod]     # paired: the saving sits inside its own spread
            assert lo <= by["ablation"] <= hi
    # removing a cross-attention also drops its LayerNorm: that time is part of the saving
    rec = prof["operators"][attn2]
    assert rec["feeding_norm"]["id"].endswith("transformer_blocks.0.norm2")
    assert rec["savings_ms"]["remove"]["isolated"] == pytest.approx(
        rec["latency_ms"]["isolated"] + rec["feeding_norm"]["latency_ms"]["isolated"])
    add = prof["additivity"]
    assert set(add) == {"in_situ", "isolated", "ablation"} and add["isolated"]["level_0.5"]["n"] == 1
    m = prof["measurement"]
    assert m["conditions"]["memory_format"] == "contiguous" and m["conditions"]["cudnn_benchmark"] is False
    assert m["settle_s"] == 1.5 and "random weights" in m["weights"]


def test_predictor_and_loading(prof_and_path, tiny_t2i):
    prof, path = prof_and_path
    loaded = Profile.load(path, model_fingerprint=tiny_t2i[1].fingerprint, check_device=True)
    plan = [("mid_block.resnets.0", "width:0.5"), ("down_blocks.0.attentions.0", "remove")]
    for method in prof["methods"]:
        table = savings_table(loaded, method)
        expect = prof["full_latency_ms"]["median_ms"] - sum(table[p] for p in plan)
        assert predict_latency(loaded, plan, method=method) == pytest.approx(expect)
    measured = [p for p in prof["additivity_plans"] if p["level"] == 0.5][0]
    assert measured["measured_ms"] > 0
    assert measured["predicted_ms"]["isolated"] == pytest.approx(
        predict_latency(prof, [tuple(m) for m in measured["modifications"]], method="isolated"))
    with pytest.raises(LdpruneError, match="no saving"):
        predict_latency(loaded, [("mid_block.resnets.1", "remove")])


def test_fingerprint_checks(prof_and_path, tmp_path, caplog):
    prof, path = prof_and_path
    with pytest.raises(LdpruneError, match="not for this model"):
        Profile.load(path, model_fingerprint="0000000000000000")
    other = copy.deepcopy(prof)
    other["device"].update(kind="cuda", gpu="NVIDIA H100 80GB HBM3", driver="550.54")
    write_json_atomic(tmp_path / "h100.json", other)
    with caplog.at_level(logging.WARNING, logger="ldprune"):
        Profile.load(tmp_path / "h100.json", check_device=True)
    assert "PROFILE FROM ANOTHER DEVICE" in caplog.text and "H100" in caplog.text


def test_resume_after_interruption_matches_uninterrupted_run(prof_and_path, tiny_t2i, tmp_path):
    full, _ = prof_and_path
    out = tmp_path / "resumed.json"
    seen = []

    def interrupt(key):
        seen.append(key)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        profile(tiny_t2i[0], _cfg(out, on_unit=interrupt))
    assert not out.exists() and partial_path(out).exists()
    with pytest.raises(LdpruneError, match="other settings"):
        profile(tiny_t2i[0], _cfg(out, resume=True, batch=2))
    again = []
    prof = profile(tiny_t2i[0], _cfg(out, resume=True, on_unit=again.append))
    assert not set(again) & set(seen) and prof["units_measured_this_run"] == len(again)
    assert not partial_path(out).exists()
    assert set(prof) == set(full)
    assert {op: {m: set(v) for m, v in r["savings_ms"].items()} for op, r in prof["operators"].items()} == \
           {op: {m: set(v) for m, v in r["savings_ms"].items()} for op, r in full["operators"].items()}
    with pytest.raises(LdpruneError, match="other settings"):
        profile(tiny_t2i[0], _cfg(out, resume=True, iters=3, warmup=0, methods="isolated"))
    # resuming a finished profile measures nothing
    assert profile(tiny_t2i[0], _cfg(out, resume=True, on_unit=pytest.fail))["wall_time_s"] == prof["wall_time_s"]


def test_tiny_uncond_isolated(tiny_uncond, tmp_path):
    unet, info = tiny_uncond
    prof = profile(unet, _cfg(tmp_path / "u.json", methods="isolated", include=["up_blocks.0.attentions.0:"],
                              check_additivity=0, resolution=16))
    rec = prof["operators"]["up_blocks.0.attentions.0"]
    assert rec["kind"] == "attention" and set(rec["savings_ms"]) == {"remove", "width:0.25", "width:0.5", "width:0.75"}
    assert prof["additivity"] is None and prof["model_fingerprint"] == info.fingerprint


def test_random_plans_are_conflict_free_and_sized():
    ops = {f"b.{i}": ["remove"] for i in range(4)}
    ops.update({f"b.{i}.attn1": ["remove", "width:0.5"] for i in range(4)})
    ops.update({f"b.{i}.ff": ["remove"] for i in range(4)})
    rng = random.Random(0)
    for level, n_leaf in ((0.25, 2), (0.5, 4), (0.75, 6)):
        for _ in range(20):
            plan = random_plan(ops, level, rng)
            assert not any(nested(a, b) for i, (a, _) in enumerate(plan) for b, _ in plan[i + 1:])
            covered = sum(2 if op.count(".") == 1 else 1 for op, _ in plan)
            assert covered == n_leaf and all(m in ops[op] for op, m in plan)
    rounds = conflict_free_rounds([("b.0", "remove"), ("b.0.ff", "remove"), ("b.1.ff", "remove"), ("b.0.ff", "w")])
    assert rounds == [[("b.0", "remove"), ("b.1.ff", "remove")], [("b.0.ff", "remove")], [("b.0.ff", "w")]]


def test_check_additivity_standalone(prof_and_path, tiny_t2i):
    prof, _ = prof_and_path
    spec = RunSpec(batch=1, resolution=32, dtype="fp32", warmup=0, iters=2)
    res = check_additivity(tiny_t2i[0], prof, 2, levels=(0.25,), seed=1, spec=spec)
    summ = res["summary"]["ablation"]["level_0.25"]
    assert summ["n"] == 2 and 0 <= summ["median_err"] <= summ["max_err"]


def test_bad_input(tiny_t2i, tmp_path, capsys):
    unet = tiny_t2i[0]
    with pytest.raises(LdpruneError, match="unknown runner"):
        profile(unet, _cfg(backend="nope"))
    with pytest.raises(LdpruneError, match="'fp8' is not one of fp32, fp16, bf16"):
        profile(unet, _cfg(dtype="fp8"))
    with pytest.raises(LdpruneError, match="fp16"):
        profile(unet, _cfg(dtype="fp16"))
    with pytest.raises(LdpruneError, match="'guess' is not one of in_situ"):
        _cfg(methods="in_situ,guess")
    with pytest.raises(LdpruneError, match="no candidate"):
        profile(unet, _cfg(include=["no-such-operator"]))
    (tmp_path / "exists.json").write_text("{}")
    with pytest.raises(LdpruneError, match="already exists"):
        profile(unet, _cfg(tmp_path / "exists.json"))
    if not torch.cuda.is_available():
        assert main(["profile", "--model", "tiny-t2i", "--backend", "torch-graph", "-o", str(tmp_path / "g.json")]) == 2
        err = capsys.readouterr().err
        assert "no CUDA device" in err and "cpu" in err and "Traceback" not in err
    assert main(["profile", "--model", "tiny-t2i", "--backend", "trt-magic", "-o", str(tmp_path / "g.json")]) == 2
    assert "usable here: cpu" in capsys.readouterr().err
