import importlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from ldprune_deploy.quality.proxy import ProxyRecipe, export_proxy, train_proxy

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks" / "diagnostics"))
PA = importlib.import_module("proxy_accuracy")


def _emoji_folder(tmp_path, n=40):
    """A stand-in emoji.npz: two groups (dark / bright glyphs), no skin tones, two subgroups, every fifth held out."""
    rng = np.random.default_rng(0)
    group = (np.arange(n) % 4 == 0).astype(np.int64)   # group 1 a quarter of the items
    images = (rng.integers(0, 60, (n, 64, 64, 3)) + 180 * group[:, None, None, None]).astype(np.uint8)
    np.savez(tmp_path / "emoji.npz", images64=images, labels=group, sequences=np.array(["1F600"] * n),
             subgroups=np.array(["a", "b"] * (n // 2)), held_out=np.arange(n) % 5 == 0)
    return images, group


def test_the_measured_accuracy_is_the_one_recorded_at_training_and_balanced_accuracy_beside_it(tmp_path):
    images, group = _emoji_folder(tmp_path)
    labels = np.stack([group, np.zeros_like(group), np.arange(len(group)) % 2], 1)
    held = np.arange(len(group)) % 5 == 0
    net, info = train_proxy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)), labels, held, "image",
                            ProxyRecipe(epochs=2, batch=8), log=lambda *_: None, label_names=["emoji group", "skin tone", "emoji subgroup"])
    path = export_proxy(net, tmp_path / "proxy-emoji.safetensors", {"modality": "emoji", **info})
    r = PA.accuracy(str(path), str(tmp_path))
    assert r["modality"] == "emoji" and r["n_held_out"] == 8
    for name, h in r["heads"].items():
        assert h["held_out_accuracy"] == pytest.approx(info["heads"][name]["held_out_accuracy"])
        assert h["held_out_balanced_accuracy"] == pytest.approx(info["heads"][name]["held_out_balanced_accuracy"])
        assert r["recorded_at_training"][name] == info["heads"][name]["held_out_accuracy"]
    held_groups = group[held]
    assert r["heads"]["emoji group"]["majority_baseline"] == pytest.approx(np.bincount(held_groups).max() / 8)
    out = tmp_path / "acc.json"
    assert PA.main(["--proxy", str(path), "--data", str(tmp_path), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["schema"] == "ldprune.bench.proxy-accuracy/1"
