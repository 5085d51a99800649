"""What to score and how: the ``ScoreConfig`` dataclass and candidate selection."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import LdpruneError
from ..params import Params, at_least, param



def _methods() -> list[str]:
    from .methods import METHODS

    return list(METHODS)


def _regions() -> list[str]:
    from .compile import REGIONS

    return list(REGIONS)


@dataclass
class ScoreConfig(Params):
    method: str = param("ld-pruner", choices=_methods, help="importance method")
    output: str | Path = param("scores.json", short="-o", recipe=False, help="scores file to write")
    # generation (ld-pruner) / calibration (laptop)
    n_gen: int = param(64, group="generation / calibration", check=at_least(2),
                       help="samples per set (>= 2: the standard deviation over samples needs two)")
    steps: int = param(25, group="generation / calibration", check=at_least(1), help="sampler steps")
    scheduler: str = param("ddim", group="generation / calibration",
                           help="ddim, ddpm, pndm, euler, dpm++, unipc, lms or a diffusers class name")
    guidance: float = param(7.5, group="generation / calibration", help="classifier-free guidance (conditional UNets)")
    resolution: int | None = param(None, group="generation / calibration", help="pixel resolution (default: the model's)")
    seed: int = param(0, group="generation / calibration", help="sample i uses seed + i")
    prompts: str | Path | None = param(None, group="generation / calibration", metavar="FILE", path=True,
                                       help="prompt file, one per line (default: the --embeddings file's own prompts, "
                                            "evenly spaced, else the built-in list)")
    embeddings: str | Path | None = param(None, group="generation / calibration", metavar="FILE", path=True,
                                          help="pre-computed text embeddings (.safetensors)")
    batch_size: int | None = param(None, group="generation / calibration", check=at_least(1),
                                   help="samples per UNet call (default: all N_gen at once)")
    # candidate filters (all must match)
    kinds: list[str] | None = param(None, group="candidate filters", metavar="KIND",
                                    help="operator kinds, e.g. resnet attn2 ff")
    mods: list[str] | None = param(None, group="candidate filters", metavar="MOD",
                                   help="modifications: remove shortcut width width:0.5 fp8 ... ('width' matches every width:*; default: all "
                                        "but the opt-in fp8)")
    include: str | None = param(None, group="candidate filters", metavar="REGEX",
                                help="keep candidates whose 'operator:modification' matches")
    exclude: str | None = param(None, group="candidate filters", metavar="REGEX",
                                help="drop candidates whose 'operator:modification' matches")
    # additivity check (ld-pruner, laptop)
    check_additivity: int = param(0, group="execution", metavar="K",
                                  help="also score K random sets jointly and correlate with the sum of singles")
    additivity_max_set: int = param(4, group="execution", check=at_least(2),
                                    help="largest set of modifications in the additivity check")
    # execution
    device: str | None = param(None, group="execution",
                               help="cpu or cuda (default: cuda where available, else cpu; torchrun: one GPU per rank)")
    dtype: str = param("fp32", group="execution", choices=("fp32", "fp16", "bf16"), help="fp32, fp16 or bf16")
    channels_last: bool = param(False, group="execution", help="channels_last memory format (faster convs on GPU)")
    compile_blocks: bool = param(False, group="execution",
                                 help="torch.compile the UNet's repeated regions (see --compile-regions; compile "
                                      "time counts)")
    compile_regions: str | None = param(None, group="execution", choices=_regions,
                                        help="with --compile-blocks: 'wide' (default: whole Transformer2DModels, "
                                             "down/upsamplers and the output norm too) or 'blocks' (each "
                                             "ResnetBlock2D/BasicTransformerBlock)")
    inductor: dict[str, Any] | None = param(None, group="execution",
                                            help="with --compile-blocks: a torch._inductor.config setting, e.g. "
                                                 "conv_1x1_as_mm=true (repeatable)")
    cuda_graph: bool | None = param(None, group="execution",
                                    help="replay the sampling loop's UNet call from a CUDA graph (default: on with "
                                         "--device cuda, unless --compile-blocks; small UNets are launch-bound, so "
                                         "this is their main speed-up)")
    cudnn_benchmark: bool = param(False, group="execution",
                                  help="let cuDNN time its convolution algorithms (CUDA): a faster sweep (README), but "
                                       "scores may then differ slightly between processes instead of repeating bit "
                                       "for bit")
    resume: bool = param(False, group="execution", recipe=False,
                         help="continue an interrupted run, skipping finished candidates")
    overwrite: bool = param(False, group="execution", recipe=False, help="replace an existing scores file")
    progress: bool = param(True, group="execution", recipe=False, help="progress bar")
    preset: str | None = param(None, recipe=False, metavar="P", help="architecture of a bare .safetensors model")
    prompt_list: list[str] | None = param(None, cli=False, recipe=False, help="API: the prompts themselves")
    candidates: list[tuple[str, str]] | None = param(None, cli=False, recipe=False,
                                                     help="API: explicit (operator, modification) pairs")
    extra: dict[str, Any] = param(factory=dict, cli=False, recipe=False, help="API: what a caller wants recorded")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.device is None:
            self.device = "cuda" if torch.cuda.is_available() else "cpu"

    def validate(self, conditional: bool | None = None) -> None:
        """Check the settings; ``conditional=None`` skips the model-dependent checks."""
        from .methods import METHODS

        if conditional is False and (self.prompts is not None or self.prompt_list or self.embeddings is not None):
            raise LdpruneError("prompts were given, but this UNet is unconditional (UNet2DModel)",
                               "drop --prompts / --embeddings for unconditional models")
        if conditional is False and self.method in METHODS and METHODS[self.method].needs_prompt:
            from .methods import no_prompt_error

            raise no_prompt_error(self.method)
        if self.check_additivity and self.check_additivity < 3:
            raise LdpruneError(f"--check-additivity {self.check_additivity}: correlations need at least 3 sets",
                               "pass K >= 3 (e.g. 20) or 0 to skip the check")
        if self.check_additivity and not METHODS[self.method].generative:
            raise LdpruneError(f"the additivity check is defined for ld-pruner and laptop, not '{self.method}'",
                               "drop --check-additivity or use --method ld-pruner|laptop")
        from ..graph_call import use_cuda_graph

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


def select_candidates(catalogue, config: ScoreConfig) -> list[tuple[str, str]]:
    """Catalogue candidates after the config's filters, in model order; never empty."""
    all_c = catalogue.candidates(config.mods)
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
