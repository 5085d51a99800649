"""The recipe's sections are the stage configs: every key of ``score:`` is a ``ScoreConfig``
parameter, declared once there, with its default, choices and checks.

A section may add the few keys only a pipeline has (which profile, whether to distill, which
precisions to export); they are declared here, the same way.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from ..distillation.config import DistillConfig
from ..evaluation.config import EvaluateConfig
from ..exporter.config import PRECISIONS, ExportConfig
from ..params import Params, param
from ..planner.config import PlanConfig
from ..profiler.config import ProfileConfig
from ..scoring.config import ScoreConfig


@dataclass
class RecipeInfo(Params):
    """The recipe's top-level keys."""

    model: str | None = param(None, required=True, cli=False,
                              help="preset, local diffusers folder or .safetensors file")
    preset: str | None = param(None, cli=False, help="architecture of a bare .safetensors model")
    name: str | None = param(None, cli=False, help="run name (default: the recipe file's name)")
    description: str | None = param(None, cli=False, help="free text shown by ldprune run")


@dataclass
class Target(Params):
    profile: str | None = param(None, required=True, cli=False,
                                help="a committed profile JSON (its backend, batch, resolution and dtype become the "
                                     "target's) or 'now': profile this machine first")


@dataclass
class DistillSwitch(Params):
    enabled: bool = param(True, cli=False, help="distill the pruned model (no distill section: false)")


def _nonempty(v) -> str | None:
    return None if v else "is empty: list at least one of " + ", ".join(PRECISIONS)


@dataclass
class ExportPrecisions(Params):
    precisions: list[str] = param(factory=lambda: ["fp16"], choices=PRECISIONS, check=_nonempty, cli=False,
                                  help="one export folder per precision; the first is evaluated")


TOP = (RecipeInfo,)
SECTIONS: dict[str, tuple[type, ...]] = {
    "target": (Target, ProfileConfig),
    "score": (ScoreConfig,),
    "plan": (PlanConfig,),
    "distill": (DistillSwitch, DistillConfig),
    "export": (ExportPrecisions, ExportConfig),
    "evaluate": (EvaluateConfig,),
}


def keys_table() -> str:
    """The recipe keys as a markdown table (docs/recipes.md embeds it; a test keeps it current)."""
    from ..params import recipe_specs

    def cell(cls) -> list[str]:
        out = []
        for name, s in recipe_specs(cls).items():
            d = s.default
            d = list(d) if isinstance(d, tuple) else d
            d = "" if d in (None, [], {}) or dataclasses.is_dataclass(d) else f" = {json.dumps(d)}".replace("|", "\\|")
            req = " *(required)*" if s.meta["required"] else ""
            out.append(f"`{name}`{d}{req}")
        return out

    rows = ["| section | keys (default) |", "|---|---|",
            "| top level | " + ", ".join(k for c in TOP for k in cell(c)) + " |"]
    rows += [f"| `{sec}` | " + ", ".join(k for c in classes for k in cell(c)) + " |" for sec, classes in SECTIONS.items()]
    return "\n".join(rows)
