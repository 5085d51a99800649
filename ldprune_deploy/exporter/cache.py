"""Exports made on the fly by runners, cached by model + plan fingerprint and settings."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from ..errors import LdpruneError

log = logging.getLogger("ldprune")


def default_cache_dir() -> Path:
    return Path(os.environ.get("LDPRUNE_CACHE", Path.home() / ".cache" / "ldprune")) / "export"


def cached_export(model, info, *, dtype: str, batch: int, resolution: int | None, optimize: str | None = None,
                  exporter: str = "torchscript", cache_dir: str | Path | None = None) -> Path:
    """Folder of an export at these static shapes; exported once, then reused."""
    from . import ExportConfig, export
    from .manifest import plan_fingerprint

    if dtype not in ("fp16", "fp32"):
        raise LdpruneError(f"ONNX runners run fp16 or fp32, not {dtype}", "use --dtype fp16 or fp32")
    res = resolution or info.resolution
    key = f"{info.fingerprint}-{plan_fingerprint(model) or 'base'}-{dtype}-b{batch}-r{res}-{exporter}-{optimize or 'plain'}"
    folder = Path(cache_dir or default_cache_dir()) / key
    if (folder / "export.json").is_file():
        return folder
    t0 = time.perf_counter()
    export(model, ExportConfig(output=str(folder), precision=dtype, batch=str(batch), resolution=str(res),
                               optimize=optimize, exporter=exporter, overwrite=True))
    log.info("exported %s in %.1f s into %s (cache)", info.name, time.perf_counter() - t0, folder)
    return folder
