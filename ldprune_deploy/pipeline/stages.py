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

from ..artifacts import read_json
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

    cfg = ProfileConfig(backend=t["backend"], batch=t["batch"], resolution=t["resolution"], dtype=t["dtype"],
                        text_len=t["text_len"], methods=tuple(t["methods"]), default_method=t["default_method"],
                        include=t["include"], max_candidates=t["max_candidates"], warmup=t["warmup"],
                        iters=t["iters"], op_warmup=t["op_warmup"], op_iters=t["op_iters"], output=out,
                        resume=resume, overwrite=True, progress=False)
    prof = profile(r.model, cfg)
    return {"profile": str(out), "full_ms": prof["full_latency_ms"]["median_ms"]}


# -- score -----------------------------------------------------------------------------------
def _score_run(r: Recipe, root: Path, resume: bool) -> dict[str, Any]:
    from ..scoring import ScoreConfig, score

    s = r["score"]
    cfg = ScoreConfig(method=s["method"], output=scores_file(root), n_gen=s["n_gen"], steps=s["steps"],
                      scheduler=s["scheduler"], guidance=s["guidance"], resolution=s["resolution"], seed=s["seed"],
                      prompts=s["prompts"], embeddings=s["embeddings"], batch_size=s["batch_size"],
                      kinds=s["kinds"], mods=s["mods"], include=s["include"], exclude=s["exclude"],
                      device=s["device"], dtype=s["dtype"], cuda_graph=s["cuda_graph"], resume=resume, overwrite=True,
                      progress=False, preset=r.preset)
    doc = score(r.model, cfg)
    return {"scores": str(scores_file(root)), "n": len(doc["scores"])}


# -- plan ------------------------------------------------------------------------------------
def _plan_run(r: Recipe, root: Path, resume: bool) -> dict[str, Any]:
    from ..planner import PlanConfig, plan

    p, t = r["plan"], r["target"]
    cfg = PlanConfig(budget=p["budget"], speedup=p["speedup"], max_params=p["max_params"], max_flops=p["max_flops"],
                     strategy=p["strategy"], method=p["method"], batch=t["batch"], resolution=t["resolution"],
                     model=r.model, time_limit_s=p["time_limit_s"], verify=bool(p["verify"]), backend=p["backend"],
                     dtype=t["dtype"], tolerance=p["tolerance"], max_rounds=p["max_rounds"],
                     correction=p["correction"], warmup=p["warmup"], iters=p["iters"])
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
_DISTILL_KEYS = ("data", "data_free", "steps", "batch_size", "grad_accum", "lr", "warmup_steps", "lr_schedule",
                 "feat_loss", "lambda_task", "lambda_out", "lambda_feat", "mixed_precision", "teacher_dtype",
                 "ema_decay", "n_samples", "gen_steps", "gen_guidance", "prompts", "text_encoder", "vae",
                 "checkpoint_every", "seed", "cpu")


def _distill_run(r: Recipe, root: Path, resume: bool) -> dict[str, Any]:
    from ..distill import DistillConfig, distill

    d = r["distill"]
    cfg = DistillConfig(output=root / "distill", resume=resume, overwrite=not resume, progress=False,
                        **{k: d[k] for k in _DISTILL_KEYS})
    final = distill(r.model, str(pruned_dir(root)), cfg)
    summary = read_json(root / "distill" / "summary.json")
    return {"model": str(final), "final_loss": (summary.get("last") or {}).get("total")}


# -- export ----------------------------------------------------------------------------------
def _export_run(r: Recipe, root: Path, resume: bool) -> dict[str, Any]:
    from ..export import ExportConfig, export

    e = r["export"]
    out = {}
    for prec in e["precisions"]:
        cfg = ExportConfig(out_dir=str(export_dir(root, prec)), precision=prec, batch=e["batch"],
                           resolution=e["resolution"], exporter=e["exporter"], opset=e["opset"],
                           keep_fp32=list(e["keep_fp32"]), optimize=e["optimize"], check=e["check"],
                           range_scan=e["range_scan"], overwrite=True)
        folder = export(str(candidate_dir(r, root)), cfg)
        man = read_json(folder / "export.json")
        out[prec] = {"folder": str(folder), "check": (man.get("check") or {}).get("passed")}
    return {"exports": out}


# -- evaluate --------------------------------------------------------------------------------
_EVAL_KEYS = ("metrics", "n_samples", "steps", "scheduler", "guidance", "seed", "batch_size", "runner",
              "latency_batch", "resolution", "dtype", "device", "warmup", "iters", "e2e_repeats", "budget",
              "max_quality_drop", "feature_extractor", "inception_weights", "vggish_weights", "clip_weights",
              "vae", "latent_space", "prompts", "embeddings", "reference")


def _evaluate_run(r: Recipe, root: Path, resume: bool) -> dict[str, Any]:
    from ..evaluate import EvaluateConfig, evaluate

    ev = r["evaluate"]
    options = dict(ev["runner_options"])
    exp = export_dir(root, r["export"]["precisions"][0])
    if ev["runner"] in ("ort-cpu", "ort-cuda"):
        options.setdefault("cache_dir", str(root / "evaluate" / "ort-cache"))
        from .ort_seed import seed_ort_cache

        seed_ort_cache(exp, Path(options["cache_dir"]), ev, r)
    cfg = EvaluateConfig(output=str(report_dir(root)), runner_options=options, overwrite=True, enforce_gate=False,
                         preset=r.preset, scores=str(scores_file(root)), profile=str(profile_file(root)),
                         curves=str(root / "distill" / "losses.json") if r.distill_enabled else None,
                         export=str(exp), **{k: ev[k] for k in _EVAL_KEYS})
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


REGISTRY: dict[str, Stage] = {s.name: s for s in (
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
)}

__all__ = ["REGISTRY", "STAGES", "Stage"]
