"""Do the emoji teachers copy their training images? (issue 23: why their curves do not plateau)

The committed emoji teachers saw each of the ~2 800 training images ~700 (emoji-t2i: ~900) times,
and their held-out proxy-FID rose again after its best point (emoji-uig: 194.8 at step 5 867, 210
at 8 000; a 4 000-step run: 196.0 at 1 867, 228.8 at the end). If that is memorisation, the samples
sit closer to training images than real images the teacher never saw do. Per image, RMSE in
[0, 1] pixels at 64 x 64:

  - ``real held-out -> nearest train``: how far a new real emoji is from the training set (the
    split keeps skin-tone variants with their base, so a held-out image is a new pictogram, while
    a training image has its siblings in the set: ``train -> nearest other train``);
  - ``sample -> nearest train`` and ``sample -> nearest held-out`` for the teacher's samples
    (DDIM 25 steps, guidance 1, seeds as the proxy-FID uses; T2I: held-out captions);
  - ``near copies``: the share of samples closer to a training image than the 5th percentile of
    the held-out images' distances (a real image that close is a near-twin);
  - ``closer to train``: how often a sample's nearest image among as many training images as there
    are held-out ones is nearer than its nearest held-out image (0.5 when nothing is copied).

    python benchmarks/diagnostics/teacher_memorization.py --out benchmarks/results/quality/teacher-memorization-cpu.json

~4 min on 2 CPU cores (256 samples per teacher).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ldprune_deploy.device import device_fingerprint  # noqa: E402
from ldprune_deploy.jsonio import write_json_atomic  # noqa: E402
from ldprune_deploy.models import load_model  # noqa: E402
from ldprune_deploy.quality.teachers import TEACHERS, teacher_data  # noqa: E402
from ldprune_deploy.sampling import SamplerConfig, generate  # noqa: E402
from ldprune_deploy.spaces import to_unit_images  # noqa: E402

NAMES = ("emoji-uig", "emoji-t2i")


def nearest_rmse(x: torch.Tensor, bank: torch.Tensor, *, exclude_self: bool = False) -> torch.Tensor:
    """Per row of ``x``, the RMSE to its nearest row of ``bank`` (both (N, D) in [0, 1])."""
    d = torch.cdist(x.double(), bank.double()).pow(2) / x.shape[1]
    if exclude_self:   # x is bank[:len(x)]: row i's self is column i
        d.fill_diagonal_(float("inf"))
    return d.min(1).values.sqrt().float()


def pct(a: torch.Tensor) -> dict[str, float]:
    return {f"p{p}": round(float(v), 4) for p, v in zip((5, 25, 50, 75), np.percentile(a.numpy(), [5, 25, 50, 75]))}


def one_teacher(name: str, a) -> dict:
    cfg = TEACHERS[name]
    td = teacher_data(cfg.data, cfg.space, cfg.conditional, a.data)
    unet, _ = load_model(str(ROOT / "benchmarks/assets/teachers" / name), device="cpu", dtype=torch.float32, quiet=True)
    c = None
    if cfg.conditional:   # held-out captions, as the proxy metrics sample them
        pick = torch.randint(0, len(td.cond_ref), (a.n,), generator=torch.Generator().manual_seed(a.seed))
        c = td.cond_ref[pick].float()
    with torch.no_grad():
        z = generate(unet, seeds=list(range(10_000, 10_000 + a.n)), latent_size=cfg.latent_size, cond=c, batch_size=64,
                     sampler=SamplerConfig(scheduler="ddim", steps=a.sample_steps, guidance=1.0), vae_scale=1)
    flat = lambda t: t.flatten(1).float()   # noqa: E731
    fake = flat(to_unit_images(z, cfg.space))
    train, ref = flat(to_unit_images(td.x_train, cfg.space)), flat(to_unit_images(td.x_ref, cfg.space))
    ref_train = nearest_rmse(ref, train)
    gen_train, gen_ref = nearest_rmse(fake, train), nearest_rmse(fake, ref)
    # as many training images as held-out ones: a sample that copies nothing is nearer to either
    # half about equally often (the split is random), one that copies training images is not
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(a.seed))
    sub, rest = train[perm[:len(ref)]], train[perm[len(ref):len(ref) + a.n]]
    gen_sub = nearest_rmse(fake, sub)
    # the same question for real training images outside the subset: what "copies nothing" gives here
    rest_sub, rest_ref = nearest_rmse(rest, sub), nearest_rmse(rest, ref)
    twin = float(ref_train.quantile(0.05))
    return {"teacher": name, "n_samples": a.n, "n_train": len(train), "n_held_out": len(ref),
            "rmse": {"real held-out -> nearest train": pct(ref_train), "sample -> nearest train": pct(gen_train),
                     "sample -> nearest held-out": pct(gen_ref),
                     "train -> nearest other train": pct(nearest_rmse(train[:a.n * 4], train, exclude_self=True))},
            "near_copy_threshold": round(twin, 4),
            "near_copies": round(float((gen_train < twin).float().mean()), 4),
            "near_copy_rule": "closer to a training image than the 5th percentile of real held-out -> nearest train",
            "median_ratio_sample_vs_held_out": round(float(gen_train.median() / ref_train.median()), 3),
            "closer_to_train_than_held_out": round(float((gen_sub < gen_ref).float().mean()), 4),
            "real_train_closer_to_train_subset": round(float((rest_sub < rest_ref).float().mean()), 4),
            "closer_to_train_note": f"nearest of {len(ref)} training images vs of the {len(ref)} held-out ones; "
                                    "0.5 for a sampler that copies neither; real_train_closer_to_train_subset: the "
                                    "same for real training images outside that subset (the split's own baseline)"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=str(ROOT / "data_cache"))
    ap.add_argument("--n", type=int, default=256, help="samples per teacher (default 256)")
    ap.add_argument("--sample-steps", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", choices=NAMES, default=list(NAMES))
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    res = {"schema": "ldprune.bench.teacher-memorization/1", "device": device_fingerprint("cpu"),
           "sampler": f"ddim {a.sample_steps} steps, guidance 1", "metric": "RMSE in [0, 1] pixels, 64 x 64 x 3",
           "teachers": [one_teacher(n, a) for n in a.only]}
    write_json_atomic(Path(a.out), res)
    for t in res["teachers"]:
        print(t["teacher"], {k: v["p50"] for k, v in t["rmse"].items()}, "near copies", t["near_copies"],
              "closer to train", t["closer_to_train_than_held_out"],
              "real baseline", t["real_train_closer_to_train_subset"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
