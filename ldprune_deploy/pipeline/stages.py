"""The seven stages as the pipeline calls them: each names its parameters (hashed), its input
artefacts (content-hashed) and runs the stage's public function into ``DIR/<stage>/``.

``resume`` is true when the same stage, with the same parameters and inputs, was interrupted:
stages with their own resume (profile, score, distill checkpoints) then continue; the others
start over in a clean folder.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..jsonio import read_json
from ..params import from_section
from ..registry import Registry
from .recipe import Recipe

STAGES = ("profile", "score", "plan", "prune", "distill", "export", "evaluate")


def profile_file(root: Path) -> Path:
    return root / "profile" / "profile.json"


def scores_file(root: Path) -> Path:
    return root / "score" / "scores.json"


def plan_file(root: Path) -> Path:
    return root / "plan" / "plan.json"


def pruned_dir(root: Path) -> Path:
    return root / "prune" / "model"


def candidate_dir(r: Recipe, root: Path) -> Path:
    return root / "distill" / "model" if r.distill_enabled else pruned_dir(root)


def export_dir(root: Path, precision: str) -> Path:
    return root / "export" / precision


def report_dir(root: Path) -> Path:
    return root / "evaluate" / "report"


def _model_input(r: Recipe) -> dict[str, Any]:
    from ..presets import PRESETS

    return {"model": f"preset:{r.model}" if r.model in PRESETS and not Path(r.model).exists() else Path(r.model)}


def _paths_in(section: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: Path(section[k]) for k in keys if section.get(k)}


# -- profile ---------------------------------------------------------------------------------
def _profile_params(r: Recipe) -> dict[str, Any]:
    return {"model": r.model, **r["target"]}


def _profile_inputs(r: Recipe, root: Path) -> dict[str, Any]:
    return _model_input(r) if r.profile_now else {"profile": Path(r["target"]["profile"])}


def _profile_run(r: Recipe, root: Path, resume: bool) -> dict[str, Any]:
    out = profile_file(root)
    t = r["target"]
    if not r.profile_now:
        # the committed profile is copied in: every later stage reads artefacts from DIR only
        shutil.copyfile(t["profile"], out)
        return {"profile": str(out), "source": t["profile"]}
    from ..profiler import ProfileConfig, profile

    cfg = from_section(ProfileConfig, t, output=out, resume=resume, overwrite=True, progress=False)
    prof = profile(r.model, cfg)
    return {"profile": str(out), "full_ms": prof["full_latency_ms"]["median_ms"]}


# -- score -----------------------------------------------------------------------------------
def _score_run(r: Recipe, root: Path, resume: bool) -> dict[str, Any]:
    from ..scoring import ScoreConfig, score

    cfg = from_section(ScoreConfig, r["score"], output=scores_file(root), resume=resume, overwrite=True,
                       progress=False, preset=r.preset)
    doc = score(r.model, cfg)
    return {"scores": str(scores_file(root)), "n": len(doc["scores"])}


# -- plan ------------------------------------------------------------------------------------
def _plan_run(r: Recipe, root: Path, resume: bool) -> dict[str, Any]:
    from ..planner import PlanConfig, plan

    p, t = r["plan"], r["target"]
    cfg = from_section(PlanConfig, p, batch=t["batch"], resolution=t["resolution"], dtype=t["dtype"], model=r.model,
                       verify=bool(p["verify"]))
    result = plan(scores_file(root), profile_file(root), cfg)
    result.save(plan_file(root))
    from ..planner.verify import require_met

    require_met(result, "recipe plan stage (nothing after it runs)")   # a plan that missed is not exported
    return {"plan": str(plan_file(root)), "modified": len(result.modifications),
            "predicted_ms": (result.predicted or {}).get("latency_ms"),
            "measured_ms": (result.measured or {}).get("latency_ms")}


# -- prune -----------------------------------------------------------------------------------
def _prune_run(r: Recipe, root: Path, resume: bool) -> dict[str, Any]:
    from ..surgery import PruneConfig, prune

    folder = prune(r.model, PruneConfig(plan=plan_file(root), output=pruned_dir(root), preset=r.preset,
                                        overwrite=True))
    return {"model": str(folder)}


# -- distill ---------------------------------------------------------------------------------
def _distill_run(r: Recipe, root: Path, resume: bool) -> dict[str, Any]:
    from ..distillation import DistillConfig, distill

    cfg = from_section(DistillConfig, r["distill"], output=root / "distill", resume=resume, overwrite=not resume,
                       progress=False)
    final = distill(r.model, str(pruned_dir(root)), cfg)
    summary = read_json(root / "distill" / "summary.json")
    return {"model": str(final), "final_loss": (summary.get("last") or {}).get("total")}


# -- export ----------------------------------------------------------------------------------
def _export_run(r: Recipe, root: Path, resume: bool) -> dict[str, Any]:
    from ..exporter import ExportConfig, export

    e = r["export"]
    out = {}
    for prec in e["precisions"]:
        cfg = from_section(ExportConfig, e, output=str(export_dir(root, prec)), precision=prec, overwrite=True)
        folder = export(str(candidate_dir(r, root)), cfg)
        man = read_json(folder / "export.json")
        out[prec] = {"folder": str(folder), "check": (man.get("check") or {}).get("passed")}
    return {"exports": out}


# -- evaluate --------------------------------------------------------------------------------
def _evaluate_run(r: Recipe, root: Path, resume: bool) -> dict[str, Any]:
    from ..evaluation import EvaluateConfig, evaluate

    ev = r["evaluate"]
    options = dict(ev["runner_options"])
    exp = export_dir(root, r["export"]["precisions"][0])
    if ev["runner"] in ("ort-cpu", "ort-cuda"):
        options.setdefault("cache_dir", str(root / "evaluate" / "ort-cache"))
        from .ort_seed import seed_ort_cache

        seed_ort_cache(exp, Path(options["cache_dir"]), ev, r)
    cfg = from_section(EvaluateConfig, ev, output=str(report_dir(root)), runner_options=options, overwrite=True,
                       gate=False, preset=r.preset, scores=str(scores_file(root)), profile=str(profile_file(root)),
                       curves=str(root / "distill" / "losses.json") if r.distill_enabled else None, export=str(exp))
    report = evaluate(r.model, str(candidate_dir(r, root)), cfg)
    lat = report.get("latency") or {}
    quality = {m: {k: q.get(k) for k in ("label", "teacher", "candidate", "skipped", "extractor")}
               for m, q in report["quality"].items()}
    summary = {"report": str(report_dir(root) / "report.html"), "gate": report["gate"], "gate_enforced": ev["gate"],
               "latency": {k: lat.get(k) for k in ("runner", "teacher_ms", "candidate_ms", "speedup")},
               "quality": quality, "notes": report.get("notes", [])}
    return summary


@dataclass(frozen=True)
class Stage:
    name: str
    params: Callable[[Recipe], dict[str, Any]]
    inputs: Callable[[Recipe, Path], dict[str, Any]]
    run: Callable[[Recipe, Path, bool], dict[str, Any]]
    enabled: Callable[[Recipe], bool] = lambda r: True


def _s(section: str, *extra: str):
    return lambda r: {**{k: r[section][k] for k in r[section]}, **{k: getattr(r, k) for k in extra}}


REGISTRY: Registry[Stage] = Registry("stage")
for _stage in (
    Stage("profile", _profile_params, _profile_inputs, _profile_run),
    Stage("score", _s("score", "model", "preset"), lambda r, root: _model_input(r), _score_run),
    Stage("plan", lambda r: {**r["plan"], "target": r["target"], "model": r.model},
          lambda r, root: {"scores": scores_file(root), "profile": profile_file(root)}, _plan_run),
    Stage("prune", lambda r: {"model": r.model, "preset": r.preset},
          lambda r, root: {**_model_input(r), "plan": plan_file(root)}, _prune_run),
    Stage("distill", _s("distill", "model", "preset"),
          lambda r, root: {**_model_input(r), "student": pruned_dir(root),
                           **_paths_in(r["distill"], ("data", "prompts", "text_encoder", "vae"))},
          _distill_run, enabled=lambda r: r.distill_enabled),
    Stage("export", _s("export"), lambda r, root: {"candidate": candidate_dir(r, root)}, _export_run),
    Stage("evaluate", _s("evaluate", "model", "preset"),
          lambda r, root: {**_model_input(r), "candidate": candidate_dir(r, root),
                           "export": export_dir(root, r["export"]["precisions"][0]),
                           **_paths_in(r["evaluate"], ("feature_extractor", "inception_weights", "vggish_weights",
                                                       "clip_weights", "vae", "prompts", "embeddings", "reference"))},
          _evaluate_run),
):
    REGISTRY.add(_stage.name, _stage)

__all__ = ["REGISTRY", "STAGES", "Stage"]
