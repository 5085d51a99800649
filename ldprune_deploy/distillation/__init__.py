"""The ``distill`` stage: recover a pruned UNet with task loss, output KD and feature KD."""

from .config import DistillConfig
from .data import DistillData
from .losses import FeatureTaps, default_stages, distill_loss, feature_term, prompt_term
from .stage import distill

__all__ = ["DistillConfig", "DistillData", "FeatureTaps", "default_stages", "distill", "distill_loss",
           "feature_term", "prompt_term"]
