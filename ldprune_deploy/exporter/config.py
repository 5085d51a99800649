"""Export settings and the shape ranges an engine is built for."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

from ..errors import LdpruneError
from ..params import Params, at_least, param

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


def _range_problem(what: str):
    def check(v) -> str | None:
        if v is not None:
            parse_range(v, what)   # raises the one error that names the flag and the fix
        return None
    return check


@dataclass
class ExportConfig(Params):
    """What ``export()`` writes: precision, shape ranges and the checks it runs.

    ``keep_fp32`` holds ONNX node names or op types (e.g. ``Softmax``) computed in fp32 inside
    an fp16 export; the numeric check names candidates when fp16 overflows. ONNX is the one
    format: TensorRT engines are built from it by the tensorrt runner / ``build_engine``.
    """

    output: str = param("export/model", short="-o", required=True, recipe=False, metavar="DIR",
                        help="output folder, e.g. export/<name>/")
    precision: str = param("fp16", choices=PRECISIONS, recipe=False, help="weights and activations of the graph")
    batch: Range | str = param("1:2:8", metavar="MIN:OPT:MAX", check=_range_problem("batch"),
                               help="dynamic batch range")
    resolution: Range | str | None = param(None, metavar="MIN:OPT:MAX", check=_range_problem("resolution"),
                                           help="pixel resolution range; one value = fixed "
                                                "(default: the model's resolution, fixed)")
    exporter: str = param("torchscript", choices=EXPORTERS,
                          help="torch exporter (torchscript: ONNX Runtime's UNet fusions match its graphs)")
    opset: int = param(17, check=at_least(17), help="ONNX opset (LayerNormalization needs 17; dynamo uses >= 18)")
    keep_fp32: list[str] = param(factory=list, metavar="NODE",
                                 help="node names, op types (e.g. Softmax) or operator ids kept in fp32 in an fp16 "
                                      "export (space or comma separated); 'auto' keeps the nodes the overflow check "
                                      "names")
    optimize: str | None = param(None, choices=("cuda", "cpu"),
                                 help="apply ONNX Runtime's UNet fusions for this provider (on the fp32 graph, "
                                      "before fp16)")
    check: bool = param(True, help="skip the numeric check against PyTorch (not advised)")
    range_scan: bool = param(True, help="fp16: skip the scan of fp32 intermediates for values beyond fp16's range "
                                        "(one extra ONNX Runtime run)")
    check_batch: int | None = param(None, check=at_least(1), help="batch of the numeric check (default: opt batch, max 2)")
    check_device: str = param("auto", choices=("auto", "cpu", "cuda"),
                              help="where the numeric check runs: PyTorch's fp32 reference and ONNX Runtime "
                                   "(auto: CUDA where torch and onnxruntime-gpu both have it, else CPU)")
    tolerance: dict[str, float] | None = param(None, help="numeric check limits, e.g. cosine=0.999 rel_l2=0.05 "
                                                          "(default: per precision, see export/README.md)")
    overwrite: bool = param(False, recipe=False, help="replace an existing output folder")
    preset: str | None = param(None, recipe=False, metavar="P", help="architecture of a bare .safetensors model")
    seed: int = param(0, help="seed of the numeric check's inputs")
    controlnet: bool = param(False, help="add the ControlNet residual inputs (down_block_res_0..N, mid_block_res: "
                                         "diffusers' down_block_additional_residuals, "
                                         "mid_block_additional_residual) to the graph")

    def __post_init__(self) -> None:
        # "--keep-fp32 Softmax,MatMul" and "--keep-fp32 Softmax MatMul" mean the same
        self.keep_fp32 = [k.strip() for item in self.keep_fp32 for k in str(item).split(",") if k.strip()]
        super().__post_init__()

    def resolved(self, default_resolution: int, multiple: int) -> "ExportConfig":
        """Validate and return a copy with ranges parsed (``multiple``: pixels per latent step)."""
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
        return replace(self, batch=batch, resolution=res)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("batch", "resolution"):
            v = getattr(self, k)
            d[k] = v.to_json() if isinstance(v, Range) else v
        return d
