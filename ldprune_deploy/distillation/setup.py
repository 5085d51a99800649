"""Load teacher and student, check that the student was pruned from this teacher, prepare OUT."""

from __future__ import annotations

import copy
import logging
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import LdpruneError
from ..models import load_model, parse_dtype
from ..unet import ModelInfo, copy_model_info, model_fingerprint, model_info, model_plan, set_model_info

log = logging.getLogger("ldprune")
OWNED = ("checkpoints", "model", "model-raw", "model-ema", "losses.json", "losses.png", "summary.json",
         "memory.json", "data.safetensors", "config.json")


def load_pair(teacher: Any, student: Any, teacher_dtype: str) -> tuple[nn.Module, ModelInfo, nn.Module]:
    t_unet, t_info = load_model(teacher, dtype=parse_dtype(teacher_dtype), quiet=True)
    if isinstance(teacher, nn.Module):
        # an in-memory teacher is frozen and cast in place: a copy of a large teacher costs too much memory
        t_unet.to(parse_dtype(teacher_dtype))
    if t_info.random_weights:
        log.warning("teacher '%s' is a preset with random weights: distillation runs, but the result "
                    "means nothing for quality", t_info.name)
    if isinstance(student, nn.Module):
        # train a copy: the caller's model object stays as it was
        s_unet = copy_model_info(student, copy.deepcopy(student))
    else:
        path = Path(student)
        if not path.exists():
            raise LdpruneError(f"student not found: {path}", "pass the folder written by `ldprune prune`")
        s_unet, _ = load_model(path)
    plan = model_plan(s_unet)
    if plan is None:
        raise LdpruneError("the student is not a pruned model (no prune plan attached)",
                           "pass a folder written by `ldprune prune`, or a model from apply_plan()")
    fp = model_fingerprint(t_unet)
    if plan.model_fingerprint != fp:
        raise LdpruneError(f"the student was pruned from model {plan.model_fingerprint}"
                           + (f" ({plan.model})" if plan.model else "") + f", but the teacher is {fp}",
                           "distil from the model the student was pruned from (the same --model given to "
                           "`ldprune prune`)")
    if model_info(s_unet) is None:
        set_model_info(s_unet, t_info)
    s_unet.float().requires_grad_(True)
    t_unet.requires_grad_(False).eval()
    return t_unet, t_info, s_unet


def prepare_output(out: Path, resume: bool, overwrite: bool, is_main: bool) -> None:
    if out.exists() and not out.is_dir():
        raise LdpruneError(f"output path {out} exists and is not a folder", "choose another -o path")
    if resume or not out.exists() or not any(out.iterdir()):
        return
    if not overwrite:
        raise LdpruneError(f"output folder {out} exists and is not empty",
                           "pass --resume to continue its run, --overwrite to start over, or another -o")
    if is_main:  # only remove what a distillation run writes; anything else in OUT stays
        for name in OWNED:
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()


def noise_scheduler(info: ModelInfo, config) -> tuple[Any, str]:
    from diffusers import DDPMScheduler

    # latent diffusion (SD) trains with scaled_linear 0.00085..0.012; pixel DDPMs with linear 1e-4..0.02
    sched = config.beta_schedule or ("linear" if info.vae_scale_factor == 1 else "scaled_linear")
    betas = (1e-4, 0.02) if sched == "linear" else (0.00085, 0.012)
    return DDPMScheduler(num_train_timesteps=config.num_train_timesteps, beta_start=betas[0], beta_end=betas[1],
                         beta_schedule=sched, prediction_type=config.prediction_type), sched


def lr_lambda(config):
    import math

    warm, total = config.warmup_steps, config.steps

    def f(step: int) -> float:
        if warm and step < warm:
            return (step + 1) / warm
        if config.lr_schedule == "cosine":
            p = min(1.0, (step - warm) / max(1, total - warm))
            return 0.5 * (1.0 + math.cos(math.pi * p))
        return 1.0
    return f


def snr_weights(sched, t: torch.Tensor, gamma: float, pred: str) -> torch.Tensor:
    """Per-row min-SNR-gamma weights in the prediction's own loss space (diffusers' recipe; x0 for ``sample``)."""
    from diffusers.training_utils import compute_snr

    snr = compute_snr(sched, t)
    capped = snr.clamp(max=gamma)
    if pred == "epsilon":
        return capped / snr
    if pred == "v_prediction":
        return capped / (snr + 1)
    return capped


def task_target(sched, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor, pred: str) -> torch.Tensor:
    if pred == "epsilon":
        return noise
    if pred == "v_prediction":
        return sched.get_velocity(x0, noise, t)
    return x0
