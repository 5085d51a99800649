"""Runners: run a UNet (or an exported engine) at given shapes and time it.

A runner is registered by name (``torch-eager``, ``torch-graph``, ``torch-compile``, ``cpu``;
the export stage adds ``ort-cpu``, ``ort-cuda``, ``tensorrt``). A runner only *binds* a model
(``open`` returns a ``Bound``: one call at fixed inputs); the timing itself lives in one place,
``runners.timing``, so profile, plan --verify, the predictor benchmark and evaluate give the
same figure for the same model: ``Runner.measure`` for one model, ``timing.paired`` for a
reference and candidates interleaved in one process.
"""

from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from ..errors import LdpruneError
from ..registry import Registry


@dataclass
class RunSpec:
    """Shapes and precision of one timed call."""

    batch: int = 1
    resolution: int | None = None       # pixels; None = the model's default
    dtype: str = "fp16"                 # fp32 | fp16 | bf16
    text_len: int | None = None
    warmup: int = 10
    iters: int = 30
    # seconds of continuous device work before the first timed call (CUDA only): the first
    # measurement of a process ran 3 % faster than the steady state on the H200 (runners.timing)
    settle_s: float = 1.5
    rounds: int = 5                     # paired timing: iters are split into this many interleaved blocks
    options: dict[str, Any] = field(default_factory=dict)   # runner-specific (e.g. compile mode)


@dataclass
class LatencyStats:
    median_ms: float
    p10_ms: float
    p90_ms: float
    n: int
    peak_memory_mb: float | None = None
    runner: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_samples(cls, samples_ms: list[float], **kw) -> "LatencyStats":
        import numpy as np

        a = np.asarray(samples_ms, dtype=float)
        return cls(float(np.median(a)), float(np.percentile(a, 10)), float(np.percentile(a, 90)), len(a), **kw)


@dataclass
class Bound:
    """A model bound to one runner at fixed inputs: ``call()`` runs it once.

    ``clock``: ``cuda`` (CUDA events around calls on the current stream) or ``host`` (the call
    returns when its work is done, e.g. ONNX Runtime with IO binding, or the CPU). ``live``: the
    call runs the module as it is at call time (eager), so a swapped operator must stay swapped
    while it is timed; graph/compiled/exported calls froze the model when they were made.
    ``samples(n)`` may be overridden (deterministic fake runners in tests).
    """

    call: Callable[[], Any]
    device: str = "cpu"
    clock: str = "host"
    live: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    release: Callable[[], None] | None = None

    def sync(self) -> None:
        if self.clock == "cuda":
            import torch

            torch.cuda.synchronize()

    def samples(self, n: int) -> list[float]:
        from .timing import time_calls

        return time_calls(self.call, self.clock, n)

    def close(self) -> None:
        if self.release is not None:
            self.release()
        self.call = None   # drop the graph / session / engine references


class Runner(abc.ABC):
    """Base class. ``available()`` says whether it can run here (and why not).

    Subclasses implement ``open``; ``measure`` is the one timing path every command uses.
    """

    name = "base"
    device = "cpu"

    def __init__(self, **options: Any):
        self.options = options  # runner-specific defaults; RunSpec.options override them per call

    @classmethod
    def available(cls) -> tuple[bool, str]:
        return True, ""

    def option(self, spec: RunSpec, key: str, default: Any = None) -> Any:
        return spec.options.get(key, self.options.get(key, default))

    @abc.abstractmethod
    def open(self, model, info, spec: RunSpec) -> Bound:
        """Bind ``model`` (or the engine it names) at ``spec``'s shapes; the caller closes it."""

    def measure(self, model, info, spec: RunSpec) -> LatencyStats:
        """Latency of ``model`` at ``spec``: warm-up, settle, ``spec.iters`` timed calls."""
        from .timing import measure

        return measure(self, model, info, spec)


def _load_builtin() -> None:
    # Importing these modules registers their runners; missing optional deps only hide them.
    import importlib

    for mod in ("torch_runners", "ort_runners", "trt_runners"):
        try:
            importlib.import_module(f"{__name__}.{mod}")
        except ModuleNotFoundError as e:
            if not e.name or not e.name.startswith(__name__):
                raise


RUNNERS: Registry[type[Runner]] = Registry("runner/backend", _load_builtin)


def runner_names() -> list[str]:
    return sorted(RUNNERS.names())


def available_runners() -> dict[str, str]:
    """name -> "" when usable here, else the reason it is not."""
    out = {}
    for name, cls in sorted(RUNNERS.items()):
        ok, why = cls.available()
        out[name] = "" if ok else why
    return out


def get_runner(name: str, **kwargs) -> Runner:
    cls = RUNNERS.get(name)
    ok, why = cls.available()
    if not ok:
        usable = [n for n, w in available_runners().items() if not w]
        raise LdpruneError(f"runner '{name}' is not available here: {why}",
                           f"use one of the available ones: {', '.join(usable) or 'none'}")
    return cls(**kwargs)
