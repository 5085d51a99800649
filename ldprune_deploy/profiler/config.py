"""What a profiling run measures, and how (each parameter declared once: CLI flag and recipe key)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import LdpruneError
from ..params import Params, at_least, param

METHODS = ("in_situ", "isolated", "ablation")
LEVELS = (0.25, 0.5, 0.75)


def known_runner(name: str | None) -> str | None:
    """Check for a runner-valued parameter: unknown names list the known and the usable ones."""
    from ..runners import available_runners

    avail = available_runners()
    if name is None or name in avail:
        return None
    usable = ", ".join(n for n, why in avail.items() if not why) or "none"
    return f"names an unknown runner '{name}' (known: {', '.join(avail)}; usable here: {usable})"


def _regexes(patterns: list[str] | None) -> str | None:
    for p in patterns or []:
        try:
            re.compile(p)
        except re.error as e:
            return f"has a bad pattern '{p}': {e}"
    return None


@dataclass
class ProfileConfig(Params):
    backend: str | None = param(None, check=known_runner,
                                help="runner: torch-graph, torch-eager, torch-compile, cpu, ... (default: torch-graph "
                                     "where CUDA is available, else cpu)")
    batch: int = param(2, help="batch size", check=at_least(1))
    resolution: int | None = param(None, help="pixel resolution (default: the model's)")
    dtype: str | None = param(None, choices=("fp32", "fp16", "bf16"),
                              help="fp16 | bf16 | fp32 (default: fp16 on a CUDA backend, fp32 on cpu)")
    text_len: int | None = param(None, help="text tokens for conditional UNets (default: the model's)")
    methods: tuple[str, ...] = param(("isolated",), choices=METHODS, metavar="METHOD",
                                     help="profiling methods, comma- or space-separated: in_situ, isolated, ablation")
    default_method: str | None = param(None, choices=METHODS,
                                       help="method the planner uses by default (default: isolated if measured)")
    output: str | Path | None = param(None, short="-o", recipe=False, required=True, help="profile JSON to write")
    resume: bool = param(False, recipe=False, help="continue an interrupted run from its partial results")
    overwrite: bool = param(False, recipe=False, help="replace an existing profile")
    warmup: int = param(10, check=at_least(0), help="warm-up whole-model calls (full latency, ablation)")
    iters: int = param(30, check=at_least(1), help="timed whole-model calls")
    settle_s: float = param(1.5, check=at_least(0),
                            help="seconds of continuous GPU work before the first timed call")
    rounds: int = param(5, check=at_least(1), help="ablation: interleaved rounds of full vs modified model")
    op_warmup: int = param(3, check=at_least(0), help="warm-up calls per operator (in_situ, isolated)")
    op_iters: int = param(30, check=at_least(1), help="timed calls per operator")
    op_reps: int = param(10, check=at_least(1),
                         help="isolated on GPU: operator calls per captured graph (amortises replay launch)")
    mods: list[str] | None = param(None, metavar="MOD",
                                   help="modifications to profile: remove shortcut width width:0.5 fp8 ... ('width' "
                                        "matches every width:*; default: all but the opt-in fp8)")
    include: list[str] | None = param(None, repeat=True, metavar="REGEX", check=_regexes,
                                      help="only candidates whose 'operator:modification' matches (repeatable)")
    max_candidates: int | None = param(None, help="profile only the first N matching candidates")
    check_additivity: int = param(0, metavar="K", check=at_least(0),
                                  help="time K random plans at each level and report the predictor's error")
    levels: tuple[float, ...] = param(LEVELS, help="shares of operators modified by the additivity plans")
    seed: int = param(0, help="seed of the inputs and of the additivity plans")
    checkpoint_every: int = param(10, check=at_least(1), help="persist partial results after this many units")
    compile_mode: str | None = param(None, help="torch-compile mode (default reduce-overhead)")
    compile_cache: str | None = param(None, help="persistent inductor cache folder for torch-compile")
    progress: bool = param(True, recipe=False, help="progress bar")
    backend_options: dict[str, Any] = param(factory=dict, flag="--backend-option",
                                            help="runner option, repeatable (merged over compile_mode/compile_cache)")
    preset: str | None = param(None, recipe=False, metavar="P", help="architecture of a bare .safetensors model")
    on_unit: Callable[[str], None] | None = param(None, cli=False, recipe=False,
                                                  help="API: called after each unit (tests interrupt a run there)")

    def __post_init__(self) -> None:
        if isinstance(self.methods, str):
            self.methods = (self.methods,)
        self.methods = tuple(m.strip() for part in self.methods for m in str(part).split(",") if m.strip())
        super().__post_init__()
        if not self.methods:
            raise LdpruneError("no profiling method given", f"use a comma-separated subset of {', '.join(METHODS)}")
        self.methods = tuple(m for m in METHODS if m in self.methods)
        if self.default_method and self.default_method not in self.methods:
            raise LdpruneError(f"default method '{self.default_method}' is not among the measured {self.methods}",
                               "add it to --methods")
        if self.backend is None:
            import torch

            self.backend = "torch-graph" if torch.cuda.is_available() else "cpu"
        if self.dtype is None:
            self.dtype = "fp32" if self.backend in ("cpu", "ort-cpu") else "fp16"
        if (self.compile_mode or self.compile_cache) and self.backend != "torch-compile":
            raise LdpruneError("--compile-mode/--compile-cache only apply to --backend torch-compile",
                               "drop them or use --backend torch-compile")
        compile_opts = {"mode": self.compile_mode, "cache_dir": self.compile_cache}
        self.backend_options = {**{k: v for k, v in compile_opts.items() if v}, **self.backend_options}

    def selects(self, op: str, mod: str) -> bool:
        return self.include is None or any(re.search(p, f"{op}:{mod}") for p in self.include)

    def settings(self) -> dict[str, Any]:
        """The fields a resumed run must share with the interrupted one."""
        return {"backend": self.backend, "batch": self.batch, "resolution": self.resolution, "dtype": self.dtype,
                "text_len": self.text_len, "mods": self.mods, "include": self.include, "max_candidates": self.max_candidates,
                "backend_options": {k: str(v) for k, v in self.backend_options.items()}}
