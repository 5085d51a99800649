"""Cost-aware planner: which modifications meet a latency (or size) budget losing the least importance.

Exact 0/1 programme solved with ``scipy.optimize.milp`` (HiGHS); LD-Pruner's rank order and a
latency-blind params planner are behind the same interface for comparison; a verify loop
measures the plan on the device and re-solves with a corrected predictor.
"""

from .config import STRATEGIES, PlanConfig
from .explain import explain
from .pareto import write_pareto
from .stage import Planner, importance_kept, plan

__all__ = ["PlanConfig", "Planner", "STRATEGIES", "explain", "importance_kept", "plan", "write_pareto"]
