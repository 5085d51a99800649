"""Train the proxy feature extractors and export them as safetensors + a JSON config: emoji (RGB)
with three heads, emoji group, skin tone (none or Fitzpatrick 1-2..6) and Unicode subgroup; mel
(64x64) with GM instrument family, pitch and GM program; and the prompt-alignment proxy (align).
Several labels on one feature vector make the Frechet features see several properties of a sample
(what it depicts, its colours, its pitch); every head's held-out accuracy is reported beside its
majority-class baseline. ``--caption-head`` adds a head that predicts each glyph's caption
embedding (reported as held-out cosine and caption retrieval).

    python benchmarks/train_proxies.py [--data data_cache] [--out benchmarks/assets] [--epochs 30]
    # the committed proxies' recipes (align was trained with --epochs 30; the emoji proxy is the seed-0 run of
    # benchmarks/proxy_sweep.py's sweep of 2026-12-07, on an H100):
    python benchmarks/train_proxies.py --only mel --width 64 --epochs 100
    python benchmarks/train_proxies.py --only emoji --emoji-size 64 --width 64 --epochs 100 \
        --class-weights none --ema 0.998 --mixup 0.2

Needs `ldprune data emoji` and `ldprune data notes` first. Fixed seed. The committed recipe takes
~25 s per proxy on an H200 and ~22 min for emoji on 2 CPU cores (2026-12-05); the emoji recipe with EMA and mixup
~85 s on an H100 with eight trainings sharing it (2026-12-07).
Writes benchmarks/assets/proxy-{emoji,mel}.safetensors (+ .json) and benchmarks/results/train_proxies.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

import numpy as np
import torch

from ldprune_deploy.device import device_fingerprint
from ldprune_deploy.jsonio import write_json_atomic
from ldprune_deploy.quality import load_emoji, load_notes
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.params import add_arguments, from_args
from ldprune_deploy.quality.proxy import ProxyRecipe, export_proxy, train_proxy


SKIN_TONES = [f"{c:04X}" for c in range(0x1F3FB, 0x1F400)]


def proxy_labels(name: str, d: dict) -> tuple[np.ndarray, list[str]]:
    """(N, heads) labels and the heads' names: emoji group + skin tone (0 none, 1..5 the first
    Fitzpatrick modifier of the sequence) + Unicode subgroup; GM family + pitch index + GM program.
    The finer heads (subgroup inside group, program inside family: program // 8 is the family)
    make the shared features separate the items within each class: measured on this machine's CPU
    (2026-12-04) the program head took the family head's held-out accuracy from 76.8 % (H200, width
    24, 30 epochs) to 80.2 % (same settings) and to 85.6 % at width 48, 60 epochs; the subgroup head
    took the emoji group's from 78.4 % to 79.8 % (32 px, width 24, 30 epochs)."""
    if name == "emoji":
        tone = np.array([next((i + 1 for i, t in enumerate(SKIN_TONES) if t in str(s).split()), 0)
                         for s in d["sequences"]])
        subgroup = np.unique(d["subgroups"], return_inverse=True)[1]
        return np.stack([d["labels"], tone, subgroup], 1), ["emoji group", "skin tone", "emoji subgroup"]
    pitch = np.unique(d["pitches"], return_inverse=True)[1]
    return np.stack([d["labels"], pitch, d["programs"]], 1), ["GM instrument family", "pitch", "GM program"]


def emb_path(a) -> Path:
    from ldprune_deploy.quality.common import cache_dir

    return Path(a.emb or cache_dir(a.data) / ("emoji-emb.safetensors" if a.limit is None else f"emoji-{a.limit}-emb.safetensors"))


def caption_targets(a, d: dict):
    """The pooled, unit-length MiniLM embedding of each item's caption."""
    from ldprune_deploy.conditioning import open_embeddings
    from ldprune_deploy.quality.align import pooled

    return pooled(open_embeddings(emb_path(a)).encode([str(c) for c in d["captions"]]))


