"""Synthetic profile/scores dicts for the planner tests (formats of docs/artefacts.md)."""

from __future__ import annotations

import random

FULL_MS = 20.0


def synth(n_ops: int = 6, seed: int = 0, nested: bool = True, mods=("remove", "width:0.5"),
          fingerprint: str = "fp-synth", full_ms: float = FULL_MS) -> tuple[dict, dict]:
    """Operators blocks.i (every other one with a nested blocks.i.ff), random scores/savings."""
    rng = random.Random(seed)
    ids = []
    for i in range(n_ops):
        ids.append(f"blocks.{i}")
        if nested and i % 2 == 0:
            ids.append(f"blocks.{i}.ff")
    ops, scores = {}, []
    for op in ids:
        ops[op] = {"kind": "transformer", "savings_ms": {m: {"isolated": round(rng.uniform(0.1, 2.0), 4)} for m in mods}}
        for m in mods:
            scores.append({"operator": op, "modification": m, "score": round(rng.uniform(0.0, 1.0), 5)})
    return make_scores(scores, fingerprint), make_profile(ops, fingerprint, full_ms)


def make_profile(ops: dict, fingerprint: str = "fp-synth", full_ms: float = FULL_MS, **kw) -> dict:
    return {"schema": "ldprune.profile/1", "model": kw.pop("model", "synthetic"), "model_fingerprint": fingerprint,
            "backend": "torch-graph", "dtype": kw.pop("dtype", "fp16"), "batch": kw.pop("batch", 1),
            "resolution": kw.pop("resolution", 512), "full_latency_ms": {"median_ms": full_ms},
            "methods": ["isolated"], "default_method": "isolated", "operators": ops, **kw}


def make_scores(entries: list[dict], fingerprint: str = "fp-synth") -> dict:
    return {"schema": "ldprune.scores/1", "method": "synthetic", "model": "synthetic",
            "model_fingerprint": fingerprint, "scores": entries}


def from_catalogue(cat, full_ms: float, factor: float = 1.0, seed: int = 0) -> tuple[dict, dict]:
    """Profile whose savings are ``factor`` × full_ms × (params removed / total params)."""
    rng = random.Random(seed)
    ops, scores = {}, []
    for o in cat.prunable:
        sv = {}
        for m in o.modifications:
            sv[m.name] = {"isolated": factor * full_ms * (o.params - m.params) / cat.total_params}
            scores.append({"operator": o.id, "modification": m.name, "score": rng.uniform(0.01, 1.0)})
        ops[o.id] = {"kind": o.kind, "params": o.params, "flops": o.flops, "savings_ms": sv}
    prof = make_profile(ops, cat.model_fingerprint, full_ms, model=cat.model, dtype="fp32",
                        batch=cat.batch, resolution=cat.resolution)
    sc = make_scores(scores, cat.model_fingerprint)
    sc["model"] = cat.model
    return sc, prof
