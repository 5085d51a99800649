"""What ``prune`` applies and where it writes (each parameter declared once: CLI flag; no recipe keys)."""

from __future__ import annotations

from dataclasses import MISSING, dataclass
from pathlib import Path

from ..params import Params, param
from ..artifacts import PrunePlan


@dataclass
class PruneConfig(Params):
    """What ``prune`` applies and where it writes (no recipe keys: the pipeline passes its own plan)."""

    plan: str | Path | PrunePlan = param(MISSING, recipe=False, required=True,
                                         help="plan JSON (from `ldprune plan` or written by hand)")
    output: str | Path = param(MISSING, short="-o", recipe=False, required=True,
                               help="output folder (must not exist or be empty)")
    force: bool = param(False, recipe=False, help="apply a plan made for another model fingerprint")
    overwrite: bool = param(False, recipe=False, help="replace a non-empty output folder")
    preset: str | None = param(None, recipe=False, metavar="P", help="architecture of a bare .safetensors model")
