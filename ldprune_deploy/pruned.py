"""diffusers ``ModelMixin`` classes for pruned UNet folders, so they load without ldprune code paths.

``PrunedUNet2DConditionModel.from_pretrained(folder)`` (and ``DiffusionPipeline.from_pretrained``
on a folder whose ``model_index.json`` names ``["ldprune_deploy.pruned", "PrunedUNet2DConditionModel"]``)
rebuilds the base architecture from config.json, re-applies prune_plan.json, then loads the weights.
diffusers >= 0.42 only resolves a library it already has in ``sys.modules``: ``import ldprune_deploy.pruned``
before ``DiffusionPipeline.from_pretrained``. ``save_pretrained`` writes the same folder back, byte for byte.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from diffusers import ModelMixin, UNet2DConditionModel, UNet2DModel  # noqa: F401 -- diffusers looks up
# ``ModelMixin`` on this module to pick the loading method of a component declared as ``ldprune_deploy.pruned``

LIBRARY = "ldprune_deploy.pruned"


class _PrunedMixin:
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, subfolder=None, torch_dtype=None, **kwargs):
        import torch

        from .surgery.persist import load_pruned

        folder = Path(pretrained_model_name_or_path)
        if subfolder:
            folder = folder / subfolder
        unet = load_pruned(folder, dtype=torch_dtype or torch.float32)
        unet.__class__ = PRUNED_CLASSES[type(unet).__name__]
        return unet

    def save_pretrained(self, save_directory, is_main_process: bool = True, **kwargs):
        from .surgery.persist import save_pruned

        if is_main_process:
            save_pruned(self, save_directory, overwrite=True)


class PrunedUNet2DConditionModel(_PrunedMixin, UNet2DConditionModel):
    """A ``UNet2DConditionModel`` with a prune plan applied (see module doc). A call with ControlNet
    residuals checks them against the pruned down path first (``check_residual_inputs``)."""

    def forward(self, sample, timestep, encoder_hidden_states, *args, **kwargs):
        down, mid = kwargs.get("down_block_additional_residuals"), kwargs.get("mid_block_additional_residual")
        if (down is not None or mid is not None) and not _compiling():
            from .surgery.controlnet import check_residual_inputs

            check_residual_inputs(self, sample, down, mid)
        return super().forward(sample, timestep, encoder_hidden_states, *args, **kwargs)


def _compiling() -> bool:
    import torch

    return bool(getattr(torch.compiler, "is_compiling", lambda: False)())


class PrunedUNet2DModel(_PrunedMixin, UNet2DModel):
    """A ``UNet2DModel`` with a prune plan applied (see module doc)."""


PRUNED_CLASSES = {"UNet2DConditionModel": PrunedUNet2DConditionModel, "UNet2DModel": PrunedUNet2DModel}
BASE_CLASSES = {v.__name__: k for k, v in PRUNED_CLASSES.items()}


def as_pruned(unet):
    """Give a pruned diffusers UNet its ``Pruned*`` class (in place; returns it)."""
    base = BASE_CLASSES.get(type(unet).__name__, type(unet).__name__)
    unet.__class__ = PRUNED_CLASSES[base]
    return unet


def save_pruned_pipeline(pipe, pruned_unet, folder: str | os.PathLike) -> Path:
    """Save ``pipe`` with ``pruned_unet`` as its UNet so ``DiffusionPipeline.from_pretrained(folder)``
    loads it once ``ldprune_deploy`` is installed."""
    pipe.register_modules(unet=as_pruned(pruned_unet))
    pipe.save_pretrained(folder)
    index = Path(folder) / "model_index.json"
    cfg = json.loads(index.read_text())
    cfg["unet"] = [LIBRARY, type(pruned_unet).__name__]
    index.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    return Path(folder)
