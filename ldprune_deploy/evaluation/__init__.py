"""Evaluator: quality (FID / FAD / CLIP score), latency on the device, and a budget gate.

``evaluate(teacher, candidate, EvaluateConfig(...))`` samples both models from the same
seeds and prompts, measures the metrics through torchmetrics' Fréchet machinery with the
named feature extractor (standard weights from a user-supplied file, a user extractor, or
the project's proxy — always named in the report), times both UNets with one runner in
the same run, writes ``report.json`` / ``report.md`` / ``report.html`` and raises
``GateFailed`` (exit 3) when latency or quality is out of bounds.

See ``features`` (extractor interface and loaders), ``standard`` (Inception / VGGish weight
formats), ``audio`` (mel <-> waveform), ``samples`` (decoding rules), ``gate`` (budget and
tolerance syntax).
"""

from .audio import MelSpec
from .config import METRICS, EvaluateConfig
from .stage import evaluate, measure_latency
from .features import FeatureExtractor, load_feature_extractor
from .gate import parse_tolerances
from .metrics import clip_score, frechet_distance

__all__ = ["METRICS", "EvaluateConfig", "FeatureExtractor", "MelSpec", "clip_score", "evaluate",
           "frechet_distance", "load_feature_extractor", "measure_latency", "parse_tolerances"]
