"""Every runner on full SD1.5 and a ~30 %-pruned SD1.5: median latency, speedup vs eager, ratio to the FLOP floor.

GPU (the figures the README quotes; random weights, fp16, batch 2, 512x512):
    python benchmarks/runners.py --out benchmarks/results/runners
    # in parts (10-minute calls; rows merge into the same --out while the machine stays warm):
    #   --runners torch   then   --models full --runners ort,tensorrt   then   --models pruned30 --runners ort,tensorrt
    # CUDA provider options on top of the best ORT row (prefer_nhwc, cuDNN attention):
    #   --models full --runners ort --ort-set tuning
    # torch.compile with channels_last and inductor tuning (then the same with max-autotune):
    #   --models full --runners torch --torch-set tuned      (--torch-set autotune)
CPU smoke (tiny-t2i, fp32, seconds; checks the script end to end, its figures mean nothing):
    python benchmarks/runners.py --smoke --out /tmp/runners_smoke

The pruned model uses a deterministic plan: 'remove' modifications taken greedily by FLOPs
saved (largest first, no nested operators) until >= 30 % of the FLOPs are gone. FLOPs are the
proxy; the measured eager latency ratio is reported next to it. The floor is FLOPs / 798 TFLOP/s
(the H100's measured bf16 matmul rate; 2.0 ms for full SD1.5 at batch 2, 512x512).
ONNX exports (TorchScript exporter; plain and ORT-optimized for CUDA) are cached in --cache.
"""

from __future__ import annotations

import argparse
import logging
import time
import traceback
from pathlib import Path

import _common  # noqa: F401  (repo on sys.path)
import torch

from ldprune_deploy.jsonio import write_json_atomic
from ldprune_deploy.catalogue import build_catalogue
from ldprune_deploy.device import device_fingerprint
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.inductor_knobs import check_inductor_knobs
from ldprune_deploy.runners import RunSpec, available_runners, get_runner
from ldprune_deploy.artifacts import Modification, PrunePlan, find_conflicts
from ldprune_deploy.surgery import apply_plan
from ldprune_deploy.unet import set_model_info

log = logging.getLogger("ldprune")
PEAK_FLOPS = 798e12


def pruning_plan(unet, info, batch: int, res: int, target: float) -> tuple[PrunePlan, float]:
    cat = build_catalogue(unet, info, batch=batch, resolution=res)
    gains = []
    for op in cat.prunable:
        m = op.mod("remove")
        if m is not None:
            gains.append((op.flops - m.flops, op.id))
    gains.sort(key=lambda g: (-g[0], g[1]))
    chosen, saved = [], 0
    for gain, op_id in gains:
        if saved >= target * cat.total_flops:
            break
        trial = chosen + [Modification(op_id, "remove")]
        if not find_conflicts(trial):
            chosen, saved = trial, saved + gain
    plan = PrunePlan(info.fingerprint, chosen, model=info.name,
                     meta={"strategy": f"greedy FLOPs, remove, target {target:.0%}"})
    return plan, saved / cat.total_flops


# inductor settings of PyTorch's "Accelerating Generative AI: Diffusion, Fast" recipe (--torch-set tuned)
INDUCTOR_TUNED = {"conv_1x1_as_mm": True, "coordinate_descent_tuning": True, "epilogue_fusion": False,
                  "coordinate_descent_check_all_directions": True}


def gemm_autotune_knobs() -> dict:
    """GEMM autotuning only: every mm/addmm shape picks the fastest of cuBLAS and ~20 Triton templates;
    convolutions keep cuDNN (their Triton templates are slower) and pointwise kernels their heuristics.
    Each candidate is timed for 5 + 20 ms instead of inductor's 25 + 100 ms where this torch has those
    settings (meant to shorten the compile; it did not: 13-38 s per GEMM shape on the H200 vs 7-34 s in
    the probe without them). Measured on the H200, 2026-12-04 (results/runners/h200-gemm-2026-12-04):
    first call 867 s, 6.37 ms vs 6.06 ms for tuned in the same run -- not adopted."""
    import torch._inductor.config as c

    knobs = {"max_autotune_gemm": True, "max_autotune_gemm_backends": "ATEN,TRITON", "max_autotune_conv_backends": "ATEN"}
    if hasattr(c, "inductor_default_autotune_rep"):
        knobs.update(inductor_default_autotune_warmup=5, inductor_default_autotune_rep=20)
    return knobs


