"""ldprune-deploy: make diffusion UNets fit a measured latency budget on a target GPU.

One function per stage (``profile``, ``score``, ``plan``, ``prune``, ``distill``,
``export``, ``evaluate``), each taking a model/path plus a small config dataclass.
They are imported lazily so ``import ldprune_deploy`` stays cheap.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

_LAZY = {
    "load_model": "models", "ModelInfo": "models", "PRESETS": "presets",
    "build_catalogue": "catalogue", "Catalogue": "catalogue",
    "PrunePlan": "artifacts", "Modification": "artifacts", "Profile": "artifacts", "Scores": "artifacts",
    "Budget": "budget", "apply_plan": "surgery", "swapped": "surgery",
    "save_pruned": "surgery", "load_pruned": "surgery", "prune": "surgery", "PruneConfig": "surgery",
    "LdpruneError": "errors",
    # stage functions and their configs (one module or package per stage)
    "profile": "profiler", "ProfileConfig": "profiler", "predict_latency": "profiler",
    "score": "scoring", "ScoreConfig": "scoring",
    "plan": "planner", "PlanConfig": "planner",
    "distill": "distillation", "DistillConfig": "distillation",
    "export": "exporter", "ExportConfig": "exporter",
    "evaluate": "evaluation", "EvaluateConfig": "evaluation",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'ldprune_deploy' has no attribute '{name}'")


__all__ = ["__version__", *_LAZY]
