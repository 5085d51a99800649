"""How well does 'full latency − Σ savings' predict a pruned UNet's measured latency?

Times K random conflict-free plans at 25/50/75 % of operators modified with the profile's
backend, and reports, per profiling method, the median and max |predicted − measured| /
measured at each level, against the issue's targets (graph backend, SD1.5: ≤1/3/8 %).

    python3 benchmarks/predictor_accuracy.py --profile profiles/h100-sd15-torch-graph-b2-512.json \
        --out benchmarks/results/predictor_accuracy_sd15_graph.json
    python3 benchmarks/predictor_accuracy.py --smoke --out /tmp/smoke/accuracy.json

Without --profile it first profiles --model/--backend (methods in_situ,isolated,ablation).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import _common as C

from ldprune_deploy.artifacts import Profile
from ldprune_deploy.jsonio import write_json_atomic
from ldprune_deploy.device import device_fingerprint
from ldprune_deploy.profiler import ProfileConfig, check_additivity, profile
from ldprune_deploy.runners import RunSpec, get_runner

TARGETS = {0.25: 0.01, 0.5: 0.03, 0.75: 0.08}   # median error, graph backend, SD1.5 (issue 4)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="result JSON")
    ap.add_argument("--profile", help="existing profile to test (default: profile --model first)")
    ap.add_argument("--model", default="sd15")
    ap.add_argument("--backend", default="torch-graph")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--dtype", default="fp16")
    ap.add_argument("-k", type=int, default=10, help="random plans per level (default 10)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="CPU, tiny-t2i, a few candidates, seconds")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    t0 = time.time()
    out = Path(args.out)
    if args.smoke:
        args.model, args.backend, args.batch, args.resolution, args.dtype, args.k = "tiny-t2i", "cpu", 1, 32, "fp32", 2
    dev = "cpu" if args.backend == "cpu" else "cuda"
    prof_path = Path(args.profile) if args.profile else None
    if prof_path is not None:
        prof = Profile.load(prof_path, check_device=True)
        args.model, args.backend, args.batch = prof["model"], prof["backend"], prof["batch"]
        args.resolution, args.dtype = prof["resolution"], prof["dtype"]
        dev = prof["device"].get("kind", dev)
    unet, info = C.load_for(args.model, dev, args.dtype)
    if prof_path is None:
        prof_path = out.with_name(out.stem + ".profile.json")
        cfg = ProfileConfig(backend=args.backend, batch=args.batch, resolution=args.resolution, dtype=args.dtype,
                            methods="in_situ,isolated,ablation", output=prof_path, resume=True,
                            **(dict(warmup=1, iters=3, op_warmup=1, op_iters=3,
                                    include=["mid_block.resnets.0:", "attn2:remove"]) if args.smoke else {}))
        prof = profile(unet, cfg)
    prof = Profile.load(prof_path, model_fingerprint=info.fingerprint)
    spec = RunSpec(batch=args.batch, resolution=args.resolution, dtype=args.dtype, text_len=prof.get("text_len"),
                   **(dict(warmup=1, iters=3) if args.smoke else dict(warmup=5, iters=30)))
    result = accuracy(unet, info, prof, prof_path, args.k, args.seed, spec, dev)
    result["smoke"] = args.smoke
    result["wall_time_s"] = round(time.time() - t0, 1)
    write_json_atomic(out, result)
    for m, by in result["summary"].items():
        cells = "  ".join(f"{lv.removeprefix('level_')}: med {v['median_err'] * 100:.2f}% max {v['max_err'] * 100:.2f}%"
                          for lv, v in by.items())
        print(f"{m:9s} {cells}")
    print(f"wrote {out} in {result['wall_time_s']} s")
    return 0


def accuracy(unet, info, prof: dict, prof_path, k: int, seed: int, spec: RunSpec, dev: str) -> dict:
    """``k`` random plans per level measured with the one runner path, against the profile's
    predictions; the full model is also timed here at the start and the end, so a profile whose
    baseline does not match this process's measurement shows up as ``full_offset_pct``."""
    t1 = time.time()
    runner = get_runner(prof["backend"])
    before = runner.measure(unet, info, spec)
    res = check_additivity(unet, prof, k, info=info, seed=seed, spec=spec, runner=runner)
    after = runner.measure(unet, info, spec)
    summary = res["summary"]
    meets = {m: {lv: by[f"level_{lv}"]["median_err"] <= tgt for lv, tgt in TARGETS.items() if f"level_{lv}" in by}
             for m, by in summary.items()}
    prof_full = prof["full_latency_ms"]["median_ms"]
    return {
        "schema": "ldprune.predictor-accuracy/1",
        "device": device_fingerprint(dev), "profile": str(prof_path), "profile_device": prof["device"],
        "model": prof["model"], "model_fingerprint": info.fingerprint, "backend": prof["backend"],
        "dtype": prof["dtype"], "batch": prof["batch"], "resolution": prof["resolution"],
        "full_latency_ms": prof_full,
        "full_measured_here_ms": {"start": before.median_ms, "end": after.median_ms},
        "full_offset_pct": 100 * (before.median_ms - prof_full) / prof_full,
        "k_per_level": k, "seed": seed, "error_unit": "fraction of measured latency",
        "targets_median_err": {f"level_{lv}": t for lv, t in TARGETS.items()},
        "summary": summary, "meets_target": meets,
        "methods_meeting_all_targets": [m for m, ok in meets.items() if ok and all(ok.values())],
        "plans": res["plans"], "measure_wall_s": round(time.time() - t1, 1),
        "timing": {"settle_s": spec.settle_s, "warmup": spec.warmup, "iters": spec.iters, "statistic": "median"},
    }


if __name__ == "__main__":
    raise SystemExit(main())
