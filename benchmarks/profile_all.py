"""Produce the committed GPU profiles (issue 4) into --out DIR, and a summary JSON with wall times.

    python3 benchmarks/profile_all.py --out profiles                    # every job
    python3 benchmarks/profile_all.py --out profiles --only sd15-graph  # a subset
    python3 benchmarks/profile_all.py --smoke --out /tmp/smoke          # CPU, tiny-t2i, seconds

Re-running resumes: finished profiles are kept, interrupted ones continue from their
partial results (pass --overwrite to measure again).
"""

from __future__ import annotations

import argparse
import gc
import logging
import time
from pathlib import Path

import _common as C  # noqa: F401  (puts the repo on sys.path)
import torch

from ldprune_deploy.jsonio import write_json_atomic
from ldprune_deploy.device import device_fingerprint
from ldprune_deploy.profiler import ProfileConfig, profile

# name: (model, backend, batch, resolution, methods)
JOBS = {
    "sd15-graph": ("sd15", "torch-graph", 2, 512, "in_situ,isolated,ablation"),
    "sd15-eager": ("sd15", "torch-eager", 2, 512, "in_situ,isolated"),
    "sd15-compile": ("sd15", "torch-compile", 2, 512, "in_situ,isolated"),
    "sdxl-graph": ("sdxl", "torch-graph", 2, 1024, "in_situ,isolated"),
    "celebahq-graph": ("ldm-celebahq-256", "torch-graph", 8, 256, "in_situ,isolated"),
    "audio-graph": ("audio-diffusion-256", "torch-graph", 8, 256, "in_situ,isolated"),
}
SMOKE = {"tiny-cpu": ("tiny-t2i", "cpu", 1, 32, "in_situ,isolated,ablation")}
SMOKE_INCLUDE = ["mid_block.resnets.0:", "attn2:remove"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the profile JSON files")
    ap.add_argument("--only", help=f"comma-separated jobs (default all): {', '.join(JOBS)}")
    ap.add_argument("--methods", help="override every job's methods (e.g. isolated)")
    ap.add_argument("--ablation", action="store_true", help="add the ablation method to every job (not compile)")
    ap.add_argument("--check-additivity", type=int, default=0, metavar="K", help="K random plans per level")
    ap.add_argument("--dtype", default="fp16")
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--compile-cache", default="/tmp/ldprune-inductor-cache")
    ap.add_argument("--overwrite", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="CPU, tiny-t2i, a few candidates, seconds")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")

    jobs = SMOKE if args.smoke else JOBS
    names = args.only.split(",") if args.only else list(jobs)
    unknown = [n for n in names if n not in jobs]
    if unknown:
        ap.error(f"unknown job(s) {unknown}; choose from {', '.join(jobs)}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    dev = "cpu" if args.smoke else C.device_name()
    summary = {"schema": "ldprune.profile-all/1", "device": device_fingerprint(dev), "jobs": {}}
    loaded: dict[str, tuple] = {}
    t_all = time.time()
    for name in names:
        model, backend, batch, res, methods = jobs[name]
        methods = args.methods or methods
        if args.ablation and backend != "torch-compile" and "ablation" not in methods:
            methods += ",ablation"
        if model not in loaded:
            loaded.clear()  # one model in memory at a time
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            t = time.time()
            loaded[model] = C.load_for(model, dev, "fp32" if args.smoke else args.dtype)
            logging.info("loaded %s in %.1f s", model, time.time() - t)
        unet, info = loaded[model]
        path = out / C.profile_name(model, backend, batch, res)
        cfg = ProfileConfig(
            backend=backend, batch=batch, resolution=res, dtype="fp32" if args.smoke else args.dtype,
            methods=methods, output=path, resume=not args.overwrite, overwrite=args.overwrite,
            warmup=1 if args.smoke else args.warmup, iters=3 if args.smoke else args.iters,
            op_warmup=1 if args.smoke else 3, op_iters=3 if args.smoke else 30,
            include=SMOKE_INCLUDE if args.smoke else None,
            check_additivity=args.check_additivity,
            backend_options={"cache_dir": args.compile_cache} if backend == "torch-compile" else {})
        t = time.time()
        try:
            prof = profile(unet, cfg)
        except Exception as e:  # one failed job must not lose the others' results
            logging.exception("job %s failed", name)
            summary["jobs"][name] = {"error": f"{type(e).__name__}: {e}", "wall_s": round(time.time() - t, 1)}
            write_json_atomic(out / "profile_all.json", summary)
            continue
        if backend == "torch-compile":
            torch._dynamo.reset()  # drop compiled graphs (and their CUDA-graph pools) before the next job
        summary["jobs"][name] = {
            "file": path.name, "model": model, "backend": backend, "batch": batch, "resolution": res,
            "methods": prof["methods"], "n_candidates": prof["n_candidates"],
            "full_latency_ms": prof["full_latency_ms"]["median_ms"], "wall_time_s": prof["wall_time_s"],
            "method_wall_s": prof.get("method_wall_s"), "job_wall_s": round(time.time() - t, 1),
            "additivity": prof.get("additivity")}
        logging.info("%s: full %.3f ms, %d candidates, %.1f s (%s)", name, prof["full_latency_ms"]["median_ms"],
                     prof["n_candidates"], prof["wall_time_s"], prof.get("method_wall_s"))
        write_json_atomic(out / "profile_all.json", summary)
    summary["wall_time_s"] = round(time.time() - t_all, 1)
    write_json_atomic(out / "profile_all.json", summary)
    print(f"wrote {len(names)} profile(s) to {out} in {summary['wall_time_s']} s")
    return 0 if all("error" not in j for j in summary["jobs"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