def torch_variants(smoke: bool, compile_cl: bool, torch_set: str = "standard") -> list[tuple[str, str, dict, bool]]:
    if smoke:
        return [("cpu eager", "cpu", {}, False)]
    # the speed-up figures: eager and the fastest runner, nothing between; the tuning sets add one row
    # to these, so the reference rows come from the same run
    fastest = [("torch eager", "torch-eager", {}, False), ("torch.compile tuned", "torch-compile", {"mode": "tuned"}, False)]
    if torch_set == "fastest":
        return fastest
    if torch_set == "coordinate":   # issue 21 item 1: inductor's coordinate-descent tuning of every Triton
        # kernel's launch config on top of tuned (a longer first call)
        return fastest + [("torch.compile tuned + coordinate descent", "torch-compile",
                           {"mode": "tuned", "inductor": {"coordinate_descent_tuning": True}}, False)]
    if torch_set == "gemm":   # issue 21 item 1: inductor's GEMM autotuning (Triton templates vs cuBLAS per
        # shape; convolutions stay cuDNN) on top of tuned
        return fastest + [("torch.compile tuned + GEMM autotune", "torch-compile",
                           {"mode": "tuned", "inductor": gemm_autotune_knobs()}, False)]
    if torch_set == "fusion":   # issue 21 item 1: fewer of tuned's ~610 kernels a call (their launches and the
        # ~0.24 ms of gaps between them): vertical fusion of nodes that share no buffer, horizontal combo kernels
        return fastest + [("torch.compile tuned + aggressive fusion", "torch-compile",
                           {"mode": "tuned", "inductor": {"aggressive_fusion": True}}, False),
                          ("torch.compile tuned + combo kernels", "torch-compile",
                           {"mode": "tuned", "inductor": {"combo_kernels": True}}, False)]
    if torch_set == "pdl":   # issue 21 item 1: Hopper's programmatic dependent launch for inductor's Triton
        # kernels -- each may start its prologue while the kernel before it finishes, hiding part of the gaps
        return fastest + [("torch.compile tuned + PDL", "torch-compile",
                           {"mode": "tuned", "inductor": {"triton.enable_pdl": True}}, False)]
    if torch_set != "standard":   # channels_last + the inductor settings; autotune: max-autotune (long)
        m = "max-autotune" if torch_set == "autotune" else "reduce-overhead"
        return [(f"torch.compile {m} channels_last + inductor tuning", "torch-compile",
                 {"mode": m, "inductor": INDUCTOR_TUNED}, True)]
    v = [("torch eager", "torch-eager", {}, False), ("torch graph", "torch-graph", {}, False),
         ("torch graph channels_last", "torch-graph", {}, True),
         ("torch.compile reduce-overhead", "torch-compile", {"mode": "reduce-overhead"}, False),
         ("torch.compile tuned", "torch-compile", {"mode": "tuned"}, False)]
    if compile_cl:
        v.append(("torch.compile reduce-overhead channels_last", "torch-compile", {"mode": "reduce-overhead"}, True))
    return v


# CUDA provider options tried on top of the best standard row (--ort-set tuning): NHWC kernels for
# Conv and friends, and cuDNN's fused attention (sdpa_kernel bit 8) instead of ORT's own dispatch
ORT_TUNING = (("prefer_nhwc", {"prefer_nhwc": "1"}), ("cuDNN attention", {"sdpa_kernel": "8"}),
              ("prefer_nhwc + cuDNN attention", {"prefer_nhwc": "1", "sdpa_kernel": "8"}))


