"""The ``distill`` stage: recover a pruned UNet with task loss, output KD and feature KD."""

import sys
import types

from .config import DistillConfig
from .data import DistillData
from .losses import FeatureTaps, default_stages, distill_loss, feature_term
from .train import distill

__all__ = ["DistillConfig", "DistillData", "FeatureTaps", "default_stages", "distill", "distill_loss",
           "feature_term"]


class _CallableStage(types.ModuleType):
    """``ldprune_deploy.distill`` is both this package and (via the lazy map) the stage function.

    Importing the package binds the name to the module on the parent package, which would shadow
    the function; making the module callable keeps ``ldprune_deploy.distill(t, s, cfg)`` working.
    """

    def __call__(self, *args, **kwargs):
        return distill(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableStage
