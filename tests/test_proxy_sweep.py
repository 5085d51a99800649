"""benchmarks/proxy_sweep.py: variants x seeds of train_proxies.py, summarised against the first variant."""

import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
PS = importlib.import_module("proxy_sweep")


def _result(acc, bal, aux=0.9, seconds=10.0):
    heads = {"emoji group": {"held_out_accuracy": acc, "held_out_balanced_accuracy": bal, "majority_baseline": 0.55},
             "skin tone": {"held_out_accuracy": aux, "held_out_balanced_accuracy": aux, "majority_baseline": 0.5}}
    return {"proxies": {"emoji": {"held_out_accuracy": acc, "heads": heads, "seconds": seconds}}}


def test_summary_pairs_each_variant_with_the_reference_and_judges_the_aim_on_mean_less_std():
    results = {("recipe", s): _result(a, 0.68) for s, a in enumerate([0.84, 0.85, 0.845])}
    results |= {("ema", s): _result(a, 0.70) for s, a in enumerate([0.86, 0.87, 0.865])}
    results |= {("wide", s): _result(a, 0.66) for s, a in enumerate([0.90, 0.80, 0.86])}
    results |= {("two", s): _result(0.95, None) for s in (0, 1)}
    out = PS.summarise(results, ["recipe", "ema", "wide", "two"], "emoji", aim=0.85)
    rec, ema, wide, two = (out[v]["heads"]["emoji group"] for v in ("recipe", "ema", "wide", "two"))
    assert rec["clears_aim"] is False and "vs_recipe" not in rec["held_out_accuracy"]
    assert ema["clears_aim"] is True   # 0.865 - 0.005 >= 0.85
    assert wide["clears_aim"] is False   # mean 0.853 but std 0.05: not beyond its spread
    assert two["clears_aim"] is None   # two seeds give no spread to judge by
    d = ema["held_out_accuracy"]["vs_recipe"]
    assert d["seeds"] == [0, 1, 2] and d["mean"] == pytest.approx(0.02) and d["std"] == pytest.approx(0.0, abs=1e-12)
    assert ema["held_out_balanced_accuracy"]["vs_recipe"]["mean"] == pytest.approx(0.02)
    # a head missing the balanced accuracy is summarised without it, not as zero
    assert two["held_out_balanced_accuracy"]["n"] == 0 and "vs_recipe" not in two["held_out_balanced_accuracy"]
    assert "clears_aim" not in out["ema"]["heads"]["skin tone"]   # the aim is the primary head's
    assert out["ema"]["majority_baseline"] == 0.55
    text = PS.render({"aim": 0.85, "proxy": "emoji", "fingerprint": {"gpu": "G"}, "date": "d", "base": "--x",
                      "seeds": [0, 1, 2], "primary": "emoji group", "summary": out,
                      "variants": [{"name": n, "flags": f} for n, f in
                                   [("recipe", []), ("ema", ["--ema", "0.999"]), ("wide", ["--width", "96"]), ("two", [])]]})
    assert "| ema | `--ema 0.999` | 86.50 ± 0.50 % (n 3) | 70.00 % | +2.00 pt | yes |" in text
    assert "| recipe | `(base)` | 84.50 ± 0.50 % (n 3) | 68.00 % | – | no |" in text
    assert "| two | `(base)` | 95.00 ± 0.00 % (n 2) | – | +10.50 pt (p 0.03) | – |" in text


def test_variants_are_name_equals_flags():
    assert PS.parse_variant("recipe=") == ("recipe", [])
    assert PS.parse_variant("ema-mix=--ema 0.999 --mixup 0.2") == ("ema-mix", ["--ema", "0.999", "--mixup", "0.2"])
    for bad in ("--ema 0.9", "=--ema 0.9", "a b=--ema"):
        with pytest.raises(ValueError, match="NAME=FLAGS"):
            PS.parse_variant(bad)


def _emoji_folder(tmp_path, n=40):
    rng = np.random.default_rng(0)
    group = (np.arange(n) % 4 == 0).astype(np.int64)
    images = (rng.integers(0, 60, (n, 64, 64, 3)) + 180 * group[:, None, None, None]).astype(np.uint8)
    np.savez(tmp_path / "emoji.npz", images64=images, images32=images[:, ::2, ::2], labels=group, label_names=np.array(["a", "b"]),
             sequences=np.array(["1F600"] * n), subgroups=np.array(["a", "b"] * (n // 2)), held_out=np.arange(n) % 5 == 0)


def test_a_sweep_runs_every_variant_and_seed_resumes_and_reports_a_failed_run(tmp_path, capsys):
    _emoji_folder(tmp_path)
    out = tmp_path / "sweep"
    args = ["--data", str(tmp_path), "--base", "--epochs 1 --width 4 --batch 8", "--seeds", "0", "1", "2",
            "--jobs", "2", "--device", "cpu", "--out", str(out), "--weights", str(tmp_path / "w")]
    assert PS.main([*args, "--variant", "recipe=", "--variant", "ema=--ema 0.5"]) == 0
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["schema"] == PS.SCHEMA and sweep["primary"] == "emoji group" and sweep["failed"] == []
    runs = {p.stem for p in (out / "runs").glob("*.json")}
    assert runs == {f"{v}-s{s}" for v in ("recipe", "ema") for s in range(3)}
    ema = json.loads((out / "runs" / "ema-s1.json").read_text())["proxies"]["emoji"]
    assert ema["ema"] == 0.5 and ema["seed"] == 1 and ema["epochs"] == 1
    assert set(sweep["summary"]["ema"]["heads"]["emoji group"]["held_out_accuracy"]["vs_recipe"]["seeds"]) == {0, 1, 2}
    assert (out / "sweep.md").read_text().startswith("# Proxy sweep: emoji")
    # again with one variant more: only its runs train; a variant whose flags train_proxies.py refuses fails loudly
    capsys.readouterr()
    assert PS.main([*args, "--variant", "recipe=", "--variant", "ema=--ema 0.5", "--variant", "bad=--ema 2"]) == 1
    log = capsys.readouterr().out
    assert "3 runs to go (6 done before)" in log and log.count("FAILED rc 2") == 3
    assert sorted(json.loads((out / "sweep.json").read_text())["failed"]) == ["bad-s0", "bad-s1", "bad-s2"]
