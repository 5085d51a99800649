"""evaluate(teacher, candidate, config): quality, latency and the budget gate in one run.

Quality reference: with ``reference`` (real samples) both models are measured against it.
Without one, the reference is a second teacher set from *disjoint* seeds (``seed + n`` …):
the teacher's figure is then its own sampling-noise floor and the candidate's the distance
of its distribution from the teacher's, both from the same n, so the drop is meaningful.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ..budget import Budget
from ..jsonio import ensure_output_dir_free
from ..device import device_fingerprint
from ..errors import LdpruneError
from ..models import load_model, parse_dtype
from ..sampling import SamplerConfig
from ..unet import model_fingerprint, model_plan
from . import gate as gate_mod
from .audio import MelSpec, mel_to_waveform, resample
from .config import METRICS, EvaluateConfig
from .metrics import clip_score, extract, frechet_distance
from .samples import Decoder, load_reference, prompt_conditioning, sample_latents, time_sampling

log = logging.getLogger("ldprune")


def _extractors(cfg: EvaluateConfig, modality: str):
    from .features import load_feature_extractor
    from .standard import load_inception, load_vggish

    # metric -> (standard weights, their loader, the modality a user/proxy extractor must serve, fix text)
    standard = {
        "fid": (cfg.inception_weights, load_inception, "image",
                "pass --inception-weights FILE (standard FID) or --feature-extractor "
                "SPEC (module.py:fn, TorchScript, or a proxy .safetensors)"),
        "fad": (cfg.vggish_weights, load_vggish, "audio",
                "pass --vggish-weights FILE (standard FAD) or --feature-extractor SPEC "
                "(a proxy or user extractor on mel spectrograms)"),
    }
    out = {}
    for m in cfg.metrics:
        if m not in standard:
            continue
        weights, load_standard, kind, fix = standard[m]
        if weights:
            out[m] = load_standard(weights)
        elif cfg.feature_extractor:
            out[m] = load_feature_extractor(cfg.feature_extractor, kind)
        else:
            raise LdpruneError(f"{m.upper()} needs a feature extractor and none was given", fix)
    return out


def _label(metric: str, ex, decoding: str) -> str:
    base = metric.upper()
    label = {"standard": base, "proxy": f"proxy-{base}", "user": f"{base} [{ex.name}]"}[ex.kind]
    return f"{label} (latent-space)" if decoding == "latent-space" else label


def _fingerprints(cfg: EvaluateConfig, candidate) -> dict[str, Any]:
    from .features import file_sha256

    out: dict[str, Any] = {"plan": None, "profile": None, "export": None}
    plan = model_plan(candidate)
    if plan is not None:
        out["plan"] = {"n_modifications": len(plan.modifications), "model_fingerprint": plan.model_fingerprint,
                       "modifications": [{"operator": m.operator, "modification": m.modification}
                                         for m in plan.modifications],
                       "budget": plan.budget, "predicted": plan.predicted, "measured": plan.measured}
    if cfg.profile:
        from ..artifacts import Profile

        prof = Profile.load(cfg.profile)
        out["profile"] = {"path": cfg.profile, "sha256": file_sha256(cfg.profile),
                          "model_fingerprint": prof["model_fingerprint"], "backend": prof["backend"],
                          "device": {k: prof.get("device", {}).get(k) for k in ("gpu", "kind", "driver")}}
    if cfg.export:
        p = Path(cfg.export)
        if not p.exists():
            raise LdpruneError(f"--export {p} not found", "pass the export folder or engine file")
        files = sorted(f for f in p.rglob("*") if f.is_file() and f.stat().st_size < 2**26) if p.is_dir() else [p]
        out["export"] = {"path": str(p), "files": {str(f.relative_to(p) if p.is_dir() else f.name): file_sha256(f)
                                                   for f in files[:50]}}
    return out


def measure_latency(cfg: EvaluateConfig, teacher, t_info, candidate, c_info, dtype_name: str) -> dict[str, Any] | None:
    """Teacher and candidate timed paired by the evaluator's runner (None with runner "none")."""
    if cfg.runner == "none":
        return None
    from ..runners import RunSpec, get_runner

    name = cfg.runner or ("torch-graph" if torch.cuda.is_available() else "cpu")
    runner = get_runner(name)
    spec = RunSpec(batch=cfg.latency_batch or 1, resolution=cfg.resolution, dtype=dtype_name, warmup=cfg.warmup,
                   iters=cfg.iters, options=dict(cfg.runner_options))
    from ..runners.timing import measure_paired

    pr = measure_paired(runner, teacher, [candidate], t_info, spec, infos=[t_info, c_info])
    t, c = pr.reference, pr.candidates[0]
    return {"runner": name, "spec": asdict(spec), "teacher": t.to_json(), "candidate": c.to_json(),
            "teacher_ms": t.median_ms, "candidate_ms": c.median_ms,
            "speedup": t.median_ms / c.median_ms if c.median_ms > 0 else None,
            "ratio": c.median_ms / t.median_ms if t.median_ms > 0 else None,
            "timing": "paired: teacher and candidate interleaved in rounds", "delta_ms": pr.delta[0],
            "ratio_rounds": pr.ratio[0], "drift": pr.drift, "rounds": pr.rounds}


