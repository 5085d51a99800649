"""The scoring sweep as a user runs it: ``ldprune score`` end to end in fresh processes.

Runs of the same command, each a new Python process (start-up, model build, compile and the
sweep all counted):
  cold             inductor and Triton caches pointed at new empty folders (a first run on a machine)
  warm             the same command again with the caches the cold run left
  cudnn-benchmark  warm, plus ``--cudnn-benchmark`` (cuDNN times its convolution algorithms)
  cold-again       cold once more, in caches of its own: do two first runs give the same scores?
                   (on the H200 two cold runs hours apart differed by 1.2 % median, README)
  cold-deterministic  cold in caches of its own with ``--inductor deterministic=true`` (inductor skips
                   the kernel timing that can change numerics): its cost, and whether it repeats
The default is the first three; ``--runs cold,cold-again,cold-deterministic`` (~10 min on the H200)
answers the repeatability question. Each writes ``<label>-cli.json`` (wall_s, cold, n_candidates, the command and its flags, the
device fingerprint), ``<label>-cli.log`` and ``scores-<label>-cli.json`` into --out, and the
scores files are compared with ``score_stability.py --compare`` (bit-identical or not, Spearman).

    python3 benchmarks/score_cli.py --out benchmarks/results/score_throughput/cli
    python3 benchmarks/score_cli.py --smoke --out /tmp/score-cli-smoke   # CPU, tiny-t2i, no compile
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common as C

from ldprune_deploy.jsonio import write_json_atomic
from ldprune_deploy.device import device_fingerprint

FLAGS = ["--model", "sd15", "--device", "cuda", "--dtype", "fp16", "--resolution", "256", "--mods", "remove",
         "shortcut", "--channels-last", "--compile-blocks", "--compile-regions", "wide"]
SMOKE_FLAGS = ["--model", "tiny-t2i", "--device", "cpu", "--dtype", "fp32", "--n-gen", "2", "--steps", "2",
               "--mods", "remove", "shortcut"]
RUNS = (("cold", []), ("warm", []), ("cudnn-benchmark", ["--cudnn-benchmark"]))
# runs with caches of their own, so each is a first run on the machine (compiled regions only: not in --smoke)
FRESH = (("cold-again", []), ("cold-deterministic", ["--inductor", "deterministic=true"]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--smoke", action="store_true")
    names = [r for r, _ in RUNS + FRESH]
    ap.add_argument("--runs", help=f"comma-separated subset of {','.join(names)}, in that order (default the first "
                                   "three; with --smoke cold,warm)")
    args = ap.parse_args(argv)
    wanted = [r.strip() for r in (args.runs or ("cold,warm" if args.smoke else ",".join(r for r, _ in RUNS))).split(",")
              if r.strip()]
    if not wanted or set(wanted) - set(names):
        ap.error(f"--runs takes a subset of {','.join(names)}")
    if args.smoke and set(wanted) - {"cold", "warm"}:
        ap.error("--smoke runs cold and warm only (the other runs compare compiled regions)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    flags = SMOKE_FLAGS if args.smoke else FLAGS
    runs = [r for r in RUNS + FRESH if r[0] in wanted]
    shared = Path(tempfile.mkdtemp(prefix="ldprune-score-cli-"))
    device = device_fingerprint("cpu" if args.smoke else C.device_name())
    scores = []
    for label, extra in runs:
        caches = Path(tempfile.mkdtemp(prefix=f"ldprune-score-cli-{label}-")) if label in dict(FRESH) else shared
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": str(caches / "inductor"), "TRITON_CACHE_DIR": str(caches / "triton"),
               "PYTHONPATH": os.pathsep.join([str(C.ROOT), os.environ.get("PYTHONPATH", "")])}
        cold = not any(caches.rglob("*"))
        path = out / f"scores-{label}-cli.json"
        cmd = [sys.executable, "-m", "ldprune_deploy.cli", "score", *flags, *extra, "--no-progress", "--overwrite",
               "-o", str(path)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        (out / f"{label}-cli.log").write_text(proc.stdout + proc.stderr)
        n = len(json.loads(path.read_text())["scores"]) if proc.returncode == 0 else None
        write_json_atomic(out / f"{label}-cli.json", {
            "schema": "ldprune.score-cli/1", "command": "ldprune score " + " ".join(flags + extra),
            "flags": flags + extra, "wall_s": round(wall, 2), "rc": proc.returncode, "cold": cold,
            "n_candidates": n, "caches": "fresh empty folders" if cold else "the caches of the runs before",
            "device": device,
            "note": "a fresh process: Python start-up, model build with random weights, compile and the sweep"})
        print(f"{label}: rc {proc.returncode}, {wall:.1f} s, {n} candidates, cold={cold}")
        if proc.returncode != 0:
            print(proc.stderr[-2000:])
            return 1
        scores.append(str(path))
    if len(scores) > 1:
        subprocess.run([sys.executable, str(Path(__file__).with_name("score_stability.py")), "--compare", *scores,
                        "--name", "compare-cli-" + "-".join(label for label, _ in runs), "--out", str(out)],
                       check=True, env=env)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
