"""The ``score`` stage: score every selected candidate, sharded, resumable, one file out.

Sharding: candidates still to do are dealt round-robin to the torch.distributed ranks;
every rank computes the same baseline from the same seeds, so a score does not depend on
which rank (or how many) computed it. Rank 0 gathers and writes the file.

Resume: after each candidate the rank's progress is written atomically (the output file
itself with one process, ``.<name>.rank<r>.partial.json`` beside it with several);
``resume`` reads all of them back and skips what is finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..jsonio import write_json_atomic
from ..catalogue import build_catalogue
from ..errors import LdpruneError
from ..graph_call import use_cuda_graph
from ..models import load_model, parse_dtype
from ..artifacts import SCORES_SCHEMA, Modification
from ..unet import quiet_diffusers
from .additivity import additivity_report, additivity_sets
from .compile import DEFAULT_REGIONS, MODIFIED_BLOCKS, REGIONS, compile_backend, compiled_blocks
from .config import ScoreConfig, select_candidates
from .context import build_context
from .io import read_progress
from .methods import METHODS

log = logging.getLogger("ldprune")


def _init_distributed(device: str) -> tuple[int, int, str, bool]:
    """(rank, world, device, created) from torchrun's environment; nccl on CUDA, gloo on CPU."""
    import torch.distributed as dist

    created = False
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        cuda = torch.device(device).type == "cuda"
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
        created = True
    if not (dist.is_available() and dist.is_initialized()):
        return 0, 1, device, created
    if torch.device(device).type == "cuda" and torch.device(device).index is None:
        device = f"cuda:{int(os.environ.get('LOCAL_RANK', dist.get_rank() % max(1, torch.cuda.device_count())))}"
    return dist.get_rank(), dist.get_world_size(), device, created


@contextlib.contextmanager
def cudnn_benchmark(on: bool):
    """``torch.backends.cudnn.benchmark`` set to ``on`` inside the block (when on), as it was after."""
    old = torch.backends.cudnn.benchmark
    if on:
        torch.backends.cudnn.benchmark = True
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = old


def _key(c: tuple[str, str]) -> str:
    return f"{c[0]}|{c[1]}"


