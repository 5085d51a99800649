"""``export(model, config)``: UNet -> checked ONNX folder with ``export.json``."""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from ..jsonio import atomic_output_dir
from ..errors import LdpruneError
from ..models import example_inputs, load_model
from ..surgery.fp8 import has_fp8
from ..unet import quiet_diffusers
from .check import run_check
from .config import ExportConfig
from .manifest import ONNX_FILE, file_sizes, identity, onnx_io, write_manifest
from .onnx_export import (MID_RES, annotate, check_model_file, down_res_name, flat_inputs, input_names,
                          residual_kwargs, save_onnx, torch_export)

log = logging.getLogger("ldprune")


def _downsample_steps(unet) -> int:
    """Total spatial reduction inside the UNet (2 per downsampling block)."""
    return 2 ** max(len(unet.config.block_out_channels) - 1, 0)


def _operator_ids(unet) -> set[str]:
    from ..surgery.mods import kind_of

    modules = dict(unet.named_modules())
    ids = set()
    for name, m in modules.items():
        if name and kind_of(name, m, modules.get(name.rpartition(".")[0], unet)) is not None:
            ids.add(name)
    return ids


def export(model, config: ExportConfig | None = None, **overrides) -> Path:
    """Export ``model`` (module, preset, folder) to ``config.output``; return the folder.

    The folder is written atomically: on any failure (including a failed numeric check)
    nothing at ``out_dir`` is created or replaced.
    """
    cfg = config or ExportConfig()
    if overrides:
        cfg = ExportConfig(**{**cfg.__dict__, **overrides})
    unet, info = load_model(model, preset=cfg.preset, quiet=True)
    if has_fp8(unet):
        raise LdpruneError(f"{info.name} has fp8 modifications: torch._scaled_mm has no ONNX form, so it cannot "
                           "be exported to ONNX / TensorRT",
                           "deploy it with the torch-compile runner on an FP8 GPU, or plan without fp8 "
                           "(ldprune plan on scores made with --mods remove shortcut ...)")
    p = next(unet.parameters())
    placement = (p.device, p.dtype)
    try:
        # always export from fp32 on CPU; fp16 is a graph conversion
        return _export(unet.float().cpu().eval(), info, cfg)
    finally:
        with quiet_diffusers():
            unet.to(device=placement[0], dtype=placement[1])


