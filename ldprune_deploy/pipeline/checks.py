"""Checks of a recipe against files and this machine, and the defaults that depend on them.

Runs before the first stage: files exist, the model is known, a committed profile matches the
model and the recipe's shapes, the latency budget can be met with the profiled savings, the
runners exist here, the evaluator has what its metrics need.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..artifacts import SCORES_SCHEMA
from ..budget import Budget
from ..errors import Infeasible
from ..params import recipe_specs
from .recipe import Recipe, fail, resolve_path
from .sections import SECTIONS

log = logging.getLogger("ldprune")


def _resolve_files(r: Recipe) -> None:
    for section, classes in SECTIONS.items():
        if section == "distill" and not r.distill_enabled:
            continue
        paths = [k for cls in classes for k, s in recipe_specs(cls).items() if s.meta["path"]]
        for key in paths:
            v = r[section].get(key)
            if v is None:
                continue
            found = resolve_path(v, r.path)
            if found is None:
                fail(f"{section}.{key}", f"file or folder not found: {v}",
                      "check the path (relative paths are looked up in the current folder, then in the "
                      "project holding the recipe)")
            r[section][key] = str(found)


def _resolve_model(r: Recipe) -> tuple[str, Any]:
    """(model spec to pass to stages, its base fingerprint or None)."""
    from ..presets import PRESETS
    from ..unet import build_unet, model_fingerprint

    if r.model in PRESETS and not Path(r.model).exists():
        p = PRESETS[r.model]
        return r.model, model_fingerprint(build_unet(p.cls, p.config, "meta"))
    found = resolve_path(r.model, r.path)
    if found is None:
        fail("model", f"'{r.model}' is neither a preset nor an existing path",
              f"use one of {', '.join(PRESETS)}, or a local diffusers folder / .safetensors file")
    if found.suffix == ".safetensors":
        if not r.preset:
            fail("preset", f"{found.name} is a bare weights file", f"set preset: to one of {', '.join(PRESETS)}")
        if r.preset not in PRESETS:
            fail("preset", f"unknown preset '{r.preset}'", f"use one of {', '.join(PRESETS)}")
        p = PRESETS[r.preset]
        return str(found), model_fingerprint(build_unet(p.cls, p.config, "meta"))
    from ..models import find_unet_dir

    unet_dir = find_unet_dir(found) if found.is_dir() else None
    if unet_dir is None:
        fail("model", f"{found} is not a diffusers UNet folder", "point model: at a folder with unet/config.json")
    import json

    cfg = json.loads((unet_dir / "config.json").read_text())
    if (unet_dir / "prune_plan.json").is_file() or (found / "prune_plan.json").is_file():
        return str(found), None   # already pruned: fingerprinted by its own plan
    return str(found), model_fingerprint(build_unet(cfg["_class_name"], cfg, "meta"))


def _check_profile_file(r: Recipe, fingerprint: str | None) -> dict[str, Any]:
    from ..artifacts import Profile

    t = r["target"]
    found = resolve_path(t["profile"], r.path)
    if found is None:
        fail("target.profile", f"profile not found: {t['profile']}",
              "commit the profile under profiles/, or set target.profile: now to profile on this machine")
    t["profile"] = str(found)
    prof = Profile.load(found)
    if fingerprint is not None and prof.get("model_fingerprint") != fingerprint:
        fail("target.profile", f"{found.name} was measured on model {prof.get('model')} "
              f"({prof.get('model_fingerprint')}), the recipe's model is {r.model} ({fingerprint})",
              "use a profile of this model, or target.profile: now")
    for key in ("backend", "batch", "resolution", "dtype"):
        have = prof.get(key)
        if key not in r.given["target"]:
            t[key] = have
        elif have is not None and t[key] != have:
            fail(f"target.{key}", f"the recipe says {t[key]!r}, the profile {found.name} was measured with "
                  f"{have!r}", f"set target.{key}: {have} or drop it (it defaults to the profile's)")
    return prof


def check_budget_feasible(r: Recipe, prof: dict[str, Any]) -> None:
    """Solve the plan with every profiled candidate equally important: if even that misses the
    budget, no scores can help, and the user learns it now rather than after scoring."""
    from ..params import from_section
    from ..planner import PlanConfig, Planner

    p = r["plan"]
    ops = prof.get("operators") or {}
    fake = {"schema": SCORES_SCHEMA, "method": "uniform", "model": prof.get("model"),
            "model_fingerprint": prof.get("model_fingerprint"),
            "scores": [{"operator": op, "modification": m, "score": 1.0}
                       for op, rec in ops.items() for m in rec.get("savings_ms", {})]}
    cfg = from_section(PlanConfig, p, strategy="latency-aware", model=r.model, verify=False,
                       time_limit_s=min(p["time_limit_s"], 20.0))
    try:
        Planner(fake, prof, cfg).run()
    except Infeasible as e:
        raise Infeasible(f"recipe: plan budget cannot be met with this profile: {e.message}",
                           "relax plan.budget (or plan.max_params/max_flops)") from None


def _runner_ok(name: str, machine: bool = True) -> tuple[bool, str]:
    from ..runners import available_runners

    if not machine:
        return True, ""
    why = available_runners().get(name, "unknown runner")
    return not why, why


def check_environment(r: Recipe, machine: bool = True) -> None:
    import torch

    t, s, p, ev = r["target"], r["score"], r["plan"], r["evaluate"]
    _resolve_files(r)
    r.model, fingerprint = _resolve_model(r)
    cuda = torch.cuda.is_available()
    if r.profile_now:
        t["backend"] = t["backend"] or ("torch-graph" if cuda else "cpu")
        ok, why = _runner_ok(t["backend"], machine)
        if not ok:
            fail("target.backend", f"cannot profile now with '{t['backend']}': {why}",
                  "pick a runner this machine has (e.g. cpu), or point target.profile at a committed profile")
        t["dtype"] = t["dtype"] or ("fp16" if cuda else "fp32")
    else:
        prof = _check_profile_file(r, fingerprint)
        check_budget_feasible(r, prof)
    p["backend"] = p["backend"] or t["backend"]
    if p["verify"] == "auto":
        ok, why = _runner_ok(p["backend"])
        p["verify"] = ok
        r.notes.append(f"plan verify: {'on' if ok else 'off'} ({p['backend']}" + ("" if ok else f": {why}") + ")")
    elif p["verify"]:
        ok, why = _runner_ok(p["backend"], machine)
        if not ok:
            fail("plan.verify", f"verify needs runner '{p['backend']}': {why}",
                  "set plan.verify: auto (verify only where the runner exists) or false")
    s["device"] = s["device"] or ("cuda" if cuda else "cpu")
    ev["latency_batch"] = ev["latency_batch"] or t["batch"] or 1
    if ev["runner"] is None:
        ok, _ = _runner_ok(t["backend"])
        ev["runner"] = t["backend"] if ok else ("torch-graph" if cuda else "cpu")
    elif ev["runner"] != "none":
        ok, why = _runner_ok(ev["runner"], machine)
        if not ok:
            fail("evaluate.runner", f"'{ev['runner']}' cannot run here: {why}", "pick a runner this machine has")
    if ev["budget"] is None:   # the gate checks the plan's relative budget against the teacher it times
        lat = Budget.parse(p["budget"]) if p["budget"] else Budget.parse(p["speedup"], "speedup") if p["speedup"] else None
        ev["budget"] = lat.spec if lat is not None and lat.relative else None
    _check_metrics(r, fingerprint)


def _check_metrics(r: Recipe, fingerprint) -> None:
    from ..presets import PRESETS

    ev = r["evaluate"]
    for m in ev["metrics"]:
        if m == "fid" and not (ev["feature_extractor"] or ev["inception_weights"]):
            fail("evaluate.metrics", "fid needs a feature extractor and none is set",
                  "set evaluate.inception_weights (standard FID) or evaluate.feature_extractor (labelled proxy/user)")
        if m == "fad" and not (ev["feature_extractor"] or ev["vggish_weights"]):
            fail("evaluate.metrics", "fad needs a feature extractor and none is set",
                  "set evaluate.vggish_weights (standard FAD) or evaluate.feature_extractor")
    latent = PRESETS[r.model].vae_scale_factor > 1 if r.model in PRESETS else None
    if latent and any(m in ("fid", "fad") for m in ev["metrics"]) and not (ev["vae"] or ev["latent_space"]):
        fail("evaluate", f"{r.model} is a latent UNet: its samples need a VAE to become images",
              "set evaluate.vae: FOLDER, or evaluate.latent_space: true (metrics on latents, labelled so)")
