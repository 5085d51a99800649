"""What a profiling run measures, and how."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import LdpruneError

METHODS = ("in_situ", "isolated", "ablation")
LEVELS = (0.25, 0.5, 0.75)


@dataclass
class ProfileConfig:
    backend: str = "torch-graph"
    batch: int = 2
    resolution: int | None = None          # pixels; None = the model's default
    dtype: str = "fp16"
    text_len: int | None = None
    methods: tuple[str, ...] = ("isolated",)
    output: str | Path | None = None        # profile JSON; partial results go beside it
    resume: bool = False
    overwrite: bool = False
    warmup: int = 10                        # whole-model calls before timing (full latency, ablation)
    iters: int = 30                         # timed whole-model calls
    op_warmup: int = 3                      # per-operator (in_situ rounds, isolated)
    op_iters: int = 30
    op_reps: int = 10                       # isolated on GPU: op calls per captured graph (amortises replay launch)
    settle_s: float = 1.5                   # seconds of continuous GPU work before the first timed call
    rounds: int = 5                         # ablation: interleaved rounds of full vs modified model
    include: list[str] | None = None        # regexes on "operator:modification"; None = all candidates
    max_candidates: int | None = None
    check_additivity: int = 0               # K random plans per level (0 = skip)
    levels: tuple[float, ...] = LEVELS
    seed: int = 0
    checkpoint_every: int = 10              # persist partial results after this many units
    default_method: str | None = None
    backend_options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    on_unit: Callable[[str], None] | None = None   # called after each measured unit (tests interrupt here)

    def __post_init__(self) -> None:
        if isinstance(self.methods, str):
            self.methods = tuple(m.strip() for m in self.methods.split(",") if m.strip())
        bad = [m for m in self.methods if m not in METHODS]
        if bad or not self.methods:
            raise LdpruneError(f"unknown profiling method(s) {bad or '(none given)'}",
                               f"use a comma-separated subset of {', '.join(METHODS)}")
        self.methods = tuple(m for m in METHODS if m in self.methods)
        if self.batch < 1:
            raise LdpruneError(f"batch must be at least 1 (got {self.batch})", "pass --batch 1 or more")
        if self.default_method and self.default_method not in self.methods:
            raise LdpruneError(f"default method '{self.default_method}' is not among the measured {self.methods}",
                               "add it to --methods")
        for p in self.include or []:
            try:
                re.compile(p)
            except re.error as e:
                raise LdpruneError(f"bad --include pattern '{p}': {e}", "pass a valid regular expression") from None

    def selects(self, op: str, mod: str) -> bool:
        return self.include is None or any(re.search(p, f"{op}:{mod}") for p in self.include)

    def settings(self) -> dict[str, Any]:
        """The fields a resumed run must share with the interrupted one."""
        return {"backend": self.backend, "batch": self.batch, "resolution": self.resolution, "dtype": self.dtype,
                "text_len": self.text_len, "include": self.include, "max_candidates": self.max_candidates,
                "backend_options": {k: str(v) for k, v in self.backend_options.items()}}