def _fad_input(samples: torch.Tensor, ex, mel: MelSpec) -> torch.Tensor:
    if ex.input != "waveform":
        return samples
    audio = mel_to_waveform(samples, mel)
    return resample(audio, mel.sample_rate, ex.sample_rate or mel.sample_rate)


def evaluate(teacher, candidate, config: EvaluateConfig | None = None) -> dict[str, Any]:
    """Generate from both models with the same seeds/prompts, measure quality and latency,
    apply the gate, write the report (when ``config.output``) and return it as a dict.

    Raises ``GateFailed`` (exit code 3) after writing the report when the gate fails.
    """
    cfg = config or EvaluateConfig()
    t_start = time.perf_counter()
    if not cfg.metrics:
        raise LdpruneError("no metric given", f"use --metric with one of {', '.join(METRICS)}")
    budget = Budget.parse(cfg.budget) if cfg.budget is not None else None
    tolerances = gate_mod.parse_tolerances(cfg.max_quality_drop)
    if budget is not None and cfg.runner == "none":
        raise LdpruneError("a latency budget needs a runner", "drop --runner none or drop --budget")
    if cfg.output:
        ensure_output_dir_free(cfg.output, cfg.overwrite)
    for flag in ("scores", "profile", "pareto", "curves", "reference", "prompts", "embeddings"):
        if getattr(cfg, flag) and not Path(getattr(cfg, flag)).exists():
            raise LdpruneError(f"--{flag} {getattr(cfg, flag)}: file not found", f"check the --{flag} path")
    device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype_name = cfg.dtype or ("fp16" if device.type == "cuda" else "fp32")
    dtype = parse_dtype(dtype_name)
    t_unet, t_info = load_model(teacher, preset=cfg.preset, device=device, dtype=dtype, quiet=True)
    c_unet, c_info = load_model(candidate, preset=cfg.preset, device=device, dtype=dtype, quiet=True)
    if (t_info.cls, t_info.vae_scale_factor, t_unet.config.in_channels) != \
            (c_info.cls, c_info.vae_scale_factor, c_unet.config.in_channels):
        raise LdpruneError("teacher and candidate are not the same kind of model "
                           f"({t_info.cls}/{t_unet.config.in_channels}ch vs {c_info.cls}/{c_unet.config.in_channels}ch)",
                           "compare a pruned model with the teacher it was pruned from")
    modality = "audio" if "fad" in cfg.metrics else "image"
    extractors = _extractors(cfg, modality)
    notes: list[str] = []
    t_space, c_space = getattr(t_info, "space", None), getattr(c_info, "space", None)
    if t_space and c_space and t_space != c_space:
        raise LdpruneError(f"teacher works in the '{t_space}' data space, the candidate in '{c_space}'",
                           "compare a pruned model with the teacher it was pruned from")
    # a pruned folder saved before ModelInfo.space existed: the teacher's space decides
    decoder = Decoder(t_info.vae_scale_factor, cfg.vae, cfg.latent_space, device, dtype, t_space or c_space)
    n = cfg.n_samples
    seeds = list(range(cfg.seed, cfg.seed + n))
    sampler = SamplerConfig(scheduler=cfg.scheduler, steps=cfg.steps, guidance=cfg.guidance)
    lsize = t_info.latent_size(cfg.resolution)
    prompts, cond, uncond, encoder = None, None, None, None
    if t_info.conditional:
        prompts, cond, uncond, encoder = prompt_conditioning(t_unet, n, cfg.prompts, cfg.embeddings)
        if encoder == "synthetic":
            notes.append("conditioning used synthetic pseudo-embeddings (no text encoder): prompt alignment "
                         "is not meaningful")
    gen = dict(latent_size=lsize, sampler=sampler, cond=cond, uncond=uncond, batch_size=cfg.batch_size,
               vae_scale=t_info.vae_scale_factor)
    log.info("sampling %d x %d steps with the teacher and the candidate", n, cfg.steps)
    t_lat, t_gen = sample_latents(t_unet, seeds, **gen)
    c_lat, c_gen = sample_latents(c_unet, seeds, **gen)
    t_img, c_img = decoder(t_lat), decoder(c_lat)
    if cfg.reference:
        ref_img, ref_desc = load_reference(cfg.reference), f"real samples from {cfg.reference}"
    elif any(m in ("fid", "fad") for m in cfg.metrics):
        ref_seeds = list(range(cfg.seed + n, cfg.seed + 2 * n))
        ref_lat, _ = sample_latents(t_unet, ref_seeds, **gen)
        ref_img, ref_desc = decoder(ref_lat), f"teacher samples, disjoint seeds {ref_seeds[0]}..{ref_seeds[-1]}"
    quality: dict[str, Any] = {}
    for m in cfg.metrics:
        if m == "clip":
            quality[m] = _clip(cfg, t_info, t_img, c_img, prompts, notes)
            continue
        ex = extractors[m]
        prep = (lambda x: _fad_input(x, ex, cfg.mel)) if m == "fad" else (lambda x: x)
        f_ref, f_t, f_c = (extract(ex, prep(x)) for x in (ref_img, t_img, c_img))
        tv, cv = frechet_distance(f_ref, f_t), frechet_distance(f_ref, f_c)
        quality[m] = {"label": _label(m, ex, decoder.mode), "extractor": ex.describe(), "teacher": tv,
                      "candidate": cv, "candidate_vs_teacher": frechet_distance(f_t, f_c),
                      "drop": gate_mod.quality_drop(m, tv, cv), "reference": ref_desc, "n": n,
                      "feature_dim": int(f_t.shape[1]),
                      "input": ("Griffin-Lim waveform" if m == "fad" and ex.input == "waveform"
                                else "mel spectrogram" if m == "fad" else "image")}
        if ex.kind == "proxy":
            notes.append(f"{quality[m]['label']} uses a proxy extractor trained in this project; "
                         "it is not comparable with published figures")
    e2e_seeds = seeds[:cfg.latency_batch or 1]
    e2e = {"teacher": time_sampling(t_unet, e2e_seeds, lsize, sampler, None if cond is None else cond[:len(e2e_seeds)],
                                    uncond, t_info.vae_scale_factor, cfg.e2e_repeats),
           "candidate": time_sampling(c_unet, e2e_seeds, lsize, sampler,
                                      None if cond is None else cond[:len(e2e_seeds)], uncond,
                                      t_info.vae_scale_factor, cfg.e2e_repeats), "device": str(device)}
    latency = measure_latency(cfg, t_unet, t_info, c_unet, c_info, dtype_name)
    result = gate_mod.gate(latency, quality, budget, tolerances)
    report = {
        "schema": "ldprune.report/1",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "device": device_fingerprint(device),
        "teacher": {"model": str(teacher) if not isinstance(teacher, torch.nn.Module) else t_info.name,
                    "fingerprint": model_fingerprint(t_unet), "params": sum(p.numel() for p in t_unet.parameters()),
                    "random_weights": t_info.random_weights},
        "candidate": {"model": str(candidate) if not isinstance(candidate, torch.nn.Module) else c_info.name,
                      "fingerprint": model_fingerprint(c_unet), "params": sum(p.numel() for p in c_unet.parameters()),
                      "random_weights": c_info.random_weights},
        **_fingerprints(cfg, c_unet),
        "sampling": {"n": n, "seeds": [seeds[0], seeds[-1]], **sampler.to_json(), "dtype": dtype_name,
                     "resolution": lsize * t_info.vae_scale_factor, "decoding": decoder.mode,
                     "space": decoder.space,
                     "encoder": encoder, "prompts": _prompt_source(cfg, prompts),
                     "teacher": t_gen, "candidate": c_gen, "mel": cfg.mel.to_json() if "fad" in cfg.metrics else None},
        "quality": quality,
        "latency": latency,
        "e2e_sampling": e2e,
        "memory": {"sampling_peak_mb": {"teacher": t_gen["peak_memory_mb"], "candidate": c_gen["peak_memory_mb"]},
                   "runner_peak_mb": {k: latency[k].get("peak_memory_mb") for k in ("teacher", "candidate")}
                   if latency else None},
        "budget": budget.to_json() if budget else None,
        "tolerances": {k: asdict(v) for k, v in tolerances.items()},
        "gate": result,
        "notes": notes + (["teacher has random weights (a preset): quality figures are not meaningful"]
                          if t_info.random_weights else []),
        "inputs": {k: getattr(cfg, k) for k in ("scores", "profile", "pareto", "curves", "export", "reference")},
    }
    report["wall_time_s"] = time.perf_counter() - t_start
    if cfg.output:
        from .report import write_report

        write_report(report, cfg.output, samples={"teacher": t_img, "candidate": c_img},
                     overwrite=cfg.overwrite, modality=modality)
    if cfg.gate:
        gate_mod.enforce(result, cfg.output)
    return report


def _clip(cfg, info, t_img, c_img, prompts, notes) -> dict[str, Any]:
    if not info.conditional:
        notes.append("CLIP score skipped: the model is unconditional (no prompts)")
        return {"label": "CLIP score", "skipped": "unconditional model"}
    if not cfg.clip_weights:
        notes.append("CLIP score skipped: no --clip-weights given (no number is reported without real CLIP)")
        return {"label": "CLIP score", "skipped": "no --clip-weights"}
    tv, cv = clip_score(t_img, prompts, cfg.clip_weights), clip_score(c_img, prompts, cfg.clip_weights)
    return {"label": "CLIP score", "extractor": {"name": f"clip ({Path(cfg.clip_weights).name})", "kind": "standard"},
            "teacher": tv, "candidate": cv, "drop": gate_mod.quality_drop("clip", tv, cv), "n": len(prompts)}


def _prompt_source(cfg, prompts) -> str | None:
    if not prompts:
        return None
    return str(cfg.prompts) if cfg.prompts else ("embeddings file, evenly spaced" if cfg.embeddings else "builtin")
