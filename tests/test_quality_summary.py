"""benchmarks/quality_summary.py: the committed summary.json and the README's quality section are
what the committed result files say (the README cannot drift from the measurements)."""

import importlib
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
QS = importlib.import_module("quality_summary")

KEYS = {"task", "criterion", "planner", "init", "feature_kd", "seeds", "cut_mean", "cut_std", "metric",
        "metric_mean", "metric_std"}


def test_committed_summary_and_readme_are_current():
    assert QS.main(["--check"]) == 0


def test_summary_schema_and_derived_verdicts():
    s = json.loads((ROOT / QS.SUMMARY).read_text())
    assert s["schema"] == "ldprune.quality-summary/1"
    for p in s["proxies"].values():
        assert 0 <= p["majority_baseline"] < p["heldout_accuracy"] <= 1
        assert p["meets_85pct"] in (None, p["heldout_accuracy"] >= 0.85)
    for t in s["teachers"].values():
        assert {"steps", "train_s", "plateau"} <= set(t) and isinstance(t["plateau"], bool)
        d = t["plateau_detail"]
        assert t["plateau"] == (d["points_in_window"] >= 2 and d["window_range"] <= d["seed_range"])
    for c in s["comparisons"]:
        assert KEYS <= set(c) and len(c["seeds"]) == 3
    # equal latency: every comparison of one task within 1 % of the same cut
    for task in {c["task"] for c in s["comparisons"]}:
        cuts = [c["cut_mean"] for c in s["comparisons"] if c["task"] == task]
        assert max(cuts) - min(cuts) < 0.01
    h = s["headlines"]["text_to_image"]
    assert h["targets"]["alignment >= -5 %"] == (h["alignment_ratio"] >= 0.95)


def test_check_fails_when_the_readme_section_is_edited(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    for rel in ("README.md", QS.SUMMARY, "benchmarks/results/train_proxies.json", "benchmarks/assets/teachers/curves.json"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, root / rel)
    shutil.copytree(ROOT / QS.RUN, root / QS.RUN)
    monkeypatch.setattr(QS, "ROOT", root)
    assert QS.main(["--check"]) == 0
    readme = (root / "README.md").read_text()
    (root / "README.md").write_text(readme.replace("| emoji-uig | ld-pruner | latency-aware | preserved | normalized",
                                                   "| emoji-uig | ld-pruner | latency-aware | preserved | NORMALIZED", 1))
    assert QS.main(["--check"]) == 1
    assert QS.main([]) == 0 and QS.main(["--check"]) == 0   # regenerating repairs it
