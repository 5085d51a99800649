"""``ldprune run``: a YAML recipe through profile -> score -> plan -> prune -> distill -> export ->
evaluate, each stage's artefacts in ``DIR/<stage>/``, unchanged stages skipped (content hashes)."""

from .load import load_recipe
from .recipe import Recipe
from .run import PipelineResult, StageResult, content_hash, run_pipeline
from .stages import STAGES

__all__ = ["PipelineResult", "Recipe", "STAGES", "StageResult", "content_hash", "load_recipe", "run_pipeline"]
