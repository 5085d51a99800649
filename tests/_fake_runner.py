"""Deterministic fake runners: latency from a formula, no clock (logic tests that never time the CPU)."""

from __future__ import annotations

from typing import Callable

from ldprune_deploy.runners import Bound, Runner


class FixedBound(Bound):
    """A bound whose every call 'takes' ``ms()`` milliseconds (``ms`` is called once per block)."""

    def __init__(self, ms: Callable[[], float]):
        super().__init__(call=lambda: None, device="cpu", clock="host")
        self.ms = ms

    def samples(self, n: int) -> list[float]:
        v = self.ms()
        return [v] * n


class FormulaRunner(Runner):
    """Latency = ``formula(model)`` ms, times ``speed()`` (a drifting machine when it changes)."""

    device = "cpu"

    def __init__(self, formula: Callable[[object], float], speed: Callable[[], float] = lambda: 1.0):
        super().__init__()
        self.formula, self.speed, self.opened = formula, speed, []

    def open(self, model, info, spec):
        base = self.formula(model)
        self.opened.append(base)
        return FixedBound(lambda: base * self.speed())
