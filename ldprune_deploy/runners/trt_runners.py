"""TensorRT runner (``tensorrt``): engine from an export folder, bindings on torch CUDA tensors.

Options: ``engine_dir`` (a built engine folder), ``export_dir`` (build from this export if
no engine for this GPU exists), ``cache_dir``, ``workspace_gb``, ``timing_cache``.
An engine built for another GPU, compute capability or TensorRT version is refused.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..errors import LdpruneError
from . import RUNNERS, Bound, Runner, RunSpec

log = logging.getLogger("ldprune")


@RUNNERS.register("tensorrt")
class TensorRTRunner(Runner):
    """Runs ``tensorrt`` engines, or ``tensorrt_rtx`` ones where only TensorRT-RTX is installed."""

    device = "cuda"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        from ..exporter.tensorrt import import_trt
        from .torch_runners import cuda_status

        try:
            import_trt()
        except LdpruneError as e:
            return False, f"{e.message}; {e.fix}"
        return cuda_status()

    def engine_folder(self, model, info, spec: RunSpec) -> Path:
        from ..device import device_fingerprint
        from ..exporter import read_manifest
        from ..exporter.cache import cached_export, default_cache_dir
        from ..exporter.manifest import check_device_match, check_model_match
        from ..exporter.tensorrt import build_engine, engine_dir, read_engine_manifest

        here = device_fingerprint("cuda")
        given = self.option(spec, "engine_dir")
        if given:
            em = read_engine_manifest(Path(given))
            check_device_match(em["device"], here, f"engine {given}")
            if not isinstance(model, (str, Path)):
                check_model_match({"model": em["model"]}, model, info, f"engine {given}")
            return Path(given)
        export_dir = self.option(spec, "export_dir")
        if export_dir is None and isinstance(model, (str, Path)) and (Path(model) / "export.json").is_file():
            export_dir = model
        if export_dir is not None:
            if not isinstance(model, (str, Path)):
                check_model_match(read_manifest(export_dir), model, info, f"export {export_dir}")
        else:
            export_dir = cached_export(model, info, dtype=spec.dtype, batch=spec.batch, resolution=spec.resolution,
                                       cache_dir=self.option(spec, "cache_dir"))
        folder = engine_dir(Path(export_dir), here)
        if (folder / "engine.json").is_file():
            check_device_match(read_engine_manifest(folder)["device"], here, f"engine {folder}")
            return folder
        cache = self.option(spec, "timing_cache") or (Path(self.option(spec, "cache_dir") or default_cache_dir())
                                                      / "trt-timing.cache")
        return build_engine(export_dir, folder, workspace_gb=float(self.option(spec, "workspace_gb", 8)),
                            timing_cache=cache)

    def open(self, model, info, spec: RunSpec) -> Bound:
        import torch

        from ..exporter.tensorrt import ENGINE_FILE, import_trt, read_engine_manifest

        folder = self.engine_folder(model, info, spec)
        em = read_engine_manifest(folder)
        if em.get("runnable_here") not in (None, "yes"):
            raise LdpruneError(f"the {em['runtime']} engine in {folder} was built but cannot run on this GPU "
                               f"({em['runnable_here']})",
                               "run it on a GPU the runtime supports (TensorRT-RTX: CC 8.0/8.6/8.9/12.x), "
                               "or install full TensorRT")
        trt, _ = import_trt()
        logger = trt.Logger(trt.Logger.WARNING)
        engine = trt.Runtime(logger).deserialize_cuda_engine((folder / ENGINE_FILE).read_bytes())
        if engine is None:
            raise LdpruneError(f"{em['runtime']} could not load {folder / ENGINE_FILE} on this GPU",
                               "rebuild the engine here (delete the folder)")
        ctx = engine.create_execution_context()
        tensors = self._bind(trt, engine, ctx, em, spec, info)
        stream = torch.cuda.current_stream()

        def call():
            ctx.execute_async_v3(stream.cuda_stream)

        call()
        return Bound(call, device="cuda", clock="cuda", release=tensors.clear, extra={
            "runtime": em["runtime"], "runtime_version": em["runtime_version"], "engine_dir": str(folder),
            "build_s": em["build_s"], "batch": spec.batch, "precision": em["precision"]})

    def _bind(self, trt, engine, ctx, em: dict[str, Any], spec: RunSpec, info) -> list:
        import torch

        from ..exporter.onnx_export import MID_RES

        torch_dtype = {trt.DataType.HALF: torch.float16, trt.DataType.FLOAT: torch.float32,
                       trt.DataType.INT64: torch.int64, trt.DataType.INT32: torch.int32}
        prof = em["profile"]
        res = spec.resolution or (info.resolution if info is not None else None)
        tensors = []
        g = torch.Generator(device="cuda").manual_seed(0)
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            if engine.get_tensor_mode(name) != trt.TensorIOMode.INPUT:
                continue
            shape = list(prof[name][1])
            shape[0] = spec.batch
            if res and info is not None and name == "sample":
                shape[2] = shape[3] = info.latent_size(res)
            elif res and info is not None and (name.startswith("down_block_res_") or name == MID_RES):
                # a ControlNet residual keeps its block's downsampling: the profile's opt shapes hold that ratio
                shape[2] = shape[3] = info.latent_size(res) // (prof["sample"][1][2] // prof[name][1][2])
            ctx.set_input_shape(name, shape)
            dt = torch_dtype[engine.get_tensor_dtype(name)]
            t = (torch.full(shape, 500, dtype=dt, device="cuda") if name == "timestep"
                 else torch.randn(shape, generator=g, device="cuda").to(dt))
            ctx.set_tensor_address(name, t.data_ptr())
            tensors.append(t)
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            if engine.get_tensor_mode(name) == trt.TensorIOMode.OUTPUT:
                out = torch.empty(tuple(ctx.get_tensor_shape(name)), dtype=torch_dtype[engine.get_tensor_dtype(name)],
                                  device="cuda")
                ctx.set_tensor_address(name, out.data_ptr())
                tensors.append(out)
        return tensors
