"""One model, one figure: the same UNet timed by every command's path, and the cold-GPU effect.

On the H200 (2026-12-03) the profile CLI's full latency of SD1.5 sat ~3 % below what every
other command measured. This script shows the cause and the fix in one process:
  * ``cold``: after the GPU idled ``--idle`` seconds, one measurement with no settling, then a
    second one straight after (the first ran faster than the steady state);
  * ``settled``: after the same idle, the runner's default (``settle_s``: the device kept busy
    before timing): the steady state;
  * each command's path back to back: the profile's full latency, plan --verify's reference
    (paired rounds), predictor_accuracy's ``runner.measure`` and the evaluator's paired latency,
    and ``ldprune profile`` in a fresh process.

    python3 benchmarks/measurement_path.py --out benchmarks/results/measurement_path/h200.json
    python3 benchmarks/measurement_path.py --smoke --out /tmp/mp.json     # CPU, tiny-t2i
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C

from ldprune_deploy.jsonio import write_json_atomic
from ldprune_deploy.device import device_fingerprint
from ldprune_deploy.evaluation import EvaluateConfig, measure_latency
from ldprune_deploy.models import load_model
from ldprune_deploy.profiler import ProfileConfig, profile
from ldprune_deploy.runners import RunSpec, get_runner
from ldprune_deploy.runners.timing import open_variant, paired


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", default="sd15")
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--idle", type=float, default=20.0, help="seconds the GPU idles before the cold measurements")
    ap.add_argument("--smoke", action="store_true")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    if args.smoke:
        args.model, args.resolution, args.idle = "tiny-t2i", 32, 0.1
    dev, dtype, backend, batch = ("cpu", "fp32", "cpu", 1) if args.smoke else ("cuda", "fp16", "torch-graph", 2)
    unet, info = load_model(args.model, device=dev, dtype=C.parse_dtype(dtype), quiet=True)
    runner = get_runner(backend)
    spec = RunSpec(batch=batch, resolution=args.resolution, dtype=dtype, **(dict(warmup=1, iters=3) if args.smoke else {}))
    cold = RunSpec(**{**spec.__dict__, "settle_s": 0.0})
    r: dict = {"schema": "ldprune.measurement-path/1", "device": device_fingerprint(dev), "model": args.model,
               "backend": backend, "batch": batch, "resolution": args.resolution, "dtype": dtype,
               "idle_s": args.idle, "settle_s": spec.settle_s, "statistic": "median of 30 CUDA-event-timed calls"}
    ms = lambda s: round(runner.measure(unet, info, s).median_ms, 4)  # noqa: E731
    r["first_after_load_no_settle"] = ms(cold)
    time.sleep(args.idle)
    r["cold"] = {"first_no_settle": ms(cold), "second_no_settle": ms(cold), "third_no_settle": ms(cold)}
    time.sleep(args.idle)
    r["settled"] = {"first": ms(spec), "second": ms(spec)}
    unet.to("cpu")
    unet.to(dev)   # weights written by a host copy, as a folder of real weights arrives
    r["after_host_copy_no_settle"] = ms(cold)
    time.sleep(args.idle)
    r["after_idle_settled_again"] = ms(spec)
    # every command's path, back to back
    with tempfile.TemporaryDirectory() as tmp:
        prof = profile(unet, ProfileConfig(backend=backend, batch=batch, resolution=args.resolution, dtype=dtype,
                                           methods="isolated", max_candidates=1, output=Path(tmp) / "p.json",
                                           progress=False, **(dict(warmup=1, iters=3) if args.smoke else {})))
        paths = {"profile_full": prof["full_latency_ms"]["median_ms"], "predictor_measure": ms(spec)}
        ref = open_variant(runner, unet, info, spec)
        try:
            paths["verify_reference"] = paired([ref], spec, name=backend).reference.median_ms
        finally:
            ref.close()
        lat = measure_latency(EvaluateConfig(runner=backend, latency_batch=batch, resolution=args.resolution,
                                             dtype=dtype, **(dict(warmup=1, iters=3) if args.smoke else {})),
                              unet, info, unet, info, dtype)
        paths["evaluator_teacher"], paths["evaluator_candidate"] = lat["teacher_ms"], lat["candidate_ms"]
        cmd = [sys.executable, "-m", "ldprune_deploy.cli", "-q", "profile", "--model", args.model, "--backend", backend,
               "--batch", str(batch), "--resolution", str(args.resolution), "--dtype", dtype, "--methods", "isolated",
               "--max-candidates", "1", "--no-progress", "-o", str(Path(tmp) / "cli.json")]
        t = time.time()
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        paths["cli_profile_fresh_process"] = json.loads((Path(tmp) / "cli.json").read_text())["full_latency_ms"]["median_ms"]
        r["cli_wall_s"] = round(time.time() - t, 1)
    r["paths"] = {k: round(v, 4) for k, v in paths.items()}
    vals = list(paths.values())
    r["paths_spread_pct"] = round(100 * (max(vals) - min(vals)) / min(vals), 3)
    write_json_atomic(args.out, r)
    print(json.dumps({k: r[k] for k in ("first_after_load_no_settle", "cold", "settled", "after_host_copy_no_settle",
                                        "after_idle_settled_again", "paths", "paths_spread_pct")}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
