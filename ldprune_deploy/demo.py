"""``ldprune demo``: ``ldprune run`` on the packaged ``emoji-cpu.yaml`` (the trained emoji teacher),
or ``tiny-cpu.yaml`` (random weights) with ``tiny=True``, then a short summary.

The emoji teacher and the quality figure's proxy extractor (``benchmarks/assets/``, a small CNN
trained here on emoji groups) ship with a source checkout; an installed package without them runs
the tiny demo and reports no quality number rather than an invented one.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

import yaml

from .pipeline.load import recipe_from_data
from .pipeline.recipe import resolve_path

RECIPES = Path(__file__).parent / "recipes"
RECIPE = RECIPES / "emoji-cpu.yaml"
TINY = RECIPES / "tiny-cpu.yaml"


def demo_recipe(tiny: bool = False):
    path = TINY if tiny else RECIPE
    data = yaml.safe_load(path.read_text())
    notes = []
    if not tiny and resolve_path(data["model"], path) is None:
        notes.append(f"the emoji teacher {data['model']} is not here (not a source checkout): the tiny random-weight demo ran")
        path, data = TINY, yaml.safe_load(TINY.read_text())
    ev = data["evaluate"]
    if resolve_path(ev["feature_extractor"], path) is None:
        notes.append(f"quality: {ev['feature_extractor']} is not here (not a source checkout); no quality number "
                     "is reported (CLIP score is skipped without CLIP weights)")
        ev.pop("feature_extractor")
        ev["metrics"] = ["clip"]
    recipe = recipe_from_data(data, path)
    recipe.notes.extend(notes)
    return recipe


def run_demo(out_dir: str | Path | None = None, say: Callable[[str], None] | None = None,
             tiny: bool = False) -> dict[str, Any]:
    import torch

    from .pipeline import run_pipeline

    # one thread: the tiny UNet gains nothing from a second one, and on a busy 2-core machine two
    # OpenMP threads waiting on each other made single calls take seconds (a CI run beside two
    # CPU-bound processes, 2026-12-04), which no latency budget survives
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = Path(out_dir) if out_dir else Path(tempfile.mkdtemp(prefix="ldprune-demo-"))
        kw = {"say": say} if say else {}
        recipe = demo_recipe(tiny)
        res = run_pipeline(recipe, out, **kw)
    finally:
        torch.set_num_threads(threads)
    return {**summarise(res), "model": recipe.model, "random_weights": recipe.name == "tiny-cpu",
            "samples": str(Path(res.out) / "evaluate" / "report" / "plots" / "samples.png")}


def summarise(res) -> dict[str, Any]:
    plan = res.stage("plan").outputs
    ev = res.stage("evaluate").outputs
    lat = ev.get("latency") or {}
    return {"out": str(res.out), "exit_code": res.exit_code, "wall_s": res.wall_s, "report": ev.get("report"),
            "modified": plan.get("modified"), "plan_predicted_ms": plan.get("predicted_ms"),
            "plan_measured_ms": plan.get("measured_ms"), "runner": lat.get("runner"),
            "teacher_ms": lat.get("teacher_ms"), "candidate_ms": lat.get("candidate_ms"),
            "quality": ev.get("quality", {}), "gate": ev.get("gate"), "gate_enforced": ev.get("gate_enforced", True),
            "stages": {s.name: (s.status, round(s.seconds, 1)) for s in res.stages}}


def summary_lines(s: dict[str, Any]) -> list[str]:
    def ms(v):
        return f"{v:.1f} ms" if isinstance(v, (int, float)) else "n/a"

    rows = [("operators modified", str(s["modified"])),
            ("latency, plan (cpu, batch 2)", f"predicted {ms(s['plan_predicted_ms'])}, " + (
                f"measured {ms(s['plan_measured_ms'])}" if s["plan_measured_ms"] is not None
                else "not verified (a shared CPU is too noisy for a one-sided budget)")),
            (f"latency, evaluator ({s['runner']})", f"teacher {ms(s['teacher_ms'])} -> candidate {ms(s['candidate_ms'])}")]
    for m, q in s["quality"].items():
        if q.get("skipped"):
            rows.append((q.get("label") or m, f"not measured: {q['skipped']}"))
        else:
            ex = (q.get("extractor") or {}).get("name", "?")
            rows.append((f"{q['label']} [{ex}]", f"teacher {q['teacher']:.3g} -> candidate {q['candidate']:.3g}" + (
                " (random-weight model: shows the machinery, not quality)" if s.get("random_weights", True) else
                f" (16 samples each: a sanity check, not a benchmark); side by side: {s.get('samples')}")))
    gate = s["gate"] or {}
    verdict = "passed" if gate.get("passed") else "FAILED: " + "; ".join(gate.get("reasons", []))
    rows.append(("gate", verdict + ("" if s.get("gate_enforced", True) else " (reported, not enforced on a shared CPU)")))
    rows.append(("report", str(s["report"])))
    rows.append(("stage times", ", ".join(f"{k} {v[1]:.1f}s" if v[0] == "done" else f"{k} {v[0]}"
                                          for k, v in s["stages"].items())))
    w = max(len(a) for a, _ in rows)
    return [f"  {a:<{w}}  {b}" for a, b in rows]
