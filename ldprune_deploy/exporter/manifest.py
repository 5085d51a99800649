"""``export.json``: what an export folder holds and what it was made from (``ldprune.export/1``)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..jsonio import read_json, write_json_atomic
from ..errors import LdpruneError
from ..unet import model_plan

SCHEMA = "ldprune.export/1"
MANIFEST = "export.json"
ONNX_FILE = "unet.onnx"


def plan_fingerprint(model) -> str | None:
    """Hash of the applied modifications (None for an unpruned model).

    Pruned and unpruned models share the base config fingerprint, so an export is
    identified by both.
    """
    plan = model_plan(model)
    if plan is None:
        return None
    mods = [m.to_json() for m in plan.modifications]
    blob = json.dumps({"base": plan.model_fingerprint, "mods": mods}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def identity(model, info) -> dict[str, Any]:
    return {"fingerprint": info.fingerprint, "plan_fingerprint": plan_fingerprint(model),
            "name": info.name, "cls": info.cls, "source": info.source, "random_weights": info.random_weights}


def read_manifest(folder: str | Path) -> dict[str, Any]:
    folder = Path(folder)
    if folder.is_file() and folder.suffix == ".onnx":
        folder = folder.parent
    path = folder / MANIFEST
    if not path.is_file():
        raise LdpruneError(f"{folder} has no {MANIFEST}; it is not an export folder",
                           "pass a folder written by `ldprune export`")
    return read_json(path, SCHEMA, "export manifest")


def write_manifest(folder: Path, data: dict[str, Any]) -> Path:
    return write_json_atomic(folder / MANIFEST, {"schema": SCHEMA, **data})


def residual_levels(unet_config: dict[str, Any], names: list[str]) -> dict[str, int]:
    """Downsampling level of each ControlNet residual input among ``names`` (its side is the latent side
    // 2**level), from the UNet config's down blocks; {} when there are none. Pure: a dynamic-resolution
    export names these axes symbolically, so the runners and TensorRT profiles size them with this."""
    from ..surgery.controlnet import expected_residuals
    from .onnx_export import MID_RES, down_res_name

    if MID_RES not in names:
        return {}
    down, mid = expected_residuals(unet_config)
    n = sum(1 for x in names if x.startswith("down_block_res_"))
    if n != len(down):
        raise LdpruneError(f"the export has {n} down_block_res inputs, its UNet config's down blocks make {len(down)}",
                           "re-export the model with `ldprune export --controlnet`")
    return {**{down_res_name(i): s.level for i, s in enumerate(down)}, MID_RES: mid.level}


def check_model_match(manifest: dict[str, Any], model, info, where: str) -> None:
    """Refuse an export made from another model (or another prune plan of the same base)."""
    want = (info.fingerprint, plan_fingerprint(model))
    got_m = manifest.get("model", {})
    got = (got_m.get("fingerprint"), got_m.get("plan_fingerprint"))
    if want != got:
        def fmt(fp):
            return fp[0] + (f" + plan {fp[1]}" if fp[1] else " (unpruned)")
        raise LdpruneError(f"{where} was exported from model {fmt(got)}, the requested model is {fmt(want)}",
                           "re-export it from this model (`ldprune export --model ...`) or pass the matching model")


def check_device_match(built_for: dict[str, Any], here: dict[str, Any], where: str) -> None:
    """Engines are tied to a GPU model and runtime version; refuse a foreign one."""
    keys = ("gpu", "compute_capability", "tensorrt")
    diff = [f"{k}: built {built_for.get(k)!r}, here {here.get(k)!r}" for k in keys if built_for.get(k) != here.get(k)]
    if diff:
        raise LdpruneError(f"{where} was built for another device ({'; '.join(diff)})",
                           "rebuild the engine on this machine (delete it or pass --overwrite)")


def file_sizes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(folder.iterdir()) if p.is_file() and p.name != MANIFEST}


def onnx_io(path: Path) -> dict[str, Any]:
    import onnx

    m = onnx.load(str(path), load_external_data=False)
    names = {1: "float32", 10: "float16", 7: "int64", 6: "int32", 11: "float64", 16: "bfloat16"}

    def desc(v):
        t = v.type.tensor_type
        return {"name": v.name, "dtype": names.get(t.elem_type, str(t.elem_type)),
                "shape": [d.dim_param or d.dim_value for d in t.shape.dim]}

    return {"inputs": [desc(v) for v in m.graph.input], "outputs": [desc(v) for v in m.graph.output],
            "nodes": len(m.graph.node)}
