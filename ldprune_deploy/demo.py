"""``ldprune demo``: the whole pipeline on the embedded tiny model, on this CPU, in seconds."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from .catalogue import build_catalogue
from .models import example_inputs, load_model
from .surgery import Modification, PrunePlan, apply_plan, load_pruned, save_pruned
from .surgery.plan import find_conflicts


def flops_plan(cat, info, target: float = 0.3) -> PrunePlan:
    """A FLOP-greedy plan: biggest FLOP saving per operator first, until ``target`` is removed.

    Used before any importance scores exist; the real planner replaces it once scored.
    """
    best = []
    for o in cat.prunable:
        m = max(o.modifications, key=lambda m: o.flops - m.flops)
        best.append((o.flops - m.flops, o.id, m.name))
    chosen: list[Modification] = []
    saved = 0
    for gain, op, mod in sorted(best, reverse=True):
        if saved >= target * cat.total_flops:
            break
        if find_conflicts(chosen + [Modification(op, mod)]):
            continue
        chosen.append(Modification(op, mod))
        saved += gain
    return PrunePlan(info.fingerprint, chosen, model=info.name, meta={"strategy": "flops-greedy", "target": target})


def _time_cpu(unet, x, iters: int = 10) -> float:
    with torch.no_grad():
        for _ in range(2):
            unet(**x)
        ts = []
        for _ in range(iters):
            t = time.perf_counter()
            unet(**x)
            ts.append((time.perf_counter() - t) * 1e3)
    return sorted(ts)[len(ts) // 2]


def run_demo(out_dir: str | Path | None = None, model: str = "tiny-t2i") -> dict:
    t0 = time.perf_counter()
    out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="ldprune-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    unet, info = load_model(model, quiet=True)
    cat = build_catalogue(unet, info, batch=2)
    plan = flops_plan(cat, info)
    plan.save(out / "plan.json")
    pruned = apply_plan(unet, plan)
    folder = save_pruned(pruned, out / "pruned", overwrite=True)
    reloaded = load_pruned(folder)
    x = example_inputs(unet, info, batch=2)
    with torch.no_grad():
        exact = torch.equal(reloaded(**x).sample, pruned(**x).sample)
    full_ms, pruned_ms = _time_cpu(unet, x), _time_cpu(reloaded, x)
    return {"model": model, "out": str(out), "operators": len(cat.prunable), "candidates": len(cat.candidates()),
            "modified": len(plan.modifications),
            "params_m": (sum(p.numel() for p in unet.parameters()) / 1e6, sum(p.numel() for p in reloaded.parameters()) / 1e6),
            "cpu_ms": (full_ms, pruned_ms), "round_trip_exact": exact, "wall_s": time.perf_counter() - t0,
            "artefacts": {"plan": str(out / "plan.json"), "pruned": str(folder)}}
