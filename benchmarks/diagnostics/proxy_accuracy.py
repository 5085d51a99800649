"""Held-out accuracy and balanced accuracy of every head of a committed proxy file (issue 23, the 85 % aim).

``train_proxies.py`` records each head's balanced accuracy (the mean of the per-class recalls) since 2026-12-07;
the committed proxies were trained before that. This reads a proxy's weights, classifies the held-out split of its
data set with every head and writes both accuracies and the majority-class baseline, so a proxy trained another
way (e.g. ``--class-weights none``) can be set against the committed one on the same measure.

    python benchmarks/diagnostics/proxy_accuracy.py --proxy benchmarks/assets/proxy-emoji.safetensors \\
        --out benchmarks/results/proxy_experiments/<folder>/committed-emoji-accuracy.json

Needs `ldprune data emoji` (or `ldprune data notes` for a mel proxy). Seconds on a CPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from train_proxies import proxy_labels  # noqa: E402

from ldprune_deploy.device import device_fingerprint  # noqa: E402
from ldprune_deploy.jsonio import write_json_atomic  # noqa: E402
from ldprune_deploy.quality import load_emoji, load_notes  # noqa: E402
from ldprune_deploy.quality.proxy import held_out_heads, load_proxy  # noqa: E402


def accuracy(proxy: str, data: str | None = None) -> dict:
    """Every head's held-out accuracy, balanced accuracy and majority-class baseline for the proxy file ``proxy``."""
    extractor, meta = load_proxy(proxy)
    name = meta["data"]   # "emoji" or "mel" (export_proxy's record of the data set)
    d = load_emoji(data) if name == "emoji" else load_notes(data)
    x = d[f"images{meta['kwargs']['size']}"].transpose(0, 3, 1, 2) if name == "emoji" else d["mels"]
    labels, names = proxy_labels(name, d)
    held = d["held_out"]
    net = extractor.net
    heads = held_out_heads(net, torch.from_numpy(np.ascontiguousarray(x[held])),
                           torch.from_numpy(labels[held].astype(np.int64)), names,
                           [net.head.out_features, *(h.out_features for h in net.aux)])
    return {"proxy": proxy, "modality": name, "n_held_out": int(held.sum()), "heads": heads,
            "recorded_at_training": {n: h.get("held_out_accuracy") for n, h in meta.get("heads", {}).items()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--proxy", required=True, help="a proxy .safetensors with its .json config beside it")
    ap.add_argument("--data", default=None, help="data cache folder (default data_cache/)")
    ap.add_argument("--out", required=True, help="JSON result file")
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    r = accuracy(a.proxy, a.data)
    for n, h in r["heads"].items():
        print(f"{n}: accuracy {h['held_out_accuracy']:.4f}, balanced {h['held_out_balanced_accuracy']:.4f} "
              f"(majority class {h['majority_baseline']:.4f})")
    write_json_atomic(a.out, {"schema": "ldprune.bench.proxy-accuracy/1", "date": dt.date.today().isoformat(),
                              "fingerprint": device_fingerprint("cpu"), **r})
    return 0


if __name__ == "__main__":
    sys.exit(main())
