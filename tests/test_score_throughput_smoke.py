"""The scoring throughput benchmark's --smoke --variants --pick-fastest path on the CPU (tiny-t2i)."""

import contextlib
import json
import math
import sys
from pathlib import Path

import pytest
from _fake_graph import FakeGraphed


BENCH = Path(__file__).resolve().parents[1] / "benchmarks"

pytestmark = pytest.mark.usefixtures("one_thread")  # --smoke sets 1 thread; the fixture restores it


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setenv("LDPRUNE_COMPILE_BACKEND", "aot_eager")  # dynamo without inductor's C++ compile
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    import score_throughput

    yield score_throughput
    sys.modules.pop("score_throughput", None)


def _run(bench, out: Path, *extra: str) -> dict:
    argv = ["--smoke", "--variants", "--pick-fastest", "--max-candidates", "2", "--no-progress",
            "--out", str(out), *extra]
    assert bench.main(argv) == 0
    (f,) = out.glob("score_throughput-tiny-t2i-128-fp32-fastest.json")
    return json.loads(f.read_text())


def _check_picked(r: dict) -> dict:
    ok = [v for v in r["per_call_variants"] if "error" not in v]
    for v in ok:
        assert math.isfinite(v["min_ms"]) and 0 < v["min_ms"] <= v["median_ms"]
        assert v["flop_floor_ratio"] == pytest.approx(v["min_ms"] / r["flop_floor_ms"])
    best = min(ok, key=lambda v: v["min_ms"])
    p = r["picked_variant"]
    assert p["name"] == best["name"] and p["min_ms"] == best["min_ms"] and f"{best['min_ms']:.2f} ms" in p["reason"]
    # the sweep ran with the picked settings, and per_call is that variant's time
    assert (r["channels_last"], r["sdpa_backend"], r["compile_blocks"]) == \
        (best["channels_last"], best["sdpa_backend"], best["compile_blocks"])
    assert r["cuda_graph"] == ("on" if best["cuda_graph"] else "off")
    assert r["per_call"]["min_ms"] == best["min_ms"] and r["per_call"]["variant"] == best["name"]
    (s,) = r["sweeps"]
    assert s["candidates"] == 2 and s["wall_s"] > 0 and s["overhead_ratio"] > 0 and s["cuda_graph"] is False
    return best


def test_variants_with_compiled_and_pick_fastest(bench, tmp_path):
    r = _run(bench, tmp_path, "--compile-blocks")
    names = [v["name"] for v in r["per_call_variants"]]
    # CPU: no forced SDPA backends, no graph; compiled blocks once per memory format
    # (the default regions: wide)
    assert names == ["nchw", "channels_last", "nchw+compile-wide", "channels_last+compile-wide"], names
    comps = r["per_call_variants"][2:]
    assert all("error" not in v and v["sdpa_backend"] == "default" for v in r["per_call_variants"])
    # each compiled variant sits on its memory format's fastest eager backend; compile time is apart
    for comp, cl in zip(comps, (False, True)):
        assert comp["compile_blocks"] and comp["channels_last"] is cl
        assert comp["compile_s"] > 0 and comp["compile_s"] * 1e3 > comp["min_ms"]
    _check_picked(r)
    # the fields other code cites are still there
    for k in ("per_call", "flops_per_call", "flop_floor_ms", "flop_floor_ratio", "achieved_tflops", "unet_call_batch"):
        assert k in r


def test_compiled_regions_and_inductor_sets_are_variants_the_sweep_can_pick(bench, tmp_path):
    r = _run(bench, tmp_path, "--compile-blocks", "--compile-regions", "blocks", "wide", "--inductor-sets",
             "default", "mm")
    vs = r["per_call_variants"]
    comp = [v for v in vs if v["compile_blocks"]]
    assert [v["name"] for v in comp[:4]] == ["nchw+compile", "nchw+compile-wide", "channels_last+compile",
                                             "channels_last+compile-wide"]
    assert [v["compile_regions"] for v in comp[:4]] == ["blocks", "wide", "blocks", "wide"]
    # the extra settings are timed once, on the fastest compiled variant
    top = min(comp[:4], key=lambda v: v["min_ms"])
    (mm,) = comp[4:]
    assert mm["name"] == top["name"] + "+mm" and mm["inductor_set"] == "mm"
    assert (mm["channels_last"], mm["compile_regions"]) == (top["channels_last"], top["compile_regions"])
    best = _check_picked(r)
    if best["compile_blocks"]:   # the sweep compiled what the picked variant did, and says its compile time
        assert (r["compile_regions"], r["inductor"]) == (best["compile_regions"], bench.INDUCTOR_SETS[best["inductor_set"]])
        assert r["sweeps"][0]["variant_compile_s"] == best["compile_s"] > 0
    else:
        assert r["compile_regions"] is None and "variant_compile_s" not in r["sweeps"][0]


def test_failing_variant_is_recorded_and_skipped(bench, tmp_path, monkeypatch):
    @contextlib.contextmanager
    def broken(unet, *args, **kw):
        raise RuntimeError("compile exploded")
        yield  # pragma: no cover

    monkeypatch.setattr(bench, "compiled_blocks", broken)
    r = _run(bench, tmp_path, "--compile-blocks")
    failed = [v for v in r["per_call_variants"] if "error" in v]
    assert [v["name"] for v in failed] == ["nchw+compile-wide", "channels_last+compile-wide"]
    assert "compile exploded" in failed[0]["error"] and "min_ms" not in failed[0]
    best = _check_picked(r)
    assert not best["compile_blocks"] and not r["compile_blocks"]


class BrokenGraphed(FakeGraphed):
    def _capture(self, leaves, spec):
        raise RuntimeError("operation not permitted when stream is capturing")


def test_cuda_graph_variant_times_replays_and_records_a_failed_capture(bench, monkeypatch, tiny_t2i):
    import argparse

    unet, info = tiny_t2i
    args = argparse.Namespace(resolution=64, device="cpu", repeats=2)
    monkeypatch.setattr(bench, "GraphedCall", FakeGraphed)
    v = bench.measure_variant(unet, info, args, 2, 1.0, False, "default", False, cuda_graph=True)
    assert v["name"] == "nchw+graph" and v["cuda_graph"] and "error" not in v
    assert v["capture_s"] > 0 and 0 < v["min_ms"] <= v["median_ms"] and v["flop_floor_ratio"] == v["min_ms"]
    monkeypatch.setattr(bench, "GraphedCall", BrokenGraphed)  # falls back to eager: not a graph time
    v = bench.measure_variant(unet, info, args, 2, 1.0, True, "default", False, cuda_graph=True)
    assert v["name"] == "channels_last+graph" and "stream is capturing" in v["error"] and "min_ms" not in v
    bench.set_memory_format(unet, False)  # the session fixture's UNet goes back as it came
    assert bench.pick_fastest([v]) is None
