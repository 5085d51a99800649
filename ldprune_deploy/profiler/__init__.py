"""Hardware profiler: per-operator latency savings on the target device, and a predictor."""

from .predict import full_latency_ms, load_profile, predict_latency, saving_ms, savings_table

__all__ = ["full_latency_ms", "load_profile", "predict_latency", "saving_ms", "savings_table"]
