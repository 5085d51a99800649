"""Shared by the benchmark scripts: import path, fast model loading, file naming."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from ldprune_deploy.models import load_model, parse_dtype  # noqa: E402

log = logging.getLogger("ldprune")


def device_name() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def gpu_slug() -> str:
    """'h100' for 'NVIDIA H100 80GB HBM3'; 'cpu' without CUDA."""
    if not torch.cuda.is_available():
        return "cpu"
    words = [w for w in torch.cuda.get_device_name().lower().replace("nvidia", "").split() if w]
    return words[0] if words else "gpu"


def load_for(model: str, device: str, dtype: str):
    """The model as every command loads it (``load_model``: presets initialised on ``device``)."""
    return load_model(model, device=device, dtype=parse_dtype(dtype), quiet=True)


def profile_name(model: str, backend: str, batch: int, resolution: int) -> str:
    return f"{gpu_slug()}-{model}-{backend}-b{batch}-{resolution}.json"
