"""The proxy metrics' part of the quality summary: held-out accuracy against the majority baseline and the 85 % bar,
the sweep that chose the adopted recipe, and the adopted recipe's run-to-run spread."""

from __future__ import annotations

import json

import _summary_runs as R
from _summary_runs import PROXY_AGREEMENT, PROXY_RECIPE_SWEEPS, PROXY_REPEATS, PROXY_SWEEP, load

ACCURACY_BAR = 0.85


def _meets_bar(head_index: int, accuracy: float) -> bool | None:
    # the bar is for the label the metric is named by (the first head); the others are auxiliary
    # heads that shape the features, reported without a verdict
    return accuracy >= ACCURACY_BAR if head_index == 0 else None


def proxies(tp: dict) -> dict:
    out = {}
    for name, p in tp["proxies"].items():
        if name == "align":
            out["emoji-alignment"] = {
                "heldout_accuracy": p["image_to_text_top1"], "majority_baseline": p["chance_top1"],
                "measure": f"held-out image -> caption retrieval top-1 among {p['n_candidates']} captions "
                           f"(top-5 {p['image_to_text_top5']:.3f}); baseline = chance", "meets_85pct": None}
            continue
        for i, (head, h) in enumerate(p["heads"].items()):
            out[f"{name}/{head}"] = {"heldout_accuracy": h["held_out_accuracy"], "majority_baseline": h["majority_baseline"],
                                     "classes": h["classes"], "n_held_out": p["n_held_out"],
                                     "meets_85pct": _meets_bar(i, h["held_out_accuracy"]),
                                     **({} if i == 0 else {"measure": "auxiliary head"})}
    return out


def proxy_sweep(folder: str = PROXY_SWEEP) -> list[dict]:
    """Proxy variants trained on the GPU in the second run: the sweep that chose the adopted recipe
    (64 px emoji, width 64, 100 epochs; the adopted proxies add a finer auxiliary head each)."""
    out = []
    for f in sorted((R.ROOT / folder).glob("proxy-*.json")):
        r = json.loads(f.read_text())
        for name, p in r["proxies"].items():
            for i, (head, h) in enumerate(p["heads"].items()):
                out.append({"proxy": name, "input_side": _side(f.stem), "width": p.get("width"),
                            "epochs": p["epochs"], "label": head, "heldout_accuracy": h["held_out_accuracy"],
                            "majority_baseline": h["majority_baseline"],
                            "meets_85pct": _meets_bar(i, h["held_out_accuracy"]),
                            "device": r["device"], "date": r["date"], "file": f"{folder}/{f.name}"})
    return out


def proxy_repeats(tp: dict, folders: list[str] = PROXY_REPEATS) -> dict:
    """The primary label's held-out accuracy over every training of the committed emoji recipe: the committed
    proxy (``tp``) and the runs in ``folders`` that trained its recipe (the others are variants, reported by
    ``proxy_recipe_sweeps``), summarised as mean ± std; the file the committed proxy came from
    (``run_file``) is not counted twice."""
    committed = _proxy_run(tp, "benchmarks/results/train_proxies.json", committed=True)
    own = tp["proxies"]["emoji"].get("run_file")
    runs = [committed]
    for folder in folders:
        for f in sorted((R.ROOT / folder).glob("*.json")):
            rel = f"{folder}/{f.name}"
            if rel != own and _is_recipe(run := _proxy_run(json.loads(f.read_text()), rel, committed=False), committed):
                runs.append(run)
    runs[1:] = sorted(runs[1:], key=lambda r: r["seed"])
    from ldprune_deploy.quality.evidence import spread

    plain = spread([r["heldout_accuracy"] for r in runs])
    n = tp["proxies"]["emoji"]["n_held_out"]
    return {"label": tp["proxies"]["emoji"]["label"], "recipe": recipe_words(committed), "runs": runs,
            "n_held_out": n, "heldout_se": (ACCURACY_BAR * (1 - ACCURACY_BAR) / n) ** 0.5,
            "plain": plain, "mean_meets_85pct": plain["mean"] >= ACCURACY_BAR,
            "mean_less_std_meets_85pct": plain["n"] > 2 and plain["mean"] - plain["std"] >= ACCURACY_BAR}


def recipe_words(run: dict) -> str:
    side = f"{run['input_side']} px" if run["input_side"] else "input side not recorded"
    return (f"{side}, width {run['width']}, {run['epochs']} epochs, three heads, class weights {run['class_weights']}"
            + (f", EMA {run['ema']:g}" if run["ema"] else "") + (f", mixup {run['mixup']:g}" if run["mixup"] else ""))


