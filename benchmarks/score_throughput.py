"""Scoring throughput: how long the LD-Pruner sweep takes and how much the machinery adds.

GPU (the figures the closing note quotes; SD1.5 random weights, 256², N_gen=64, 25 DDIM steps,
CFG so every UNet call is batch 128):
    python benchmarks/score_throughput.py --device cuda --dtype fp16 --channels-last \
        --out benchmarks/results/score_throughput            # the 86 remove/shortcut candidates
    ... --compile-blocks                                     # the same sweep with ScoreConfig.compile_blocks
                                                             # (wall_s includes compiling; per_call is eager)
    ... --sdpa flash                                         # force one attention backend (sdpa_kernel)
    ... --full                                               # also the whole catalogue (296 on SD1.5)
Execution settings: time one UNet call of every variant first, then sweep with the fastest:
    python benchmarks/score_throughput.py --device cuda --dtype fp16 --variants --pick-fastest \
        --compile-blocks [--compile-regions blocks wide] [--inductor-sets default mm] \
        --out benchmarks/results/score_throughput
    # -> score_throughput-sd15-256-fp16-fastest.json: per_call_variants, picked_variant, sweeps
CPU smoke (tiny-t2i, seconds; checks the script end to end, its figures mean nothing):
    python benchmarks/score_throughput.py --smoke --out /tmp/score_throughput_smoke
    python benchmarks/score_throughput.py --smoke --variants --pick-fastest --out /tmp/score_throughput_smoke

Reported: wall time of ``score()`` (model already loaded; includes catalogue, baseline
generation and the per-candidate atomic writes), candidates/s, the fastest per-call time
measured for the batch-2N shape on the unmodified UNet, the overhead ratio
wall / (UNet calls × per-call) with calls = (candidates + 1 baseline) × steps, and the
FLOP-floor ratio per-call / (FLOPs per call / peak). Modified UNets are cheaper than the
original, so an overhead ratio slightly below 1 is possible and means "no visible overhead".

``--variants`` (before the sweep; ``per_call_variants`` in the JSON): the same per-call time on
the unmodified UNet for each execution variant -- memory format NCHW / channels_last; on CUDA,
for each, the default SDPA dispatch and forced flash, memory-efficient and cuDNN attention
(``torch.nn.attention.sdpa_kernel``). On top of the fastest of those: on CUDA the call replayed
from a CUDA graph (``graph_call.GraphedCall``, what scoring's sampling does on CUDA by default;
``capture_s`` apart), and with ``--compile-blocks`` the blocks under
``scoring.compile.compiled_blocks`` for each memory format on its fastest backend and each of
``--compile-regions``, then each of ``--inductor-sets`` other than default on the fastest
compiled variant (``compile_s``, the first call, apart; graph and compile are exclusive, as in
scoring). Reported times never include compiling or capturing. A variant that raises records
its error. ``--pick-fastest`` (implies ``--variants``) sweeps with the variant of the
lowest ``min_ms`` (memory format, SDPA backend, compile, CUDA graph on/off) instead of
``--channels-last``/``--sdpa``/``--compile-blocks``/``--cuda-graph``; ``picked_variant`` says which
and why, and ``per_call`` is then that variant's time. Each sweep records ``cuda_graph``, whether
its sampling replayed CUDA graphs, and, when it compiled, ``variant_compile_s``: the picked
variant's compile ran earlier in the same process, so the sweep's own compile found inductor's
caches warm, and a cold first ``ldprune score --compile-blocks`` takes about that much longer.
Without either flag the run is the one described above.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

from ldprune_deploy.jsonio import write_json_atomic
from ldprune_deploy.catalogue import build_catalogue
from ldprune_deploy.device import device_fingerprint
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.graph_call import GraphedCall
from ldprune_deploy.models import example_inputs, load_model, parse_dtype
from ldprune_deploy.sampling import unet_call
from ldprune_deploy.scoring import ScoreConfig, score
from ldprune_deploy.scoring.compile import DEFAULT_REGIONS, REGIONS, compiled_blocks

# --sdpa / variant name -> torch.nn.attention.SDPBackend member (None: PyTorch's own dispatch)
SDPA_BACKENDS = {"default": None, "flash": "FLASH_ATTENTION", "efficient": "EFFICIENT_ATTENTION",
                 "cudnn": "CUDNN_ATTENTION"}
# --inductor-sets: torch._inductor.config settings tried on the fastest compiled variant. "mm" runs
# 1x1 convolutions (the transformers' proj_in/out, resnet shortcuts) as matmuls, no autotuning;
# "tuned" adds coordinate-descent tuning of the generated kernels (diffusers' SD recipe; long compile)
INDUCTOR_SETS = {"default": {}, "mm": {"conv_1x1_as_mm": True},
                 "tuned": {"conv_1x1_as_mm": True, "coordinate_descent_tuning": True, "epilogue_fusion": False}}


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def sdpa_context(backend: str):
    """``sdpa_kernel`` forcing one attention backend; a no-op for "default"."""
    if SDPA_BACKENDS[backend] is None:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(getattr(SDPBackend, SDPA_BACKENDS[backend]))


def set_memory_format(unet, channels_last: bool) -> None:
    """Put the UNet's 4-D weights in channels_last or back in NCHW (in place, as ``nn.Module.to`` does)."""
    unet.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def call_inputs(unet, info, batch: int, resolution: int, channels_last: bool | None = None) -> dict:
    inp = example_inputs(unet, info, batch=batch, resolution=resolution)
    if channels_last is None:
        channels_last = next(unet.parameters()).is_contiguous(memory_format=torch.channels_last)
    if "sample" in inp and channels_last:
        inp["sample"] = inp["sample"].contiguous(memory_format=torch.channels_last)
    return inp


