"""Replay a repeated model call from a CUDA graph.

A sampling loop calls the same UNet with the same shapes at every step. For the small UNets of
the quality benchmarks (and any UNet at a small batch) each call is launch-bound: on the H100 a
2.7–5.6 M-parameter UNet took ~36 ms per eager call, almost all of it Python and kernel-launch
overhead. ``GraphedCall`` runs the first call of each input signature eagerly (that is the
warm-up capture needs, and its result is used), captures the second, and replays the graph
from then on, so a 25-step loop pays for one eager call and one capture.

Inputs are copied into static buffers before every replay and the output is cloned after it,
so callers see ordinary call semantics. Anything that cannot be captured (a CPU sync inside the
model, an unsupported op) falls back to eager calls for the rest of the object's life, with one
warning. A graph holds its own memory pool; it is freed with the object, so make one per loop
whose model stays unchanged (a modified model needs a new capture).
"""

from __future__ import annotations

import contextlib
import logging
import os
from typing import Any, Callable

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

log = logging.getLogger("ldprune")


def _signature(leaves: list[Any]) -> tuple:
    return tuple((tuple(x.shape), x.dtype, x.device, x.stride()) if torch.is_tensor(x) else ("value", x)
                 for x in leaves)


class GraphedCall:
    """``call(**inputs)`` with the result of ``fn(**inputs)`` (a tensor), replayed from a CUDA graph
    from the second call with the same input signature (shapes, dtypes, devices, other values) on."""

    def __init__(self, fn: Callable[..., torch.Tensor], name: str = "model call"):
        self.fn = fn
        self.name = name
        self.failed: str | None = None
        self.captures = 0
        self.replays = 0
        self._seen: set[tuple] = set()
        self._graphs: dict[tuple, tuple[Any, list[Any], torch.Tensor]] = {}

    def __call__(self, **inputs: Any) -> torch.Tensor:
        if self.failed is not None:
            return self.fn(**inputs)
        leaves, spec = tree_flatten(inputs)
        key = (spec, _signature(leaves))
        entry = self._graphs.get(key)
        if entry is None and key not in self._seen:
            self._seen.add(key)
            return self._warmup(inputs)
        if entry is None:
            try:
                entry = self._capture(leaves, spec)
            except Exception as e:  # noqa: BLE001 - any capture failure means: run eagerly
                self.failed = f"{type(e).__name__}: {e}".splitlines()[0][:300]
                self._graphs.clear()
                log.warning("%s: CUDA graph capture failed, running eagerly (%s)", self.name, self.failed)
                return self.fn(**inputs)
            self._graphs[key] = entry
            self.captures += 1
        replay, static, out = entry
        for buf, x in zip(static, leaves):
            if torch.is_tensor(buf) and buf.data_ptr() != x.data_ptr():
                buf.copy_(x)
        replay()
        self.replays += 1
        return out.clone()

    def _warmup(self, inputs: dict[str, Any]) -> torch.Tensor:
        # the warm-up's result is a real step's result
        return on_side_stream(lambda: self.fn(**inputs))

    def _capture(self, leaves: list[Any], spec) -> tuple[Callable[[], None], list[Any], torch.Tensor]:
        """(replay, static input leaves, static output). Overridden by the CPU tests."""
        static = [x.clone() if torch.is_tensor(x) else x for x in leaves]
        graph = torch.cuda.CUDAGraph()
        with _no_autocast_cache(), torch.cuda.graph(graph):
            out = self.fn(**tree_unflatten(static, spec))
        return graph.replay, static, out


def on_side_stream(fn: Callable[[], Any]) -> Any:
    """``fn()`` on a fresh side stream, ordered after the current stream's work and before its next:
    capture wants lazily initialised state (cuBLAS workspaces, cuDNN plans) created this way first."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        out = fn()
    torch.cuda.current_stream().wait_stream(side)
    return out


@contextlib.contextmanager
def _no_autocast_cache():
    """Autocast's cast cache must be off while capturing: cached casts made inside the capture
    would be freed when the outer autocast region ends while the graph still points at them."""
    if not torch.is_autocast_enabled("cuda"):
        yield
        return
    with torch.autocast("cuda", dtype=torch.get_autocast_dtype("cuda"), cache_enabled=False):
        yield


def use_cuda_graph(requested: bool | None, device: torch.device | str, reason_off: str | None = None) -> bool:
    """Resolve an auto (None) / on / off setting: auto = on for CUDA devices unless ``reason_off``.

    ``LDPRUNE_CUDA_GRAPH=0`` in the environment turns auto off everywhere (scoring, data-free
    distillation, the benchmarks' sampling) without touching recipes; an explicit request wins.
    """
    cuda = torch.device(device).type == "cuda"
    if requested is None:
        return cuda and reason_off is None and os.environ.get("LDPRUNE_CUDA_GRAPH", "1") != "0"
    if requested and not cuda:
        from .errors import LdpruneError

        raise LdpruneError("CUDA graphs need a CUDA device", "drop --cuda-graph or pass --device cuda")
    if requested and reason_off is not None:
        from .errors import LdpruneError

        raise LdpruneError(f"CUDA graphs cannot be combined with {reason_off}", f"drop one of --cuda-graph and {reason_off}")
    return bool(requested)
