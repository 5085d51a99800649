"""``profile(model, config)``: measure every candidate modification and write the profile JSON."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

from torch import nn

from ..jsonio import write_json_atomic
from ..catalogue import build_catalogue
from ..device import device_fingerprint
from ..errors import LdpruneError
from ..models import example_inputs, load_model, parse_dtype
from ..runners import RunSpec, get_runner
from ..runners.timing import open_variant, paired
from ..runners.torch_runners import check_dtype, place
from ..artifacts import PROFILE_SCHEMA, Modification, Profile
from ..surgery import swapped
from . import methods as M
from .additivity import check_additivity
from .config import ProfileConfig
from .store import UnitStore

log = logging.getLogger("ldprune")
TIMING_VERSION = "paired-settled/1"   # a partial profile timed otherwise is not resumed


def _check_output(cfg: ProfileConfig, header: dict[str, Any]) -> dict[str, Any] | None:
    """A finished profile to return as is (``--resume`` on a complete run), else None; refuse overwrites."""
    if cfg.output is None or not Path(cfg.output).exists():
        return None
    if cfg.resume:
        prof = Profile.read(cfg.output)
        if prof.get("settings", {}).get("header") == header:
            log.info("%s is already complete; nothing to resume", cfg.output)
            return prof
        if not cfg.overwrite:
            raise LdpruneError(f"profile {cfg.output} exists and was measured with other settings",
                               "choose another -o path, or pass --overwrite")
    if not (cfg.overwrite or cfg.resume):
        raise LdpruneError(f"profile {cfg.output} already exists", "choose another -o path, or pass --overwrite")
    return None


def _bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="profile", unit="unit", disable=not enabled, dynamic_ncols=True,
                mininterval=1.0 if sys.stderr.isatty() else 15.0)  # logs of device runs stay short


def profile(model: nn.Module | str, config: ProfileConfig) -> dict[str, Any]:
    """Measure per-operator latency savings (methods of ``config``) and return/write the profile."""
    cfg = config
    t_start = time.time()
    runner = get_runner(cfg.backend)
    dtype = parse_dtype(cfg.dtype)
    check_dtype(dtype, runner.device)
    if "ablation" in cfg.methods and cfg.backend == "torch-compile":
        raise LdpruneError("ablation with torch-compile would recompile the whole UNet for every candidate",
                           "profile ablation with torch-graph, or pass --methods in_situ,isolated")
    if isinstance(model, nn.Module):
        unet, info = load_model(model, preset=config.preset)
        place(unet, runner.device, dtype)
    else:
        unet, info = load_model(model, preset=config.preset, device=runner.device, dtype=dtype, quiet=True)
    resolution = cfg.resolution or info.resolution
    header = {**cfg.settings(), "resolution": resolution, "model_fingerprint": info.fingerprint,
              "methods": list(cfg.methods), "check_additivity": cfg.check_additivity, "seed": cfg.seed,
              "timing": TIMING_VERSION}
    done = _check_output(cfg, header)
    if done is not None:
        return done

    cat = build_catalogue(unet, info, batch=cfg.batch, resolution=resolution)
    cands = [c for c in cat.candidates(cfg.mods) if cfg.selects(*c)][:cfg.max_candidates]
    if not cands:
        raise LdpruneError("no candidate modification matches the --include filter", "loosen or drop --include")
    if any(m == "fp8" for _, m in cands):
        from ..surgery.fp8 import fp8_runs_fast_here

        ok, why = fp8_runs_fast_here(runner.device)
        if not ok:
            raise LdpruneError(f"fp8 savings cannot be profiled with {cfg.backend}: {why}",
                               "profile fp8 on an FP8 GPU with torch-graph / torch-compile, or drop fp8 from --mods")
    ops = list(dict.fromkeys(op for op, _ in cands))
    mods_of = {op: [m for o, m in cands if o == op] for op in ops}
    kinds = {op: cat.get(op).kind for op in ops}
    norms = {op: M.feeding_norm(unet, op, kinds[op]) if "remove" in mods_of[op] else None for op in ops}
    rounds = M.conflict_free_rounds(cands) if "in_situ" in cfg.methods else []

    keys = ["full"]
    if "in_situ" in cfg.methods:
        keys += ["in_situ/base"] + [f"in_situ/round/{i}" for i in range(len(rounds))]
    if "isolated" in cfg.methods:
        keys += [f"isolated/{op}" for op in ops]
    if "ablation" in cfg.methods:
        keys += [f"ablation/{op}|{mod}" for op, mod in cands]
    keys += [f"additivity/{lv}/{i}" for lv in cfg.levels for i in range(cfg.check_additivity)]

    store = UnitStore(cfg.output, header, cfg.checkpoint_every, cfg.on_unit)
    if cfg.resume:
        n = store.load()
        if n:
            log.info("resuming: %d of %d units already measured", n, len(keys))
    store.bar = _bar(len(keys), sum(1 for k in keys if k in store.done), cfg.progress)
    spec = RunSpec(batch=cfg.batch, resolution=resolution, dtype=cfg.dtype, text_len=cfg.text_len,
                   warmup=cfg.warmup, iters=cfg.iters, settle_s=cfg.settle_s, rounds=cfg.rounds,
                   options=dict(cfg.backend_options))
    dev = runner.device
    inputs = example_inputs(unet, info, batch=cfg.batch, resolution=resolution, dtype=dtype, device=dev,
                            text_len=cfg.text_len, seed=cfg.seed)
    section_s: dict[str, float] = {}
    clock = [time.perf_counter()]

    def lap(name: str) -> None:
        now = time.perf_counter()
        section_s[name] = round(now - clock[0], 2)
        clock[0] = now

    try:
        full = store.unit("full", lambda: runner.measure(unet, info, spec).to_json())
        res: dict[str, Any] = {"full": full}
        lap("full")
        if "in_situ" in cfg.methods:
            ids = ops + [n for n in norms.values() if n]
            res["in_situ"] = store.unit("in_situ/base", lambda: M.in_situ_times(
                unet, inputs, ids, dev, cfg.op_warmup, cfg.op_iters))
            res["in_situ_mod"] = {}
            for i, rd in enumerate(rounds):
                res["in_situ_mod"].update(store.unit(f"in_situ/round/{i}", lambda rd=rd: M.in_situ_modified(
                    unet, inputs, rd, dev, cfg.op_warmup, cfg.op_iters)))
            lap("in_situ")
        if "isolated" in cfg.methods:
            todo = [op for op in ops if f"isolated/{op}" not in store.done]
            captured = M.capture_inputs(unet, inputs, todo + [norms[o] for o in todo if norms[o]]) if todo else {}
            res["isolated"] = {op: store.unit(f"isolated/{op}", lambda op=op: M.isolated_op(
                unet, op, kinds[op], mods_of[op], captured, norms[op], dev, cfg.op_warmup, cfg.op_iters,
                cfg.op_reps if dev == "cuda" else 1)) for op in ops}
            del captured
            lap("isolated")
        if "ablation" in cfg.methods:
            res["ablation"] = _ablation(runner, unet, info, spec, cands, store)
            lap("ablation")
        prof = _assemble(cfg, info, cat, cands, norms, res, inputs, header, runner.device)
        if cfg.check_additivity:
            add = check_additivity(unet, prof, cfg.check_additivity, info=info, levels=cfg.levels, seed=cfg.seed,
                                   runner=runner, spec=spec, unit=store.unit)
            prof["additivity"] = add["summary"]
            prof["additivity_plans"] = add["plans"]
            lap("additivity")
    except BaseException:
        store.save()  # keep everything measured so far for --resume
        raise
    finally:
        store.bar.close()
    prof["wall_time_s"] = round(time.time() - t_start, 2)
    prof["units_measured_this_run"] = store.measured_now
    # seconds spent per method in this run (a resumed run only counts what it measured itself)
    prof["method_wall_s"] = section_s
    if cfg.output is not None:
        write_json_atomic(cfg.output, prof)
        store.discard()
    return prof


def _ablation(runner, unet, info, spec: RunSpec, cands, store: UnitStore) -> dict[str, Any]:
    """Each candidate's saving as a paired difference: the full model stays bound and is timed in
    interleaved rounds with the modified one, so a machine that drifts cannot turn into a saving."""
    out: dict[str, Any] = {}
    todo = [c for c in cands if f"ablation/{c[0]}|{c[1]}" not in store.done]
    ref = open_variant(runner, unet, info, spec) if todo else None
    try:
        for op, mod in cands:
            def one(op=op, mod=mod):
                cand = open_variant(runner, unet, info, spec, lambda: swapped(unet, Modification(op, mod)))
                try:
                    pr = paired([ref, cand], spec, name=runner.name, warn=False)
                finally:
                    cand.close()
                d = pr.delta[0]
                return {"saving_ms": -d["median"], "p10_ms": -d["p90"], "p90_ms": -d["p10"],
                        "reference_ms": pr.reference.median_ms, "drifted": pr.drift["drifted"]}
            out[f"{op}|{mod}"] = store.unit(f"ablation/{op}|{mod}", one)
    finally:
        if ref is not None:
            ref.close()
    drifted = sum(1 for a in out.values() if a.get("drifted"))
    if drifted:
        log.warning("ablation: the full model drifted beyond its noise (and 1 %%) during %d of %d paired "
                    "measurements; each saving is still a paired difference (see its spread)", drifted, len(out))
    return out


def _shapes(inputs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in inputs.items():
        out[k] = _shapes(v) if isinstance(v, dict) else list(v.shape)
    return out


def _measurement(cfg: ProfileConfig, info, res: dict[str, Any]) -> dict[str, Any]:
    """What every whole-model figure of this profile was measured under (held fixed by the runners)."""
    full = res["full"]
    abl = res.get("ablation") or {}
    return {"timing": "runners.timing (the path plan --verify, predictor_accuracy and evaluate use)",
            "settle_s": cfg.settle_s, "warmup": cfg.warmup, "iters": cfg.iters, "rounds": cfg.rounds,
            "statistic": "median", "clock": "CUDA events" if cfg.backend.startswith("torch-") else "runner's",
            "conditions": (full.get("extra") or {}).get("conditions"),
            "weights": f"{info.source}" + (" (random weights initialised on the target device)" if info.random_weights
                                           else ""),
            "ablation_reference_drifted": sum(1 for a in abl.values() if a.get("drifted")) if abl else None}


def _method_notes(backend: str, device: str) -> dict[str, str]:
    return {"in_situ": "hooks inside eager forwards (" + ("CUDA events" if device == "cuda" else "perf_counter") + ")",
            "isolated": ("each operator alone on its captured inputs, replayed from a per-operator CUDA graph"
                         if device == "cuda" else "each operator alone on its captured inputs, eager (perf_counter)"),
            "ablation": f"whole model with one modification against the full model, timed paired (interleaved "
                        f"rounds) by the {backend} runner"}


def _assemble(cfg: ProfileConfig, info, cat, cands, norms, res, inputs, header, device: str) -> dict[str, Any]:
    full_ms = res["full"]["median_ms"]
    operators: dict[str, Any] = {}
    for op, mod in cands:
        o = cat.get(op)
        rec = operators.setdefault(op, {"kind": o.kind, "flops": o.flops, "params": o.params,
                                        "latency_ms": {}, "tflops": {}, "savings_ms": {}})
        sav = rec["savings_ms"].setdefault(mod, {})
        norm = norms[op] if mod == "remove" else None
        if "in_situ" in res:
            base = res["in_situ"]
            rec["latency_ms"]["in_situ"] = base[op]
            sav["in_situ"] = base[op] - res["in_situ_mod"][f"{op}|{mod}"] + (base.get(norm, 0.0) if norm else 0.0)
        if "isolated" in res:
            iso = res["isolated"][op]
            rec["latency_ms"]["isolated"] = iso["orig"]
            sav["isolated"] = iso["orig"] - iso["mods"][mod] + (iso.get("norm", 0.0) if norm else 0.0)
        if "ablation" in res:
            a = res["ablation"][f"{op}|{mod}"]
            sav["ablation"] = a["saving_ms"]
            rec.setdefault("ablation_spread_ms", {})[mod] = [a["p10_ms"], a["p90_ms"]]
        if norm:
            rec["feeding_norm"] = {"id": norm, "latency_ms": {
                m: v for m, v in (("in_situ", res.get("in_situ", {}).get(norm)),
                                  ("isolated", res.get("isolated", {}).get(op, {}).get("norm"))) if v is not None}}
    for rec in operators.values():
        rec["tflops"] = {m: rec["flops"] / (ms * 1e9) for m, ms in rec["latency_ms"].items() if ms > 0}
    methods = list(cfg.methods)
    return {
        "schema": PROFILE_SCHEMA,
        "device": device_fingerprint(device),
        "model": info.name, "model_fingerprint": info.fingerprint,
        "backend": cfg.backend, "backend_options": {k: str(v) for k, v in cfg.backend_options.items()},
        "dtype": cfg.dtype, "batch": cfg.batch, "resolution": header["resolution"],
        "text_len": (cfg.text_len or info.text_len) if info.conditional else None,
        "shapes": _shapes(inputs),
        "full_latency_ms": res["full"],
        "full_flops": cat.total_flops, "full_tflops": cat.total_flops / (full_ms * 1e9),
        "methods": methods, "method_notes": {m: n for m, n in _method_notes(cfg.backend, device).items() if m in methods},
        "default_method": cfg.default_method or ("isolated" if "isolated" in methods else methods[0]),
        "operators": operators,
        "n_candidates": len(cands), "n_candidates_catalogue": len(cat.candidates()),
        "additivity": None,
        "measurement": _measurement(cfg, info, res),
        "settings": {"warmup": cfg.warmup, "iters": cfg.iters, "op_warmup": cfg.op_warmup,
                     "op_iters": cfg.op_iters, "op_reps": cfg.op_reps, "header": header},
        "random_weights": info.random_weights,
    }
