"""DistillConfig: everything a distillation run depends on (also what a resume must match)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..errors import LdpruneError
from ..params import Params, at_least, between, param

FEAT_MODES = ("normalized", "plain")
MIXED = ("no", "fp16", "bf16")
SCHEDULES = ("cosine", "constant")

# Fields that change the loss curve: a resume must use the same values.
RESUME_KEYS = ("seed", "batch_size", "grad_accum", "lr", "weight_decay", "warmup_steps", "lr_schedule",
               "feat_loss", "lambda_task", "lambda_out", "lambda_feat", "lambda_prompt", "snr_gamma", "ema_decay",
               "max_grad_norm", "steps", "random_flip", "cond_dropout", "caption_mix", "mixed_precision", "stages")


@dataclass
class DistillConfig(Params):
    output: str | Path = param("distill-out", short="-o", recipe=False, required=True,
                               help="output folder (checkpoints, losses, final model/)")
    # data: a path (pre-encoded .safetensors, image folder, mel .npy folder), a DistillData, or None = data-free
    data: Any = param(None, group="data", path=True,
                      help="pre-encoded .safetensors (latents [+ embeddings]), an image folder with captions "
                           "(.jsonl or sidecar .txt), or a folder of mel spectrograms (.npy)")
    data_free: bool = param(False, group="data", help="train on the teacher's own samples (no dataset)")
    prompts: str | Path | None = param(None, group="data", path=True,
                                       help="data-free prompt file, one per line (default: built-in list)")
    n_samples: int = param(64, group="data", check=at_least(1), help="data-free: teacher samples to generate")
    gen_steps: int = param(25, group="data", check=at_least(1), help="data-free: sampler steps per sample")
    gen_guidance: float = param(7.5, group="data", help="data-free: classifier-free guidance of the teacher samples")
    vae: str | Path | None = param(None, group="data", path=True,
                                   help="local diffusers AutoencoderKL folder to encode an image folder")
    text_encoder: Any = param(None, group="data", path=True,
                              help="embedding file (safetensors with 'embeddings' and prompts metadata)")
    resolution: int | None = param(None, group="data", help="pixel resolution of image data (default: the model's)")
    random_flip: bool = param(False, group="data",
                              help="random horizontal flips (off by default: a flipped latent is not a flipped "
                                   "image's latent)")
    random_crop: bool = param(False, group="data", help="random instead of centre crops of images")
    cond_dropout: float = param(0.0, group="data", check=at_least(0),
                                help="probability of an empty caption (keeps classifier-free guidance working)")
    caption_mix: float = param(0.0, group="data", check=at_least(0),
                               help="share of rows (text-conditional UNets) whose caption is replaced by a random "
                                    "blend of two training captions; those rows train only the KD terms (the "
                                    "teacher's answer to a caption no image has), so the student also matches the "
                                    "teacher between the training captions, not only on them")
    feat_loss: str = param("normalized", group="loss", choices=FEAT_MODES,
                           help="normalized: LAPTOP-Diff relative feature error; plain: BK-SDM MSE")
    lambda_task: float = param(1.0, group="loss", check=at_least(0), help="weight of the task (noise) loss")
    lambda_out: float = param(1.0, group="loss", check=at_least(0), help="weight of the output KD loss")
    lambda_feat: float = param(1.0, group="loss", check=at_least(0), help="weight of the feature KD loss")
    lambda_prompt: float = param(0.0, group="loss", check=at_least(0),
                                 help="weight of the prompt-effect KD loss (text-conditional UNets: matches "
                                      "eps(c) - eps(empty), which output KD barely weights; costs a doubled batch; on "
                                      "emoji-t2i it lowered alignment at 0.1 and 1.0, see README)")
    snr_gamma: float | None = param(None, group="loss", metavar="GAMMA",
                                    help="min-SNR-gamma weighting of the task and output-KD terms (Hang et al. 2023; "
                                         "diffusers' --snr_gamma, 5 in the paper): each row weighted min(SNR, gamma) / "
                                         "SNR (v-prediction: / (SNR + 1)), which caps the weight of the low-noise "
                                         "timesteps that dominate a noise loss; feature KD is not weighted")
    stages: list[str] | None = param(None, group="loss", metavar="MODULE",
                                     help="module ids whose outputs are matched (default: every down/mid/up block)")
    prediction_type: str = param("epsilon", group="loss", choices=("epsilon", "v_prediction", "sample"),
                                 help="what the UNet predicts")
    num_train_timesteps: int = param(1000, group="loss", check=at_least(1), help="diffusion timesteps of the schedule")
    beta_schedule: str | None = param(None, group="loss",
                                      help="noise schedule (default: scaled_linear for latent UNets, linear for pixel "
                                           "UNets)")
    steps: int = param(1000, group="training", check=at_least(1), help="optimizer steps")
    batch_size: int = param(8, group="training", check=at_least(1), help="per process and micro-step")
    grad_accum: int = param(1, group="training", check=at_least(1), help="micro-steps per optimizer step")
    lr: float = param(1e-4, group="training", help="learning rate")
    weight_decay: float = param(1e-2, group="training", help="AdamW weight decay")
    betas: tuple[float, float] = param((0.9, 0.999), group="training", help="AdamW betas")
    warmup_steps: int = param(0, group="training", check=at_least(0), help="linear learning-rate warm-up steps")
    lr_schedule: str = param("constant", group="training", choices=SCHEDULES, help="after the warm-up")
    max_grad_norm: float | None = param(1.0, group="training", help="gradient clipping (0 or none: off)")
    mixed_precision: str = param("no", group="training", choices=MIXED, help="student precision (via accelerate)")
    teacher_dtype: str = param("fp32", group="training", choices=("fp32", "fp16", "bf16"),
                               help="the frozen teacher may run in half precision")
    ema_decay: float | None = param(None, group="training", flag="--ema", metavar="DECAY", check=between(0.0, 1.0),
                                    help="keep an EMA of the student (e.g. 0.999)")
    final_weights: str = param("ema", group="training", choices=("ema", "raw"),
                               help="with --ema: which weights go to OUT/model (the other to model-raw/model-ema)")
    checkpoint_every: int = param(0, group="training", metavar="K", check=at_least(0),
                                  help="checkpoint every K steps (0: only at the end)")
    keep_checkpoints: int = param(2, group="training", check=at_least(1), help="checkpoints kept")
    resume: bool = param(False, group="training", recipe=False, help="continue from the last checkpoint in -o")
    overwrite: bool = param(False, recipe=False, help="start over in a non-empty output folder")
    seed: int = param(0, group="training", help="seed of data order, noise and initial state")
    cpu: bool = param(False, group="training", help="train on the CPU even if a GPU is present")
    save_final: bool = param(True, group="training", help="write the final model folder")
    progress: bool = param(True, group="training", recipe=False, help="progress bar")
    log_every: int = param(1, group="training", check=at_least(1), help="steps between loss records")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_grad_norm is not None and self.max_grad_norm <= 0:
            self.max_grad_norm = None       # 0 = off, as the flag says

    def check(self) -> None:
        def bad(what, fix):
            raise LdpruneError(what, fix)

        if self.data is None and not self.data_free:
            bad("no training data given", "pass --data DIR/FILE, or --data-free to distil on teacher samples")
        if self.data is not None and self.data_free:
            bad("both --data and --data-free given", "pick one")
        if self.snr_gamma is not None and not self.snr_gamma > 0:
            bad(f"--snr-gamma {self.snr_gamma} is not a positive SNR cap",
                "pass e.g. --snr-gamma 5 (the Min-SNR paper's value), or leave it out for unweighted terms")
        if not 0 <= self.caption_mix < 1:
            bad(f"--caption-mix {self.caption_mix} is not a share of rows in [0, 1)",
                "pass e.g. --caption-mix 0.5 (0: off); at 1 no row would train the task loss")

    def resume_view(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in RESUME_KEYS}

    def to_json(self) -> dict[str, Any]:
        # not asdict(): it would deep-copy an in-memory dataset
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("data", "text_encoder")}
        d["data"] = self.data if isinstance(self.data, (str, Path, type(None))) else type(self.data).__name__
        d["text_encoder"] = (self.text_encoder if isinstance(self.text_encoder, (str, Path, type(None)))
                             else getattr(self.text_encoder, "name", type(self.text_encoder).__name__))
        return d
