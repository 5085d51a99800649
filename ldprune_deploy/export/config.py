"""Export settings and the shape ranges an engine is built for."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import LdpruneError

# Beyond these the exported graph is still valid, but no runtime here has been checked at those
# shapes and TensorRT profiles get huge workspaces; ask for them explicitly in code if needed.
MAX_BATCH = 64
MIN_RESOLUTION, MAX_RESOLUTION = 8, 2048
EXPORTERS = ("torchscript", "dynamo")
PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True)
class Range:
    """min <= opt <= max; ``opt`` is what TensorRT tunes for and the numeric check runs at."""

    min: int
    opt: int
    max: int

    def to_json(self) -> list[int]:
        return [self.min, self.opt, self.max]

    @property
    def dynamic(self) -> bool:
        return self.min != self.max


def parse_range(text: str | int | Range | list | tuple, what: str) -> Range:
    """``"8"`` -> 8:8:8, ``"1:8"`` -> 1:1:8 (opt = min), ``"1:2:8"`` -> 1:2:8."""
    if isinstance(text, Range):
        return text
    if isinstance(text, int):
        return Range(text, text, text)
    parts = list(text) if isinstance(text, (list, tuple)) else str(text).split(":")
    try:
        vals = [int(p) for p in parts]
    except ValueError:
        raise LdpruneError(f"--{what} '{text}' is not MIN[:OPT]:MAX of integers", f"e.g. --{what} 1:2:8") from None
    if len(vals) == 1:
        vals = vals * 3
    elif len(vals) == 2:
        vals = [vals[0], vals[0], vals[1]]
    elif len(vals) != 3:
        raise LdpruneError(f"--{what} '{text}' has {len(vals)} parts", f"use MIN:OPT:MAX, e.g. --{what} 1:2:8")
    lo, opt, hi = vals
    if not lo <= opt <= hi:
        raise LdpruneError(f"--{what} {lo}:{opt}:{hi} is not ordered min <= opt <= max", "reorder the values")
    return Range(lo, opt, hi)


@dataclass
class ExportConfig:
    """What ``export()`` writes: format, precision, shape ranges and the checks it runs.

    ``keep_fp32`` holds ONNX node names or op types (e.g. ``Softmax``) computed in fp32 inside
    an fp16 export; the numeric check names candidates when fp16 overflows.
    """

    out_dir: str = "export/model"
    format: str = "onnx"
    precision: str = "fp16"
    batch: Range | str = "1:2:8"
    resolution: Range | str | None = None     # pixels; None = the model's default, fixed
    exporter: str = "torchscript"
    opset: int = 17
    keep_fp32: list[str] = field(default_factory=list)
    optimize: str | None = None              # "cuda" | "cpu": run ORT's transformer optimizer (fusions)
    check: bool = True
    range_scan: bool = True                   # fp16: find fp32 intermediates beyond 65504 (provider-independent)
    check_batch: int | None = None           # default: opt batch, capped at 2 (CPU time)
    check_device: str = "auto"               # numeric check: "cpu", "cuda" or "auto" (cuda where torch and ORT have it)
    tolerance: dict[str, float] | None = None
    overwrite: bool = False
    seed: int = 0

    def resolved(self, default_resolution: int, multiple: int) -> "ExportConfig":
        """Validate and return a copy with ranges parsed (``multiple``: pixels per latent step)."""
        if self.format != "onnx":
            raise LdpruneError(f"export format '{self.format}' is not supported",
                               "use --format onnx; build TensorRT engines from it with the tensorrt runner")
        if self.precision not in PRECISIONS:
            raise LdpruneError(f"precision '{self.precision}' is not supported for export",
                               f"use one of {', '.join(PRECISIONS)}")
        if self.exporter not in EXPORTERS:
            raise LdpruneError(f"unknown exporter '{self.exporter}'", f"use one of {', '.join(EXPORTERS)}")
        if self.opset < 17:
            raise LdpruneError(f"opset {self.opset} is too old (LayerNormalization needs 17)", "use --opset 17 or newer")
        if self.check_device not in ("auto", "cpu", "cuda"):
            raise LdpruneError(f"unknown check device '{self.check_device}'", "use --check-device auto, cpu or cuda")
        if self.optimize not in (None, "cuda", "cpu"):
            raise LdpruneError(f"unknown --optimize target '{self.optimize}'", "use cuda or cpu")
        batch = parse_range(self.batch, "batch")
        res = parse_range(self.resolution if self.resolution is not None else default_resolution, "resolution")
        if batch.min < 1 or batch.max > MAX_BATCH:
            raise LdpruneError(f"batch range {batch.min}:{batch.max} is outside the supported 1..{MAX_BATCH}",
                               f"use a batch range within 1:{MAX_BATCH}")
        if res.min < MIN_RESOLUTION or res.max > MAX_RESOLUTION:
            raise LdpruneError(f"resolution range {res.min}:{res.max} is outside the supported "
                               f"{MIN_RESOLUTION}..{MAX_RESOLUTION}",
                               f"use a resolution range within {MIN_RESOLUTION}:{MAX_RESOLUTION}")
        bad = [v for v in res.to_json() if v % multiple]
        if bad:
            raise LdpruneError(f"resolution {bad[0]} is not a multiple of {multiple} (VAE scale x UNet downsampling)",
                               f"use resolutions divisible by {multiple}")
        out = ExportConfig(**{**asdict(self), "batch": batch, "resolution": res})
        return out

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("batch", "resolution"):
            v = getattr(self, k)
            d[k] = v.to_json() if isinstance(v, Range) else v
        return d