def _partial_files(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.rank*.partial.json"))


def _document(header: dict, cands: list[tuple[str, str]], done: dict[str, dict], joint: dict[int, dict],
              baseline: dict | None, additivity: dict | None, complete: bool) -> dict[str, Any]:
    doc = dict(header)
    doc["baseline"] = baseline
    doc["scores"] = [done[_key(c)] for c in cands if _key(c) in done]
    doc["additivity"] = additivity
    if not complete:
        doc["additivity_progress"] = {str(j): v for j, v in sorted(joint.items())}
    doc["complete"] = complete
    return doc


def _check_output(out: Path, config: ScoreConfig, rank: int) -> None:
    existing = [p for p in [out, *_partial_files(out)] if p.exists()]
    if not existing or config.resume:
        return
    if not config.overwrite:
        raise LdpruneError(f"{existing[0]} already exists",
                           "pass --resume to continue that run, --overwrite to start again, or another -o")
    if rank == 0:
        for p in _partial_files(out):
            p.unlink(missing_ok=True)


def _load_unet(model, config: ScoreConfig, device: str):
    dtype = parse_dtype(config.dtype)
    if isinstance(model, nn.Module):
        unet, info = load_model(model)
        p = next(unet.parameters())
        if p.device != torch.device(device) or p.dtype != dtype:
            with quiet_diffusers():
                unet = unet.to(device=device, dtype=dtype)
    else:
        unet, info = load_model(model, preset=config.preset, device=device, dtype=dtype, quiet=True)
    if config.channels_last:
        unet = unet.to(memory_format=torch.channels_last)
    return unet.eval().requires_grad_(False), info


def _run_tasks(method, ctx, config: ScoreConfig, header: dict, cands, sets, done: dict, joint: dict, baseline,
               mine: list, out: Path, rank: int, world: int) -> tuple[dict | None, dict, dict]:
    """Score this rank's tasks, writing progress after each; ``(baseline, new_done, new_joint)``."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    if mine:
        baseline = method.prepare(ctx)
        # where a cold run's time goes (first compile of the regions vs the sweep) shows in the log
        log.info("baseline (the first calls, compiling the regions where they are compiled): %.1f s",
                 time.perf_counter() - t0)
    took: list[tuple[float, str]] = []
    progress_file = out if world == 1 else out.parent / f".{out.name}.rank{rank}.partial.json"
    new_done: dict[str, dict] = {}
    new_joint: dict[int, dict] = {}
    bar = tqdm(mine, desc=f"score {config.method}", unit="cand", disable=not config.progress or rank != 0,
               dynamic_ncols=True)
    for kind, i in bar:
        t1 = time.perf_counter()
        if kind == "single":
            op, mod = cands[i]
            s, parts = method.score(ctx, [Modification(op, mod)])
            new_done[_key(cands[i])] = {"operator": op, "modification": mod, "score": s, "parts": parts}
        else:
            s, parts = method.score(ctx, [Modification(o, m) for o, m in sets[i]])
            new_joint[i] = {"score": s, "parts": parts}
        took.append((time.perf_counter() - t1, " ".join(cands[i]) if kind == "single" else f"joint set {i}"))
        write_json_atomic(progress_file, _document(header, cands, {**done, **new_done}, {**joint, **new_joint},
                                                   baseline, None, complete=False))
    bar.close()
    if took:
        secs = sorted(t for t, _ in took)
        log.info("sweep: %d tasks in %.1f s (median %.2f s; slowest %s)", len(took), sum(secs), secs[len(secs) // 2],
                 ", ".join(f"{name} {t:.2f} s" for t, name in sorted(took, reverse=True)[:3]))
    return baseline, new_done, new_joint


def cross_process_note(config: ScoreConfig, device, world: int, resumed: bool) -> str | None:
    """A warning where this run mixes scores from several processes that may not agree bit for bit.

    Compiled regions on CUDA: inductor times launch configurations of its Triton kernels on their
    first call, and another choice can sum in another order; two cold runs of SD1.5 on the H200
    differed by 1.2 % (median, 4.0 % at most, README). ``deterministic`` skips that timing."""
    if not (config.compile_blocks and torch.device(device).type == "cuda" and (world > 1 or resumed)):
        return None
    if (config.inductor or {}).get("deterministic"):
        return None
    where = f"{world} processes" if world > 1 else "this run and the one it resumes"
    return (f"{where} each compile the regions: inductor times its kernel configurations per process, so "
            "their scores can differ by ~1 % (2 cold runs of SD1.5 on an H200: 1.2 % median, 4 % at most); "
            "pass --inductor deterministic=true for scores that repeat across processes")


def score(model: str | Path | nn.Module, config: ScoreConfig | None = None) -> dict[str, Any]:
    """Score the selected candidates of ``model``; write ``config.output``; return its content."""
    import torch.distributed as dist

    config = config or ScoreConfig()
    config.validate()  # before loading a large model
    rank, world, device, created = _init_distributed(config.device)
    out = Path(config.output)
    _check_output(out, config, rank)
    t_load = time.perf_counter()
    unet, info = _load_unet(model, config, device)
    log.info("model ready in %.1f s", time.perf_counter() - t_load)
    config.validate(info.conditional)
    method = METHODS[config.method]()
    catalogue = build_catalogue(unet, info, batch=1, resolution=config.resolution, flops=config.method == "size")
    cands = select_candidates(catalogue, config)
    ctx, params = build_context(unet, info, catalogue, config, method.generative)
    params.update(method.params(ctx))
    regions = config.compile_regions or DEFAULT_REGIONS
    if config.compile_blocks:  # recorded only when on: the default run's file and signature are unchanged
        params["compile_blocks"] = {"backend": compile_backend(), "modified_blocks": MODIFIED_BLOCKS,
                                    "regions": regions, "inductor": dict(config.inductor or {})}
    ctx.cuda_graph = method.generative and use_cuda_graph(config.cuda_graph, device,
                                                          "--compile-blocks" if config.compile_blocks else None)
    if ctx.cuda_graph:  # likewise recorded only when on (CPU files are unchanged)
        params["cuda_graph"] = True
    if config.cudnn_benchmark:
        params["cudnn_benchmark"] = True
    sets = additivity_sets(cands, config.check_additivity, config.additivity_max_set, config.seed)
    header = {"schema": SCORES_SCHEMA, "method": config.method, "params": params, "model": info.name,
              "model_fingerprint": info.fingerprint, "n_candidates": len(cands),
              "filters": {"kinds": config.kinds, "mods": config.mods, "include": config.include,
                          "exclude": config.exclude, "explicit": config.candidates is not None}}
    sig_src = json.dumps({"h": header, "c": cands, "s": sets}, sort_keys=True, default=str)
    header["signature"] = hashlib.sha256(sig_src.encode()).hexdigest()[:16]

    done, joint, baseline = ({}, {}, None)
    if config.resume:
        done, joint, baseline = read_progress([out, *_partial_files(out)], header["signature"])
    if world > 1:
        dist.barrier()  # every rank has read the old progress before any rank overwrites it
    note = cross_process_note(config, device, world, resumed=bool(done or joint))
    if note and rank == 0:
        log.warning(note)
    tasks = [("single", i) for i, c in enumerate(cands) if _key(c) not in done]
    tasks += [("joint", j) for j in range(len(sets)) if j not in joint]
    mine = tasks[rank::world]
    compiling = (compiled_blocks(unet, REGIONS[regions], inductor=config.inductor)
                 if config.compile_blocks and mine else contextlib.nullcontext())
    with compiling, cudnn_benchmark(config.cudnn_benchmark):
        baseline, new_done, new_joint = _run_tasks(method, ctx, config, header, cands, sets, done, joint, baseline,
                                                   mine, out, rank, world)
    if world > 1:
        gathered: list = [None] * world
        dist.all_gather_object(gathered, (new_done, new_joint, baseline))
        for d, j, b in gathered:
            done.update(d)
            joint.update(j)
            baseline = baseline or b
    else:
        done.update(new_done)
        joint.update(new_joint)
    additivity = None
    if sets:
        singles = {c: done[_key(c)]["score"] for c in cands}
        additivity = additivity_report(sets, singles, joint, config.additivity_max_set)
    doc = _document(header, cands, done, joint, baseline, additivity, complete=True)
    if rank == 0:
        write_json_atomic(out, doc)
        for p in _partial_files(out):
            p.unlink(missing_ok=True)
    if world > 1:
        dist.barrier()
        if created:
            dist.destroy_process_group()
    return doc
