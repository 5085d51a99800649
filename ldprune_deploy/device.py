"""Fingerprint of the machine a measurement was taken on."""

from __future__ import annotations

import platform
import subprocess
import time
from typing import Any

import torch


def _version(mod: str) -> str | None:
    try:
        m = __import__(mod)
        return getattr(m, "__version__", "unknown")
    except Exception:
        return None


def _nvidia_smi(query: str) -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def device_fingerprint(device: str | torch.device | None = None) -> dict[str, Any]:
    """GPU name, compute capability, driver, SM clock (if readable) and runtime versions."""
    fp: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "onnxruntime": _version("onnxruntime"),
        "tensorrt": _version("tensorrt") or _version("tensorrt_rtx"),
        "diffusers": _version("diffusers"),
    }
    dev = torch.device(device) if device is not None else (torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    if dev.type == "cuda" and torch.cuda.is_available():
        idx = dev.index or 0
        props = torch.cuda.get_device_properties(idx)
        fp.update({
            "kind": "cuda",
            "gpu": props.name,
            "compute_capability": f"{props.major}.{props.minor}",
            "sm_count": props.multi_processor_count,
            "memory_gb": round(props.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "driver": _nvidia_smi("driver_version"),
            "sm_clock_mhz": _nvidia_smi("clocks.sm"),
            "max_sm_clock_mhz": _nvidia_smi("clocks.max.sm"),
        })
    else:
        fp.update({"kind": "cpu", "gpu": None, "threads": torch.get_num_threads()})
    return fp


def same_device(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    """Fields in which two fingerprints differ in a way that changes latency."""
    keys = ("kind", "gpu", "compute_capability", "driver", "torch", "onnxruntime", "tensorrt")
    return [k for k in keys if a.get(k) != b.get(k)]
