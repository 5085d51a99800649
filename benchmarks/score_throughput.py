"""Scoring throughput: how long the LD-Pruner sweep takes and how much the machinery adds.

GPU (the figures the closing note quotes; SD1.5 random weights, 256², N_gen=64, 25 DDIM steps,
CFG so every UNet call is batch 128):
    python benchmarks/score_throughput.py --device cuda --dtype fp16 --channels-last \
        --out benchmarks/results/score_throughput            # the 86 remove/shortcut candidates
    ... --compile-blocks                                     # the same sweep with ScoreConfig.compile_blocks
                                                             # (wall_s includes compiling; per_call is eager)
    ... --full                                               # also the whole catalogue (296 on SD1.5)
CPU smoke (tiny-t2i, seconds; checks the script end to end, its figures mean nothing):
    python benchmarks/score_throughput.py --smoke --out /tmp/score_throughput_smoke

Reported: wall time of ``score()`` (model already loaded; includes catalogue, baseline
generation and the per-candidate atomic writes), candidates/s, the fastest per-call time
measured for the batch-2N shape on the unmodified UNet, the overhead ratio
wall / (UNet calls × per-call) with calls = (candidates + 1 baseline) × steps, and the
FLOP-floor ratio per-call / (FLOPs per call / peak). Modified UNets are cheaper than the
original, so an overhead ratio slightly below 1 is possible and means "no visible overhead".
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

from ldprune_deploy.artifacts import write_json_atomic
from ldprune_deploy.catalogue import build_catalogue
from ldprune_deploy.device import device_fingerprint
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.models import example_inputs, load_model, parse_dtype
from ldprune_deploy.scoring import ScoreConfig, score


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


@torch.no_grad()
def per_call_ms(unet, info, batch: int, resolution: int, device: str, repeats: int) -> dict:
    """Fastest and median time of one UNet call at this shape (after warm-up)."""
    inp = example_inputs(unet, info, batch=batch, resolution=resolution)
    if "sample" in inp and next(unet.parameters()).is_contiguous(memory_format=torch.channels_last):
        inp["sample"] = inp["sample"].contiguous(memory_format=torch.channels_last)
    for _ in range(3):
        unet(**inp)
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        unet(**inp)
        _sync(device)
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return {"min_ms": times[0], "median_ms": times[len(times) // 2], "n": repeats}


def sweep(unet, info, args, mods: list[str] | None, label: str, workdir: Path) -> dict:
    cfg = ScoreConfig(method="ld-pruner", output=workdir / f"scores-{label}.json", n_gen=args.n_gen,
                      steps=args.steps, guidance=args.guidance, resolution=args.resolution, mods=mods,
                      device=args.device, dtype=args.dtype, channels_last=args.channels_last,
                      batch_size=args.batch_size, compile_blocks=args.compile_blocks, overwrite=True,
                      progress=not args.no_progress)
    if args.max_candidates:
        cat = build_catalogue(unet, info, flops=False)
        chosen = [c for c in cat.candidates() if mods is None or c[1] in mods][:args.max_candidates]
        cfg.candidates = chosen
    _sync(args.device)
    t = time.perf_counter()
    doc = score(unet, cfg)
    _sync(args.device)
    wall = time.perf_counter() - t
    n = len(doc["scores"])
    return {"label": label, "candidates": n, "wall_s": wall, "candidates_per_s": n / wall,
            "unet_calls": (n + 1) * args.steps, "scores_file": str(cfg.output),
            "top5": sorted(([e["score"], e["operator"], e["modification"]] for e in doc["scores"]), reverse=True)[:5]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="sd15")
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--n-gen", type=int, default=64)
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--guidance", type=float, default=7.5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="fp16")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--compile-blocks", action="store_true",
                    help="score with ScoreConfig.compile_blocks (wall time includes compiling; per-call is eager)")
    ap.add_argument("--batch-size", type=int, help="samples per UNet call (default: all N_gen)")
    ap.add_argument("--full", action="store_true", help="also sweep the whole catalogue (width variants too)")
    ap.add_argument("--max-candidates", type=int, help="score only the first N candidates of each sweep")
    ap.add_argument("--peak-tflops", type=float, default=800.0, help="device peak for the FLOP floor (H100 dense fp16 ~800)")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="tiny-t2i on CPU in seconds")
    ap.add_argument("--out", required=True, help="folder for the JSON result")
    args = ap.parse_args(argv)
    if args.smoke:
        args.model, args.device, args.dtype, args.resolution = "tiny-t2i", "cpu", "fp32", 128
        args.n_gen, args.steps, args.repeats, args.max_candidates = 4, 2, 3, args.max_candidates or 6
        torch.set_num_threads(1)
    if torch.device(args.device).type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    unet, info = load_model(args.model, device=args.device, dtype=parse_dtype(args.dtype), quiet=True)
    if args.channels_last:
        unet = unet.to(memory_format=torch.channels_last)
    unet.eval().requires_grad_(False)
    cfg_batch = 2 * args.n_gen if info.conditional and args.guidance > 1 else args.n_gen
    call_batch = min(cfg_batch, 2 * args.batch_size if args.batch_size and cfg_batch > args.n_gen else
                     (args.batch_size or cfg_batch))
    call = per_call_ms(unet, info, call_batch, args.resolution, args.device, args.repeats)
    flops = build_catalogue(unet, info, batch=call_batch, resolution=args.resolution).total_flops
    floor_ms = flops / (args.peak_tflops * 1e12) * 1e3
    calls_per_step = cfg_batch // call_batch
    result = {"benchmark": "score_throughput", "device": device_fingerprint(args.device), "model": args.model,
              "random_weights": info.random_weights, "resolution": args.resolution, "n_gen": args.n_gen,
              "steps": args.steps, "guidance": args.guidance, "dtype": args.dtype,
              "channels_last": args.channels_last, "compile_blocks": args.compile_blocks,
              "unet_call_batch": call_batch,
              "per_call": call, "flops_per_call": flops, "peak_tflops": args.peak_tflops,
              "flop_floor_ms": floor_ms, "flop_floor_ratio": call["min_ms"] / floor_ms,
              "achieved_tflops": flops / (call["min_ms"] * 1e-3) / 1e12, "sweeps": []}
    name = f"score_throughput-{args.model}-{args.resolution}-{args.dtype}{'-cl' if args.channels_last else ''}"
    name += "-cb" if args.compile_blocks else ""
    with tempfile.TemporaryDirectory(dir=out) as work:
        plans = [(["remove", "shortcut"], "remove_shortcut")] + ([(None, "full")] if args.full else [])
        for mods, label in plans:
            try:
                s = sweep(unet, info, args, mods, label, Path(work))
            except LdpruneError as e:
                s = {"label": label, "error": str(e)}
                print(f"{label}: {e}", file=sys.stderr)
            if "wall_s" in s:
                s["unet_calls"] *= calls_per_step
                s["ideal_s"] = s["unet_calls"] * call["min_ms"] / 1e3
                s["overhead_ratio"] = s["wall_s"] / s["ideal_s"]
                s["sweep_flop_floor_ratio"] = s["wall_s"] / (s["unet_calls"] * floor_ms / 1e3)
                s.pop("scores_file")
                print(f"{label}: {s['candidates']} candidates in {s['wall_s']:.1f} s "
                      f"({s['candidates_per_s']:.3f}/s), per-call {call['min_ms']:.1f} ms, "
                      f"overhead x{s['overhead_ratio']:.3f}, FLOP floor x{result['flop_floor_ratio']:.2f}")
            result["sweeps"].append(s)
            write_json_atomic(out / f"{name}.json", result)  # keep what finished if the next sweep dies
    print(json.dumps({k: result[k] for k in ("per_call", "flop_floor_ms", "achieved_tflops")}))
    print(f"wrote {out / (name + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
