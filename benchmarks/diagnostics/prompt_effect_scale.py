"""Why did prompt-effect KD hurt on emoji-t2i? The size of its term next to the others (issue 23).

``ldprune distill --lambda-prompt`` adds the per-sample *relative* error of the caption's effect
d = eps(c) - eps(empty) (``distillation.losses.prompt_term``). This measures, on the CPU and
without training, on the committed emoji-t2i teacher and the three landed keep-xattn plans of the
H200 run (each applied to the teacher: the students as distillation starts):
  - how large the teacher's d is next to eps, and how much it varies between samples and timesteps
    (the relative form divides by it, so the smallest effects weigh most);
  - the task, output-KD and prompt terms of each student on one batch of training images at DDPM
    timesteps drawn uniformly (as distillation draws them).

    python benchmarks/diagnostics/prompt_effect_scale.py --out benchmarks/results/distill/prompt-effect-scale-cpu.json

~1 min on 2 CPU cores (batch 256 at 64 px, 3 students).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ldprune_deploy.artifacts import PrunePlan  # noqa: E402
from ldprune_deploy.device import device_fingerprint  # noqa: E402
from ldprune_deploy.distillation.losses import prompt_term  # noqa: E402
from ldprune_deploy.jsonio import write_json_atomic  # noqa: E402
from ldprune_deploy.models import load_model  # noqa: E402
from ldprune_deploy.quality.teachers import TEACHERS, teacher_data  # noqa: E402
from ldprune_deploy.sampling import SamplerConfig, make_scheduler  # noqa: E402
from ldprune_deploy.surgery.apply import apply_plan  # noqa: E402

TEACHER = "benchmarks/assets/teachers/emoji-t2i"
PLANS = "benchmarks/results/quality/h200-2026-12-04-adopt/keep-xattn-emoji-t2i/work/plans"
BANDS = ((0, 100), (100, 300), (300, 600), (600, 900), (900, 1000))


def pct(a: torch.Tensor) -> dict[str, float]:
    return {f"p{p}": float(v) for p, v in zip((1, 10, 50, 90, 99), np.percentile(a.numpy(), [1, 10, 50, 90, 99]))}


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).pow(2).flatten(1).mean(1).mean())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--data", default=str(ROOT / "data_cache"))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    teacher, info = load_model(str(ROOT / TEACHER), device="cpu", dtype=torch.float32, quiet=True)
    cfg = TEACHERS["emoji-t2i"]
    td = teacher_data(cfg.data, cfg.space, cfg.conditional, a.data)
    sched = make_scheduler(SamplerConfig(scheduler="ddpm"))
    idx = torch.randint(0, len(td.x_train), (a.batch,))
    x0, c = td.x_train[idx].float(), td.cond_train[idx].float()
    t = torch.randint(0, sched.config.num_train_timesteps, (a.batch,))
    noise = torch.randn_like(x0)
    xt = sched.add_noise(x0, noise, t)

    def eps(unet, ctx):
        with torch.no_grad():
            return unet(xt, t, encoder_hidden_states=ctx).sample

    et_c, et_u = eps(teacher, c), eps(teacher, torch.zeros_like(c))
    scale = (et_c - et_u).pow(2).flatten(1).mean(1)
    w = 1 / scale
    small = scale <= scale.quantile(0.1)
    result = {
        "schema": "ldprune.bench.prompt-effect-scale/1", "device": device_fingerprint("cpu"), "teacher": TEACHER,
        "batch": a.batch, "seed": a.seed, "timesteps": "uniform over the 1000 DDPM steps",
        "teacher_effect": {
            "mean_square_d": pct(scale), "mean_square_eps_median": float(et_c.pow(2).flatten(1).mean(1).median()),
            "median_by_timestep": {f"{lo}-{hi}": float(scale[(t >= lo) & (t < hi)].median()) for lo, hi in BANDS},
            "relative_weight_share_of_smallest_10pct": float(w[small].sum() / w.sum())},
        "students": {}}
    for f in sorted((ROOT / PLANS).glob("plan-*.json")):
        plan = PrunePlan.from_json(json.loads(f.read_text()), where=str(f))
        student = apply_plan(teacher, plan).eval()
        es_c, es_u = eps(student, c), eps(student, torch.zeros_like(c))
        result["students"][f.stem] = {
            "task_mse": mse(es_c, noise), "output_kd_mse": mse(es_c, et_c), "teacher_task_mse": mse(et_c, noise),
            "prompt_term_relative": float(prompt_term(es_c, es_u, et_c, et_u)),
            "prompt_effect_mse_absolute": mse(es_c - es_u, et_c - et_u)}
        print(f.stem, {k: round(v, 5) for k, v in result["students"][f.stem].items()})
    print(json.dumps(result["teacher_effect"], indent=1))
    write_json_atomic(Path(a.out), result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