def train_alignment(a) -> dict:
    from ldprune_deploy.quality.align import export_align, train_align

    d = load_emoji(a.data, a.limit)
    captions = [str(c) for c in d["captions"]]
    text = caption_targets(a, d)
    print(f"align: {len(captions)} image-caption pairs, training on {a.device}")
    model, info = train_align(np.ascontiguousarray(d["images32"].transpose(0, 3, 1, 2)), text, captions,
                              d["held_out"], a.epochs, a.seed, device=a.device)
    path = export_align(model, Path(a.out) / "align-emoji.safetensors",
                        {"data": "emoji", "text": emb_path(a).name, "seed": a.seed, **info})
    print(f"  held-out retrieval among {info['n_candidates']}: image->text top-1 {info['image_to_text_top1']:.3f} "
          f"top-5 {info['image_to_text_top5']:.3f} (chance {info['chance_top1']:.4f}), {info['seconds']} s -> {path}")
    return {"path": str(path), "metric_name": "proxy alignment", **info}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="data cache folder (default data_cache/)")
    ap.add_argument("--limit", type=int, help="use the --limit slice of the data sets (tests)")
    ap.add_argument("--out", default="benchmarks/assets")
    ap.add_argument("--results", default="benchmarks/results/train_proxies.json")
    ap.add_argument("--emoji-size", type=int, choices=[32, 64], default=32,
                    help="emoji proxy input side (64: the stride-2 stem sees every pixel of the 64 px images)")
    add_arguments(ap, ProxyRecipe)   # --epochs, --width, --seed, --weight-decay, --class-weights, --ema, --mixup, ...
    ap.add_argument("--caption-head", action="store_true",
                    help="emoji: a head that predicts each glyph's pooled MiniLM caption embedding (from --emb)")
    ap.add_argument("--only", nargs="*", choices=["emoji", "mel", "align"], help="default: all three")
    ap.add_argument("--emb", help="caption embeddings for the alignment proxy (default <data>/emoji-emb.safetensors)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    a = ap.parse_args(argv)
    try:
        recipe = from_args(ProxyRecipe, a)
    except LdpruneError as e:
        ap.error(f"{e.message} ({e.fix})")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    results = {"schema": "ldprune.bench.train_proxies/2", "date": datetime.date.today().isoformat(),
               "device": a.device if a.device == "cpu" else torch.cuda.get_device_name(),
               "host": platform.node(), "torch": torch.__version__, "seed": a.seed,
               "fingerprint": device_fingerprint(a.device), "threads": torch.get_num_threads(), "proxies": {}}
    jobs = {"emoji": lambda: load_emoji(a.data, a.limit), "mel": lambda: load_notes(a.data, a.limit)}
    old = Path(a.results)
    if a.only and old.is_file():   # a partial run keeps the other proxies' entries
        results["proxies"] = {k: v for k, v in json.loads(old.read_text()).get("proxies", {}).items() if k not in a.only}
    if not a.only or "align" in a.only:
        results["proxies"]["align"] = train_alignment(a)
    for name, load in jobs.items():
        if a.only and name not in a.only:
            continue
        d = load()
        # emoji at 32x32: the group is recognisable there and the CPU trains 4x faster
        x = d[f"images{a.emoji_size}"].transpose(0, 3, 1, 2) if name == "emoji" else d["mels"]
        labels, names = proxy_labels(name, d)
        text = caption_targets(a, d) if name == "emoji" and a.caption_head else None
        print(f"{name}: {len(x)} items, heads {names}, training on {a.device}")
        net, info = train_proxy(np.ascontiguousarray(x), labels, d["held_out"], "image" if name == "emoji" else "mel",
                                recipe, device=a.device, label_names=names, text=text)
        meta = {"modality": name, "label": "emoji group" if name == "emoji" else "GM instrument family",
                "classes": [str(c) for c in d["label_names"]], "seed": a.seed, "metric_name":
                "proxy-FID" if name == "emoji" else "proxy-FAD",
                **({"input_side": a.emoji_size} if name == "emoji" else {}), **info}
        path = export_proxy(net, Path(a.out) / f"proxy-{name}.safetensors", meta)
        for head, h in info["heads"].items():
            print(f"  {head}: held-out accuracy {h['held_out_accuracy']:.3f}, balanced {h['held_out_balanced_accuracy']:.3f} "
                  f"(majority class {h['majority_baseline']:.3f})")
        if "caption_head" in info:
            c = info["caption_head"]
            print(f"  caption head: held-out cosine {c['held_out_cosine']:.3f}, retrieval top-1 {c['retrieval_top1']:.3f} "
                  f"(chance {c['chance_top1']:.4f})")
        print(f"  {info['seconds']} s -> {path} ({path.stat().st_size / 1e6:.2f} MB)")
        results["proxies"][name] = {"path": str(path), **meta}
    write_json_atomic(a.results, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
