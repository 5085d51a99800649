"""Importance scoring: LD-Pruner latent statistics, LAPTOP-Diff's one-shot output loss,
and baselines (random, magnitude, size), in one swappable registry."""

from .additivity import additivity_report, additivity_sets
from .config import ScoreConfig, select_candidates
from .methods import METHODS, Context, Method, latent_stats, ld_pruner_distance
from .stage import score

__all__ = ["METHODS", "Context", "Method", "ScoreConfig", "additivity_report", "additivity_sets",
           "latent_stats", "ld_pruner_distance", "score", "select_candidates"]


def check_additivity(model, config: ScoreConfig, k: int = 20) -> dict:
    """Score ``config``'s candidates plus ``k`` random joint sets; return the additivity report."""
    from dataclasses import replace

    return score(model, replace(config, check_additivity=k))["additivity"]


__all__.append("check_additivity")
