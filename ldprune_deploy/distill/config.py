"""DistillConfig: everything a distillation run depends on (also what a resume must match)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import LdpruneError

FEAT_MODES = ("normalized", "plain")
MIXED = ("no", "fp16", "bf16")
SCHEDULES = ("cosine", "constant")

# Fields that change the loss curve: a resume must use the same values.
RESUME_KEYS = ("seed", "batch_size", "grad_accum", "lr", "weight_decay", "warmup_steps", "lr_schedule",
               "feat_loss", "lambda_task", "lambda_out", "lambda_feat", "ema_decay", "max_grad_norm",
               "steps", "random_flip", "cond_dropout", "mixed_precision", "stages")


@dataclass
class DistillConfig:
    output: str | Path = "distill-out"
    steps: int = 1000
    batch_size: int = 8                  # per process, per micro-step
    grad_accum: int = 1
    lr: float = 1e-4
    weight_decay: float = 1e-2
    betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0
    lr_schedule: str = "constant"        # "constant" or "cosine" (after warm-up)
    max_grad_norm: float | None = 1.0
    feat_loss: str = "normalized"        # "normalized" (LAPTOP-Diff) or "plain" (BK-SDM)
    lambda_task: float = 1.0
    lambda_out: float = 1.0
    lambda_feat: float = 1.0
    stages: list[str] | None = None      # module ids whose outputs are matched; None = every down/mid/up block
    mixed_precision: str = "no"          # "no", "fp16", "bf16" (student; via accelerate)
    teacher_dtype: str = "fp32"          # "fp32", "fp16", "bf16": the frozen teacher may run in half precision
    ema_decay: float | None = None       # e.g. 0.999; None = no EMA
    final_weights: str = "ema"           # which weights go to OUT/model when EMA is on: "ema" or "raw"
    checkpoint_every: int = 0            # 0 = only at the end
    keep_checkpoints: int = 2
    resume: bool = False
    overwrite: bool = False
    seed: int = 0
    # data: a path (pre-encoded .safetensors, image folder, mel .npy folder), a DistillData, or None = data-free
    data: Any = None
    data_free: bool = False
    prompts: str | Path | None = None    # data-free prompt file (None = built-in list)
    n_samples: int = 64                  # data-free: how many teacher samples to generate
    gen_steps: int = 25                  # data-free sampler steps
    gen_guidance: float = 7.5
    text_encoder: Any = None             # EmbeddingFile path, or an object with encode(prompts) -> (B, L, D)
    vae: str | Path | None = None        # local diffusers AutoencoderKL folder for image folders
    resolution: int | None = None        # pixel resolution of image data (default: the model's)
    random_flip: bool = False            # off by default: a flipped latent is not a flipped image's latent
    random_crop: bool = False
    cond_dropout: float = 0.0            # probability of the empty (zero) embedding, keeps CFG working
    num_train_timesteps: int = 1000
    beta_schedule: str | None = None     # None: scaled_linear for latent UNets, linear for pixel UNets
    prediction_type: str = "epsilon"     # "epsilon", "v_prediction" or "sample"
    cpu: bool = False                    # force CPU even when a GPU is present
    save_final: bool = True
    progress: bool = True
    log_every: int = 1

    def check(self) -> None:
        def bad(what, fix):
            raise LdpruneError(what, fix)

        if self.steps < 1:
            bad(f"steps must be >= 1 (got {self.steps})", "pass --steps N with N >= 1")
        if self.batch_size < 1 or self.grad_accum < 1:
            bad("batch size and gradient accumulation must be >= 1", "pass --batch-size/--grad-accum >= 1")
        if self.feat_loss not in FEAT_MODES:
            bad(f"unknown feature loss '{self.feat_loss}'", f"use one of {', '.join(FEAT_MODES)}")
        if self.mixed_precision not in MIXED:
            bad(f"unknown mixed precision '{self.mixed_precision}'", f"use one of {', '.join(MIXED)}")
        if self.lr_schedule not in SCHEDULES:
            bad(f"unknown LR schedule '{self.lr_schedule}'", f"use one of {', '.join(SCHEDULES)}")
        if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
            bad(f"unknown prediction type '{self.prediction_type}'", "use epsilon, v_prediction or sample")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            bad(f"EMA decay must be in (0, 1) (got {self.ema_decay})", "pass e.g. --ema 0.999")
        if self.final_weights not in ("ema", "raw"):
            bad(f"final_weights must be 'ema' or 'raw' (got {self.final_weights})", "pick one")
        if self.data is None and not self.data_free:
            bad("no training data given", "pass --data DIR/FILE, or --data-free to distil on teacher samples")
        if self.data is not None and self.data_free:
            bad("both --data and --data-free given", "pick one")
        if min(self.lambda_task, self.lambda_out, self.lambda_feat) < 0:
            bad("loss weights must be >= 0", "pass non-negative --lambda-* values")

    def resume_view(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in RESUME_KEYS}

    def to_json(self) -> dict[str, Any]:
        # not asdict(): it would deep-copy an in-memory dataset
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("data", "text_encoder")}
        d["data"] = self.data if isinstance(self.data, (str, Path, type(None))) else type(self.data).__name__
        d["text_encoder"] = (self.text_encoder if isinstance(self.text_encoder, (str, Path, type(None)))
                             else getattr(self.text_encoder, "name", type(self.text_encoder).__name__))
        return d
