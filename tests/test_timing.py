"""The one timing path: paired rounds, drift, settling, the one-sided budget rule (no CPU clocks)."""

from __future__ import annotations

import contextlib
import logging

import pytest
from _fake_runner import FixedBound, FormulaRunner

from ldprune_deploy.budget import latency_verdict
from ldprune_deploy.budget import Budget
from ldprune_deploy.evaluation.gate import gate
from ldprune_deploy.profiler import ProfileConfig, profile
from ldprune_deploy.runners import RUNNERS, LatencyStats, RunSpec, timing
from ldprune_deploy.runners.timing import Variant, measure_paired, open_variant, paired

SPEC = RunSpec(warmup=0, iters=12, rounds=4, settle_s=0.0)


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_paired_reads_differences_and_ratios_from_the_same_rounds():
    ref, cand = Variant(FixedBound(lambda: 10.0)), Variant(FixedBound(lambda: 7.5))
    pr = paired([ref, cand], SPEC)
    assert pr.rounds == 4 and pr.block == 3
    assert pr.reference.median_ms == 10.0 and pr.candidates[0].median_ms == 7.5 and pr.reference.n == 12
    assert pr.delta[0] == {"median": -2.5, "p10": -2.5, "p90": -2.5}
    assert pr.ratio[0]["median"] == pytest.approx(0.75) and not pr.drift["drifted"]


def test_a_drifting_reference_is_reported_and_the_ratio_survives_it(caplog):
    speed = iter([1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 2.0, 2.0])        # the machine slows down round by round
    current = {"s": 1.0}

    def ms(base):
        def f():
            current["s"] = next(speed)
            return base * current["s"]
        return f

    with caplog.at_level(logging.WARNING, logger="ldprune"):
        pr = paired([Variant(FixedBound(ms(10.0))), Variant(FixedBound(ms(6.0)))], SPEC)
    assert pr.drift["drifted"] and pr.drift["range_ms"] == pytest.approx(10.0)
    assert pr.drift["range_frac"] == pytest.approx(10.0 / 13.5)
    assert pr.ratio[0] == pytest.approx({"median": 0.6, "p10": 0.6, "p90": 0.6})
    assert "reference drifted" in caplog.text


def test_within_noise_a_reference_is_not_drift():
    vals = iter([10.0, 10.02, 9.99, 10.01] * 10)
    bound = FixedBound(lambda: 0.0)
    bound.samples = lambda n: [next(vals) for _ in range(n)]      # noisy within a round, steady across rounds
    pr = paired([Variant(bound)], RunSpec(warmup=0, iters=16, rounds=4, settle_s=0.0))
    assert not pr.drift["drifted"] and pr.drift["noise_ms"] > 0


def test_settle_keeps_an_idle_gpu_busy_for_settle_s_and_only_after_idling(monkeypatch):
    clock = {"t": 1000.0}
    monkeypatch.setattr(timing.time, "perf_counter", lambda: clock["t"])
    monkeypatch.setattr(timing, "_busy", {})
    calls = []

    def call():
        calls.append(1)
        clock["t"] += 0.01          # each call keeps the device busy for 10 ms

    bound = FixedBound(lambda: 1.0)
    bound.call, bound.device = call, "cuda"
    extra = timing.settle(bound, warmup=5, settle_s=1.5)
    assert len(calls) >= 150 and extra == pytest.approx(1.45, abs=0.05)
    calls.clear()
    timing.settle(bound, warmup=5, settle_s=1.5)           # still busy: warm-up calls only
    assert len(calls) == 5
    clock["t"] += timing.IDLE_GAP_S + 1                      # the GPU idled: settle again
    calls.clear()
    timing.settle(bound, warmup=0, settle_s=1.5)
    assert len(calls) >= 150
    bound.device = "cpu"
    calls.clear()
    assert timing.settle(bound, warmup=2, settle_s=1.5) == 0.0 and len(calls) == 2


