"""The ``prune`` stage: model + plan file -> pruned diffusers-style folder."""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from pathlib import Path

from torch import nn

from ..artifacts import ensure_output_dir_free
from ..models import load_model
from ..params import Params, param
from .apply import apply_plan
from .persist import save_pruned
from .plan import PrunePlan


@dataclass
class PruneConfig(Params):
    """What ``prune`` applies and where it writes (no recipe keys: the pipeline passes its own plan)."""

    plan: str | Path | PrunePlan = param(MISSING, recipe=False, required=True,
                                         help="plan JSON (from `ldprune plan` or written by hand)")
    output: str | Path = param(MISSING, short="-o", recipe=False, required=True,
                               help="output folder (must not exist or be empty)")
    force: bool = param(False, recipe=False, help="apply a plan made for another model fingerprint")
    overwrite: bool = param(False, recipe=False, help="replace a non-empty output folder")
    preset: str | None = param(None, recipe=False, metavar="P", help="architecture of a bare .safetensors model")


def prune(model: str | Path | nn.Module, config: PruneConfig) -> Path:
    """Apply ``config.plan`` to ``model`` and write the pruned folder to ``config.output``."""
    ensure_output_dir_free(config.output, config.overwrite)  # fail before loading a large model
    plan = config.plan if isinstance(config.plan, PrunePlan) else PrunePlan.load(config.plan)
    unet, _ = load_model(model, preset=config.preset)
    pruned = apply_plan(unet, plan, force=config.force)
    return save_pruned(pruned, config.output, overwrite=config.overwrite)