def _export(unet, info, cfg: ExportConfig) -> Path:
    import onnx

    step = _downsample_steps(unet)
    cfg = cfg.resolved(info.resolution, info.vae_scale_factor * step)
    lat = (info.latent_size(cfg.resolution.min), info.latent_size(cfg.resolution.max))
    check_batch = cfg.check_batch or min(cfg.batch.opt, 2)
    if not cfg.batch.min <= check_batch <= cfg.batch.max:
        raise LdpruneError(f"check batch {check_batch} is outside the batch range {cfg.batch.to_json()}",
                           "pick a check batch inside the range")
    trace_inputs = example_inputs(unet, info, batch=max(cfg.batch.opt, 2) if cfg.batch.dynamic else cfg.batch.opt,
                                  resolution=cfg.resolution.opt, dtype=torch.float32, device="cpu", seed=cfg.seed)
    if cfg.controlnet:
        _add_residuals(unet, trace_inputs, cfg.seed)
    timings: dict[str, float] = {}
    out_dir = Path(cfg.output)
    with atomic_output_dir(out_dir, cfg.overwrite) as tmp, \
            tempfile.TemporaryDirectory(prefix="ldprune-export-", dir=tmp.parent) as work:
        fp32_path = Path(work) / "unet.fp32.onnx"
        t0 = time.perf_counter()
        torch_export(unet, info, trace_inputs, cfg, fp32_path, lat, step)
        timings["torch_export_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        # annotation touches node names and metadata only: the weights stay in the external
        # data files the exporter wrote (SD1.5 fp32: 3.4 GB not read and written again)
        m32 = onnx.load(str(fp32_path), load_external_data=False)
        operators = annotate(m32, _operator_ids(unet))
        m32.producer_name = "ldprune-deploy"
        _meta(m32, {"ldprune.model_fingerprint": info.fingerprint, "ldprune.exporter": cfg.exporter})
        fp32_path.write_bytes(m32.SerializeToString())   # under 2 GB: either the structure or a small model
        check_model_file(fp32_path)
        timings["annotate_check_s"] = time.perf_counter() - t0
        final = tmp / ONNX_FILE
        kept: list[str] = []
        # structure only (with inferred value_info); over 2 GB the weights stay on disk
        m32 = onnx.load(str(fp32_path), load_external_data=False)
        graph, fusions = fp32_path, None
        if cfg.optimize:
            from .ort_optimize import optimize_unet

            t0 = time.perf_counter()
            graph, fusions = optimize_unet(str(fp32_path), cfg.optimize)
            timings["ort_optimize_s"] = time.perf_counter() - t0
        if cfg.precision == "fp16":
            kept = _convert(graph, cfg, final, timings)
        else:
            save_onnx(onnx.load(str(graph)) if isinstance(graph, Path) else graph, final)
        del graph
        check = None
        if cfg.check:
            check, kept = _numeric_check(unet, info, cfg, check_batch, final, m32, kept, timings, fp32_path)
        del m32
        manifest: dict[str, Any] = {
            "model": identity(unet, info), "format": "onnx", "precision": cfg.precision,
            "exporter": cfg.exporter, "opset": max(cfg.opset, 18) if cfg.exporter == "dynamo" else cfg.opset,
            "onnx_file": ONNX_FILE, "external_data": (tmp / (ONNX_FILE + ".data")).exists(),
            "ranges": {"batch": cfg.batch.to_json(), "resolution": cfg.resolution.to_json(),
                       "latent": [info.latent_size(r) for r in cfg.resolution.to_json()],
                       "text_len": info.text_len if info.conditional else None,
                       "spatial_multiple": info.vae_scale_factor * step},
            "ort_optimizer": {"target": cfg.optimize, "fusions": fusions} if cfg.optimize else None,
            "io": onnx_io(final), "keep_fp32": kept, "keep_fp32_requested": list(cfg.keep_fp32),
            "operators": operators, "files": file_sizes(tmp), "check": check,
            "timings": {k: round(v, 2) for k, v in timings.items()},
            "versions": {"torch": torch.__version__, "onnx": onnx.__version__},
            "device": _device(), "config": cfg.to_json(),
            "unet_config": {"_class_name": info.cls, **{k: v for k, v in dict(unet.config).items()
                                                         if not k.startswith("_")}},
        }
        write_manifest(tmp, manifest)
    log.info("exported %s (%s, %s) to %s in %.1f s", info.name, cfg.precision, cfg.exporter, out_dir,
             sum(timings.values()))
    return out_dir


def _convert(source, cfg: ExportConfig, final: Path, timings: dict[str, float]) -> list[str]:
    """fp16-convert ``source`` (the fp32 file, read as it converts, or an optimized proto) into ``final``."""
    from .fp16 import convert_fp16, convert_fp16_file

    t0 = time.perf_counter()
    keep = [k for k in cfg.keep_fp32 if k != "auto"]
    if isinstance(source, Path):
        m16, kept = convert_fp16_file(source, keep)
    else:
        m16, kept = convert_fp16(source, keep, inplace=True)
    save_onnx(m16, final)
    timings["fp16_convert_s"] = timings.get("fp16_convert_s", 0.0) + time.perf_counter() - t0
    return kept


def _numeric_check(unet, info, cfg: ExportConfig, batch: int, final: Path, m32, kept: list[str],
                   timings, fp32_path: Path) -> tuple[dict[str, Any], list[str]]:
    t0 = time.perf_counter()
    inputs = example_inputs(unet, info, batch=batch, resolution=cfg.resolution.opt, dtype=torch.float32,
                            device="cpu", seed=cfg.seed + 1)
    if cfg.controlnet:
        _add_residuals(unet, inputs, cfg.seed + 1)
    flat = flat_inputs(inputs, input_names(unet, info, cfg.controlnet,
                                           sum(1 for k in inputs if k.startswith("down_block_res_")) or None))
    device, ort_cuda = _check_device(cfg)
    if cfg.optimize == "cuda" and not ort_cuda:   # fused GroupNorm/NhwcConv exist only in the CUDA provider
        timings["check_s"] = time.perf_counter() - t0
        log.warning("numeric check skipped: a CUDA-optimized graph needs the CUDA provider")
        return {"passed": None, "skipped": "graph optimized for CUDA (GroupNorm/NhwcConv contrib ops); "
                "no CUDAExecutionProvider here"}, kept
    ref = _reference(unet, inputs, flat, device)
    provider = "CUDAExecutionProvider" if device == "cuda" or cfg.optimize == "cuda" else "CPUExecutionProvider"
    res = run_check(final, ref, flat, cfg.precision, cfg.tolerance, provider)
    res["reference_device"] = device
    if cfg.precision == "fp16":
        res, kept = _fp16_overflow(final, m32, fp32_path, flat, ref, cfg, res, provider, kept, timings)
    timings["check_s"] = time.perf_counter() - t0
    if not res["passed"]:
        raise LdpruneError(f"exported ONNX does not match PyTorch: {'; '.join(res['failures'])} "
                           f"(max abs {res['max_abs']:.3g}, cosine {res['cosine']:.6f}, shapes {res['shapes']})",
                           "try --precision fp32 or the other --exporter; widen the tolerance only if the "
                           "model is known to be sensitive")
    return res, kept


def _add_residuals(unet, inputs: dict[str, Any], seed: int) -> None:
    """Random ControlNet residuals (``down_block_res_i``, ``mid_block_res``) of the shapes ``unet``'s down path
    produces at the inputs' batch and latent size, added to ``inputs`` under their ONNX names."""
    from ..surgery.controlnet import unet_residuals

    sample = inputs["sample"]
    produced, mid = unet_residuals(unet, sample.shape[2], batch=sample.shape[0])
    g = torch.Generator("cpu").manual_seed(seed + 7919)
    for i, (_, shape) in enumerate(produced):
        inputs[down_res_name(i)] = torch.randn(shape, generator=g).to(sample.dtype)
    inputs[MID_RES] = torch.randn(mid, generator=g).to(sample.dtype)


def _check_device(cfg: ExportConfig) -> tuple[str, bool]:
    """(device of the check, whether ONNX Runtime has its CUDA provider here)."""
    try:
        import onnxruntime as ort

        ort_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    except ImportError:
        ort_cuda = False
    usable = ort_cuda and torch.cuda.is_available()
    if cfg.check_device == "cuda" and not usable:
        why = "torch has no CUDA device" if not torch.cuda.is_available() else "onnxruntime has no CUDAExecutionProvider"
        raise LdpruneError(f"--check-device cuda: {why}",
                           "use --check-device cpu (or auto), or install onnxruntime-gpu on a CUDA machine")
    return ("cuda" if cfg.check_device == "cuda" or (cfg.check_device == "auto" and usable) else "cpu"), ort_cuda


def _reference(unet, inputs: dict, flat: tuple, device: str):
    """PyTorch's fp32 output for the check, on ``device`` (the model is put back on the CPU after)."""
    extra = {"added_cond_kwargs": inputs["added_cond_kwargs"]} if "added_cond_kwargs" in inputs else {}
    extra.update(residual_kwargs(inputs))
    args = [*flat[:2], *([flat[2]] if "encoder_hidden_states" in inputs else [])]
    if device == "cpu":
        with torch.no_grad():
            return unet(*args, **extra, return_dict=False)[0].numpy()
    matmul_tf32 = torch.backends.cuda.matmul.allow_tf32
    try:   # a true fp32 reference: TF32 would add ~1e-3 relative error of its own
        torch.backends.cuda.matmul.allow_tf32 = False
        unet.to(device)
        def to(x):
            if isinstance(x, dict):
                return {k: to(v) for k, v in x.items()}
            if isinstance(x, tuple):
                return tuple(to(v) for v in x)
            return x.to(device) if isinstance(x, torch.Tensor) else x

        with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
            out = unet(*map(to, args), **to(extra), return_dict=False)[0]
            return out.float().cpu().numpy()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul_tf32
        unet.to("cpu")
        torch.cuda.empty_cache()


def _fp16_overflow(final: Path, m32, fp32_path: Path, flat, ref, cfg: ExportConfig, res, provider, kept, timings):
    """Range scan of the fp32 graph + NaN/Inf localisation; applies ``--keep-fp32 auto``."""
    import onnx

    from .check import first_nonfinite, keep_for, overflow_error, scan_range

    one = tuple(x[:1] for x in flat)
    graph_out = {o.name for o in m32.graph.output}
    oor = scan_range(m32, one, fp32_path.parent, provider) if cfg.range_scan and not cfg.optimize else []

    def unsafe(keep: list[str]) -> list[dict]:
        ks = set(keep)
        return [e for e in oor if e["output"] in graph_out or not set(keep_for(m32, [e])) <= ks]

    bad = unsafe(kept)
    info = {"out_of_range": oor[:50], "n_out_of_range": len(oor)}
    if not res["nonfinite"] and not bad:
        return {**res, "overflow": info}, kept
    need = keep_for(m32, bad)
    if "auto" in cfg.keep_fp32 and need:
        log.warning("fp16 overflow: keeping %d more node(s) in fp32 (--keep-fp32 auto) and re-checking", len(need))
        auto = ExportConfig(**{**cfg.__dict__, "keep_fp32": sorted(set(kept) | set(need))})
        kept = _convert(fp32_path if not cfg.optimize else _optimized(fp32_path, cfg), auto, final, timings)
        res = run_check(final, ref, flat, cfg.precision, cfg.tolerance, provider)
        info["auto_keep_fp32"] = need
        bad = unsafe(kept)
        if not res["nonfinite"] and not bad:
            return {**res, "overflow": info}, kept
    first = (first_nonfinite(onnx.load(str(final), load_external_data=False), one, final.parent, provider)
             if res["nonfinite"] else None)
    fix = keep_for(m32, bad) or ([first["node"]] if first else [])
    if any(e["output"] in graph_out for e in bad):
        raise LdpruneError(f"the model output itself exceeds fp16's range (|x| up to "
                           f"{max(e['abs_max'] for e in bad):.3g} at {bad[0]['node']}); no fp32 island can fix that",
                           "export with --precision fp32, or check the weights (an fp16 UNet output is never that large)")
    raise overflow_error(res["nonfinite"], res["numel"], first, bad, fix)


def _optimized(fp32_path: Path, cfg: ExportConfig):
    from .ort_optimize import optimize_unet

    return optimize_unet(str(fp32_path), cfg.optimize)[0]


def _meta(model, kv: dict[str, str]) -> None:
    for k, v in kv.items():
        p = model.metadata_props.add()
        p.key, p.value = k, str(v)


def _device() -> dict[str, Any]:
    from ..device import device_fingerprint

    return device_fingerprint("cpu")
