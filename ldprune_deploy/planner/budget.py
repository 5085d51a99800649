"""Budget specs (`8.5ms`, `70%`, `1.5x`, `60%` of params, `500M` params) resolved to numbers."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import LdpruneError

_SUFFIX = {"": 1.0, "k": 1e3, "m": 1e6, "g": 1e9, "b": 1e9, "t": 1e12}


@dataclass
class Budget:
    """One resolved upper bound.

    kind: ``latency_ms`` | ``params`` | ``flops``. ``relative`` is the fraction of the full
    model it was given as (None for absolute values), so the verify loop can re-anchor a
    relative latency budget on the runner's own measurement of the full model.
    """

    kind: str
    value: float
    spec: str
    relative: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _number(text: str, what: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise LdpruneError(f"cannot read {what} '{text}'", "write e.g. 8.5ms, 70% or 1.5x") from None
    if not v > 0 or v != v or v == float("inf"):
        raise LdpruneError(f"{what} must be a positive number, got '{text}'",
                           "give a budget above zero, e.g. 70% or 8.5ms")
    return v


def parse_latency_budget(spec: str, full_ms: float) -> Budget:
    """``8.5ms`` (absolute), ``70%`` (of full latency) or ``1.5x`` (speed-up) -> Budget."""
    s = str(spec).strip().lower().replace(" ", "")
    if s.endswith("ms"):
        return Budget("latency_ms", _number(s[:-2], "latency budget"), str(spec))
    if s.endswith("%"):
        frac = _number(s[:-1], "latency budget") / 100.0
        return Budget("latency_ms", full_ms * frac, str(spec), frac)
    if s.endswith("x"):
        speedup = _number(s[:-1], "speed-up")
        return Budget("latency_ms", full_ms / speedup, str(spec), 1.0 / speedup)
    raise LdpruneError(f"latency budget '{spec}' has no unit",
                       "write it as milliseconds (8.5ms), a share of the full model (70%) or a speed-up (1.5x)")


def parse_size_budget(spec: str, total: float, kind: str) -> Budget:
    """``60%`` of the full model or an absolute count (``500M``, ``1.2T``, ``3e8``) -> Budget."""
    s = str(spec).strip().lower().replace(" ", "")
    if s.endswith("%"):
        frac = _number(s[:-1], f"{kind} budget") / 100.0
        return Budget(kind, total * frac, str(spec), frac)
    m = re.fullmatch(r"([0-9.eE+-]+)([kmgbt]?)", s)
    if not m:
        raise LdpruneError(f"cannot read {kind} budget '{spec}'",
                           f"write a share (60%) or a count such as 500M / 1.2G / 3e8")
    return Budget(kind, _number(m.group(1), f"{kind} budget") * _SUFFIX[m.group(2)], str(spec))


def parse_speedup(spec: str) -> str:
    """``--speedup 1.5`` or ``1.5x`` -> the latency spec ``1.5x``."""
    s = str(spec).strip().lower()
    return s if s.endswith("x") else s + "x"