def test_contexts_are_held_for_frozen_calls_and_reentered_for_live_ones():
    log = []

    @contextlib.contextmanager
    def ctx():
        log.append("enter")
        yield
        log.append("exit")

    class R(FormulaRunner):
        live = False

        def open(self, model, info, spec):
            b = FixedBound(lambda: 1.0)
            b.live = self.live
            return b

    frozen = open_variant(R(lambda m: 1.0), None, None, SPEC, ctx)
    frozen.run_block(2)
    assert log == ["enter"]
    frozen.close()
    assert log == ["enter", "exit"]
    log.clear()
    R.live = True
    live = open_variant(R(lambda m: 1.0), None, None, SPEC, ctx)
    assert log == ["enter", "exit"]
    live.run_block(2)
    live.close()
    assert log == ["enter", "exit", "enter", "exit"]


def test_the_budget_rule_is_one_sided_on_the_upper_bound():
    fast_but_spread = LatencyStats(median_ms=9.8, p10_ms=9.7, p90_ms=10.2, n=30)
    v = latency_verdict(fast_but_spread, 10.0)
    assert not v["passed"] and v["upper_ms"] == pytest.approx(10.2)
    assert latency_verdict(LatencyStats(9.8, 9.7, 9.9, 30), 10.0)["passed"]
    drifting = latency_verdict(LatencyStats(9.8, 9.7, 9.9, 30), 10.0, drift_frac=0.02)
    assert not drifting["passed"] and drifting["drift_ms"] == pytest.approx(0.196)


def test_the_gate_applies_the_same_rule_to_the_evaluator_measurement(tiny_t2i):
    unet, info = tiny_t2i
    runner = FormulaRunner(lambda m: 10.0 if m is unet else 6.9)
    pr = measure_paired(runner, unet, [object()], info, SPEC)
    lat = {"teacher_ms": pr.reference.median_ms, "candidate_ms": pr.candidates[0].median_ms,
           "candidate": pr.candidates[0].to_json(), "drift": pr.drift}
    assert gate(lat, {}, Budget.parse("70%"), {})["passed"]
    lat["candidate"]["p90_ms"] = 7.05                       # the median passes, the spread does not
    res = gate(lat, {}, Budget.parse("70%"), {})
    assert not res["passed"] and "p90" in res["reasons"][0]


@RUNNERS.register("test-params-formula")
class _ParamsFormula(FormulaRunner):
    """1 ms per 10k parameters of the model as it is when bound (swapped operators included)."""

    def __init__(self):
        super().__init__(lambda m: _params(m) / 1e4)


def test_ablation_savings_are_paired_differences(tiny_t2i, tmp_path):
    unet, info = tiny_t2i
    full = _params(unet) / 1e4
    cfg = ProfileConfig(backend="test-params-formula", batch=1, resolution=32, dtype="fp32", methods="ablation",
                        include=[r"mid_block.resnets.0:", r"attn2:remove"], warmup=0, iters=6, rounds=3,
                        progress=False, output=tmp_path / "p.json")
    prof = profile(unet, cfg)
    assert prof["full_latency_ms"]["median_ms"] == pytest.approx(full)
    assert prof["measurement"]["rounds"] == 3 and prof["measurement"]["ablation_reference_drifted"] == 0
    from ldprune_deploy.artifacts import Modification
    from ldprune_deploy.surgery import swapped

    n = 0
    for op, rec in prof["operators"].items():
        for mod, by in rec["savings_ms"].items():
            with swapped(unet, Modification(op, mod)):
                expect = full - _params(unet) / 1e4
            assert by["ablation"] == pytest.approx(expect) and expect > 0
            assert rec["ablation_spread_ms"][mod] == pytest.approx([expect, expect])
            n += 1
    assert n >= 3 and _params(unet) / 1e4 == pytest.approx(full)      # every swap was undone
