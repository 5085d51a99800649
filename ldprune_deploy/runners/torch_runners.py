"""PyTorch runners: eager, whole-UNet CUDA graph, torch.compile (CUDA) and eager on CPU.

All share one measuring path (``_TorchRunner.measure``): place the model, build random
inputs at the requested shapes, prepare a callable (eager call, graph replay, compiled
call), warm it up, then time ``iters`` calls (CUDA events on GPU, perf_counter on CPU).
Running out of GPU memory becomes an ``LdpruneError`` naming the largest batch that fits.
"""

from __future__ import annotations

import logging
import os
import resource
import time
from typing import Any, Callable

import torch

from ..errors import LdpruneError
from ..graph_call import on_side_stream
from ..inductor_knobs import check_inductor_knobs
from ..models import _quiet_diffusers, example_inputs, parse_dtype
from . import LatencyStats, Runner, RunSpec, register_runner

log = logging.getLogger("ldprune")


def cuda_status() -> tuple[bool, str]:
    if torch.cuda.is_available():
        return True, ""
    build = "this torch is a CPU-only build" if torch.version.cuda is None else "torch.cuda.is_available() is False"
    return False, f"no CUDA device ({build})"


def check_dtype(dtype: torch.dtype, device: str) -> None:
    """Refuse precisions whose latency would be meaningless or that the device lacks."""
    if device == "cpu" and dtype == torch.float16:
        # fp16 convolutions run on CPU only through slow fallback kernels: a number
        # measured that way says nothing about any deployment, so we do not produce one.
        raise LdpruneError("fp16 is not supported by the cpu runner (PyTorch has no fast fp16 CPU kernels, "
                           "so the latency would be meaningless)",
                           "use --dtype fp32 or bf16 on CPU, or a CUDA backend for fp16")
    if device == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise LdpruneError(f"bf16 is not supported by {torch.cuda.get_device_name()}", "use --dtype fp16")


def place(model: torch.nn.Module, device: str, dtype: torch.dtype) -> torch.nn.Module:
    p = next(model.parameters())
    if p.device.type != device or p.dtype != dtype:
        with _quiet_diffusers():
            model.to(device=device, dtype=dtype)
    return model.eval()


def time_callable(fn: Callable[[], Any], device: str, warmup: int, iters: int) -> list[float]:
    """Per-call latencies (ms) of ``fn`` after ``warmup`` calls."""
    with torch.no_grad():
        for _ in range(warmup):
            fn()
        if device == "cuda":
            torch.cuda.synchronize()
            starts = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
            ends = [torch.cuda.Event(enable_timing=True) for _ in range(iters)]
            for s, e in zip(starts, ends):
                s.record()
                fn()
                e.record()
            torch.cuda.synchronize()
            return [s.elapsed_time(e) for s, e in zip(starts, ends)]
        out = []
        for _ in range(iters):
            t = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t) * 1e3)
        return out


def capture_graph(fn: Callable[[], Any], warmup: int = 2) -> "torch.cuda.CUDAGraph":
    """Capture ``fn`` in a CUDA graph (warmed up on a side stream, as capture requires)."""
    with torch.no_grad():
        on_side_stream(lambda: [fn() for _ in range(warmup)])
    g = torch.cuda.CUDAGraph()
    with torch.no_grad(), torch.cuda.graph(g):
        fn()
    return g


def _peak_memory_mb(device: str) -> tuple[float | None, str]:
    if device == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20, "cuda_max_allocated"
    # no per-call allocator statistics on CPU: the process high-water mark is the honest figure
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "process_max_rss"


