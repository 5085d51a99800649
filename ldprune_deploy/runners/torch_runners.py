"""PyTorch runners: eager, whole-UNet CUDA graph, torch.compile (CUDA) and eager on CPU.

All bind a model the same way (``_TorchRunner.open``): place it, build random inputs at the
requested shapes, prepare a callable (eager call, graph replay, compiled call) under fixed
backend flags (``held_flags``) and make its first call; ``runners.timing`` does the rest.
Running out of GPU memory becomes an ``LdpruneError`` naming the largest batch that fits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import time
import weakref
from typing import Any, Callable

import torch

from ..errors import LdpruneError
from ..graph_call import on_side_stream
from ..inductor_knobs import check_inductor_knobs
from ..models import example_inputs, parse_dtype
from ..unet import quiet_diffusers
from . import RUNNERS, Bound, Runner, RunSpec
from .timing import time_calls

log = logging.getLogger("ldprune")


def refuse_slow_fp8(model, runner: str, device: str) -> None:
    """An fp8 model is timed only where FP8 tensor cores run it: elsewhere its figure would mislead."""
    from ..surgery.fp8 import fp8_runs_fast_here, has_fp8

    if not has_fp8(model):
        return
    ok, why = fp8_runs_fast_here(device if device != "cuda" or not torch.cuda.is_available() else "cuda")
    if not ok:
        raise LdpruneError(f"runner '{runner}' will not time an fp8 model here: {why}",
                           "time it with torch-compile or torch-graph on an FP8 GPU (Ada, Hopper, Blackwell), or "
                           "plan without fp8")


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
        with quiet_diffusers():
            model.to(device=device, dtype=dtype)
    return model.eval()


def time_callable(fn: Callable[[], Any], device: str, warmup: int, iters: int) -> list[float]:
    """Per-call latencies (ms) of ``fn`` after ``warmup`` calls (per-operator timing; models use ``timing``)."""
    with torch.no_grad():
        for _ in range(warmup):
            fn()
    return time_calls(fn, "cuda" if device == "cuda" else "host", iters)


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


@contextlib.contextmanager
def held_flags():
    """The backend flags every timed torch call runs under, whatever the calling command set.

    cuDNN benchmarking off (its timed algorithm choice may differ between processes, so one
    model could give two figures), TF32 as PyTorch's defaults; SDPA picks its kernel as usual.
    """
    with torch.backends.cudnn.flags(enabled=True, benchmark=False, deterministic=False, allow_tf32=True):
        yield


def conditions(model: torch.nn.Module, device: str, channels_last: bool) -> dict[str, Any]:
    """What was held fixed for a measurement (recorded in profiles, plans and reports)."""
    procs: dict[str, int] = {}
    for m in model.modules():
        proc = getattr(m, "processor", None)
        if proc is not None:
            procs[type(proc).__name__] = procs.get(type(proc).__name__, 0) + 1
    c = {"memory_format": "channels_last" if channels_last else "contiguous", "attention_processors": procs,
         "cudnn_benchmark": False, "cudnn_deterministic": False, "tf32_cudnn": True,
         "tf32_matmul": bool(torch.backends.cuda.matmul.allow_tf32)}
    if device == "cuda":
        b = torch.backends.cuda
        c["sdp_backends"] = {"flash": b.flash_sdp_enabled(), "mem_efficient": b.mem_efficient_sdp_enabled(),
                             "cudnn": b.cudnn_sdp_enabled(), "math": b.math_sdp_enabled()}
    return c


_CL_HOLDERS: "weakref.WeakKeyDictionary[torch.nn.Module, int]" = weakref.WeakKeyDictionary()


def _hold_channels_last(model: torch.nn.Module, step: int) -> None:
    """Count the open bounds that need ``model`` in channels_last; convert on the first, restore after
    the last (a captured graph reads the weights where they were when it was captured)."""
    n = _CL_HOLDERS.get(model, 0) + step
    if step > 0 and n == 1:
        model.to(memory_format=torch.channels_last)
    elif step < 0 and n == 0:
        model.to(memory_format=torch.contiguous_format)
    _CL_HOLDERS[model] = max(n, 0)


class _TorchRunner(Runner):
    """Shared by the PyTorch runners: place the model, build inputs, hand ``prepare`` a call.

    Option ``channels_last``: the model and its image input in channels_last for the
    measurement (restored to contiguous when the bound is closed).
    """

    device = "cuda"
    live = True

    @classmethod
    def available(cls) -> tuple[bool, str]:
        return cuda_status() if cls.device == "cuda" else (True, "")

    def prepare(self, model, inputs: dict[str, Any], spec: RunSpec) -> Callable[[], Any]:
        return lambda: model(**inputs, return_dict=False)

    def open(self, model, info, spec: RunSpec) -> Bound:
        dtype = parse_dtype(spec.dtype)
        check_dtype(dtype, self.device)
        refuse_slow_fp8(model, self.name, self.device)
        place(model, self.device, dtype)
        try:
            return self._open(model, info, spec, spec.batch, dtype)
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
                bound = self._open(model, info, spec, b, dtype)
                bound.call()
                bound.sync()
                bound.close()
                return b
            except torch.cuda.OutOfMemoryError:
                pass
            self._release()
            b //= 2
        return 0

    def channels_last(self, spec: RunSpec) -> bool:
        return bool(self.option(spec, "channels_last", False))

    def _open(self, model, info, spec: RunSpec, batch: int, dtype: torch.dtype) -> Bound:
        channels_last = self.channels_last(spec)
        inputs = example_inputs(model, info, batch=batch, resolution=spec.resolution, dtype=dtype,
                                device=self.device, text_len=spec.text_len)
        if channels_last:
            _hold_channels_last(model, +1)
            inputs["sample"] = inputs["sample"].contiguous(memory_format=torch.channels_last)
        if self.device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        try:
            with held_flags(), torch.no_grad():
                fn = self.prepare(model, inputs, spec)
                # prepare may change the model for this bound (fused projections): it hands back the undo
                fn, undo = fn if isinstance(fn, tuple) else (fn, None)
                fn()   # the first call allocates; a failure (OOM) surfaces here, not in the timed loop
        except BaseException:
            if channels_last:
                _hold_channels_last(model, -1)
            raise
        prepare_s = time.perf_counter() - t0
        call = fn
        if self.live:   # eager kernels are chosen at call time: hold the flags around each call
            def call():
                with held_flags():
                    return fn()

        def release():
            if undo is not None:
                undo()
            if channels_last:
                _hold_channels_last(model, -1)

        return Bound(call, device=self.device, clock="cuda" if self.device == "cuda" else "host", live=self.live,
                     release=release if channels_last or undo is not None else None,
                     extra={"prepare_s": round(prepare_s, 3), "batch": batch, "dtype": spec.dtype,
                            "conditions": conditions(model, self.device, channels_last),
                            "memory": lambda: _peak_memory_mb(self.device)})


@RUNNERS.register("cpu")
class CpuRunner(_TorchRunner):
    """Eager PyTorch on the CPU: the same code path as the GPU runners, for tests and CPU targets."""

    device = "cpu"


@RUNNERS.register("torch-eager")
class EagerRunner(_TorchRunner):
    """Eager PyTorch on CUDA (launch-bound for small batches: the CPU issues every kernel)."""


@RUNNERS.register("torch-graph")
class GraphRunner(_TorchRunner):
    """The whole UNet captured once in a CUDA graph with static inputs, then replayed."""

    live = False

    def prepare(self, model, inputs, spec):
        g = capture_graph(lambda: model(**inputs, return_dict=False), warmup=int(self.option(spec, "capture_warmup", 2)))
        return g.replay


@RUNNERS.register("torch-compile")
class CompileRunner(_TorchRunner):
    """``torch.compile`` (mode ``spec.options['mode']``, default reduce-overhead, or ``tuned``).

    ``tuned`` is the recipe that measured fastest on the H200 for SD1.5 (benchmarks/fast_unet_probe.py,
    2026-12-04: 6.07 ms vs 6.37 ms for reduce-overhead + channels_last and 11.95 ms for a CUDA graph of
    eager): channels_last, diffusers' fused QKV projections (undone when the bound closes; skipped for
    fp8 attention), inductor ``freezing`` (weights folded as constants: ~1 extra copy of the weights in
    GPU memory) and ``conv_1x1_as_mm``, compiled without inductor's CUDA graphs and captured in one
    CUDA graph of our own. Its first call compiles for ~1-1.5 min cold.

    ``cache_dir`` points inductor's persistent cache somewhere reusable, so a second run (or the next
    candidate of a profile) skips most of the compile time. ``inductor``: a dict of
    ``torch._inductor.config`` settings for this compile only (e.g. ``conv_1x1_as_mm``); an unknown
    name is an error naming it.

    Each bound compiles its own copy of the call (its own code object): dynamo caches per code object
    and does not re-check parameter strides, so one shared entry compiled for another memory format
    failed inductor's stride assertion, and resetting dynamo instead would throw away the compiled
    code of bounds still open (a paired measurement interleaves several).
    """

    live = False
    TUNED = {"freezing": True, "conv_1x1_as_mm": True}
    _n = 0

    def channels_last(self, spec):
        return self.option(spec, "mode", "reduce-overhead") == "tuned" or super().channels_last(spec)

    def prepare(self, model, inputs, spec):
        import torch._inductor.config as inductor_config

        mode = self.option(spec, "mode", "reduce-overhead")
        tuned = mode == "tuned"
        cache = self.option(spec, "cache_dir")
        knobs = {**(self.TUNED if tuned else {}), **check_inductor_knobs(self.option(spec, "inductor"))}
        if cache:
            os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache)
            inductor_config.fx_graph_cache = True
        slow = _autotuning(mode, knobs)
        if slow:   # said before it starts: the caller may not want to wait
            log.warning("torch.compile with %s: the first call times candidate kernels and can take many minutes "
                        "(SD1.5 on an H200: 4.6 min with coordinate descent, 14.5 min with GEMM autotuning)", slow)
        undo = _fuse_qkv(model) if tuned else None
        CompileRunner._n += 1
        compiled = torch.compile(_own_code(lambda: model(**inputs, return_dict=False), f"unet_{CompileRunner._n}"),
                                 mode=None if tuned else mode, dynamic=False,
                                 fullgraph=bool(self.option(spec, "fullgraph", False)))
        graph_trees = mode in ("reduce-overhead", "max-autotune")

        def call():
            if graph_trees:
                # each call is a new step for cudagraph trees (outputs of the last may be reused)
                torch.compiler.cudagraph_mark_step_begin()
            return compiled()

        t0 = time.perf_counter()
        try:
            with torch.no_grad(), inductor_config.patch(knobs):
                call()  # the compile itself happens here; keep it out of the warm-up statistics
                torch.cuda.synchronize()
                if tuned:
                    call = capture_graph(call).replay
        except BaseException:
            if undo is not None:
                undo()
            raise
        log.info("torch.compile (%s%s) took %.1f s", mode, f", {knobs}" if knobs else "", time.perf_counter() - t0)
        return call, undo


def _autotuning(mode: str, knobs: dict[str, Any]) -> str:
    """What in this compile autotunes kernels ('' when nothing does)."""
    on = [k for k in ("max_autotune", "max_autotune_gemm", "max_autotune_pointwise", "coordinate_descent_tuning")
          if knobs.get(k)]
    if mode.startswith("max-autotune"):
        on.insert(0, f"mode {mode}")
    return ", ".join(on)


def _own_code(fn: Callable[[], Any], name: str) -> Callable[[], Any]:
    """``fn`` with a code object of its own, so dynamo's cache entry for it is this bound's alone."""
    import types

    code = fn.__code__.replace(co_name=name)
    return types.FunctionType(code, fn.__globals__, name, fn.__defaults__, fn.__closure__)


def _fuse_qkv(model: torch.nn.Module) -> Callable[[], None] | None:
    """Fuse q/k/v (and k/v of cross-attention) into one GEMM where diffusers can; the undo."""
    from ..surgery.fp8 import has_fp8

    if not hasattr(model, "fuse_qkv_projections") or has_fp8(model):
        return None
    with quiet_diffusers():
        model.fuse_qkv_projections()

    def undo() -> None:
        model.unfuse_qkv_projections()
        for m in model.modules():   # the fused copies would otherwise stay in the state dict
            for name in ("to_qkv", "to_kv", "to_added_qkv"):
                if name in m._modules:
                    del m._modules[name]
            if hasattr(m, "fused_projections"):
                m.fused_projections = False
    return undo
