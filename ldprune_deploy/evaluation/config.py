"""What to evaluate (each parameter declared once: CLI flag and recipe key)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..budget import Budget
from ..errors import LdpruneError
from ..params import Params, at_least, param
from ..profiler.config import known_runner
from .audio import MelSpec

METRICS = ("fid", "fad", "clip")


def _runner_or_none(name: str | None) -> str | None:
    return None if name == "none" else known_runner(name)


def _budget_ok(spec: str | None) -> str | None:
    if spec is not None:
        Budget.parse(spec)   # raises the one error naming the syntax
    return None


def _tolerances_ok(specs: list[str]) -> str | None:
    from .gate import parse_tolerances

    parse_tolerances(specs)
    return None


def mel_spec(value: Any) -> MelSpec:
    """A ``MelSpec`` from itself, a mapping (recipe) or a JSON file path (``--mel-config``)."""
    if isinstance(value, MelSpec):
        return value
    try:
        data = value if isinstance(value, dict) else json.loads(Path(value).read_text())
        return MelSpec(**data)
    except (OSError, json.JSONDecodeError, TypeError) as e:
        raise LdpruneError(f"cannot read the mel parameters {value!r}: {e}",
                           "give a JSON object (file or recipe mapping) with sample_rate, n_fft, hop_length, "
                           "top_db, griffin_lim_iters") from None


_GATE = "gate"
_LAT = "latency"
_Q = "quality"
_REP = "report inputs (fingerprinted in the report; plots)"


@dataclass
class EvaluateConfig(Params):
    """Quality of the candidate against its teacher, both UNets' latency with one runner, the gate."""

    output: str | None = param(None, short="-o", required=True, recipe=False,
                               help="report folder (must not exist or be empty; None in code: return the dict only)")
    overwrite: bool = param(False, recipe=False, help="replace a non-empty report folder")
    preset: str | None = param(None, recipe=False, help="architecture of bare .safetensors models")
    metrics: list[str] = param(factory=lambda: ["fid"], choices=METRICS, flag="--metric", repeat=True, group=_Q,
                               help="quality metric, repeatable (default: fid)")
    n_samples: int = param(1000, check=at_least(2), group=_Q, help="samples per model")
    steps: int = param(25, check=at_least(1), group=_Q, help="sampling steps")
    scheduler: str = param("ddim", group=_Q, help="diffusers scheduler")
    guidance: float = param(7.5, group=_Q, help="classifier-free guidance (conditional models)")
    seed: int = param(0, group=_Q, help="first seed; sample i uses seed+i")
    batch_size: int = param(16, check=at_least(1), group=_Q, help="generation batch")
    feature_extractor: str | None = param(None, path=True, metavar="SPEC", group=_Q,
                                          help="module.py:fn, a TorchScript file, or a proxy .safetensors "
                                               "(+ .json config)")
    inception_weights: str | None = param(None, path=True, metavar="FILE", group=_Q,
                                          help="standard FID Inception (TorchScript .pt)")
    vggish_weights: str | None = param(None, path=True, metavar="FILE", group=_Q,
                                       help="standard FAD VGGish (TorchScript, 16 kHz waveform)")
    clip_weights: str | None = param(None, path=True, metavar="DIR", group=_Q,
                                     help="local transformers CLIPModel folder (CLIP score)")
    vae: str | None = param(None, path=True, metavar="DIR", group=_Q,
                            help="local diffusers AutoencoderKL folder (latent UNets)")
    latent_space: bool = param(False, group=_Q,
                               help="latent UNet without a VAE: compute metrics on latents (labelled latent-space)")
    reference: str | None = param(None, path=True, metavar="FILE", group=_Q,
                                  help="real samples (.npy/.npz/.safetensors) to measure both models against "
                                       "(default: teacher samples from disjoint seeds)")
    prompts: str | None = param(None, path=True, metavar="FILE", group=_Q,
                                help="prompts, one per line (conditional models)")
    embeddings: str | None = param(None, path=True, metavar="FILE", group=_Q,
                                   help="pre-computed prompt embeddings (safetensors)")
    mel: MelSpec | dict | str = param(factory=MelSpec, flag="--mel-config", metavar="JSON", group=_Q,
                                      help="mel parameters for audio: a JSON file (CLI) or mapping (recipe) with "
                                           "sample_rate, n_fft, hop_length, top_db, griffin_lim_iters "
                                           "(default AudioDiffusion's)")
    runner: str | None = param(None, check=_runner_or_none, group=_LAT,
                               help="torch-graph, ort-cuda, cpu, ... or 'none' (default: torch-graph on CUDA, "
                                    "cpu otherwise; recipe: the target backend where it runs here)")
    runner_options: dict[str, Any] = param(factory=dict, flag="--runner-option", group=_LAT,
                                           help="runner option, repeatable (e.g. cache_dir=ort-cache)")
    latency_batch: int | None = param(None, check=at_least(1), group=_LAT,
                                      help="batch of the timed UNet call (default 1; recipe: the target batch)")
    resolution: int | None = param(None, group=_LAT, help="pixel resolution (default: the model's)")
    dtype: str | None = param(None, choices=("fp32", "fp16", "bf16"), group=_LAT,
                              help="default fp16 on CUDA, fp32 on CPU")
    device: str | None = param(None, group=_LAT, help="device for sampling (default cuda if available)")
    warmup: int = param(10, check=at_least(0), group=_LAT, help="warm-up calls per latency measurement")
    iters: int = param(30, check=at_least(1), group=_LAT, help="timed calls per latency measurement")
    e2e_repeats: int = param(3, check=at_least(1), group=_LAT, help="timed sampling runs (median reported)")
    budget: str | None = param(None, check=_budget_ok, group=_GATE,
                               help="latency budget: 8.5ms, 70% (of the teacher) or 1.4x (speed-up) "
                                    "(recipe default: the plan's relative budget)")
    max_quality_drop: list[str] = param(factory=lambda: ["10%"], repeat=True, metavar="TOL", check=_tolerances_ok,
                                        group=_GATE, help="10% (every metric), fid=15%, fad=2.5 (absolute); "
                                                          "repeatable (default 10%)")
    gate: bool = param(True, group=_GATE,
                       help="write the report and exit 0 whatever the gate says (default: exit 3 when it fails)")
    scores: str | None = param(None, recipe=False, group=_REP, help="scores.json (with --profile: latency saved "
                                                                    "vs importance)")
    profile: str | None = param(None, recipe=False, group=_REP, help="profile JSON (plot with --scores)")
    pareto: str | None = param(None, recipe=False, group=_REP, help="planner pareto.json")
    curves: str | None = param(None, recipe=False, group=_REP, help="distillation losses.json")
    export: str | None = param(None, recipe=False, group=_REP, help="export folder or engine file")

    def __post_init__(self) -> None:
        self.mel = mel_spec(self.mel)
        super().__post_init__()
