"""Runners: run a UNet (or an exported engine) at given shapes and time it.

A runner is registered by name (``torch-eager``, ``torch-graph``, ``torch-compile``, ``cpu``;
the export stage adds ``ort-cpu``, ``ort-cuda``, ``tensorrt``). A runner only *binds* a model
(``open`` returns a ``Bound``: one call at fixed inputs); the timing itself lives in one place,
``runners.timing`` (with the ``RunSpec`` / ``Bound`` / ``LatencyStats`` it works on, exported
here), so profile, plan --verify, the predictor benchmark and evaluate give the
same figure for the same model: ``Runner.measure`` for one model, ``timing.paired`` for a
reference and candidates interleaved in one process.
"""

from __future__ import annotations

import abc
from typing import Any

from ..errors import LdpruneError
from ..registry import Registry
from .timing import Bound, LatencyStats, RunSpec, measure


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
