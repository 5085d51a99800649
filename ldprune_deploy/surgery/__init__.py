"""Plan surgery: apply a PrunePlan (``ldprune_deploy.artifacts``) to a UNet with every surviving weight preserved."""

from .apply import apply_plan, resolve, swapped, validate
from .persist import load_pruned, save_pruned
from .config import PruneConfig
from .stage import prune

__all__ = ["PruneConfig", "apply_plan", "load_pruned", "prune", "resolve", "save_pruned", "swapped", "validate"]
