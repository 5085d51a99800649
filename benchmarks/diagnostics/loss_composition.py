"""How big is each distillation loss term on a pruned emoji-t2i student? (issue 23, the feature-KD weight)

The distillation loss is task + output KD + feature KD (LAPTOP-Diff's normalized form, summed over every
down/mid/up block output). This runs the first ``--steps`` optimizer steps of ``ldprune distill`` on the CPU for
each committed landed plan in ``--plans`` and each feature-KD weight in ``--lambda-feat``, with the headline
recipe's loss settings (no caption dropout, ``--snr-gamma``), and records each term per step, its mean, and the
share of the weighted total that the feature term is. It measures the terms' sizes at the start of
distillation, not a training curve (constant lr, no warm-up, a small batch).

    python benchmarks/diagnostics/loss_composition.py \\
        --plans benchmarks/results/quality/h100-2026-12-06-headline-cap/headline-2800-prompt-nodrop-cap4-emoji-t2i/work/plans/plan-ld-pruner-prompt-latency-aware-s0.json \\
        --out benchmarks/results/quality/loss-composition-cpu-<date>.json

About 40 s per plan and weight on 2 CPU cores (20 steps at batch 32).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _quality as Q  # noqa: E402

from ldprune_deploy.artifacts import PrunePlan  # noqa: E402
from ldprune_deploy.device import device_fingerprint  # noqa: E402
from ldprune_deploy.jsonio import write_json_atomic  # noqa: E402

TERMS = ("total", "task", "out", "feat")


def composition(history: list[dict], lambda_feat: float) -> dict:
    """Mean of each term over the steps, and the feature term's share of the weighted total."""
    means = {k: statistics.mean(h[k] for h in history) for k in history[0] if k in TERMS or k.startswith("feat/")}
    return {"mean": means, "feature_share": lambda_feat * means["feat"] / means["total"]}


def run(t: Q.Teacher, plan_path: str, lambda_feat: float, a) -> dict:
    from ldprune_deploy.distillation import DistillConfig, DistillData, distill

    student = Q.prune(t, PrunePlan.load(plan_path))
    with tempfile.TemporaryDirectory() as out:
        cfg = DistillConfig(output=out, steps=a.steps, batch_size=a.batch, lr=a.lr, lr_schedule="constant",
                            data=DistillData(t.x_train, t.cond_train), beta_schedule="scaled_linear",
                            cond_dropout=0.0, snr_gamma=a.snr_gamma, lambda_feat=lambda_feat, cpu=True, seed=a.seed,
                            progress=False, overwrite=True, save_final=False, weight_decay=0.0)
        distill(t.unet, student, cfg)
        history = json.loads((Path(out) / "losses.json").read_text())["history"]
    t.unet.float()
    keep = [{k: v for k, v in h.items() if k in ("step", "grad_norm", *TERMS) or k.startswith("feat/")} for h in history]
    return {"plan": plan_path, "lambda_feat": lambda_feat, **composition(keep, lambda_feat), "steps": keep}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--teacher", default="benchmarks/assets/teachers/emoji-t2i")
    ap.add_argument("--data", default="data_cache")
    ap.add_argument("--plans", nargs="+", required=True, help="committed landed plan files (PrunePlan JSON)")
    ap.add_argument("--lambda-feat", default="1,0.1", help="comma-separated feature-KD weights (default 1,0.1)")
    ap.add_argument("--snr-gamma", type=float, default=5.0, help="min-SNR-gamma of the task and output KD (default 5)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    weights = [float(w) for w in a.lambda_feat.split(",") if w.strip()]
    if any(w < 0 for w in weights):
        raise SystemExit(f"--lambda-feat takes weights >= 0, not {a.lambda_feat}")
    if missing := [p for p in a.plans if not Path(p).is_file()]:
        raise SystemExit(f"no such plan file: {missing[0]}")
    t = Q.load_teacher(a.teacher, a.data, None)
    result = {"schema": "ldprune.loss-composition/1", "script": "benchmarks/diagnostics/loss_composition.py",
              "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
              "device": device_fingerprint("cpu"), "teacher": a.teacher,
              "settings": {"steps": a.steps, "batch": a.batch, "lr": a.lr, "lr_schedule": "constant, no warm-up",
                           "cond_dropout": 0.0, "snr_gamma": a.snr_gamma, "seed": a.seed, "feat_loss": "normalized"},
              "note": "the terms' sizes over the first steps, not a training curve; task and out are the min-SNR "
                      "weighted values the loss sums", "runs": []}
    for plan in a.plans:
        for w in weights:
            result["runs"].append(run(t, plan, w, a))
            r = result["runs"][-1]
            print(f"{Path(plan).name} lambda_feat {w:g}: " + ", ".join(f"{k} {r['mean'][k]:.4f}" for k in TERMS)
                  + f"; feature share {r['feature_share']:.2f}", flush=True)
            write_json_atomic(Path(a.out), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