@torch.no_grad()
def per_call_ms(unet, info, batch: int, resolution: int, device: str, repeats: int,
                channels_last: bool | None = None, fn=None) -> dict:
    """Fastest and median time of one UNet call at this shape (after warm-up).

    ``channels_last``: feed the sample in that format; None: as the UNet's first weight is.
    ``fn``: what to call with the UNet's inputs instead of the UNet (a ``GraphedCall``).
    """
    inp = call_inputs(unet, info, batch, resolution, channels_last)
    fn = fn or unet
    for _ in range(3):
        fn(**inp)
    times = []
    for _ in range(repeats):
        _sync(device)
        t = time.perf_counter()
        fn(**inp)
        _sync(device)
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    return {"min_ms": times[0], "median_ms": times[len(times) // 2], "n": repeats}


def variant_name(channels_last: bool, sdpa: str, compile_blocks: bool, cuda_graph: bool = False,
                 regions: str = "blocks", inductor_set: str = "default") -> str:
    comp = ("+compile" + ("" if regions == "blocks" else f"-{regions}") +
            ("" if inductor_set == "default" else f"+{inductor_set}")) if compile_blocks else ""
    return ("channels_last" if channels_last else "nchw") + ("" if sdpa == "default" else f"+{sdpa}") + \
        comp + ("+graph" if cuda_graph else "")


@torch.no_grad()
def measure_variant(unet, info, args, batch: int, floor_ms: float, channels_last: bool, sdpa: str,
                    compile_blocks: bool, cuda_graph: bool = False, regions: str = "blocks",
                    inductor_set: str = "default") -> dict:
    """Per-call time of one execution variant of the unmodified UNet; an exception becomes ``error``.

    ``cuda_graph``: the call replayed from a CUDA graph as scoring's sampling does
    (``GraphedCall``: first call eager, second captured; both in ``capture_s``, not in the times).
    ``regions``, ``inductor_set``: with ``compile_blocks``, a key of ``REGIONS`` and of ``INDUCTOR_SETS``.
    """
    v = {"name": variant_name(channels_last, sdpa, compile_blocks, cuda_graph, regions, inductor_set),
         "channels_last": channels_last, "sdpa_backend": sdpa, "compile_blocks": compile_blocks,
         "cuda_graph": cuda_graph}
    if compile_blocks:
        v.update(compile_regions=regions, inductor_set=inductor_set)
    graphed = None
    t0 = time.perf_counter()
    try:
        set_memory_format(unet, channels_last)
        compiling = compiled_blocks(unet, REGIONS[regions], inductor=INDUCTOR_SETS[inductor_set]) \
            if compile_blocks else contextlib.nullcontext()
        with sdpa_context(sdpa), compiling:
            if compile_blocks:  # the first call compiles every block at this shape: reported, not timed below
                inp = call_inputs(unet, info, batch, args.resolution, channels_last)
                _sync(args.device)
                t = time.perf_counter()
                unet(**inp)
                _sync(args.device)
                v["compile_s"] = time.perf_counter() - t
                del inp
            if cuda_graph:
                graphed = GraphedCall(unet_call(unet), name=v["name"])
                inp = call_inputs(unet, info, batch, args.resolution, channels_last)
                _sync(args.device)
                t = time.perf_counter()
                graphed(**inp)  # eager warm-up
                graphed(**inp)  # capture (and its first replay)
                _sync(args.device)
                v["capture_s"] = time.perf_counter() - t
                del inp
            v.update(per_call_ms(unet, info, batch, args.resolution, args.device, args.repeats, channels_last,
                                 fn=graphed))
            if graphed is not None and (graphed.failed is not None or not graphed.replays):
                raise RuntimeError(f"CUDA graph capture failed, the calls ran eagerly: {graphed.failed}")
        v["flop_floor_ratio"] = v["min_ms"] / floor_ms
    except Exception as e:  # noqa: BLE001 -- any failure of one variant is a result, not the end of the run
        v["error"] = f"{type(e).__name__}: {e}"[:1000]
        for k in ("min_ms", "median_ms", "n", "flop_floor_ratio"):
            v.pop(k, None)
    del graphed  # frees the graph's memory pool
    if torch.device(args.device).type == "cuda":
        torch.cuda.empty_cache()
    v["measure_s"] = time.perf_counter() - t0
    if "error" in v:
        print(f"variant {v['name']}: failed: {v['error'].splitlines()[0]}", file=sys.stderr)
    else:
        extra = f", compile {v['compile_s']:.1f} s" if "compile_s" in v else ""
        extra += f", capture {v['capture_s']:.2f} s" if "capture_s" in v else ""
        print(f"variant {v['name']}: per-call min {v['min_ms']:.2f} ms, median {v['median_ms']:.2f} ms, "
              f"FLOP floor x{v['flop_floor_ratio']:.2f}{extra}")
    return v


def measure_variants(unet, info, args, batch: int, floor_ms: float) -> list[dict]:
    """Every execution variant at the sweep's call shape; the UNet is left in ``args.channels_last``'s format."""
    backends = ["default"]
    if torch.device(args.device).type == "cuda":
        from torch.nn.attention import SDPBackend

        backends += [b for b, m in SDPA_BACKENDS.items() if m is not None and hasattr(SDPBackend, m)]
    variants = [measure_variant(unet, info, args, batch, floor_ms, cl, b, False)
                for cl in (False, True) for b in backends]
    ok = [v for v in variants if "error" not in v]
    base = min(ok, key=lambda v: v["min_ms"]) if ok else {"channels_last": args.channels_last,
                                                             "sdpa_backend": args.sdpa}
    # on top of the fastest eager settings: a CUDA graph replay (scoring's default on CUDA) and,
    # the compiled blocks once per memory format (the two do not combine: scoring refuses it)
    if torch.device(args.device).type == "cuda" and args.cuda_graph != "off":
        variants.append(measure_variant(unet, info, args, batch, floor_ms, base["channels_last"],
                                        base["sdpa_backend"], False, cuda_graph=True))
    if args.compile_blocks:   # per memory format, on its fastest eager backend: inductor may favour the other
        # format than eager does (measured 2026-11-23: eager NCHW 93.3 ms vs channels_last 104.1 ms)
        compiled = []
        for cl in (False, True):
            mine = [v for v in ok if v["channels_last"] == cl]
            if mine or cl == base["channels_last"]:
                b = min(mine, key=lambda v: v["min_ms"])["sdpa_backend"] if mine else base["sdpa_backend"]
                compiled += [measure_variant(unet, info, args, batch, floor_ms, cl, b, True, regions=r)
                             for r in args.compile_regions]
        variants += compiled
        done = [v for v in compiled if "error" not in v]
        if done and [k for k in args.inductor_sets if k != "default"]:   # settings on the fastest compiled one
            top = min(done, key=lambda v: v["min_ms"])
            variants += [measure_variant(unet, info, args, batch, floor_ms, top["channels_last"], top["sdpa_backend"],
                                         True, regions=top["compile_regions"], inductor_set=k)
                         for k in args.inductor_sets if k != "default"]
    set_memory_format(unet, args.channels_last)
    return variants


def pick_fastest(variants: list[dict]) -> dict | None:
    ok = [v for v in variants if "error" not in v and math.isfinite(v.get("min_ms", math.nan))]
    if not ok:
        return None
    ranked = sorted(ok, key=lambda v: v["min_ms"])
    best = ranked[0]
    runner_up = f"; next {ranked[1]['name']} {ranked[1]['min_ms']:.2f} ms" if len(ranked) > 1 else ""
    return {"name": best["name"], "channels_last": best["channels_last"], "sdpa_backend": best["sdpa_backend"],
            "compile_blocks": best["compile_blocks"], "cuda_graph": best["cuda_graph"],
            "compile_regions": best.get("compile_regions", "blocks"), "inductor_set": best.get("inductor_set", "default"),
            "compile_s": best.get("compile_s"),
            "min_ms": best["min_ms"], "median_ms": best["median_ms"],
            "reason": f"lowest per-call min_ms ({best['min_ms']:.2f} ms) of the {len(ok)} of "
                      f"{len(variants)} variants that ran{runner_up}"}


def sweep(unet, info, args, mods: list[str] | None, label: str, workdir: Path) -> dict:
    cfg = ScoreConfig(method="ld-pruner", output=workdir / f"scores-{label}.json", n_gen=args.n_gen,
                      steps=args.steps, guidance=args.guidance, resolution=args.resolution, mods=mods,
                      device=args.device, dtype=args.dtype, channels_last=args.channels_last,
                      batch_size=args.batch_size, compile_blocks=args.compile_blocks, overwrite=True,
                      compile_regions=args.compile_regions[0] if args.compile_blocks else None,
                      inductor=(INDUCTOR_SETS[args.inductor_sets[0]] or None) if args.compile_blocks else None,
                      cuda_graph={"auto": None, "on": True, "off": False}[args.cuda_graph],
                      cudnn_benchmark=torch.device(args.device).type == "cuda",   # main() sets it for every timing
                      progress=not args.no_progress)
    if args.max_candidates:
        cat = build_catalogue(unet, info, flops=False)
        chosen = [c for c in cat.candidates() if mods is None or c[1] in mods][:args.max_candidates]
        cfg.candidates = chosen
    _sync(args.device)
    t = time.perf_counter()
    with sdpa_context(args.sdpa):
        doc = score(unet, cfg)
    _sync(args.device)
    wall = time.perf_counter() - t
    n = len(doc["scores"])
    return {"label": label, "candidates": n, "wall_s": wall, "candidates_per_s": n / wall,
            "unet_calls": (n + 1) * args.steps, "scores_file": str(cfg.output),
            "cuda_graph": bool(doc["params"].get("cuda_graph", False)),
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
                    help="score with ScoreConfig.compile_blocks (wall time includes compiling; per-call is eager); "
                         "with --variants: also time the compiled variant")
    ap.add_argument("--compile-regions", nargs="+", choices=list(REGIONS), default=[DEFAULT_REGIONS],
                    help="with --compile-blocks: the compiled regions (scoring.compile.REGIONS); with --variants "
                         "each is timed per memory format; without, the sweep uses the first")
    ap.add_argument("--inductor-sets", nargs="+", choices=list(INDUCTOR_SETS), default=["default"],
                    help="with --compile-blocks: inductor settings (INDUCTOR_SETS); with --variants the ones other "
                         "than default are timed on the fastest compiled variant; without, the sweep uses the first")
    ap.add_argument("--sdpa", choices=list(SDPA_BACKENDS), default="default",
                    help="attention backend forced with sdpa_kernel around the sweep (default: PyTorch's dispatch)")
    ap.add_argument("--cuda-graph", choices=["auto", "on", "off"], default="auto",
                    help="ScoreConfig.cuda_graph for the sweep (auto: scoring's default, on for CUDA without "
                         "--compile-blocks); with --variants on CUDA, not off: also time the graph-replayed call")
    ap.add_argument("--variants", action="store_true",
                    help="first time one UNet call per execution variant (per_call_variants in the JSON)")
    ap.add_argument("--pick-fastest", action="store_true",
                    help="sweep with the fastest variant's settings (implies --variants; overrides "
                         "--channels-last/--sdpa/--compile-blocks/--cuda-graph)")
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
    variants = picked = call = None
    if not (args.variants or args.pick_fastest):  # the default run, in its original order
        with sdpa_context(args.sdpa):
            call = per_call_ms(unet, info, call_batch, args.resolution, args.device, args.repeats)
    flops = build_catalogue(unet, info, batch=call_batch, resolution=args.resolution).total_flops
    floor_ms = flops / (args.peak_tflops * 1e12) * 1e3
    if args.variants or args.pick_fastest:
        t = time.perf_counter()
        variants = measure_variants(unet, info, args, call_batch, floor_ms)
        variants_s = time.perf_counter() - t
        if args.pick_fastest:
            picked = pick_fastest(variants)
            if picked is None:
                print("--pick-fastest: no variant ran; sweeping with the flags given", file=sys.stderr)
            else:
                args.channels_last, args.sdpa = picked["channels_last"], picked["sdpa_backend"]
                args.compile_blocks = picked["compile_blocks"]
                args.compile_regions, args.inductor_sets = [picked["compile_regions"]], [picked["inductor_set"]]
                args.cuda_graph = "on" if picked["cuda_graph"] else "off"
                set_memory_format(unet, args.channels_last)
                print(f"picked {picked['name']}: {picked['reason']}")
    if picked is not None:  # the per-call time of the settings the sweep runs with (compiled if picked so)
        call = {k: picked[k] for k in ("min_ms", "median_ms")} | {"n": args.repeats, "variant": picked["name"]}
    elif call is None:  # eager, with the flags given (as in the default run)
        with sdpa_context(args.sdpa):
            call = per_call_ms(unet, info, call_batch, args.resolution, args.device, args.repeats)
    calls_per_step = cfg_batch // call_batch
    result = {"benchmark": "score_throughput", "device": device_fingerprint(args.device), "model": args.model,
              "random_weights": info.random_weights, "resolution": args.resolution, "n_gen": args.n_gen,
              "steps": args.steps, "guidance": args.guidance, "dtype": args.dtype,
              "channels_last": args.channels_last, "compile_blocks": args.compile_blocks,
              "sdpa_backend": args.sdpa, "cuda_graph": args.cuda_graph, "unet_call_batch": call_batch,
              "compile_regions": args.compile_regions[0] if args.compile_blocks else None,
              "inductor": INDUCTOR_SETS[args.inductor_sets[0]] if args.compile_blocks else None,
              "per_call": call, "flops_per_call": flops, "peak_tflops": args.peak_tflops,
              "flop_floor_ms": floor_ms, "flop_floor_ratio": call["min_ms"] / floor_ms,
              "achieved_tflops": flops / (call["min_ms"] * 1e-3) / 1e12, "sweeps": []}
    if variants is not None:
        result["per_call_variants"] = variants
        result["variants_s"] = variants_s
    if args.pick_fastest:
        result["picked_variant"] = picked
        name = f"score_throughput-{args.model}-{args.resolution}-{args.dtype}-fastest"
    else:
        name = f"score_throughput-{args.model}-{args.resolution}-{args.dtype}{'-cl' if args.channels_last else ''}"
        name += ("-cb" + ("" if args.compile_regions[0] == "blocks" else f"-{args.compile_regions[0]}") +
                 ("" if args.inductor_sets[0] == "default" else f"-{args.inductor_sets[0]}")) if args.compile_blocks else ""
        name += "" if args.sdpa == "default" else f"-{args.sdpa}"
        name += "" if args.cuda_graph == "auto" else f"-graph{args.cuda_graph}"
    if variants is not None:
        write_json_atomic(out / f"{name}.json", result)  # the variants survive a sweep that dies
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
                if picked is not None and picked["compile_blocks"]:
                    # the variant's first call compiled these blocks earlier in this process: the sweep's
                    # compile found inductor's caches warm; a cold first run pays about this much more
                    s["variant_compile_s"] = picked["compile_s"]
                print(f"{label}: {s['candidates']} candidates in {s['wall_s']:.1f} s "
                      f"({s['candidates_per_s']:.3f}/s), per-call {call['min_ms']:.1f} ms, "
                      f"overhead x{s['overhead_ratio']:.3f}, FLOP floor x{result['flop_floor_ratio']:.2f}")
            result["sweeps"].append(s)
            write_json_atomic(out / f"{name}.json", result)  # keep what finished if the next sweep dies
    print(json.dumps({k: result[k] for k in ("per_call", "flop_floor_ms", "achieved_tflops")}))
    if variants is not None:
        print(json.dumps([{k: v.get(k) for k in ("name", "min_ms", "median_ms", "compile_s", "capture_s", "error")
                           if k in v}
                          for v in variants]))
    print(f"wrote {out / (name + '.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