def proxy_recipe_sweeps(folders: list[str] = PROXY_RECIPE_SWEEPS) -> list[dict]:
    """Each recipe sweep (benchmarks/proxy_sweep.py's sweep.json): per variant its flags, seeds and the primary
    head's mean ± std, balanced accuracy, paired difference from the sweep's first variant and the aim verdict."""
    from proxy_sweep import primary_rows

    out = []
    for folder in folders:
        sw = json.loads((R.ROOT / folder / "sweep.json").read_text())
        ref = sw["variants"][0]["name"]
        rows = []
        for v, s, h, a, b, d in primary_rows(sw):
            rows.append({"variant": v["name"], "flags": " ".join(v["flags"]), "seeds": s["seeds"], "mean": a["mean"],
                         "std": a["std"], "balanced_mean": b["mean"], "clears_aim": h["clears_aim"],
                         "vs_first": None if d is None else {k: d[k] for k in ("mean", "std", "p")},
                         "aux_means": {n: x["held_out_accuracy"]["mean"] for n, x in s["heads"].items() if n != s["primary"]}})
        fp = sw["fingerprint"]
        out.append({"folder": folder, "device": fp.get("gpu") or "cpu", "date": sw["date"], "base": sw["base"],
                    "aim": sw["aim"], "label": sw["primary"], "first": ref, "variants": rows})
    return out


def _proxy_run(result: dict, file: str, committed: bool) -> dict:
    """One emoji-proxy training (a train_proxies.py result) as a row of ``proxy_repeats``."""
    p = result["proxies"]["emoji"]
    # a proxy taken from a sweep into train_proxies.json carries its own machine and date
    run = {"seed": p["seed"], "device": p.get("device", result["device"]), "date": p.get("date", result["date"]),
           "caption_head": "caption_head" in p, "width": p.get("width"), "epochs": p["epochs"],
           # recorded since 2026-12-07 (train_proxies.py --emoji-size); the committed file's own config has it
           "input_side": p.get("input_side") or (_sidecar_side(p.get("path")) if committed else None),
           **{k: p.get(k, v) for k, v in _BEFORE_RECORDED.items()},
           "class_weights": "balanced" if p.get("class_balanced", True) else "none",
           "heldout_accuracy": p["held_out_accuracy"],
           # recorded since 2026-12-07 (train_proxies.py): earlier files have no balanced accuracy
           "heldout_balanced_accuracy": p.get("heads", {}).get(p.get("label"), {}).get("held_out_balanced_accuracy"),
           "committed": committed, "file": file}
    if "caption_head" in p:
        run |= {"caption_retrieval_top1": p["caption_head"]["retrieval_top1"],
                "caption_chance_top1": p["caption_head"]["chance_top1"]}
    return run


# what makes a training a repeat of the committed recipe (besides no caption head)
_RECIPE_KEYS = ("width", "epochs", "weight_decay", "label_smoothing", "class_weights", "ema", "mixup")
# what a training used before train_proxies.py recorded it: AdamW decay and label smoothing (recorded since
# 2026-12-05), EMA and mixup (options since 2026-12-07)
_BEFORE_RECORDED = {"weight_decay": 1e-4, "label_smoothing": 0.0, "ema": 0.0, "mixup": 0.0}


def _is_recipe(run: dict, committed: dict) -> bool:
    """A repeat of the committed recipe: no caption head, the committed width, epochs, weight decay, label smoothing,
    class weights, EMA and mixup, and its input side where both record one."""
    sides = (run["input_side"], committed["input_side"])
    return (not run["caption_head"] and all(run[k] == committed[k] for k in _RECIPE_KEYS)
            and (None in sides or sides[0] == sides[1]))


def _sidecar_side(path: str | None) -> int | None:
    """The input side in a committed proxy's config (``export_proxy``'s sidecar beside its weights)."""
    from ldprune_deploy.quality.proxy import sidecar

    f = sidecar(R.ROOT / path) if path else None
    return json.loads(f.read_text())["kwargs"]["size"] if f and f.is_file() else None


def _side(stem: str) -> int | None:
    # proxy-<modality>-<side>-<width>-<epochs>: side 0 = the mel spectrogram's own size
    side = int(stem.split("-")[2])
    return side or None


def proxy_agreement(file: str = PROXY_AGREEMENT) -> dict | None:
    """Two proxies on the same samples (diagnostics/proxy_agreement.py): each model's metric under both, the ladder
    (real training split < teacher < uniform noise) under each, and their rank correlation over the sampled models."""
    if not (R.ROOT / file).is_file():
        return None
    a = load(file)
    names = list(a["proxies"])
    models = a["models"]
    from ldprune_deploy.quality.evidence import ladder as judge

    order = ["real training split", "teacher", "uniform noise"]
    ladder = {n: judge({k: models[k]["fid"][n] for k in order}, order) for n in names}
    fp = a["fingerprint"]
    return {"file": file, "device": fp.get("gpu") or f"cpu ({fp.get('threads')} threads)", "date": fp["date"][:10],
            "teacher": a["teacher"], "proxies": a["proxies"], "n_generated": a["settings"]["n_generated"],
            "models": {k: {"kind": m["kind"], "fid": m["fid"], "ratio_to_teacher": m.get("ratio_to_teacher")}
                       for k, m in models.items() if m["kind"] != "ladder"},
            "ladder": ladder, "agreement": a.get("agreement")}
