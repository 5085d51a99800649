"""Distillation throughput: SD1.5-shaped teacher + ~30 %-pruned student, samples/s and peak memory.

Weights are random (throughput does not depend on their values); the data are random latents and
embeddings of the right shapes, held in memory so the figure is the training step alone.

    python benchmarks/distill_throughput.py --out benchmarks/results            # one GPU
    accelerate launch --num_processes 2 benchmarks/distill_throughput.py --out benchmarks/results
    python benchmarks/distill_throughput.py --smoke --out /tmp/x                # tiny-t2i on the CPU, seconds

The student's plan is built deterministically: every top-level operator (resnet / transformer) gets
its cheapest legal modification (remove > shortcut > width:0.5); then, repeatedly, the operator
saving the most of whichever fraction lags (FLOPs at batch 1 and the benchmark resolution, or
parameters) is taken, ties by id, until both fractions reach the target.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import torch

from _common import gpu_slug, load_for  # noqa: E402  (also puts the repo root on sys.path)


def build_plan(model: str, resolution: int, target: float):
    from ldprune_deploy.catalogue import build_catalogue
    from ldprune_deploy.artifacts import Modification, PrunePlan

    cat = build_catalogue(model, batch=1, resolution=resolution)
    cands = []
    for o in cat.prunable:
        if o.kind not in ("resnet", "transformer", "attention"):
            continue
        for name in ("remove", "shortcut", "width:0.5"):
            m = o.mod(name)
            if m is not None:
                cands.append((o.flops - m.flops, o.params - m.params, o.id, name))
                break
    # BK-SDM-like: the student is ~30 % smaller in compute *and* in memory. Take the operator that saves
    # the most of whichever fraction (FLOPs or params) lags, until both reach the target.
    by = {0: sorted(cands, key=lambda c: (-c[0], c[2])), 1: sorted(cands, key=lambda c: (-c[1], c[2]))}
    chosen, used, saved = [], set(), [0, 0]
    tot = (cat.total_flops, cat.total_params)
    while min(saved[0] / tot[0], saved[1] / tot[1]) < target and len(used) < len(cands):
        lag = 0 if saved[0] / tot[0] <= saved[1] / tot[1] else 1
        f, p, op, name = next(c for c in by[lag] if c[2] not in used)
        used.add(op)
        chosen.append(Modification(op, name))
        saved = [saved[0] + f, saved[1] + p]
    saved_f, saved_p = saved
    plan = PrunePlan(cat.model_fingerprint, chosen, model=model,
                     meta={"strategy": f"benchmark: greedy until {target:.0%} of FLOPs and of params are gone"})
    stats = {"teacher_gflops": cat.total_flops / 1e9, "teacher_params": cat.total_params,
             "flops_removed_fraction_catalogue": saved_f / cat.total_flops,
             "params_removed_fraction": saved_p / cat.total_params,
             "flops_at": f"batch 1, {resolution}px", "modifications": [m.to_json() for m in chosen]}
    return plan, stats


def count_gflops(model, info, resolution: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    from ldprune_deploy.catalogue import meta_copy
    from ldprune_deploy.models import example_inputs

    meta = meta_copy(model)
    inputs = example_inputs(meta, info, batch=1, resolution=resolution, device="meta", dtype=torch.float32)
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        meta(**inputs)
    return fc.get_total_flops() / 1e9


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="sd15")
    ap.add_argument("--batch-size", type=int, default=8, help="per GPU")
    ap.add_argument("--resolution", type=int, default=512)
    ap.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], help="default bf16 (smoke: no)")
    ap.add_argument("--teacher-dtype", choices=["fp32", "fp16", "bf16"], help="default bf16 (smoke: fp32)")
    ap.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    ap.add_argument("--steps", type=int, default=20, help="timed steps")
    ap.add_argument("--target", type=float, default=0.30, help="fraction of FLOPs to remove")
    ap.add_argument("--feat-loss", default="normalized", choices=["normalized", "plain"])
    ap.add_argument("--smoke", action="store_true", help="tiny-t2i on the CPU, a few steps (checks the script)")
    ap.add_argument("--out", required=True, help="folder for the result JSON")
    a = ap.parse_args(argv)
    if a.smoke:
        a.model, a.batch_size, a.resolution = "tiny-t2i", 2, 128
        a.warmup, a.steps = min(a.warmup, 2), min(a.steps, 3)
    a.mixed_precision = a.mixed_precision or ("no" if a.smoke else "bf16")
    a.teacher_dtype = a.teacher_dtype or ("fp32" if a.smoke else "bf16")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")

    from ldprune_deploy.device import device_fingerprint
    from ldprune_deploy.distillation import DistillConfig, DistillData, distill
    from ldprune_deploy.surgery import apply_plan

    rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    t0 = time.perf_counter()
    plan, stats = build_plan(a.model, a.resolution, a.target)
    dev = "cuda" if torch.cuda.is_available() and not a.smoke else "cpu"
    if dev == "cuda":  # each rank builds its teacher on its own GPU
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    teacher, info = load_for(a.model, dev, "fp32")  # distill() casts it to --teacher-dtype in place
    # the student goes to distill() from the CPU: distill copies it, and a leftover GPU copy held
    # here would count in the peak memory
    student = apply_plan(teacher, plan).cpu()
    stats["student_params"] = sum(p.numel() for p in student.parameters())
    stats["student_gflops"] = count_gflops(student, info, a.resolution)  # counted on the pruned graph
    size, n = info.latent_size(a.resolution), 4 * a.batch_size * world
    g = torch.Generator().manual_seed(0)
    cfg = teacher.config
    emb = torch.randn(n, info.text_len, cfg.cross_attention_dim, generator=g) if info.conditional else None
    data = DistillData(torch.randn(n, cfg.in_channels, size, size, generator=g), emb, "random")
    out = Path(a.out)
    run_dir = out / f".distill-run-{a.model}"  # same path on every rank of one host
    total = a.warmup + a.steps
    setup_s = time.perf_counter() - t0
    distill(teacher, student, DistillConfig(
        output=run_dir, steps=total, batch_size=a.batch_size, lr=1e-5, data=data, feat_loss=a.feat_loss,
        mixed_precision=a.mixed_precision, teacher_dtype=a.teacher_dtype, checkpoint_every=0, save_final=False,
        overwrite=True, cpu=a.smoke, progress=rank == 0))
    if rank != 0:
        return 0
    summary = json.loads((run_dir / "summary.json").read_text())
    hist = json.loads((run_dir / "losses.json").read_text())["history"]
    timed = hist[a.warmup - 1:] if a.warmup > 0 else hist  # the interval starts at the end of warm-up
    dt = timed[-1]["elapsed_s"] - timed[0]["elapsed_s"]
    steps_timed = len(timed) - 1
    gb = summary["global_batch"]
    terms = [k for k in hist[-1] if k in ("total", "task", "out", "feat") or k.startswith("feat/")]
    result = {
        "schema": "ldprune.bench.distill_throughput/1",
        "smoke": a.smoke, "model": a.model, "random_weights": True, "resolution": a.resolution,
        "batch_per_process": a.batch_size, "processes": world, "global_batch": gb,
        "mixed_precision": a.mixed_precision, "teacher_dtype": a.teacher_dtype, "feat_loss": a.feat_loss,
        "warmup_steps": a.warmup, "timed_steps": steps_timed, "timed_seconds": dt,
        "samples_per_s": steps_timed * gb / dt if dt > 0 else None,
        "steps_per_s": steps_timed / dt if dt > 0 else None,
        "peak_memory_gib_rank0": summary["peak_memory_bytes"] / 2**30 if summary["peak_memory_bytes"] else None,
        "memory_estimate": summary["memory_estimate"],
        "loss_terms_mean_timed": {k: sum(h[k] for h in timed[1:]) / max(1, steps_timed) for k in terms},
        "loss_terms_first_step": {k: hist[0][k] for k in terms},
        "plan": stats, "setup_seconds": setup_s, "device": device_fingerprint(),
    }
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"distill_throughput-{a.model}-{gpu_slug()}-x{world}{'-smoke' if a.smoke else ''}.json"
    from ldprune_deploy.jsonio import write_json_atomic

    write_json_atomic(path, result)
    shutil.rmtree(run_dir, ignore_errors=True)
    print(f"{result['samples_per_s']:.2f} samples/s, peak {result['peak_memory_gib_rank0']} GiB -> {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