def ort_variants(smoke: bool, ort_set: str = "standard") -> list[tuple[str, str, dict]]:
    if smoke:
        v = [("ort-cpu", "ort-cpu", {}), ("ort-cpu + optimizer", "ort-cpu", {"optimize": True})]
    else:
        v = [("ort-cuda", "ort-cuda", {}), ("ort-cuda + CUDA graph", "ort-cuda", {"cuda_graph": True}),
             ("ort-cuda + optimizer", "ort-cuda", {"optimize": True}),
             ("ort-cuda + optimizer + CUDA graph", "ort-cuda", {"optimize": True, "cuda_graph": True})]
    if ort_set == "standard":
        return v
    # tuning: the best (last) standard row again as the same-run reference, then each provider option on top
    label, runner, opts = v[-1]
    return [v[-1]] + [(f"{label} + {name}", runner, {**opts, "provider_options": po}) for name, po in ORT_TUNING]


def measure(label, runner, unet, info, spec, rows, channels_last=False):
    log.info("== %s", label)
    t0 = time.perf_counter()
    try:
        if channels_last:   # the runner converts the model and its input, and restores them after
            spec = RunSpec(**{**spec.__dict__, "options": {**spec.options, "channels_last": True}})
        stats = get_runner(runner).measure(unet, info, spec)
        rows.append({"label": label, "runner": runner, "options": spec.options, "channels_last": channels_last,
                     **stats.to_json(), "wall_s": round(time.perf_counter() - t0, 1)})
        log.info("   %.3f ms", stats.median_ms)
    except Exception as e:   # one failing runner must not lose the others' figures
        rows.append({"label": label, "runner": runner, "error": f"{type(e).__name__}: {e}",
                     "trace": traceback.format_exc(limit=3)[-1500:]})
        log.warning("   failed: %s", e)
    finally:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def export_for_ort(unet, info, spec: RunSpec, smoke: bool, ort_set: str = "standard") -> None:
    """The cached exports that the ort rows (plain and optimized) will look up, made now."""
    unet.to(device="cpu", dtype=torch.float32)
    runner = get_runner("ort-cpu" if smoke else "ort-cuda")
    for optimize in sorted({bool(o.get("optimize")) for _, _, o in ort_variants(smoke, ort_set)}):
        t0 = time.perf_counter()
        folder = runner.resolve_export(unet, info, RunSpec(**{**spec.__dict__,
                                                              "options": {**spec.options, "optimize": optimize}}))
        log.info("export ready (optimize=%s) in %.1f s: %s", optimize, time.perf_counter() - t0, folder)


def tensorrt_row(unet, info, spec, cache: Path, rows) -> None:
    """Build (always, if a runtime imports) and run (where the runtime supports this GPU)."""
    from ldprune_deploy.exporter.cache import cached_export
    from ldprune_deploy.exporter.tensorrt import build_engine, engine_dir, import_trt, read_engine_manifest

    row = {"label": "tensorrt", "runner": "tensorrt"}
    try:
        _, flavour = import_trt()
        folder = cached_export(unet, info, dtype=spec.dtype, batch=spec.batch, resolution=spec.resolution,
                               cache_dir=cache)
        edir = engine_dir(folder, device_fingerprint("cuda"))
        if not (edir / "engine.json").is_file():
            build_engine(folder, edir, timing_cache=cache / "trt-timing.cache")
        em = read_engine_manifest(edir)
        row.update(runtime=flavour, build_s=em["build_s"], parse_s=em["parse_s"], runnable_here=em["runnable_here"],
                   engine_bytes=em["engine_bytes"],
                   layers_mapped=(em["engine_layers"] or em["network_layers"])["per_operator"],
                   unmapped_layers=(em["engine_layers"] or em["network_layers"])["unmapped_layers"])
    except Exception as e:
        row["error"] = f"build: {type(e).__name__}: {e}"
        rows.append(row)
        return
    rows.append(row)
    measure(f"tensorrt ({flavour}) run", "tensorrt", unet, info,
            RunSpec(**{**spec.__dict__, "options": {"export_dir": str(folder)}}), rows)


