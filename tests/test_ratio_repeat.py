"""benchmarks/diagnostics/ratio_repeat.py: one plan's paired ratio measured again and again (issue 23)."""

from __future__ import annotations

import importlib
import json
import math
import statistics
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "benchmarks" / "diagnostics"))
rr = importlib.import_module("ratio_repeat")
DATA = ROOT / "data_cache"


def _plan(ratio=0.648):
    return {"modifications": [{"operator": "a", "modification": "remove"}] * 3,
            "meta": {"landing": {"target_ratio": 0.65, "tolerance": 0.01, "ratio": ratio}}}


def test_summary_counts_repeats_in_the_landing_window_and_pools_the_noise():
    a = rr.summarize("x/s3", _plan(), [0.645, 0.652, 0.640, 0.6449])
    assert a["window"] == pytest.approx([0.6435, 0.65])
    assert (a["in_window"], a["slower_than_target"]) == (2, 1)   # 0.645, 0.6449 in; 0.652 slower; 0.640 too fast
    assert a["range"] == pytest.approx(0.012) and a["std"] == pytest.approx(statistics.stdev([0.645, 0.652, 0.640, 0.6449]))
    b = rr.summarize("x/s4", _plan(), [0.630, 0.634])
    p = rr.pooled([a, b])
    # pooled variance: each plan's with its n - 1 degrees of freedom
    assert p["dof"] == 4 and p["pooled_std"] == pytest.approx(math.sqrt((3 * a["std"] ** 2 + 1 * b["std"] ** 2) / 4))
    assert p["window_width"] == pytest.approx(0.0065) and (p["in_window"], p["measurements"]) == (2, 6)
    no_landing = rr.summarize("y/s0", {"modifications": []}, [1.0, 1.1])
    assert "window" not in no_landing and rr.pooled([no_landing])["window_width"] is None


def test_missing_plan_files_are_one_clear_error(tmp_path, capsys):
    (tmp_path / "w" / "plans").mkdir(parents=True)
    (tmp_path / "w" / "plans" / "plan-ld-pruner-prompt-latency-aware-s3.json").write_text("{}")
    with pytest.raises(SystemExit, match="no plan file .*s4.json"):
        rr.main(["--teacher", "t", "--plans", str(tmp_path / "w"), "--seeds", "3,4", "--out", str(tmp_path / "o.json")])
    with pytest.raises(SystemExit, match="at least 2"):
        rr.main(["--teacher", "t", "--plans", str(tmp_path / "w"), "--seeds", "3", "--repeats", "1",
                 "--out", str(tmp_path / "o.json")])
    assert not (tmp_path / "o.json").exists()


needs_data = pytest.mark.skipif(
    not (DATA / "emoji.npz").is_file() or not (DATA / "emoji-emb.safetensors").is_file(),
    reason="needs data_cache/emoji.npz and emoji-emb.safetensors (ldprune data emoji, ldprune data embed)")


@pytest.fixture(scope="module")
def smoke_plan(tmp_path_factory):
    """quality_strategies --smoke --phase plan on emoji-t2i: a throwaway teacher, its scores, profile and plan."""
    qs = importlib.import_module("quality_strategies")
    q = tmp_path_factory.mktemp("rr") / "q"
    assert qs.main(["--smoke", "--data", str(DATA), "--proxies", str(ROOT / "benchmarks" / "assets"), "--out", str(q),
                    "--smoke-teacher", "emoji-t2i", "--only", "ld-pruner-prompt/latency-aware", "--no-ablations",
                    "--phase", "plan"]) == 0
    return q


class _FakeProbe:
    """Ratio 1 - 0.1 per modification, so the landing walks to the window deterministically."""

    def __init__(self):
        self.last = {}

    def ratio(self, plan):
        r = 1 - 0.1 * len(plan.modifications)
        self.last = {"latency_ms": 10.0 * r, "full_latency_ms": 10.0}
        return r


@needs_data
def test_a_landed_plan_keeps_only_the_landings_measurement(smoke_plan):
    """land_plan's plan reads its landing's measurement alone: the verify loop's spread, budget in ms and
    verdict (read against another measurement of the full model) move under measured.verify."""
    import _quality as Q
    from ldprune_deploy.artifacts import PrunePlan

    w = smoke_plan / "work"
    scores = json.loads((w / "scores-ld-pruner-prompt-s0.json").read_text())
    prof = json.loads((w / "profile-cpu.json").read_text())
    plan = PrunePlan.load(w / "plans" / "plan-ld-pruner-prompt-latency-aware-s0.json")
    assert "p10_ms" in plan.measured   # the verify loop's own figures
    a = type("A", (), {"smoke": True})()
    out = Q.land_plan(None, a, scores, prof, plan, "latency-aware", 0.8, _FakeProbe())
    m, land = out.measured, out.meta["landing"]
    assert m["ratio"] == land["ratio"] and m["latency_ms"] / m["full_latency_ms"] == pytest.approx(m["ratio"])
    assert m["meets_budget"] == (m["ratio"] <= 0.8) and m["budget_ratio"] == 0.8
    # two modifications read 0.8, in the window: accepted on the median of 1 + LANDING_CONFIRM readings
    assert land["landed"] and land["confirm"] == Q.LANDING_CONFIRM == 2
    assert len(land["rounds"][-1]["repeats"]) == 3 and len(out.modifications) == 2
    assert not {"p10_ms", "p90_ms", "upper_ms", "budget_ms", "speedup", "error_pct"} & set(m)
    assert m["verify"] == plan.measured and m["runner"] == plan.measured["runner"]


@needs_data
def test_smoke_measures_a_saved_plan_on_the_landing_path(smoke_plan, tmp_path):
    """A smoke plan measured twice on the CPU runner: the file holds every repeat and the pooled spread
    (CPU figures mean nothing and are not checked)."""
    q = smoke_plan
    out = tmp_path / "rr.json"
    assert rr.main(["--smoke", "--teacher", str(q / "_smoke_teacher" / "emoji-t2i"), "--plans", str(q / "work"),
                    "--seeds", "0", "--repeats", "2", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["schema"] == rr.SCHEMA and res["rounds_done"] == 2 and res["device"]["kind"] == "cpu"
    (p,) = res["plans"]
    assert p["plan"] == "q/s0" and len(p["repeats"]) == 2 and all(r > 0 for r in p["repeats"])
    assert res["pooled"]["measurements"] == 2 and res["pooled"]["dof"] == 1