class _TorchRunner(Runner):
    device = "cuda"

    @classmethod
    def available(cls) -> tuple[bool, str]:
        return cuda_status() if cls.device == "cuda" else (True, "")

    def option(self, spec: RunSpec, key: str, default: Any = None) -> Any:
        return spec.options.get(key, self.options.get(key, default))

    def prepare(self, model, inputs: dict[str, Any], spec: RunSpec) -> Callable[[], Any]:
        return lambda: model(**inputs, return_dict=False)

    def measure(self, model, info, spec: RunSpec) -> LatencyStats:
        dtype = parse_dtype(spec.dtype)
        check_dtype(dtype, self.device)
        place(model, self.device, dtype)
        try:
            return self._measure(model, info, spec, spec.batch, dtype)
        except torch.cuda.OutOfMemoryError:
            pass  # leave the except block so the failed call's tensors can be freed
        self._release()
        fits = self.largest_batch(model, info, spec, dtype)
        where = torch.cuda.get_device_name() if self.device == "cuda" and torch.cuda.is_available() else self.device
        msg = (f"out of memory running {info.name} at batch {spec.batch}, {spec.resolution or info.resolution}px, "
               f"{spec.dtype} on {where} with {self.name}")
        if fits:
            raise LdpruneError(f"{msg}; the largest batch that fits is {fits}", f"use --batch {fits}")
        raise LdpruneError(f"{msg}; it does not fit even at batch 1",
                           "use a lower resolution, fp16, or a GPU with more memory")

    def _release(self) -> None:
        if self.device == "cuda":
            torch.cuda.empty_cache()

    def largest_batch(self, model, info, spec: RunSpec, dtype: torch.dtype) -> int:
        """Probe by halving: the largest batch below ``spec.batch`` whose call fits in memory."""
        b = spec.batch // 2
        while b >= 1:
            try:
                self._measure(model, info, RunSpec(**{**spec.__dict__, "warmup": 0, "iters": 1}), b, dtype)
                return b
            except torch.cuda.OutOfMemoryError:
                pass
            self._release()
            b //= 2
        return 0

    def _measure(self, model, info, spec: RunSpec, batch: int, dtype: torch.dtype) -> LatencyStats:
        inputs = example_inputs(model, info, batch=batch, resolution=spec.resolution, dtype=dtype,
                                device=self.device, text_len=spec.text_len)
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        fn = self.prepare(model, inputs, spec)
        prepare_s = time.perf_counter() - t0
        samples = time_callable(fn, self.device, spec.warmup, spec.iters)
        peak, peak_kind = _peak_memory_mb(self.device)
        del fn
        return LatencyStats.from_samples(samples, peak_memory_mb=peak, runner=self.name,
                                         extra={"prepare_s": round(prepare_s, 3), "peak_memory_kind": peak_kind,
                                                "batch": batch, "dtype": spec.dtype})


@register_runner("cpu")
class CpuRunner(_TorchRunner):
    """Eager PyTorch on the CPU: the same code path as the GPU runners, for tests and CPU targets."""

    device = "cpu"


@register_runner("torch-eager")
class EagerRunner(_TorchRunner):
    """Eager PyTorch on CUDA (launch-bound for small batches: the CPU issues every kernel)."""


@register_runner("torch-graph")
class GraphRunner(_TorchRunner):
    """The whole UNet captured once in a CUDA graph with static inputs, then replayed."""

    def prepare(self, model, inputs, spec):
        g = capture_graph(lambda: model(**inputs, return_dict=False), warmup=int(self.option(spec, "capture_warmup", 2)))
        return g.replay


@register_runner("torch-compile")
class CompileRunner(_TorchRunner):
    """``torch.compile`` (mode ``spec.options['mode']``, default reduce-overhead).

    ``cache_dir`` points inductor's persistent cache somewhere reusable, so a second run
    (or the next candidate of a profile) skips most of the compile time. ``inductor``: a dict of
    ``torch._inductor.config`` settings for this compile only (e.g. ``conv_1x1_as_mm``,
    ``coordinate_descent_tuning``); an unknown name is an error naming it.
    """

    def prepare(self, model, inputs, spec):
        import torch._inductor.config as inductor_config

        mode = self.option(spec, "mode", "reduce-overhead")
        cache = self.option(spec, "cache_dir")
        knobs = check_inductor_knobs(self.option(spec, "inductor"))
        if cache:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache)
            inductor_config.fx_graph_cache = True
        compiled = torch.compile(model, mode=mode, dynamic=False, fullgraph=bool(self.option(spec, "fullgraph", False)))

        def call():
            if mode in ("reduce-overhead", "max-autotune"):
                # each call is a new step for cudagraph trees (outputs of the last may be reused)
                torch.compiler.cudagraph_mark_step_begin()
            return compiled(**inputs, return_dict=False)

        t0 = time.perf_counter()
        with torch.no_grad(), inductor_config.patch(knobs):
            call()  # the compile itself happens here; keep it out of the warm-up statistics
            torch.cuda.synchronize()
        log.info("torch.compile (%s%s) took %.1f s", mode, f", {knobs}" if knobs else "", time.perf_counter() - t0)
        return call
