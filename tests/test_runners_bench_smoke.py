"""benchmarks/runners.py --smoke: --export-only fills the cache that the ort rows then reuse."""

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "runners.py"


def _run(*args: str) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--models", "full", *args],
                       capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return p.stdout + p.stderr


def test_export_only_then_ort_rows_reuse_the_cache(tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    log = _run("--export-only", "--out", str(out), "--cache", str(cache))
    folders = sorted(p.name for p in cache.iterdir() if (p / "export.json").is_file())
    assert [f.rsplit("-", 1)[1] for f in folders] == ["cpu", "plain"], folders
    assert log.count("export ready") == 2
    assert not (out / "runners.json").exists()   # nothing was timed

    log = _run("--runners", "ort", "--out", str(out), "--cache", str(cache))
    assert "exported" not in log, "the ort rows exported again instead of using the cache"
    rows = json.loads((out / "runners.json").read_text())["variants"]["full"]["rows"]
    assert [r["label"] for r in rows] == ["ort-cpu", "ort-cpu + optimizer"]
    assert all(r["median_ms"] > 0 for r in rows), rows


def test_tuning_set_exports_only_the_optimized_graph_and_records_provider_options(tmp_path):
    out, cache = tmp_path / "out", tmp_path / "cache"
    log = _run("--export-only", "--ort-set", "tuning", "--out", str(out), "--cache", str(cache))
    folders = sorted(p.name for p in cache.iterdir() if (p / "export.json").is_file())
    assert [f.rsplit("-", 1)[1] for f in folders] == ["cpu"] and log.count("export ready") == 1, folders

    _run("--runners", "ort", "--ort-set", "tuning", "--out", str(out), "--cache", str(cache))
    rows = json.loads((out / "runners.json").read_text())["variants"]["full"]["rows"]
    assert [r["label"] for r in rows] == ["ort-cpu + optimizer", "ort-cpu + optimizer + prefer_nhwc",
                                          "ort-cpu + optimizer + cuDNN attention",
                                          "ort-cpu + optimizer + prefer_nhwc + cuDNN attention"]
    assert [r["extra"]["provider_options"] for r in rows] == [{}, {"prefer_nhwc": "1"}, {"sdpa_kernel": "8"},
                                                     {"prefer_nhwc": "1", "sdpa_kernel": "8"}]
    assert all(r["median_ms"] > 0 and r["extra"]["optimizer_fusions"] is not None for r in rows), rows


def test_every_torch_set_names_real_inductor_settings():
    """A misspelt inductor knob would only fail on the GPU, minutes into a compile."""
    sys.path.insert(0, str(SCRIPT.parent))
    import runners
    from ldprune_deploy.inductor_knobs import check_inductor_knobs

    sets = {s: runners.torch_variants(False, True, s) for s in ("standard", "fastest", "coordinate", "gemm", "fusion", "pdl",
                                                               "tuned", "autotune")}
    knobs = [opts.get("inductor") for rows in sets.values() for _, _, opts, _ in rows if opts.get("inductor")]
    assert {"coordinate_descent_tuning": True} in knobs
    for k in knobs:
        assert check_inductor_knobs(k) == k
    assert any(k.get("max_autotune_gemm") and k.get("max_autotune_conv_backends") == "ATEN" for k in knobs)
    assert {"aggressive_fusion": True} in knobs and {"combo_kernels": True} in knobs
    assert {"triton.enable_pdl": True} in knobs   # a dotted sub-config name, checked like the others
    for name in ("coordinate", "gemm", "fusion", "pdl"):
        labels = [label for label, *_ in sets[name]]
        assert labels[:2] == [label for label, *_ in sets["fastest"]]   # the reference rows, same run


def test_compile_runner_names_what_autotunes():
    from ldprune_deploy.runners.torch_runners import _autotuning

    assert _autotuning("tuned", {"freezing": True, "conv_1x1_as_mm": True}) == ""
    assert _autotuning("tuned", {"max_autotune_gemm": True, "max_autotune_gemm_backends": "ATEN,TRITON"}) == "max_autotune_gemm"
    assert _autotuning("max-autotune-no-cudagraphs", {"coordinate_descent_tuning": True}) == \
        "mode max-autotune-no-cudagraphs, coordinate_descent_tuning"


def test_fp8_joint_bound_on_the_committed_h200_measurements():
    """benchmarks/fp8_joint_bound.py: with every fp8 saving negative (H200 profile) and fp8 given the
    least possible importance, the MILP's joint plan is the pruning-only plan (nothing timed)."""
    sys.path.insert(0, str(SCRIPT.parent))
    import fp8_joint_bound

    r = fp8_joint_bound.run("50%")
    assert r["fp8_savings_ms"] and max(r["fp8_savings_ms"]) < 0
    assert r["fp8_chosen"] == 0 and r["same_plan"]
    assert r["joint"]["predicted_ms"] == r["pruning_only"]["predicted_ms"]
    # the bound is about fp8, not an empty plan: the budget needs real pruning
    assert len(r["pruning_only"]["modifications"]) > 0
