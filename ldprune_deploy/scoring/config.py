"""What to score and how: the ``ScoreConfig`` dataclass and candidate selection."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import LdpruneError

SCORES_SCHEMA = "ldprune.scores/1"


@dataclass
class ScoreConfig:
    method: str = "ld-pruner"          # a key of ``scoring.METHODS``
    output: str | Path = "scores.json"
    # generation (ld-pruner) / calibration (laptop)
    n_gen: int = 64
    steps: int = 25
    scheduler: str = "ddim"
    guidance: float = 7.5
    resolution: int | None = None      # pixels; default: the model's
    seed: int = 0                      # sample i uses seed + i
    prompts: str | Path | None = None  # prompt file; None: the embedding file's prompts, else the built-in list
    prompt_list: list[str] | None = None
    embeddings: str | Path | None = None  # pre-computed text embeddings (EmbeddingFile)
    batch_size: int | None = None      # samples per UNet call (None: all N_gen at once)
    # candidate filters (all must match)
    kinds: list[str] | None = None     # operator kinds, e.g. ["resnet", "attn2"]
    mods: list[str] | None = None      # modification names; "width" matches every width:*
    include: str | None = None         # regex on "<operator>:<modification>"
    exclude: str | None = None
    candidates: list[tuple[str, str]] | None = None  # explicit list (filters still apply)
    # additivity check (ld-pruner, laptop)
    check_additivity: int = 0          # K random sets of modifications; 0 = off
    additivity_max_set: int = 4
    # execution
    device: str = "cpu"
    dtype: str = "fp32"
    channels_last: bool = False
    compile_blocks: bool = False       # torch.compile the repeated blocks per instance (scoring/compile.py)
    compile_regions: str | None = None  # which modules compile_blocks compiles: a key of compile.REGIONS
                                        # (None: compile.DEFAULT_REGIONS)
    inductor: dict[str, Any] | None = None  # torch._inductor.config settings for those compiles
    cuda_graph: bool | None = None     # replay sampling's UNet call from a CUDA graph; None: on for CUDA
                                       # unless compile_blocks (graph_call.py)
    cudnn_benchmark: bool = False      # let cuDNN time its convolution algorithms (CUDA only): faster, but
                                       # its choice may differ between processes, so scores are not bit-exact
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    preset: str | None = None          # architecture of a bare .safetensors model
    extra: dict[str, Any] = field(default_factory=dict)

    def validate(self, conditional: bool | None = None) -> None:
        """Check the settings; ``conditional=None`` skips the model-dependent checks."""
        from . import METHODS

        if self.method not in METHODS:
            raise LdpruneError(f"unknown scoring method '{self.method}'", f"use one of: {', '.join(METHODS)}")
        if self.n_gen < 2:
            raise LdpruneError(f"N_gen = {self.n_gen}: the standard deviation over samples needs at least 2",
                               "pass --n-gen 2 or more (default 64)")
        if self.steps < 1:
            raise LdpruneError(f"steps = {self.steps}", "pass --steps 1 or more (default 25)")
        if self.batch_size is not None and self.batch_size < 1:
            raise LdpruneError(f"batch size {self.batch_size}", "pass a positive --batch-size or leave it out")
        if conditional is False and (self.prompts is not None or self.prompt_list or self.embeddings is not None):
            raise LdpruneError("prompts were given, but this UNet is unconditional (UNet2DModel)",
                               "drop --prompts / --embeddings for unconditional models")
        if self.check_additivity and self.check_additivity < 3:
            raise LdpruneError(f"--check-additivity {self.check_additivity}: correlations need at least 3 sets",
                               "pass K >= 3 (e.g. 20) or 0 to skip the check")
        if self.check_additivity and not METHODS[self.method].generative:
            raise LdpruneError(f"the additivity check is defined for ld-pruner and laptop, not '{self.method}'",
                               "drop --check-additivity or use --method ld-pruner|laptop")
        from ..graph_call import use_cuda_graph
        from .compile import REGIONS

        if self.compile_regions is not None and self.compile_regions not in REGIONS:
            raise LdpruneError(f"unknown compile regions '{self.compile_regions}'", f"use one of: {', '.join(REGIONS)}")
        if not self.compile_blocks and (self.compile_regions is not None or self.inductor):
            raise LdpruneError("compile regions / inductor settings were given without compiling",
                               "add --compile-blocks, or drop --compile-regions / --inductor")
        if self.cudnn_benchmark and torch.device(self.device).type != "cuda":
            raise LdpruneError(f"--cudnn-benchmark applies to CUDA devices, not '{self.device}'",
                               "drop --cudnn-benchmark or pass --device cuda")
        if self.inductor:
            from ..inductor_knobs import check_inductor_knobs

            check_inductor_knobs(self.inductor)

        use_cuda_graph(self.cuda_graph, self.device, "--compile-blocks" if self.compile_blocks else None)
        if self.additivity_max_set < 2:
            raise LdpruneError("additivity sets need at least 2 modifications", "pass additivity_max_set >= 2")


def _mod_matches(mod: str, wanted: list[str]) -> bool:
    return any(mod == w or (w == "width" and mod.startswith("width:")) for w in wanted)


def select_candidates(catalogue, config: ScoreConfig) -> list[tuple[str, str]]:
    """Catalogue candidates after the config's filters, in model order; never empty."""
    all_c = catalogue.candidates()
    kind = {o.id: o.kind for o in catalogue.prunable}
    if config.candidates is not None:
        known = set(all_c)
        bad = [c for c in map(tuple, config.candidates) if c not in known]
        if bad:
            raise LdpruneError(f"{len(bad)} requested candidate(s) are not legal for this model, e.g. {bad[0]}",
                               "list legal (operator, modification) pairs with `ldprune catalogue`")
        wanted = set(map(tuple, config.candidates))
        all_c = [c for c in all_c if c in wanted]
    out = list(all_c)
    if config.kinds:
        unknown = set(config.kinds) - set(kind.values())
        if unknown == set(config.kinds):
            raise LdpruneError(f"no prunable operator of kind {', '.join(sorted(unknown))} in this model",
                               f"kinds here: {', '.join(sorted(set(kind.values())))}")
        out = [c for c in out if kind[c[0]] in config.kinds]
    if config.mods:
        out = [c for c in out if _mod_matches(c[1], config.mods)]
    for pattern, keep in ((config.include, True), (config.exclude, False)):
        if pattern:
            try:
                rx = re.compile(pattern)
            except re.error as e:
                raise LdpruneError(f"bad regular expression {pattern!r}: {e}", "fix the pattern") from None
            out = [c for c in out if bool(rx.search(f"{c[0]}:{c[1]}")) == keep]
    if not out:
        raise LdpruneError(f"the filters leave no candidate out of {len(all_c)} "
                           f"(kinds={config.kinds}, mods={config.mods}, include={config.include!r}, "
                           f"exclude={config.exclude!r})",
                           "loosen the filters; `ldprune catalogue --model ...` lists kinds and modifications")
    return out
