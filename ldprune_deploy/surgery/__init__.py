"""Plan surgery: apply a PrunePlan to a UNet with every surviving weight preserved."""

from .apply import apply_plan, resolve, swapped, validate
from .persist import load_pruned, save_pruned
from .plan import Modification, PrunePlan, find_conflicts
from .config import PruneConfig
from .stage import prune

__all__ = ["Modification", "PruneConfig", "PrunePlan", "apply_plan", "find_conflicts", "load_pruned",
           "prune", "resolve", "save_pruned", "swapped", "validate"]
