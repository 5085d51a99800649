"""The distillation throughput benchmark's --smoke mode runs on the CPU and writes its JSON."""

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def test_distill_throughput_smoke(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    import distill_throughput

    assert distill_throughput.main(["--smoke", "--out", str(tmp_path), "--steps", "2", "--warmup", "1"]) == 0
    (f,) = tmp_path.glob("distill_throughput-tiny-t2i-*-x1-smoke.json")
    r = json.loads(f.read_text())
    assert r["smoke"] and r["samples_per_s"] > 0 and r["timed_steps"] == 2
    assert r["plan"]["flops_removed_fraction_catalogue"] >= 0.3 and r["plan"]["params_removed_fraction"] >= 0.3
    # the catalogue's estimate agrees with FLOPs counted on the pruned graph
    counted = 1 - r["plan"]["student_gflops"] / r["plan"]["teacher_gflops"]
    assert abs(counted - r["plan"]["flops_removed_fraction_catalogue"]) < 0.02
    assert {"task", "out", "feat"} <= set(r["loss_terms_mean_timed"])
    assert not any(p.name.startswith(".distill-run") for p in tmp_path.iterdir())
    sys.modules.pop("distill_throughput", None)
