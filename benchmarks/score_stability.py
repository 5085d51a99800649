"""Ranking stability of LD-Pruner scores: do cheaper settings rank candidates the same way?

Scores the same candidates three times — reference (N_gen=64, 25 steps), fewer samples
(N_gen=16, 25 steps) and fewer steps (N_gen=64, 10 steps) — and reports Spearman between
the reference and each, plus the overlap of the 10 least important candidates (the ones a
planner removes first). Meaningful only on a trained model; a random-weight preset is
labelled as such in the result.

GPU (trained teacher or any trained UNet folder; a preset works but is flagged random):
    python benchmarks/score_stability.py --model path/to/teacher --device cuda --dtype fp16 \
        --resolution 256 --out benchmarks/results/score_stability
CPU smoke (tiny-t2i, seconds; its figures mean nothing):
    python benchmarks/score_stability.py --smoke --out /tmp/score_stability_smoke

Each run's scores file is kept in --out and resumed, so a re-run after an interruption only
does the missing candidates.

Scores files from elsewhere (the same candidates under other execution settings, e.g. with and
without ``--cudnn-benchmark``, or a cold and a warm run) are compared without scoring anything:
    python benchmarks/score_stability.py --compare REF.json OTHER.json [...] --name NAME --out DIR
    # -> DIR/NAME.json: per OTHER, Spearman, bottom-k overlap, whether every score is bit-identical,
    #    the median and largest relative score difference, and the params that differ
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from ldprune_deploy.jsonio import write_json_atomic
from ldprune_deploy.catalogue import build_catalogue
from ldprune_deploy.device import device_fingerprint
from ldprune_deploy.models import load_model, parse_dtype
from ldprune_deploy.scoring import ScoreConfig, score


def _by_candidate(doc: dict) -> dict[tuple[str, str], float]:
    return {(e["operator"], e["modification"]): e["score"] for e in doc["scores"]}


def compare(ref: dict, other: dict, k: int) -> dict:
    from scipy import stats

    a, b = _by_candidate(ref), _by_candidate(other)
    keys = sorted(a)
    if set(b) != set(a):
        raise ValueError("the two scores files cover different candidates")
    rho = float(stats.spearmanr([a[c] for c in keys], [b[c] for c in keys])[0])
    k = min(k, len(keys))   # with fewer candidates than k, the overlap is over all of them
    low_a = set(sorted(keys, key=a.get)[:k])
    low_b = set(sorted(keys, key=b.get)[:k])
    return {"spearman": rho, "bottom_k": k, f"bottom{k}_overlap": len(low_a & low_b) / k}


def compare_files(ref: Path, others: list[Path], k: int) -> dict:
    """``compare`` of each scores file in ``others`` with ``ref``, plus exactness and the params that differ."""
    import json
    import statistics

    r = json.loads(Path(ref).read_text())
    a = _by_candidate(r)
    out = {"reference": str(ref), "reference_params": r["params"], "candidates": len(a), "compared": {}}
    for p in others:
        o = json.loads(Path(p).read_text())
        b = _by_candidate(o)
        row = compare(r, o, k)
        rel = [abs(b[c] - a[c]) / abs(a[c]) for c in a if a[c]]
        row.update(identical=all(a[c] == b[c] for c in a), rel_diff_median=statistics.median(rel) if rel else 0.0,
                   rel_diff_max=max(rel, default=0.0),
                   params_differ={key: [r["params"].get(key), o["params"].get(key)]
                                  for key in sorted(set(r["params"]) | set(o["params"]))
                                  if r["params"].get(key) != o["params"].get(key)})
        out["compared"][str(p)] = row
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="trained model folder / .safetensors, or a preset (random weights)")
    ap.add_argument("--preset", help="architecture of a bare .safetensors --model")
    ap.add_argument("--method", default="ld-pruner", choices=["ld-pruner", "laptop"])
    ap.add_argument("--n-gen", type=int, nargs=2, default=[16, 64], metavar=("LOW", "REF"))
    ap.add_argument("--steps", type=int, nargs=2, default=[10, 25], metavar=("LOW", "REF"))
    ap.add_argument("--guidance", type=float, default=7.5)
    ap.add_argument("--resolution", type=int)
    ap.add_argument("--embeddings", help="pre-computed caption embeddings (a text-conditioned teacher's own)")
    ap.add_argument("--mods", nargs="+", default=["remove", "shortcut"])
    ap.add_argument("--max-candidates", type=int)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="fp16" if torch.cuda.is_available() else "fp32")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--bottom-k", type=int, default=10)
    ap.add_argument("--smoke", action="store_true", help="tiny-t2i on CPU in seconds")
    ap.add_argument("--compare", nargs="+", metavar="SCORES", help="compare existing scores files (the first is the "
                    "reference) instead of scoring")
    ap.add_argument("--name", default="score_compare", help="with --compare: the result's file name")
    ap.add_argument("--out", required=True)
    args = ap.parse_args(argv)
    if args.compare:
        if len(args.compare) < 2:
            ap.error("--compare needs a reference and at least one other scores file")
        result = {"benchmark": "score_compare", **compare_files(Path(args.compare[0]), [Path(p) for p in args.compare[1:]],
                                                                args.bottom_k)}
        Path(args.out).mkdir(parents=True, exist_ok=True)
        write_json_atomic(Path(args.out) / f"{args.name}.json", result)
        for p, row in result["compared"].items():
            print(f"{p}: spearman {row['spearman']:.4f}, identical {row['identical']}, "
                  f"rel diff median {row['rel_diff_median']:.4g} max {row['rel_diff_max']:.4g}")
        return 0
    if args.smoke:
        args.model, args.device, args.dtype = "tiny-t2i", "cpu", "fp32"
        args.n_gen, args.steps, args.max_candidates, args.bottom_k = [2, 4], [1, 2], args.max_candidates or 6, 3
        torch.set_num_threads(1)
    if not args.model:
        ap.error("--model is required (or --smoke)")
    if torch.device(args.device).type == "cuda":
        torch.backends.cudnn.benchmark = True
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    unet, info = load_model(args.model, preset=args.preset, device=args.device, dtype=parse_dtype(args.dtype),
                            quiet=True)
    cands = [c for c in build_catalogue(unet, info, flops=False).candidates() if c[1] in args.mods]
    cands = cands[:args.max_candidates] if args.max_candidates else cands
    (n_lo, n_ref), (s_lo, s_ref) = args.n_gen, args.steps
    runs = {"reference": (n_ref, s_ref), "fewer_samples": (n_lo, s_ref), "fewer_steps": (n_ref, s_lo)}
    docs, walls = {}, {}
    for label, (n, s) in runs.items():
        cfg = ScoreConfig(method=args.method, output=out / f"scores-{args.method}-n{n}-s{s}.json", n_gen=n, steps=s,
                          guidance=args.guidance, resolution=args.resolution, candidates=cands, embeddings=args.embeddings,
                          device=args.device, dtype=args.dtype, channels_last=args.channels_last, resume=True)
        t = time.perf_counter()
        docs[label] = score(unet, cfg)
        walls[label] = time.perf_counter() - t
        print(f"{label}: N_gen={n} steps={s}: {len(cands)} candidates in {walls[label]:.1f} s")
    result = {"benchmark": "score_stability", "device": device_fingerprint(args.device), "model": args.model,
              "random_weights": info.random_weights, "method": args.method, "dtype": args.dtype,
              "resolution": args.resolution or info.resolution, "embeddings": args.embeddings, "candidates": len(cands), "mods": args.mods,
              "runs": {k: {"n_gen": runs[k][0], "steps": runs[k][1], "wall_s": walls[k]} for k in runs},
              f"n_gen_{n_lo}_vs_{n_ref}": compare(docs["reference"], docs["fewer_samples"], args.bottom_k),
              f"steps_{s_lo}_vs_{s_ref}": compare(docs["reference"], docs["fewer_steps"], args.bottom_k)}
    if info.random_weights:
        result["note"] = "random-weight preset: rankings of an untrained model, not a quality finding"
    name = f"score_stability-{Path(str(args.model)).name}-{args.method}.json"
    write_json_atomic(out / name, result)
    print({k: v for k, v in result.items() if k.startswith(("n_gen_", "steps_"))})
    print(f"wrote {out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
