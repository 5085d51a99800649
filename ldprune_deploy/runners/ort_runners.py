"""ONNX Runtime runners (``ort-cpu``, ``ort-cuda``) timing an exported UNet.

``measure(model, info, spec)`` takes an export folder, or a model that is exported on the fly
into a cache folder keyed by model + plan fingerprint, precision, shapes and optimizer target.
Options (``spec.options`` or constructor): ``export_dir`` (use this export; its manifest must
match the model), ``optimize`` (ORT transformer fusions, applied at export on the fp32 graph),
``cuda_graph`` (ort-cuda only; needs static shapes and IO binding), ``fold_shapes`` (load the
static-shape graph that ``cuda_graph`` loads, on any provider), ``provider_options`` (extra
execution-provider options, e.g. ``{"prefer_nhwc": "1", "sdpa_kernel": "8"}`` on CUDA), ``cache_dir``.
Inputs and outputs are bound once (IO binding) so the timed loop copies nothing.
The static-shape graph (``cuda_graph``, ``fold_shapes``) is made by ``ort_static``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LdpruneError
from . import RUNNERS, Bound, Runner, RunSpec
from .ort_static import _NP, input_shapes, static_graph

log = logging.getLogger("ldprune")


def _is_export_dir(model) -> bool:
    return isinstance(model, (str, Path)) and (Path(model) / "export.json").is_file()


class _OrtRunner(Runner):
    provider = "CPUExecutionProvider"
    target = "cpu"
    extra = "ldprune-deploy[onnx]"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        try:
            import onnxruntime as ort
        except ImportError:
            return False, f"onnxruntime is not installed (pip install '{cls.extra}')"
        if cls.provider not in ort.get_available_providers():
            return False, (f"onnxruntime {ort.__version__} has no {cls.provider} "
                           f"(providers: {', '.join(ort.get_available_providers())}; pip install '{cls.extra}')")
        return True, ""

    # -- which export -----------------------------------------------------------------------
    def resolve_export(self, model, info, spec: RunSpec) -> Path:
        from ..exporter import read_manifest
        from ..exporter.manifest import check_model_match

        optimize = self.target if self.option(spec, "optimize", False) else None
        given = self.option(spec, "export_dir") or (model if _is_export_dir(model) else None)
        if given is not None:
            folder = Path(given)
            man = read_manifest(folder)
            if not _is_export_dir(model):
                check_model_match(man, model, info, f"export {folder}")
            have = (man.get("ort_optimizer") or {}).get("target")
            if optimize and have != optimize:
                raise LdpruneError(f"export {folder} was not optimized for {self.target} (optimizer: {have})",
                                   f"re-export with --optimize {self.target}, or run without the optimize option")
            return folder
        return self._cached_export(model, info, spec, optimize)

    def _cached_export(self, model, info, spec: RunSpec, optimize: str | None) -> Path:
        from ..exporter.cache import cached_export

        return cached_export(model, info, dtype=spec.dtype, batch=spec.batch, resolution=spec.resolution,
                             optimize=optimize, exporter=self.option(spec, "exporter", "torchscript"),
                             cache_dir=self.option(spec, "cache_dir"))

    # -- session and timing -----------------------------------------------------------------
    def providers(self, cuda_graph: bool, provider_options: dict | None = None) -> list[Any]:
        """Session providers; ``provider_options`` (e.g. CUDA's ``prefer_nhwc``, ``sdpa_kernel``) win over ours."""
        opts: dict[str, str] = {}
        if self.provider == "CUDAExecutionProvider":
            opts = {"enable_cuda_graph": "1" if cuda_graph else "0", "cudnn_conv_algo_search": "EXHAUSTIVE",
                    "cudnn_conv_use_max_workspace": "1"}
        opts.update({str(k): str(v) for k, v in (provider_options or {}).items()})
        if self.provider == "CUDAExecutionProvider":
            return [(self.provider, opts), "CPUExecutionProvider"]
        return [(self.provider, opts)] if opts else [self.provider]

    def session(self, path: Path, cuda_graph: bool, provider_options: dict | None = None):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            return ort.InferenceSession(str(path), so, providers=self.providers(cuda_graph, provider_options))
        except Exception as e:
            if not provider_options or "option" not in str(e).lower():
                raise
            raise LdpruneError(f"onnxruntime {ort.__version__} refused the provider options {provider_options}: "
                               f"{str(e).strip()[:300]}",
                               "drop the options this onnxruntime does not know (see the CUDA execution "
                               "provider's documentation for its version)") from None

    def fold_providers(self) -> list[Any]:
        """Providers of the one run that computes the folded shape values (no tuning needed)."""
        if self.provider == "CUDAExecutionProvider":
            return [(self.provider, {"cudnn_conv_algo_search": "HEURISTIC"}), "CPUExecutionProvider"]
        return [self.provider]

    def open(self, model, info, spec: RunSpec) -> Bound:
        from ..exporter import read_manifest

        folder = self.resolve_export(model, info, spec)
        man = read_manifest(folder)
        if man["precision"] != spec.dtype:
            raise LdpruneError(f"export {folder} is {man['precision']}, the run asks for {spec.dtype}",
                               f"re-export with --precision {spec.dtype} or run with --dtype {man['precision']}")
        batch, res = spec.batch, spec.resolution or man["ranges"]["resolution"][1]
        for what, v, (lo, _, hi) in (("batch", batch, man["ranges"]["batch"]),
                                     ("resolution", res, man["ranges"]["resolution"])):
            if not lo <= v <= hi:
                raise LdpruneError(f"{what} {v} is outside the export's range {lo}..{hi} ({folder})",
                                   f"re-export with a --{what} range that includes {v}")
        from ..exporter.onnx_export import missing_external_data

        missing = missing_external_data(folder / man["onnx_file"])
        if missing:
            raise LdpruneError(f"{folder / man['onnx_file']} refers to external data {missing[0]} that is not there",
                               "copy the .onnx together with its .data file (same folder), or re-export")
        cuda_graph = bool(self.option(spec, "cuda_graph", False)) and self.provider == "CUDAExecutionProvider"
        path, fold = folder / man["onnx_file"], None
        if cuda_graph or self.option(spec, "fold_shapes", False):
            path, fold = static_graph(folder, man, batch, res, spec.text_len, self.fold_providers())
        provider_options = self.option(spec, "provider_options") or {}
        if not isinstance(provider_options, dict):
            raise LdpruneError(f"provider_options must be a mapping of option names to values, not {provider_options!r}",
                               "pass e.g. {'prefer_nhwc': '1'}")
        t0 = time.perf_counter()
        try:
            sess = self.session(path, cuda_graph, provider_options)
        except Exception as e:
            if not cuda_graph or "graph capture" not in str(e):
                raise
            raise LdpruneError(f"ORT could not capture {path.name} as a CUDA graph: {str(e).strip()[:300]}",
                               "run without cuda_graph, and report the export (its shape subgraphs were folded)"
                               ) from None
        load_s = time.perf_counter() - t0
        binding, keep = self._bind(sess, man, batch, res, spec)
        sess.run_with_iobinding(binding)   # the first run allocates and initialises kernels
        opt = man.get("ort_optimizer") or {}
        effective = sess.get_provider_options().get(self.provider, {})
        extra = {
            "provider": self.provider, "export_dir": str(folder), "cuda_graph": cuda_graph,
            "provider_options": provider_options,
            # what the provider reports back: a name it does not know may be dropped silently
            "provider_options_effective": {k: effective.get(str(k)) for k in provider_options},
            "optimizer_fusions": opt.get("fusions"), "exporter": man["exporter"], "precision": man["precision"],
            "session_load_s": round(load_s, 2), "batch": batch, "resolution": res,
            "export_s": round(sum(man.get("timings", {}).values()), 1)}
        if fold is not None:
            extra["static_graph"] = {k: fold.get(k) for k in ("file", "folded_nodes", "folded_values", "fold_s")}
        # run_with_iobinding returns after the provider's stream is synchronised: the host clock times it
        return Bound(lambda: sess.run_with_iobinding(binding), device=self.device, clock="host", extra=extra,
                     release=keep.clear)

    def _bind(self, sess, man: dict[str, Any], batch: int, res: int, spec: RunSpec):
        import onnxruntime as ort

        device = "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"
        rng = np.random.default_rng(0)
        binding = sess.io_binding()
        keep = []
        shapes = input_shapes([(i.name, i.shape) for i in sess.get_inputs()], man, batch, res, spec.text_len)
        for inp in sess.get_inputs():
            shape = shapes[inp.name]
            dt = _NP[inp.type]
            arr = (np.full(shape, 500, dt) if inp.name == "timestep" else rng.standard_normal(shape).astype(dt))
            val = ort.OrtValue.ortvalue_from_numpy(arr, device, 0)
            keep.append(val)
            binding.bind_ortvalue_input(inp.name, val)
        out = sess.get_outputs()[0]
        lat = shapes["sample"][2]
        out_shape = [batch, man["io"]["outputs"][0]["shape"][1], lat, lat]
        oval = ort.OrtValue.ortvalue_from_shape_and_type(out_shape, _NP[out.type], device, 0)
        keep.append(oval)
        binding.bind_ortvalue_output(out.name, oval)
        return binding, keep

@RUNNERS.register("ort-cpu")
class OrtCpuRunner(_OrtRunner):
    """ONNX Runtime, CPU provider (tests, CPU deployments)."""

    device = "cpu"


@RUNNERS.register("ort-cuda")
class OrtCudaRunner(_OrtRunner):
    """ONNX Runtime, CUDA provider; ``cuda_graph`` replays the whole UNet as one graph."""

    device = "cuda"
    provider = "CUDAExecutionProvider"
    target = "cuda"
    extra = "ldprune-deploy[gpu]"
