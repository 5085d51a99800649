"""The UNet itself, below every stage: what the tool knows about one (``ModelInfo``, its
fingerprint), building one from a diffusers config, and the accessor that keeps a model's
info and prune plan with it.

Separate from ``models.py`` because that module reads pruned folders through ``surgery``,
while ``surgery`` needs these pieces: here they sit below both, so neither imports the other
both ways.

Info and plan are kept in weak tables keyed by the module, not as attributes on it: nothing is
added to the module (torch.compile, FX and DDP see the model as diffusers built it) and the
entry goes when the model does. What a table cannot do is follow a copy: ``copy.deepcopy`` and
pickling carry a module's ``__dict__``, not the tables. So every place that copies a model
calls ``copy_model_info(src, dst)`` (``surgery.apply_plan``, ``distill``, the benchmarks); a
copy made elsewhere has no info, and ``models.load_model`` derives it from the config as for
any other module. The alternative, a key in diffusers' ``config``, would be written into
``config.json`` by ``save_config``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from .errors import LdpruneError

if TYPE_CHECKING:
    from .artifacts import PrunePlan


@dataclass
class ModelInfo:
    """What the tool needs to know about a UNet beyond its config."""

    name: str                 # preset name or path
    source: str               # "preset" | "folder" | "file" | "pruned" | "module"
    cls: str
    conditional: bool
    vae_scale_factor: int
    resolution: int           # default pixel resolution
    text_len: int
    random_weights: bool
    fingerprint: str          # of the base architecture (config hash)
    space: str | None = None  # data space of the project's teachers ("unshuffle2", "mel", "pixel"), from the hint

    def latent_size(self, resolution: int | None = None) -> int:
        res = resolution or self.resolution
        if res % self.vae_scale_factor:
            raise LdpruneError(f"resolution {res} is not a multiple of the VAE scale factor "
                               f"{self.vae_scale_factor}", "pass a resolution divisible by it")
        return res // self.vae_scale_factor


_INFO: weakref.WeakKeyDictionary[nn.Module, ModelInfo] = weakref.WeakKeyDictionary()
_PLAN: weakref.WeakKeyDictionary[nn.Module, "PrunePlan"] = weakref.WeakKeyDictionary()


def model_info(unet: nn.Module) -> ModelInfo | None:
    """The info ``load_model`` / ``load_pruned`` / ``set_model_info`` recorded for this model object."""
    return _INFO.get(unet)


def set_model_info(unet: nn.Module, info: ModelInfo | None) -> None:
    """Record (or, with None, forget) ``unet``'s info."""
    if info is None:
        _INFO.pop(unet, None)
    else:
        _INFO[unet] = info


def model_plan(unet: nn.Module) -> PrunePlan | None:
    """The plan a pruned model was made with (``apply_plan``, ``load_pruned``), with kept units resolved."""
    return _PLAN.get(unet)


def set_model_plan(unet: nn.Module, plan: PrunePlan | None) -> None:
    """Record (or, with None, forget) the plan ``unet`` was pruned with."""
    if plan is None:
        _PLAN.pop(unet, None)
    else:
        _PLAN[unet] = plan


def copy_model_info(src: nn.Module, dst: nn.Module) -> nn.Module:
    """Give ``dst``, a copy of ``src``, its info and plan (deepcopy does not); returns ``dst``."""
    if src in _INFO:
        _INFO[dst] = _INFO[src]
    if src in _PLAN:
        _PLAN[dst] = _PLAN[src]
    return dst


def config_fingerprint(config: dict[str, Any]) -> str:
    """Stable hash of a UNet config (private ``_*`` keys such as the diffusers version ignored)."""
    clean = {k: v for k, v in dict(config).items() if not k.startswith("_")}
    blob = json.dumps(clean, sort_keys=True, default=lambda o: list(o) if isinstance(o, tuple) else str(o))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def model_fingerprint(unet: nn.Module) -> str:
    """The fingerprint of ``unet``'s base architecture (a pruned model keeps its base config)."""
    return config_fingerprint(unet.config)


@contextlib.contextmanager
def quiet_diffusers():
    """diffusers warns about fp32 modules on every ``.to(dtype)``; not useful here."""
    logger = logging.getLogger("diffusers")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def build_unet(cls_name: str, config: dict[str, Any], device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32, seed: int = 0) -> nn.Module:
    """A diffusers UNet of class ``cls_name`` from ``config``, with seeded random weights
    (``device="meta"``: without weights)."""
    import diffusers

    cls = getattr(diffusers, cls_name)
    cfg = {k: v for k, v in dict(config).items() if not k.startswith("_")}
    with quiet_diffusers():
        if str(device) == "meta":
            with torch.device("meta"):
                return cls(**cfg).to(dtype)
        # random weights are drawn where the model will run: seconds for SDXL on a GPU instead of a
        # minute on the CPU, and every command (profile, verify, evaluate, benchmarks) loads a preset
        # the same way (latency does not depend on the values: measured on the H200, 2026-12-03)
        dev = torch.device(device)
        with torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []), dev:
            torch.manual_seed(seed)
            unet = cls(**cfg)
        return unet.to(device=device, dtype=dtype).eval()