def merged_rows(path: Path, result: dict, variant: str, rows: list[dict]) -> list[dict]:
    """Keep rows of earlier calls (same device, other runners) so one table can be built in parts."""
    import json

    if not path.is_file():
        return rows
    old = json.loads(path.read_text())
    if old.get("device", {}).get("gpu") != result["device"].get("gpu") or old.get("model") != result["model"]:
        return rows
    for name, v in old.get("variants", {}).items():
        if name != variant:
            result["variants"].setdefault(name, v)
    labels = {r["label"] for r in rows}
    prev = [r for r in old.get("variants", {}).get(variant, {}).get("rows", []) if r["label"] not in labels]
    return prev + rows


def summarise(rows, floor_ms):
    eager = next((r["median_ms"] for r in rows if r["label"] in ("torch eager", "cpu eager") and "median_ms" in r), None)
    for r in rows:
        if "median_ms" in r:
            r["speedup_vs_eager"] = round(eager / r["median_ms"], 3) if eager else None
            r["ratio_to_floor"] = round(r["median_ms"] / floor_ms, 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--smoke", action="store_true", help="CPU, tiny-t2i, fp32: checks the script only")
    ap.add_argument("--models", default="full,pruned30",
                    help="full, prunedNN (remove plan cutting NN %% of the FLOPs, greedy) and/or fp8 (full with every "
                         "eligible attention/feed-forward linear in FP8)")
    ap.add_argument("--runners", default="torch,ort,tensorrt", help="subset of torch,ort,tensorrt")
    ap.add_argument("--iters", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--prune-target", type=float, default=0.30)
    ap.add_argument("--compile-channels-last", action="store_true", help="also torch.compile with channels_last")
    ap.add_argument("--torch-set", choices=["standard", "fastest", "coordinate", "gemm", "fusion", "pdl", "tuned", "autotune"],
                    default="standard",
                    help="torch rows: standard (eager, CUDA graph, torch.compile incl. the tuned mode), fastest "
                         "(eager and torch.compile tuned only), coordinate (fastest + tuned with inductor's "
                         "coordinate-descent tuning), gemm (fastest + tuned with GEMM autotuning: minutes of "
                         "compiling), fusion (fastest + tuned with inductor's aggressive fusion, and "
                         "with combo kernels), pdl (fastest + tuned with programmatic dependent launch of the "
                         "Triton kernels), tuned (torch.compile "
                         "reduce-overhead with channels_last and inductor tuning) or autotune (the same with "
                         "max-autotune: many minutes of compiling)")
    ap.add_argument("--ort-set", choices=["standard", "tuning"], default="standard",
                    help="ort rows: standard (plain/optimizer x CUDA graph) or tuning (the best standard row "
                         "and CUDA provider options on top of it: prefer_nhwc, cuDNN attention)")
    ap.add_argument("--cache", default=None, help="export cache folder (default: <out>/cache)")
    ap.add_argument("--export-only", action="store_true",
                    help="only fill --cache with the ONNX exports the ort rows use (plain and optimized), timing "
                         "nothing: lets the exports run while the GPU is busy with other work")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache) if args.cache else out / "cache"
    model, batch, res, dtype = ("tiny-t2i", 2, 128, "fp32") if args.smoke else ("sd15", 2, 512, "fp16")
    if not args.smoke and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --smoke on CPU")
    device = "cuda" if not args.smoke else "cpu"
    kinds = set(args.runners.split(","))
    if "torch" in kinds:   # a setting this torch lacks fails here, not after the rows before it (minutes of GPU)
        try:
            for *_, opts, _ in torch_variants(args.smoke, args.compile_channels_last, args.torch_set):
                check_inductor_knobs(opts.get("inductor"))
        except LdpruneError as e:
            raise SystemExit(f"--torch-set {args.torch_set}: {e}") from None
    result = {"schema": "ldprune.bench.runners/1", "device": device_fingerprint(device), "model": model,
              "batch": batch, "resolution": res, "dtype": dtype, "iters": args.iters, "peak_flops": PEAK_FLOPS,
              "available_runners": available_runners(), "random_weights": True, "variants": {}}
    # random init straight on the GPU is seconds instead of a minute; export moves a copy to CPU fp32
    base, info = _common.load_for(model, device, "fp32")
    for variant in args.models.split(","):
        t0 = time.perf_counter()
        if variant.startswith("pruned") or variant == "fp8":
            if variant == "fp8":
                cat = build_catalogue(base, info, flops=False)
                plan, frac = PrunePlan(info.fingerprint, [Modification(op, m) for op, m in cat.candidates(["fp8"])],
                                       model=info.name, meta={"strategy": "every eligible linear in fp8"}), 0.0
            else:
                target = int(variant.removeprefix("pruned") or round(args.prune_target * 100)) / 100
                plan, frac = pruning_plan(base, info, batch, res, target)
            unet = apply_plan(base, plan)
            set_model_info(unet, info)
            plan_json = plan.to_json()
        else:
            unet, frac, plan_json = base, 0.0, None
        flops = build_catalogue(unet, info, batch=batch, resolution=res).total_flops
        floor_ms = flops / PEAK_FLOPS * 1e3
        spec = RunSpec(batch=batch, resolution=res, dtype=dtype, warmup=args.warmup, iters=args.iters,
                       options={"cache_dir": str(cache)})
        if args.export_only:
            export_for_ort(unet, info, spec, args.smoke, args.ort_set)
            continue
        rows: list[dict] = []
        if "torch" in kinds:
            for label, runner, opts, cl in torch_variants(args.smoke, args.compile_channels_last, args.torch_set):
                if runner == "torch-compile":   # inductor's persistent cache: a re-run skips most compiling
                    opts = {**opts, "cache_dir": str(cache / "inductor")}
                measure(label, runner, unet, info, RunSpec(**{**spec.__dict__, "options": opts}), rows, cl)
        if "ort" in kinds:
            unet.to(device="cpu", dtype=torch.float32)   # export traces on CPU in fp32 anyway
            for label, runner, opts in ort_variants(args.smoke, args.ort_set):
                measure(label, runner, unet, info, RunSpec(**{**spec.__dict__, "options": {**spec.options, **opts}}),
                        rows)
        if "tensorrt" in kinds and not args.smoke:
            tensorrt_row(unet, info, spec, cache, rows)
        rows = merged_rows(out / "runners.json", result, variant, rows)
        summarise(rows, floor_ms)
        result["variants"][variant] = {"flops": flops, "flops_removed": round(frac, 4), "floor_ms": round(floor_ms, 3),
                                       "plan": plan_json, "rows": rows, "wall_s": round(time.perf_counter() - t0, 1)}
        write_json_atomic(out / "runners.json", result)
        if unet is not base:
            del unet
    if args.export_only:
        return 0
    (out / "runners.md").write_text(table(result))
    print(table(result))
    return 0


def table(result) -> str:
    lines = [f"device: {result['device'].get('gpu') or result['device'].get('cpu')}  model {result['model']} "
             f"batch {result['batch']} {result['resolution']}px {result['dtype']}", "",
             "| variant | runner | median ms | p10-p90 | speedup vs eager | x floor | first call s | note |",
             "|---|---|---|---|---|---|---|---|"]
    for name, v in result["variants"].items():
        for r in v["rows"]:
            if "median_ms" in r:
                ex = r.get("extra") or {}
                fus = ex.get("optimizer_fusions")
                note = ", ".join(x for x in (f"fusions {sum(fus.values())}" if fus else "",
                                             f"export {ex['export_s']} s" if ex.get("export_s") else "") if x)
                lines.append(f"| {name} | {r['label']} | {r['median_ms']:.2f} | {r['p10_ms']:.2f}-{r['p90_ms']:.2f} | "
                             f"{r['speedup_vs_eager']} | {r['ratio_to_floor']} | {ex.get('prepare_s', '-')} | {note} |")
            else:
                note = r.get("error", "") or f"built in {r.get('build_s')} s, runnable here: {r.get('runnable_here')}"
                lines.append(f"| {name} | {r['label']} | - | - | - | - | - | {note[:120]} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
