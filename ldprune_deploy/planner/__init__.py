"""Cost-aware planner: which modifications meet a latency (or size) budget losing the least importance.

Exact 0/1 programme solved with ``scipy.optimize.milp`` (HiGHS); LD-Pruner's rank order and a
latency-blind params planner are behind the same interface for comparison; a verify loop
measures the plan on the device and re-solves with a corrected predictor.
"""

from .budget import Budget, parse_latency_budget, parse_size_budget
from .core import STRATEGIES, PlanConfig, Planner, importance_kept, plan
from .explain import explain
from .pareto import write_pareto

__all__ = ["Budget", "PlanConfig", "Planner", "STRATEGIES", "explain", "importance_kept",
           "parse_latency_budget", "parse_size_budget", "plan", "write_pareto"]
