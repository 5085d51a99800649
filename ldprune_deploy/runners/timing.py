"""The one timing path: every latency figure the tool reports is taken here.

``measure`` times one model; ``paired`` times a reference and candidates interleaved in one
process, so a difference (a saving, a plan against its budget, teacher against candidate) is
read from the same stretch of time and survives a machine that speeds up or slows down.

Warm-up is counted in time as well as in calls. On the H200 (2026-12-03) the profile CLI's
full latency of SD1.5 was the first whole-model measurement in a process that had drawn the
random weights on the CPU and then copied them into a fresh CUDA context; it ran 3.3 % faster
(11.48-11.57 ms in six runs: the three of the issue and three here) than the second measurement straight after and than every
other command (11.86-11.95 ms). Weight values, memory layout, allocator state, backend flags, a
20 s idle GPU and a host round trip of the weights did not reproduce it
(benchmarks/results/logs/h200-2026-12-03-offset/). Presets are now drawn on the device every
command runs on (``unet.build_unet``), and before timing the device is kept busy until it has
been for ``RunSpec.settle_s`` seconds, so a transient at the start of a process is not timed.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from statistics import median
from typing import Any, Callable, ContextManager

log = logging.getLogger("ldprune")

IDLE_GAP_S = 2.0          # a pause longer than this may let the GPU cool back into its faster first state
# reference moves below 1 % of its median are not called drift: on the H200 a CUDA-graph replay's
# round medians moved 0.1-0.6 % within a paired measurement (2026-12-03), which the margin absorbs
DRIFT_FLOOR = 0.01
_busy: dict[str, list[float]] = {}   # device -> [busy since, last busy] (perf_counter) for our own work


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
        return time_calls(self.call, self.clock, n)

    def close(self) -> None:
        if self.release is not None:
            self.release()
        self.call = None   # drop the graph / session / engine references


def time_calls(call: Callable[[], Any], clock: str, n: int) -> list[float]:
    """Per-call latencies (ms) of ``n`` calls: CUDA events on the current stream, or the host clock."""
    import torch

    with torch.no_grad():
        if clock == "cuda":
            torch.cuda.synchronize()
            starts = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
            ends = [torch.cuda.Event(enable_timing=True) for _ in range(n)]
            for s, e in zip(starts, ends):
                s.record()
                call()
                e.record()
            torch.cuda.synchronize()
            return [s.elapsed_time(e) for s, e in zip(starts, ends)]
        out = []
        for _ in range(n):
            t = time.perf_counter()
            call()
            out.append((time.perf_counter() - t) * 1e3)
        return out


def _mark_busy(device: str) -> None:
    now = time.perf_counter()
    since, last = _busy.get(device, [now, -math.inf])
    _busy[device] = [now if now - last > IDLE_GAP_S else since, now]


def settle(bound: Bound, warmup: int, settle_s: float) -> float:
    """``warmup`` calls, then more until the device has been busy ``settle_s`` s; returns the extra seconds."""
    import torch

    _mark_busy(bound.device)
    with torch.no_grad():
        for _ in range(warmup):
            bound.call()
        bound.sync()
        _mark_busy(bound.device)
        if bound.device != "cuda" or settle_s <= 0:
            return 0.0
        t0 = time.perf_counter()
        while time.perf_counter() - _busy[bound.device][0] < settle_s:
            for _ in range(4):
                bound.call()
            bound.sync()
            _mark_busy(bound.device)
    return round(time.perf_counter() - t0, 3)


def _memory(bound: Bound) -> tuple[float | None, dict[str, Any]]:
    mem = bound.extra.pop("memory", None)
    if mem is None:
        return None, {}
    peak, kind = mem()
    return peak, {"peak_memory_kind": kind}


def measure(runner, model, info, spec: RunSpec) -> LatencyStats:
    """Open ``model`` with ``runner``, settle the device, time it, close.

    The calls are timed in the same rounds ``paired`` uses (with nothing interleaved), so a model
    measured alone and the same model as a paired reference are timed with one rhythm: on the H200
    (2026-12-04) SD2.1 measured 20.71-20.76 ms as one block of 30 calls and 20.33-20.38 ms in
    rounds of 6 in the same process."""
    v = Variant(runner.open(model, info, spec))
    try:
        res = paired([v], spec, name=runner.name)
        peak, mem = _memory(v.bound)
    finally:
        v.close()
    st = res.reference
    st.peak_memory_mb = peak
    st.extra = {**v.bound.extra, **mem, **st.extra, "settled_s": res.settled_s, "warmup": spec.warmup,
                "drift": res.drift}
    return st


# -- paired ---------------------------------------------------------------------------------------
@dataclass
class Variant:
    """A bound model and the context (e.g. an operator swapped in) it was bound in.

    A live (eager) call runs the module as it is, so the context is re-entered around each of
    its blocks; a frozen call (graph, compiled, exported) was made inside the context and reads
    what the context put in place, so the context stays entered until ``close``.
    """

    bound: Bound
    context: Callable[[], ContextManager] | None = None
    _held: Any = None

    def block_context(self) -> ContextManager:
        if self.context is not None and self.bound.live:
            return self.context()
        return contextlib.nullcontext()

    def run_block(self, n: int) -> list[float]:
        with self.block_context():
            return self.bound.samples(n)

    def close(self) -> None:
        self.bound.close()
        if self._held is not None:
            held, self._held = self._held, None
            held.__exit__(None, None, None)


def open_variant(runner, model, info, spec: RunSpec, context: Callable[[], ContextManager] | None = None) -> Variant:
    """Bind ``model`` inside ``context`` for paired timing; the caller closes the variant."""
    if context is None:
        return Variant(runner.open(model, info, spec))
    held = context()
    held.__enter__()
    try:
        bound = runner.open(model, info, spec)
    except BaseException:
        held.__exit__(None, None, None)
        raise
    if bound.live:
        held.__exit__(None, None, None)
        held = None
    return Variant(bound, context, held)


@dataclass
class Paired:
    """Reference and candidates timed in interleaved rounds.

    ``delta[i]``: candidate i minus the reference, per round (ms): median and p10/p90 over
    rounds. ``ratio[i]``: candidate / reference per round. ``drift``: how far the reference's
    round medians moved against its within-round noise; ``drifted`` when beyond both.
    """

    reference: LatencyStats
    candidates: list[LatencyStats]
    delta: list[dict[str, float]]
    ratio: list[dict[str, float]]
    drift: dict[str, Any]
    rounds: int
    block: int
    settled_s: float = 0.0
    round_medians: list[list[float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"reference": self.reference.to_json(), "candidates": [c.to_json() for c in self.candidates],
                "delta_ms": self.delta, "ratio": self.ratio, "drift": self.drift, "rounds": self.rounds,
                "block": self.block, "settled_s": self.settled_s}


def _spread(xs: list[float]) -> dict[str, float]:
    import numpy as np

    a = np.asarray(xs, dtype=float)
    return {"median": float(np.median(a)), "p10": float(np.percentile(a, 10)), "p90": float(np.percentile(a, 90))}


def drift_report(ref_rounds: list[float], ref_samples: list[list[float]]) -> dict[str, Any]:
    """Range of the reference's round medians against its robust within-round spread
    (with one call per round there is no within-round spread: every move counts)."""
    dev = [abs(x - median(s)) for s in ref_samples if len(s) > 1 for x in s]
    noise = 1.4826 * median(dev) if dev else 0.0
    mid = median(ref_rounds)
    rng = max(ref_rounds) - min(ref_rounds)
    return {"reference_round_ms": [round(x, 4) for x in ref_rounds], "range_ms": rng,
            "range_frac": rng / mid if mid > 0 else 0.0, "noise_ms": noise,
            "drifted": rng > max(2 * noise, DRIFT_FLOOR * mid)}


def paired(variants: list[Variant], spec: RunSpec, *, settle_first: bool = True, name: str = "",
           warn: bool = True) -> Paired:
    """Time ``variants[0]`` (the reference) and the others in ``spec.rounds`` interleaved rounds of
    ``ceil(spec.iters / rounds)`` calls each; warns (unless ``warn`` is off: the caller counts)
    when the reference drifted beyond its noise."""
    rounds = max(1, min(int(spec.rounds), int(spec.iters)))
    block = max(1, math.ceil(spec.iters / rounds))
    settled = 0.0
    if settle_first:
        for i, v in enumerate(variants):
            with v.block_context():
                settled += settle(v.bound, spec.warmup, spec.settle_s if i == 0 else 0.0)
    samples: list[list[list[float]]] = [[] for _ in variants]
    for _ in range(rounds):
        for i, v in enumerate(variants):
            samples[i].append(v.run_block(block))
        _mark_busy(variants[0].bound.device)
    meds = [[median(b) for b in per] for per in samples]
    flat = [[x for b in per for x in b] for per in samples]
    stats = [LatencyStats.from_samples(f, runner=name, extra={"rounds": rounds, "block": block}) for f in flat]
    delta = [_spread([c - r for c, r in zip(meds[i], meds[0])]) for i in range(1, len(variants))]
    ratio = [_spread([c / r for c, r in zip(meds[i], meds[0])]) for i in range(1, len(variants))]
    drift = drift_report(meds[0], samples[0])
    if drift["drifted"] and warn:
        log.warning("reference drifted by %.3f ms across %d rounds (its noise %.3f ms): the machine's speed "
                    "changed during this measurement; differences are still paired", drift["range_ms"], rounds,
                    drift["noise_ms"])
    return Paired(stats[0], stats[1:], delta, ratio, drift, rounds, block, settled, meds)


def measure_paired(runner, reference, candidates: list, info, spec: RunSpec,
                   infos: list | None = None) -> Paired:
    """Open ``reference`` and each candidate with one runner, time them paired, close them all."""
    infos = infos or [info] * (1 + len(candidates))
    opened: list[Variant] = []
    try:
        for m, inf in zip([reference, *candidates], infos):
            opened.append(open_variant(runner, m, inf, spec))
        res = paired(opened, spec, name=runner.name)
        for v, st in zip(opened, [res.reference, *res.candidates]):
            peak, mem = _memory(v.bound)
            st.peak_memory_mb = peak
            st.extra.update({k: val for k, val in v.bound.extra.items()}, **mem)
    finally:
        for v in opened:
            v.close()
    return res
