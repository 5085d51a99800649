"""Shared fixtures for the distillation tests: tiny pruned students and small datasets."""

from __future__ import annotations

from pathlib import Path

import torch

from ldprune_deploy.models import load_model
from ldprune_deploy.artifacts import Modification, PrunePlan
from ldprune_deploy.surgery import apply_plan, save_pruned
from ldprune_deploy.unet import model_fingerprint

PLANS = {
    "tiny-t2i": [("down_blocks.0.resnets.1", "remove"), ("up_blocks.1.attentions.1", "remove"),
                 ("mid_block.resnets.1", "width:0.5")],
    "tiny-uncond": [("down_blocks.0.resnets.1", "remove"), ("up_blocks.0.resnets.1", "width:0.5")],
}


def make_student(model: str, out: Path) -> Path:
    unet, _ = load_model(model, quiet=True)
    plan = PrunePlan(model_fingerprint(unet), [Modification(o, m) for o, m in PLANS[model]], model=model)
    return save_pruned(apply_plan(unet, plan), out)


def write_latents(path: Path, n: int, channels: int, size: int = 16, emb: tuple[int, int] | None = None) -> Path:
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(123)
    t = {"latents": torch.randn(n, channels, size, size, generator=g)}
    if emb is not None:
        t["embeddings"] = torch.randn(n, *emb, generator=g)
    save_file(t, str(path))
    return path
