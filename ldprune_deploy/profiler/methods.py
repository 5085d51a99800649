"""The three ways of measuring what an operator (and each of its replacements) costs.

``in_situ``   per-operator time inside normal forwards, from hooks (CUDA events / perf_counter);
              a replacement is timed the same way with it swapped in, several non-nested
              candidates per forward.
``isolated``  each operator and each replacement re-run alone on the inputs it really receives,
              captured once per operator; on GPU inside a CUDA graph of ``reps`` calls, so the
              figure is kernel time without the CPU launch cost.
``ablation``  is the whole model timed by the backend runner with one modification applied
              (see ``profile``); it needs nothing from here.

A ``remove`` also drops the LayerNorm that only fed the removed branch (surgery does the
same), so its saving includes that norm's time.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict
from statistics import median
from typing import Any, Callable, Iterable

import torch
from torch import nn

from ..runners.torch_runners import capture_graph, time_callable
from ..artifacts import Modification
from ..surgery import swapped
from ..surgery.families import build_replacement
from ..surgery.mods import RemovedOperator, norm_feeding

_LN_TYPES = ("layer_norm", "layer_norm_i2vgen", "ada_norm_zero")


def nested(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def module_at(model: nn.Module, path: str) -> nn.Module | None:
    """The module at ``path``, or None where surgery set it to None (a removed cross-attention)."""
    parent_path, _, leaf = path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    return getattr(parent, leaf, None)


def feeding_norm(model: nn.Module, op: str, kind: str) -> str | None:
    """Id of the norm that disappears with ``remove`` of ``op`` (None if there is none)."""
    parent_path, _, _ = op.rpartition(".")
    if not parent_path:
        return None
    parent = model.get_submodule(parent_path)
    if type(parent).__name__ != "BasicTransformerBlock":
        return None
    if kind == "attn2":
        # diffusers skips norm2 together with a cross-attention that is None
        name = "norm2" if getattr(parent, "norm_type", None) in _LN_TYPES and hasattr(parent, "norm2") else None
    else:
        name = norm_feeding(kind, parent)
    return f"{parent_path}.{name}" if name else None


def conflict_free_rounds(cands: Iterable[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    """Group candidates so that no round modifies one operator twice or two nested operators."""
    rounds: list[list[tuple[str, str]]] = []
    for op, mod in cands:
        for r in rounds:
            if all(not nested(op, o) for o, _ in r):
                r.append((op, mod))
                break
        else:
            rounds.append([(op, mod)])
    return rounds


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def in_situ_times(model: nn.Module, inputs: dict[str, Any], ids: list[str], device: str,
                  warmup: int, iters: int) -> dict[str, float]:
    """Median time (ms) each module in ``ids`` takes inside a normal forward (0 for a None module)."""
    out = {i: 0.0 for i in ids}
    mods = {i: m for i in ids if (m := module_at(model, i)) is not None}
    samples: dict[str, list[float]] = defaultdict(list)
    marks: list[tuple[str, Any, Any]] = []
    open_: dict[str, Any] = {}

    def now():
        if device == "cuda":
            e = torch.cuda.Event(enable_timing=True)
            e.record()
            return e
        return time.perf_counter()

    handles = []
    for i, m in mods.items():
        handles.append(m.register_forward_pre_hook(lambda mod, a, i=i: open_.__setitem__(i, now())))
        handles.append(m.register_forward_hook(lambda mod, a, o, i=i: marks.append((i, open_.pop(i), now()))))
    try:
        with torch.no_grad():
            for step in range(warmup + iters):
                marks.clear()
                model(**inputs, return_dict=False)
                _sync(device)
                if step < warmup:
                    continue
                per: dict[str, float] = defaultdict(float)
                for i, s, e in marks:
                    per[i] += s.elapsed_time(e) if device == "cuda" else (e - s) * 1e3
                for i, v in per.items():
                    samples[i].append(v)
    finally:
        for h in handles:
            h.remove()
    out.update({i: float(median(v)) for i, v in samples.items()})
    return out


def in_situ_modified(model: nn.Module, inputs: dict[str, Any], round_: list[tuple[str, str]], device: str,
                     warmup: int, iters: int) -> dict[str, float]:
    """In-situ time of each candidate's replacement, with the whole round swapped in at once."""
    with swapped(model, [Modification(op, mod) for op, mod in round_]):
        t = in_situ_times(model, inputs, [op for op, _ in round_], device, warmup, iters)
    return {f"{op}|{mod}": t[op] for op, mod in round_}


def _clone(x: Any) -> Any:
    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    if isinstance(x, (list, tuple)):
        return type(x)(_clone(v) for v in x)
    if isinstance(x, dict):
        return {k: _clone(v) for k, v in x.items()}
    return x


def capture_inputs(model: nn.Module, inputs: dict[str, Any], ids: list[str]) -> dict[str, tuple[tuple, dict]]:
    """The (args, kwargs) each module in ``ids`` receives in one forward (copied, so later in-place ops can't change them)."""
    captured: dict[str, tuple[tuple, dict]] = {}
    handles = [module_at(model, i).register_forward_pre_hook(
        lambda mod, a, kw, i=i: captured.__setitem__(i, (_clone(a), _clone(kw))), with_kwargs=True)
        for i in ids if module_at(model, i) is not None]
    try:
        with torch.no_grad():
            model(**inputs, return_dict=False)
    finally:
        for h in handles:
            h.remove()
    return captured


def time_op(fn: Callable[[], Any], device: str, warmup: int, iters: int, reps: int) -> float:
    """Median ms of one ``fn()`` call; on GPU replayed from a CUDA graph of up to ``reps`` calls.

    Several calls per graph amortise the replay's launch cost over small operators; large
    ones (a replay already ≥ ~0.5 ms) need fewer, which keeps SDXL's profile short.
    """
    if device == "cuda":
        with torch.no_grad():
            fn()
            t = median(time_callable(fn, device, 0, 3))
        reps = max(1, min(reps, int(0.5 / max(t, 1e-3)) + 1))
        g = capture_graph(lambda: [fn() for _ in range(reps)])
        ms = median(time_callable(g.replay, device, warmup, iters)) / reps
        del g
        return float(ms)
    return float(median(time_callable(fn, device, warmup, iters)))


def isolated_op(model: nn.Module, op: str, kind: str, mods: list[str], captured: dict[str, tuple[tuple, dict]],
                norm: str | None, device: str, warmup: int, iters: int, reps: int) -> dict[str, Any]:
    """Isolated latency of one operator, of each of its replacements and of its feeding norm."""
    module = module_at(model, op)
    a, kw = captured[op]
    res: dict[str, Any] = {"orig": time_op(lambda: module(*a, **kw), device, warmup, iters, reps), "mods": {}}
    for mod in mods:
        new, _ = build_replacement(kind, module, mod)
        if new is None or isinstance(new, RemovedOperator):  # skipped by the parent / returns its input: no kernels
            res["mods"][mod] = 0.0
            continue
        new.eval()
        # a partial binds the replacement now; a lambda reading ``new`` beside the ``del`` below is
        # flagged as an undefined name by ruff >= 0.17 (F821)
        res["mods"][mod] = time_op(functools.partial(new, *a, **kw), device, warmup, iters, reps)
        del new
    if norm is not None and norm in captured:
        nm = module_at(model, norm)
        na, nkw = captured[norm]
        res["norm"] = time_op(lambda: nm(*na, **nkw), device, warmup, iters, reps)
    return res
