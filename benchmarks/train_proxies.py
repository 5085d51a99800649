"""Train the proxy feature extractors (emoji: RGB 32x32 -> emoji group; mel: 64x64 -> GM
instrument family) and export them as safetensors + a JSON config.

    python benchmarks/train_proxies.py [--data data_cache] [--out benchmarks/assets] [--epochs 12]

Needs `ldprune data emoji` and `ldprune data notes` first. CPU: a few minutes; fixed seed.
Writes benchmarks/assets/proxy-{emoji,mel}.safetensors (+ .json) and benchmarks/results/train_proxies.json.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
from pathlib import Path

import numpy as np
import torch

from ldprune_deploy.jsonio import write_json_atomic
from ldprune_deploy.quality import load_emoji, load_notes
from ldprune_deploy.quality.proxy import export_proxy, train_proxy


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="data cache folder (default data_cache/)")
    ap.add_argument("--limit", type=int, help="use the --limit slice of the data sets (tests)")
    ap.add_argument("--out", default="benchmarks/assets")
    ap.add_argument("--results", default="benchmarks/results/train_proxies.json")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=["emoji", "mel"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    results = {"schema": "ldprune.bench.train_proxies/1", "date": datetime.date.today().isoformat(),
               "device": a.device if a.device == "cpu" else torch.cuda.get_device_name(),
               "host": platform.node(), "torch": torch.__version__, "seed": a.seed, "proxies": {}}
    jobs = {"emoji": lambda: load_emoji(a.data, a.limit), "mel": lambda: load_notes(a.data, a.limit)}
    for name, load in jobs.items():
        if a.only and a.only != name:
            continue
        d = load()
        # emoji at 32x32: the group is recognisable there and the CPU trains 4x faster
        x = d["images32"].transpose(0, 3, 1, 2) if name == "emoji" else d["mels"]
        print(f"{name}: {len(x)} items, {len(d['label_names'])} classes, training on {a.device}")
        net, info = train_proxy(np.ascontiguousarray(x), d["labels"], d["held_out"],
                                "image" if name == "emoji" else "mel", a.epochs, a.seed, device=a.device)
        meta = {"modality": name, "label": "emoji group" if name == "emoji" else "GM instrument family",
                "classes": [str(c) for c in d["label_names"]], "seed": a.seed, "metric_name":
                "proxy-FID" if name == "emoji" else "proxy-FAD", **info}
        path = export_proxy(net, Path(a.out) / f"proxy-{name}.safetensors", meta)
        print(f"  held-out accuracy {info['held_out_accuracy']:.3f} (majority class {info['chance_accuracy']:.3f}), "
              f"{info['seconds']} s -> {path} ({path.stat().st_size / 1e6:.2f} MB)")
        results["proxies"][name] = {"path": str(path), **meta}
    write_json_atomic(a.results, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
