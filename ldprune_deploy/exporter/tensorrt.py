"""TensorRT engine builder from an export folder (``tensorrt`` or, where only it exists, ``tensorrt_rtx``).

Precision: an fp16 ONNX is parsed into a *strongly typed* network (the types in the graph
are the types that run; TensorRT 11 and TensorRT-RTX support nothing else). An fp32 ONNX
with ``precision="fp16"`` uses the FP16 builder flag where the runtime still has it.
One optimization profile spans the export's batch/resolution ranges. The timing cache is
shared across builds (TensorRT only: TensorRT-RTX ignores it and deprecated the API).
Layer names come from ONNX node names (``/down_blocks.0/resnets.0/conv1/Conv``), so the
engine inspector's layers map back to catalogue operator ids.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import time
from pathlib import Path
from typing import Any

from ..jsonio import read_json, write_json_atomic
from ..errors import LdpruneError
from .manifest import ONNX_FILE, read_manifest, residual_levels
from .onnx_export import layer_operators

log = logging.getLogger("ldprune")

ENGINE_SCHEMA = "ldprune.engine/1"
ENGINE_FILE, ENGINE_MANIFEST = "unet.engine", "engine.json"


def import_trt():
    """(module, flavour): ``tensorrt`` preferred, else ``tensorrt_rtx``; a clear error if neither.

    The ``tensorrt-rtx`` metapackage is an sdist that fetches its wheels at install time; where
    only the wheels are installed (``tensorrt-rtx-cu13-bindings`` + ``-libs``, as on a machine
    without an index) the module is ``tensorrt_rtx_bindings``, the same API under another name.
    """
    for name, flavour in (("tensorrt", "tensorrt"), ("tensorrt_rtx", "tensorrt_rtx"),
                          ("tensorrt_rtx_bindings", "tensorrt_rtx")):
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(mod, "Builder"):   # PyPI's bare 'tensorrt' stub has no Builder
            return mod, flavour
    raise LdpruneError("no TensorRT runtime is installed (neither 'tensorrt' nor 'tensorrt_rtx' imports)",
                       "pip install 'ldprune-deploy[tensorrt]' (TensorRT 10+, from NVIDIA's index) or "
                       "pip install tensorrt-rtx (RTX-class GPUs, compute capability 8.0/8.6/8.9/12.x)")


def gpu_slug(fp: dict[str, Any]) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", f"{fp.get('gpu') or 'cpu'}-cc{fp.get('compute_capability')}").strip("-").lower()


def profile_shapes(manifest: dict[str, Any]) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
    """(min, opt, max) shape of every input from the export's ranges (pure; unit-tested)."""
    r = manifest["ranges"]
    lat = r["latent"]
    inputs = manifest["io"]["inputs"]
    levels = residual_levels(manifest.get("unet_config") or {}, [i["name"] for i in inputs])
    out = {}
    for inp in inputs:
        shapes = []
        for k in range(3):
            s = []
            for axis, d in enumerate(inp["shape"]):
                if axis == 0:
                    s.append(r["batch"][k])
                elif inp["name"] == "sample" and axis >= 2:
                    s.append(lat[k])
                elif inp["name"] in levels and axis >= 2:   # ControlNet residual at its block's downsampling
                    s.append(lat[k] // 2 ** levels[inp["name"]])
                elif isinstance(d, int) and d > 0:
                    s.append(d)
                else:
                    s.append(r.get("text_len") or 77)
            shapes.append(tuple(s))
        out[inp["name"]] = tuple(shapes)
    return out


def map_layers(layers: list[Any], operator_ids: set[str]) -> dict[str, Any]:
    """Engine-inspector layers -> {layer name: [operator ids]} and per-operator layer counts."""
    by_layer, per_op = {}, {}
    for layer in layers:
        name = layer.get("Name", "") if isinstance(layer, dict) else str(layer)
        ops = layer_operators(name, operator_ids)
        by_layer[name] = ops
        for op in ops:
            per_op[op] = per_op.get(op, 0) + 1
    unmapped = sum(1 for v in by_layer.values() if not v)
    return {"layers": by_layer, "per_operator": per_op, "unmapped_layers": unmapped}


def engine_dir(export_dir: Path, fp: dict[str, Any]) -> Path:
    return Path(export_dir) / f"trt-{gpu_slug(fp)}"


def read_engine_manifest(folder: Path) -> dict[str, Any]:
    path = Path(folder) / ENGINE_MANIFEST
    if not path.is_file():
        raise LdpruneError(f"{folder} has no {ENGINE_MANIFEST}; it is not an engine folder",
                           "build the engine with build_engine() or the tensorrt runner")
    return read_json(path, ENGINE_SCHEMA, "engine manifest")


def build_engine(export_dir: str | Path, out_dir: str | Path | None = None, *, workspace_gb: float = 8.0,
                 timing_cache: str | Path | None = None, precision: str | None = None,
                 overwrite: bool = False) -> Path:
    """Build ``unet.engine`` + ``engine.json`` (layer info mapped to operators); return the folder."""
    from ..device import device_fingerprint

    trt, flavour = import_trt()
    export_dir = Path(export_dir)
    man = read_manifest(export_dir)
    fp = device_fingerprint("cuda")
    if fp.get("kind") != "cuda":
        raise LdpruneError("building a TensorRT engine needs a CUDA GPU", "run this on the GPU machine")
    out = Path(out_dir) if out_dir else engine_dir(export_dir, fp)
    if (out / ENGINE_FILE).exists() and not overwrite:
        raise LdpruneError(f"engine {out / ENGINE_FILE} exists", "pass overwrite=True / --overwrite to rebuild")
    precision = precision or man["precision"]
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    strongly = man["precision"] == "fp16" or not hasattr(trt.BuilderFlag, "FP16")
    flags = 0
    if strongly and hasattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED"):
        flags |= 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    t0 = time.perf_counter()
    if not parser.parse_from_file(str(export_dir / man["onnx_file"])):
        errs = "; ".join(str(parser.get_error(i)) for i in range(min(parser.num_errors, 3)))
        raise LdpruneError(f"{flavour} could not parse {export_dir / ONNX_FILE}: {errs}",
                           "re-export (check the .onnx.data file is beside the .onnx) or try --exporter dynamo")
    parse_s = time.perf_counter() - t0
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * 2**30))
    if hasattr(trt, "ProfilingVerbosity"):
        config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    if precision == "fp16" and not strongly:
        config.set_flag(trt.BuilderFlag.FP16)
    profile = builder.create_optimization_profile()
    shapes = profile_shapes(man)
    for name, (lo, opt, hi) in shapes.items():
        profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(profile)
    cache_path = Path(timing_cache) if timing_cache else None
    use_cache = cache_path is not None and flavour == "tensorrt" and hasattr(config, "create_timing_cache")
    if use_cache:
        blob = cache_path.read_bytes() if cache_path.is_file() else b""
        config.set_timing_cache(config.create_timing_cache(blob), ignore_mismatch=False)
    t0 = time.perf_counter()
    serialized = builder.build_serialized_network(network, config)
    build_s = time.perf_counter() - t0
    if serialized is None:
        raise LdpruneError(f"{flavour} failed to build an engine from {export_dir}",
                           "see the TensorRT log above; try a larger workspace_gb or narrower shape ranges")
    if use_cache:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_bytes(bytes(config.get_timing_cache().serialize()))
    out.mkdir(parents=True, exist_ok=True)
    (out / ENGINE_FILE).write_bytes(bytes(serialized))
    net_layers = [network.get_layer(i).name for i in range(network.num_layers)]
    ops = set(man.get("operators", {}))
    layer_info, runnable = _inspect(trt, logger, serialized)
    write_json_atomic(out / ENGINE_MANIFEST, {
        "schema": ENGINE_SCHEMA, "runtime": flavour, "runtime_version": trt.__version__,
        "device": fp, "model": man["model"], "export_dir": str(export_dir), "precision": precision,
        "strongly_typed": strongly, "workspace_gb": workspace_gb, "profile": {k: list(v) for k, v in shapes.items()},
        "timing_cache": str(cache_path) if use_cache else None,
        "timing_cache_note": None if use_cache else ("TensorRT-RTX ignores timing caches" if flavour != "tensorrt"
                                                     else "no timing cache path given"),
        "parse_s": round(parse_s, 2), "build_s": round(build_s, 2), "engine_bytes": (out / ENGINE_FILE).stat().st_size,
        "network_layers": map_layers(net_layers, ops),
        "engine_layers": map_layers(layer_info, ops) if layer_info is not None else None,
        "runnable_here": runnable,
    })
    log.info("%s engine built in %.1f s (parse %.1f s): %s", flavour, build_s, parse_s, out)
    return out


def _inspect(trt, logger, serialized) -> tuple[list[Any] | None, str]:
    """Engine-inspector layers, and whether this GPU can deserialize the engine ('yes' or why not)."""
    try:
        engine = trt.Runtime(logger).deserialize_cuda_engine(serialized)
    except Exception as e:   # TensorRT raises RuntimeError/TypeError depending on the version
        return None, f"deserialize failed: {e}"
    if engine is None:
        return None, "deserialize_cuda_engine returned None (e.g. TensorRT-RTX on an unsupported compute capability)"
    inspector = engine.create_engine_inspector()
    info = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))
    return info.get("Layers", []), "yes"
