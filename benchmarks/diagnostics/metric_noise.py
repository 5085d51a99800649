"""How much does a teacher's proxy-FID move with things other than training? (issue 23's plateau rule)

The plateau rule compares the curve's range over the last 20 % of training with the range over 3
sampling seeds of the final weights. A curve point differs from its neighbour in the weights as well
as in the samples, so this measures, on the committed teachers (fp16 files, evaluated as
``train_teachers.py`` evaluates: DDIM 25 steps, guidance 1, on CUDA fp32 without TF32 or with
``--eval-precision bf16`` bf16 autocast, ``--fid-n`` samples against the held-out split):

  - ``seeds``: the metric over ``--seeds`` sampling seeds (the rule's noise);
  - ``perturbed``: sampling seed 0 with every floating-point weight multiplied by
    ``1 + s * N(0, 1)`` for each scale ``s`` in ``--scales``, ``--draws`` draws each: how far the
    metric moves for weight changes that are not training (fp16 storage alone is ~2.4e-4 relative);
  - ``bf16-rounded weights`` (``--bf16-rounded``): the same seeds with every weight rounded to bf16,
    the fixed per-checkpoint perturbation bf16 autocast applies (relative error up to 2**-9).

    python benchmarks/diagnostics/metric_noise.py --out benchmarks/results/quality/metric-noise-<machine>-<date>.json

On 2 CPU cores ~6 min per point (emoji-uig, 11 points: 55 min); on an H100 ~5 s per point in either
precision. The file is rewritten after every row, so a cut-off run keeps what it measured.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import train_teachers as tt  # noqa: E402

from ldprune_deploy.device import device_fingerprint  # noqa: E402
from ldprune_deploy.jsonio import write_json_atomic  # noqa: E402
from ldprune_deploy.models import load_model  # noqa: E402
from ldprune_deploy.quality import evidence  # noqa: E402
from ldprune_deploy.quality.numerics import EVAL_PRECISIONS  # noqa: E402
from ldprune_deploy.quality.teachers import TEACHERS, teacher_data  # noqa: E402


def perturbed_state(state: dict[str, torch.Tensor], scale: float, seed: int) -> dict[str, torch.Tensor]:
    """``state`` with each floating-point tensor multiplied by ``1 + scale * N(0, 1)`` elementwise
    (drawn on the CPU from ``seed``, so every device gets the same draw); other tensors as they are."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, v in state.items():
        if v.is_floating_point():
            noise = torch.randn(v.shape, generator=g, dtype=torch.float32).to(v.device)
            out[k] = (v.float() * (1 + scale * noise)).to(v.dtype)
        else:
            out[k] = v
    return out


def spread(values: list[float]) -> dict[str, float]:
    """``quality.evidence.spread`` with the values and their range, rounded for the file."""
    s = evidence.spread(values)   # over the finite values; None where there are none
    r = (lambda x: None if x is None else round(x, 3))
    return {"values": [round(v, 3) for v in values], "mean": r(s["mean"]), "std": r(s["std"]),
            "range": None if s["n"] == 0 else round(s["max"] - s["min"], 3)}


def one_teacher(name: str, a, device: str, save) -> dict:
    """The rows for one teacher; ``save(rows)`` after each, so a cut-off run keeps what it measured."""
    cfg = TEACHERS[name]
    td = teacher_data(cfg.data, cfg.space, cfg.conditional, a.data)
    metric, _, align, _ = tt.make_evaluator(cfg, a, device, td.x_ref, td.cond_ref)
    unet, _ = load_model(str(Path(a.teachers) / name), quiet=True)
    unet = unet.float().to(device).eval()
    state = {k: v.clone() for k, v in unet.state_dict().items()}
    seeds = [metric(unet, s) for s in range(a.seeds)]
    print(f"{name}: seeds {[round(f, 2) for f, _ in seeds]}", flush=True)
    rows = {"seeds": spread([f for f, _ in seeds])}
    if align is not None:
        rows["seeds_alignment"] = spread([al for _, al in seeds])
    save(rows)
    if a.bf16_rounded:
        # the perturbation bf16 autocast applies to every weight, measured on the same seeds
        unet.load_state_dict({k: v.to(torch.bfloat16).to(v.dtype) if v.is_floating_point() else v for k, v in state.items()})
        got = [metric(unet, s) for s in range(a.seeds)]
        unet.load_state_dict(state)
        rows["bf16-rounded weights"] = {**spread([f for f, _ in got]), "paired_shift": spread(
            [f - f0 for (f, _), (f0, _) in zip(got, seeds)])}
        print(f"{name}: bf16-rounded weights {[round(f, 2) for f, _ in got]}", flush=True)
        save(rows)
    for scale in a.scales:
        got = []
        for d in range(a.draws):
            unet.load_state_dict(perturbed_state(state, scale, 1000 + d))
            got.append(metric(unet, 0))
        unet.load_state_dict(state)
        rows[f"perturbed {scale:g}"] = {**spread([f for f, _ in got]),
                                        "shift_from_seed0": round(statistics.fmean(f for f, _ in got) - seeds[0][0], 3)}
        if align is not None:
            rows[f"perturbed {scale:g} alignment"] = spread([al for _, al in got])
        print(f"{name}: scale {scale:g}: {[round(f, 2) for f, _ in got]}", flush=True)
        save(rows)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--teachers", default="benchmarks/assets/teachers")
    ap.add_argument("--data", help="data cache folder (default data_cache/)")
    ap.add_argument("--proxies", default="benchmarks/assets")
    ap.add_argument("--only", nargs="*", choices=["emoji-uig", "emoji-t2i", "notes-uag"], default=["emoji-uig", "emoji-t2i"])
    ap.add_argument("--fid-n", type=int, default=1000)
    ap.add_argument("--sample-steps", type=int, default=25)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--scales", type=float, nargs="*", default=[1e-4, 3e-4, 1e-3, 3e-3])
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--eval-precision", choices=list(EVAL_PRECISIONS), default="fp32",
                    help="the evaluations' numerics on CUDA, as train_teachers.py --eval-precision (default fp32)")
    ap.add_argument("--bf16-rounded", action="store_true",
                    help="also measure the weights rounded to bf16, on the same seeds (with --eval-precision fp32: "
                         "how far the rounding bf16 autocast applies moves the metric)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    a.seed, a.emb, a.limit = 0, None, None   # what train_teachers' sampling reads besides fid_n / sample_steps
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    result = {"schema": "ldprune.bench.metric_noise/1", "device": device_fingerprint(device),
              "settings": {"fid_n": a.fid_n, "sample_steps": a.sample_steps, "draws": a.draws,
                           "sampling": f"DDIM, guidance 1, {EVAL_PRECISIONS[a.eval_precision]} (as train_teachers.py "
                                       f"--eval-precision {a.eval_precision})",
                           "eval_precision": a.eval_precision,
                           "teachers": a.teachers,
                           "weights": ("the committed fp16 files" if Path(a.teachers).resolve() == (ROOT / "benchmarks/assets/teachers").resolve()
                                       else f"the fp16 files in {a.teachers}") + ", computed in fp32"
                                      + (" with bf16 autocast" if device == "cuda" and a.eval_precision == "bf16" else
                                         ", TF32 off" if device == "cuda" else "")},
              "teachers": {}}
    def save(name):
        def write(rows):
            result["teachers"][name] = rows
            write_json_atomic(Path(a.out), result)
        return write

    for name in a.only:
        one_teacher(name, a, device, save(name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
