"""The ``prune`` stage: model + plan file -> pruned diffusers-style folder."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..jsonio import ensure_output_dir_free
from ..models import load_model
from .apply import apply_plan
from .config import PruneConfig
from .persist import save_pruned
from ..artifacts import PrunePlan


def prune(model: str | Path | nn.Module, config: PruneConfig) -> Path:
    """Apply ``config.plan`` to ``model`` and write the pruned folder to ``config.output``."""
    ensure_output_dir_free(config.output, config.overwrite)  # fail before loading a large model
    plan = config.plan if isinstance(config.plan, PrunePlan) else PrunePlan.load(config.plan)
    unet, _ = load_model(model, preset=config.preset)
    pruned = apply_plan(unet, plan, force=config.force)
    return save_pruned(pruned, config.output, overwrite=config.overwrite)
