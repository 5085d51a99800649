"""Hardware profiler: per-operator latency savings on the target device, and a predictor."""

from .additivity import check_additivity
from .config import METHODS, ProfileConfig
from .predict import full_latency_ms, predict_latency, saving_ms, savings_table
from .stage import profile

__all__ = ["METHODS", "ProfileConfig", "check_additivity", "full_latency_ms", "predict_latency",
           "profile", "saving_ms", "savings_table"]
