"""Train the three quality-benchmark teachers (emoji T2I, emoji UIG, notes UAG) on the GPU.

    python benchmarks/train_teachers.py --data data_cache --emb data_cache/emoji-emb.safetensors \
        --proxies benchmarks/assets --out $OUT/teachers
    python benchmarks/train_teachers.py --smoke --data DIR --limit N --emb FILE --out DIR   # CPU check

DDPM epsilon loss on the toolchain's default schedule, AdamW + warm-up/cosine, bf16 autocast
on CUDA, EMA weights (those are saved and evaluated), proxy-FID (proxy-FAD for mel) of EMA
samples (DDIM, guidance 1; T2I samples from held-out captions; fp32 without TF32, or bf16
autocast with ``--eval-precision bf16``) against the held-out split, which
neither the teacher nor any distillation trains on, plus the proxy alignment for T2I. At the end:
the metric over 3 sampling seeds, the plateau verdict (``quality.evidence.plateau``: flat over the
last 20 % of steps within the seed range; ``quality.evidence.trend`` beside it: a drift beyond the seed noise) and the sanity ladder (real training split << teacher <<
uniform noise, against the held-out split). Training stops at the configured steps or ``--max-seconds`` of
training time, whichever comes first (the step count reached is recorded); evaluation time is
not training time. Evaluation points: by default (``--eval-every 0``) ``--eval-points`` evenly
spaced fractions of that budget, the last one at the end, so a run gets the same number of
points however many steps it reaches; ``--eval-every N`` evaluates every N steps (and at the end).

CUDA graphs (``--cuda-graph``, auto = on for CUDA): these UNets are small (2.7–5.6 M params)
and a training step is launch-bound. On the H100 an eager step took ~40–50 ms, almost all of it
Python and kernel launches for a step whose GPU work is ~1–2 ms, and with a ~150 s budget the
step count reached is what limits teacher quality. So the UNet's forward and backward are
captured once (``torch.cuda.make_graphed_callables``) and replayed; sampling, noise, loss,
clipping, the fused AdamW step and the EMA stay eager (a handful of kernels). The graphed call
is compared with the eager one on a fresh batch before it is used; if capture or that check
fails, auto prints why and trains eagerly (``on`` stops instead). curves.json records which.

Output (7 files): <name>/unet/{config.json, diffusion_pytorch_model.safetensors} (fp16) per
teacher, and curves.json.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime
import gc
import math
import sys
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ldprune_deploy.jsonio import write_json_atomic
from ldprune_deploy.quality.numerics import EVAL_PRECISIONS, eval_numerics, feature_numerics, recorded_precision
from ldprune_deploy.quality.proxy import load_proxy, proxy_path
from ldprune_deploy.quality.teachers import TEACHERS, TeacherConfig, build_teacher, teacher_data
from ldprune_deploy.sampling import SamplerConfig, generate, make_scheduler
from ldprune_deploy.spaces import to_unit_images

EMA_DECAY = 0.999
# relative L2 error allowed between the graphed and the eager eps / parameter grads on one batch;
# bf16 rounding and nondeterministic reductions stay far below it, a stale input or output buffer
# or a doubled grad does not
GRAPH_CHECK_TOL = 0.05
GRAPH_CHECK_SEED = 1234


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="data cache folder (default data_cache/)")
    ap.add_argument("--limit", type=int, help="use the --limit slices of the data sets")
    ap.add_argument("--emb", help="caption EmbeddingFile (default <data>/emoji[-N]-emb.safetensors)")
    ap.add_argument("--proxies", default="benchmarks/assets", help="folder with proxy-emoji.safetensors, proxy-mel.safetensors")
    ap.add_argument("--out", required=True)
    ap.add_argument("--only", nargs="*", choices=list(TEACHERS))
    ap.add_argument("--steps", type=int, help="override every teacher's step count")
    ap.add_argument("--max-seconds", type=float, default=100.0, help="training-time cap per teacher (default 100)")
    ap.add_argument("--eval-every", type=int, default=0,
                    help="proxy-FID every N steps and at the end; 0 (default): at --eval-points points of the budget")
    ap.add_argument("--eval-points", type=int, default=6,
                    help="with --eval-every 0: evaluate at 1/N, 2/N, ..., 1 of the training budget (default 6)")
    ap.add_argument("--cuda-graph", choices=["auto", "on", "off"], default="auto",
                    help="replay the UNet's forward+backward from a CUDA graph (auto: on for CUDA, with an eager "
                         "fallback if capture fails; on: fail instead)")
    ap.add_argument("--fid-n", type=int, default=1000, help="generated samples per proxy-FID point")
    ap.add_argument("--sample-steps", type=int, default=25, help="DDIM steps for the FID samples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--final-seeds", type=int, default=3,
                    help="sampling seeds of the final evaluation (default 3): their range is the noise the plateau "
                         "rule allows the curve's last 20%%, so more seeds estimate it better")
    ap.add_argument("--resume-from", metavar="DIR",
                    help="continue the teachers saved in DIR (DIR/<name>/unet + DIR/curves.json, e.g. "
                         "benchmarks/assets/teachers): --steps / --max-seconds are this run's extra budget")
    ap.add_argument("--new-curve", action="store_true",
                    help="with --resume-from, where the proxies changed since the saved curve: keep that curve as "
                         "history (earlier_curves) and measure a new one with the current proxies, from a point at "
                         "the resume step (without this flag a proxy change is refused: one curve, one metric)")
    ap.add_argument("--lr-scale", type=float, default=1.0,
                    help="this run's peak learning rate as a fraction of the config's (e.g. 0.3 to continue an "
                         "annealed teacher without a full-rate warm restart); recorded in the run's segment")
    ap.add_argument("--dropout", type=float, default=0.0,
                    help="dropout in the UNet's ResNet blocks while training (a regulariser against fitting the "
                         "few thousand training items; default 0). Recorded in curves.json; the saved config has 0, "
                         "so students copied from the teacher distil without it")
    ap.add_argument("--ema-decay", type=float, default=EMA_DECAY,
                    help=f"decay of the EMA weights that are evaluated and saved (default {EMA_DECAY:g}; a longer "
                         "average smooths the late curve)")
    ap.add_argument("--eval-precision", choices=list(EVAL_PRECISIONS), default="fp32",
                    help="numerics of the proxy-metric evaluations on CUDA (default fp32: TF32 off, so a "
                         "checkpoint's metric is not shifted by rounding its weights to bf16; bf16: bf16 autocast, as "
                         "every curve before 2026-12-05). The CPU always evaluates in fp32. A resumed curve keeps its "
                         "precision unless --new-curve")
    ap.add_argument("--shadow-precision", choices=list(EVAL_PRECISIONS),
                    help="also evaluate this run's curve points and final seeds in this precision (recorded as "
                         "'shadow' with its own plateau verdict): the same checkpoints measured both ways")
    ap.add_argument("--smoke", action="store_true", help="2 steps at batch 4, 8-sample FID: a CPU check")
    a = ap.parse_args(argv)
    if a.smoke:
        a.steps, a.eval_every, a.fid_n, a.sample_steps = a.steps or 2, 1, 8, 1
    if a.final_seeds < 2:
        ap.error(f"--final-seeds needs at least 2 seeds (their range is the plateau rule's noise), not {a.final_seeds}")
    if a.eval_every < 0 or a.eval_points < 1:
        ap.error("--eval-every must be >= 0 and --eval-points >= 1")
    if not 0 < a.lr_scale <= 1:
        ap.error(f"--lr-scale takes a fraction in (0, 1], not {a.lr_scale}")
    if not 0 <= a.dropout < 1:
        ap.error(f"--dropout takes a probability in [0, 1), not {a.dropout}")
    if not 0 < a.ema_decay < 1:
        ap.error(f"--ema-decay takes a decay in (0, 1), not {a.ema_decay}")
    if a.shadow_precision == a.eval_precision:
        ap.error(f"--shadow-precision {a.shadow_precision} is the --eval-precision already: name the other one")
    if a.new_curve and not a.resume_from:
        ap.error("--new-curve needs --resume-from (it re-measures a saved teacher's curve)")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if a.cuda_graph == "on" and device != "cuda":
        ap.error("--cuda-graph on needs a CUDA device and none is visible: pass --cuda-graph auto (or off) on this machine")
    if device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    out = Path(a.out)
    curves = {"schema": "ldprune.bench.teacher_curves/1", "date": datetime.datetime.now().isoformat(timespec="seconds"),
              "device": torch.cuda.get_device_name() if device == "cuda" else "cpu", "torch": torch.__version__,
              "seed": a.seed, "smoke": a.smoke, "metric_note": "proxy metrics: features of a CNN trained here "
              "(benchmarks/train_proxies.py), not Inception/VGGish", "teachers": {}}
    for name in a.only or list(TEACHERS):
        curves["teachers"][name] = train_one(TEACHERS[name], a, device, out)
        write_json_atomic(out / "curves.json", curves)   # after each teacher: a crash keeps the finished ones
        # a graphed teacher's module and graph pool sit in a reference cycle (the patched forward
        # refers to its module): free them before the next teacher allocates
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
    return 0


class EvalSchedule:
    """When to measure proxy-FID. ``every > 0``: every ``every`` steps. ``every == 0``: at the
    fractions 1/points, 2/points, ..., 1 of the training budget, where progress is whichever of
    ``step / steps`` and ``seconds / max_seconds`` is further along (what the LR cosine follows),
    so the points are time-based when the time cap binds. Always at the end of training."""

    def __init__(self, steps: int, max_seconds: float, every: int = 0, points: int = 6):
        self.steps, self.max_seconds, self.every, self.points = steps, max_seconds, every, points
        self._passed_at_last_eval = 0

    def progress(self, step: int, seconds: float) -> float:
        return min(1.0, max(step / self.steps, seconds / self.max_seconds))

    def finished(self, step: int, seconds: float) -> bool:
        return step >= self.steps or seconds >= self.max_seconds

    def points_passed(self, step: int, seconds: float) -> int:
        # the epsilon keeps a point that float sums land a hair short of (50 s as 49.99999...) on
        # time; the last point is reached only by finished(), else a near-miss there would give
        # one evaluation just before the end and another at it
        return min(self.points - 1, math.floor(self.progress(step, seconds) * self.points + 1e-9))

    def due(self, step: int, seconds: float) -> bool:
        """Whether to evaluate after ``step`` steps and ``seconds`` of training (no side effects)."""
        if self.finished(step, seconds):
            return True
        if self.every:
            return step % self.every == 0
        return self.points_passed(step, seconds) > self._passed_at_last_eval

    def mark(self, step: int, seconds: float) -> None:
        """Record an evaluation (a point skipped over between two steps is not made up)."""
        self._passed_at_last_eval = self.points_passed(step, seconds)

    def describe(self) -> str:
        if self.every:
            return f"every {self.every} steps and at the end"
        return (f"{self.points} points at k/{self.points} of the budget (min of {self.steps} steps, "
                f"{self.max_seconds:g} s of training), the last at the end")


class EpsCall(torch.nn.Module):
    """``unet(sample, timestep[, encoder_hidden_states])[0]`` with positional tensor arguments
    and a tensor result: the form ``make_graphed_callables`` takes."""

    def __init__(self, unet: torch.nn.Module):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states=None):
        kw = {} if encoder_hidden_states is None else {"encoder_hidden_states": encoder_hidden_states}
        return self.unet(sample, timestep, **kw, return_dict=False)[0]


def make_autocast(device: str, graphed: bool) -> Callable[[], contextlib.AbstractContextManager]:
    # make_graphed_callables refuses autocast's cast cache (casts cached during capture would be
    # freed while the graph still reads them); with it off the weight casts are part of the graph
    # and are redone from the updated fp32 weights at every replay
    return lambda: torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device == "cuda",
                                  cache_enabled=False if graphed else None)


def check_graphed(graphed, eager, params: list[torch.Tensor], args: tuple, target: torch.Tensor,
                  autocast_graphed, autocast_eager, tol: float = GRAPH_CHECK_TOL) -> str | None:
    """None if two successive graphed forward+backward passes on ``args`` give the eager eps and
    parameter grads (relative L2 error <= tol), else what differed. ``args`` should not be the
    capture's sample batch, so a replay that ignored its inputs would show. Leaves grads None."""

    def run(fn, autocast):
        for p in params:
            p.grad = None
        # the same random stream for every call, so a UNet with dropout draws the same masks eagerly
        # and in a replay (a replay takes its Philox seed and offset from the generator's state)
        torch.manual_seed(GRAPH_CHECK_SEED)
        with autocast():
            eps = fn(*args)
        F.mse_loss(eps.float(), target).backward()
        grads = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p)).detach().float().flatten()
                           for p in params])
        return eps.detach().float().clone(), grads

    def rel(x, ref):
        return float((x - ref).norm() / ref.norm().clamp_min(1e-12))

    # forked: the check's seeding leaves the training loop's random stream as it was
    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        try:
            ref_eps, ref_grads = run(eager, autocast_eager)
            for i in range(2):
                eps, grads = run(graphed, autocast_graphed)
                de, dg = rel(eps, ref_eps), rel(grads, ref_grads)
                if not (de <= tol and dg <= tol):   # written so that NaN fails too
                    return (f"graphed call {i + 1} differs from eager: eps rel. error {de:.3g}, "
                            f"grads rel. error {dg:.3g} (tolerance {tol:g})")
        finally:
            for p in params:
                p.grad = None
    return None


def wants_graph(mode: str, device: str) -> bool:
    """--cuda-graph auto / on / off: auto tries a graph on CUDA only."""
    return mode == "on" or (mode == "auto" and device == "cuda")


def setup_eps_call(unet: torch.nn.Module, device: str, mode: str, sample_args: tuple, check_args: tuple,
                   check_target: torch.Tensor) -> tuple[Callable, dict]:
    """The UNet call the training loop uses, and what to record about it: ``{"cuda_graph": bool,
    "cuda_graph_fallback": str | None, "cuda_graph_capture_seconds": float | None}``.

    ``mode`` is auto / on / off (main() has already refused ``on`` without CUDA). With a graph the
    call must run under ``make_autocast(device, True)``; the returned dict's ``autocast`` is the
    factory to use either way."""
    eager = EpsCall(unet)
    info = {"cuda_graph": False, "cuda_graph_fallback": None, "cuda_graph_capture_seconds": None,
            "autocast": make_autocast(device, False)}
    if not wants_graph(mode, device):
        return eager, info
    t0 = time.perf_counter()
    try:
        autocast = make_autocast(device, True)
        # train mode as in the loop (the graphed forward only replays while the module's training
        # flag matches the captured one); no hooks on it; unet's buffers (none) need no grad
        wrapper = EpsCall(unet).train()
        with autocast():
            # the sample args are clones of a real batch: the shapes, dtypes and requires_grad
            # (False for all, as in the loop) the replays will see. allow_unused_input: a parameter
            # that gets no grad eagerly gets None here too, rather than an error
            graphed = torch.cuda.make_graphed_callables(
                wrapper, tuple(x.detach().clone() for x in sample_args), num_warmup_iters=3, allow_unused_input=True)
        params = [p for p in unet.parameters() if p.requires_grad]
        bad = check_graphed(graphed, eager, params, check_args, check_target, autocast, make_autocast(device, False))
        if bad is not None:
            raise RuntimeError(bad)
    except Exception as e:  # noqa: BLE001 - any capture failure means: train eagerly (auto) or stop (on)
        reason = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        if mode == "on":
            raise SystemExit(f"--cuda-graph on: capturing the UNet failed ({reason}); "
                             f"pass --cuda-graph auto to fall back to eager training") from e
        print(f"  CUDA graph not used, training eagerly: {reason}")
        info["cuda_graph_fallback"] = reason
        return eager, info
    info.update(cuda_graph=True, cuda_graph_capture_seconds=round(time.perf_counter() - t0, 2), autocast=autocast)
    return graphed, info


def train_one(cfg: TeacherConfig, a, device: str, out: Path) -> dict:
    torch.manual_seed(a.seed)
    # on the device: a CPU index tensor copied over each step is a blocking copy that stalls the
    # host until the GPU has drained, and the host has to run ahead for a launch-bound step
    g = torch.Generator(device).manual_seed(a.seed)
    td = teacher_data(cfg.data, cfg.space, cfg.conditional, a.data, a.emb, a.limit)
    x, cond, x_ref, cond_ref = td.x_train, td.cond_train, td.x_ref, td.cond_ref
    evaluate, fid_metric, align, proxy_meta = make_evaluator(cfg, a, device, x_ref, cond_ref)
    unet = build_teacher(cfg, a.dropout).to(device).train()
    prior = resume_point(a, cfg, unet, proxy_meta, len(x_ref))
    ema = copy.deepcopy(unet).eval().requires_grad_(False)
    step0, s0 = (prior["steps_done"], prior["train_seconds_total"]) if prior else (0, 0.0)
    sched = make_scheduler(SamplerConfig(scheduler="ddpm"))
    acp = sched.alphas_cumprod.to(device)
    steps = a.steps or cfg.steps
    batch = 4 if a.smoke else cfg.batch
    # fused AdamW and one foreach EMA update: a tiny UNet's step is launch-bound, so fewer kernels = more steps
    lr = cfg.lr * a.lr_scale
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0, fused=device == "cuda")
    ema_params, params = list(ema.parameters()), list(unet.parameters())
    warm = max(1, min(200, steps // 10))
    evals = EvalSchedule(steps, a.max_seconds, a.eval_every, a.eval_points)

    def lr_factor(step: int, seconds: float) -> float:
        # cosine over whichever budget runs out first (steps or --max-seconds), so a
        # time-capped teacher still ends annealed instead of stopping at a high learning rate
        return min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * evals.progress(step, seconds)))
    x_dev = x.to(device)
    cond_dev = cond.to(device) if cond is not None else None

    def make_batch(gen: torch.Generator) -> tuple[tuple, torch.Tensor]:
        """((xt, t[, text embeddings]), noise): the UNet's inputs and its epsilon target."""
        idx = torch.randint(0, len(x), (batch,), generator=gen, device=device)
        x0 = x_dev[idx]
        noise = torch.randn_like(x0)
        t = torch.randint(0, len(acp), (batch,), device=device)
        ab = acp[t].view(-1, 1, 1, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        if cond_dev is None:
            return (xt, t), noise
        c = cond_dev[idx]
        keep = (torch.rand(batch, 1, 1, device=device) >= cfg.cond_drop).to(c.dtype)
        return (xt, t, c * keep), noise

    n_params = sum(p.numel() for p in unet.parameters())
    print(f"{cfg.name}: {n_params / 1e6:.2f} M params, {len(x)} training items, {steps} steps x {batch} on {device}")
    graph_info: dict = {"cuda_graph": False, "cuda_graph_fallback": None, "cuda_graph_capture_seconds": None}
    eps_call, autocast = EpsCall(unet), make_autocast(device, False)
    if wants_graph(a.cuda_graph, device):
        # capture and check batches from forked RNG and their own index generator, so the training
        # batches are the same whether or not a graph is tried
        with torch.random.fork_rng(devices=[torch.cuda.current_device()] if device == "cuda" else [], device_type="cuda"):
            gen = torch.Generator(device).manual_seed(a.seed + 1)
            sample_args, _ = make_batch(gen)
            check_args, check_target = make_batch(gen)
        eps_call, graph_info = setup_eps_call(unet, device, a.cuda_graph, sample_args, check_args, check_target)
        autocast = graph_info.pop("autocast")
        if graph_info["cuda_graph"]:
            print(f"  CUDA graph: forward+backward captured and checked in {graph_info['cuda_graph_capture_seconds']} s")
    log = {"step": [], "loss": [], "proxy_fid": [], "proxy_fid_step": [], "train_seconds": []}
    if align is not None:
        log["proxy_alignment"] = []
    if prior:   # the curve goes on where the last run left it (global steps and seconds)
        log = {k: list(prior.get(k, [])) for k in log}
    t_train, step = 0.0, 0
    new_curve = bool(prior) and not log["proxy_fid_step"]   # rebased by --new-curve: it starts at the resume point
    shadow = ({"eval_precision": a.shadow_precision, "proxy_fid_step": [], "proxy_fid": []}
              | ({"proxy_alignment": []} if align is not None else {})) if a.shadow_precision else None

    def point(step: int, note: str = "") -> None:
        record_eval(log, step, evaluate(ema), cfg, note)
        if shadow:
            record_eval(shadow, step, evaluate(ema, 0, a.shadow_precision), cfg, f"{a.shadow_precision} shadow")
    if new_curve:
        point(step0)
    while step < steps and t_train < a.max_seconds:
        t0 = time.perf_counter()
        args, noise = make_batch(g)
        with autocast():
            eps = eps_call(*args)
        loss = F.mse_loss(eps.float(), noise)
        # set_to_none=True is also what a graphed call needs: its backward hands autograd grads that
        # live in the graph's static buffers, and AccumulateGrad adopts them as .grad when .grad is
        # None; a zeroed-in-place .grad would be that same buffer, and "grad += new" would double it
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        for group in opt.param_groups:
            group["lr"] = lr * lr_factor(step, t_train)
        opt.step()
        with torch.no_grad():
            decay = min(a.ema_decay, (1 + step0 + step) / (10 + step0 + step))   # warm-up: early EMA is not stuck at init
            torch._foreach_lerp_(ema_params, params, 1 - decay)
        step += 1
        log_now = step % 50 == 0 or a.smoke
        # the host runs ahead of the GPU between syncs; sync where the clock is read for a log
        # line or an evaluation so neither charges training work to the evaluation or vice versa
        if device == "cuda" and (log_now or evals.due(step, t_train + time.perf_counter() - t0)):
            torch.cuda.synchronize()
        t_train += time.perf_counter() - t0
        if log_now:
            log["step"].append(step0 + step)
            log["loss"].append(round(loss.item(), 5))
            log["train_seconds"].append(round(s0 + t_train, 2))
        if evals.due(step, t_train):
            evals.mark(step, t_train)
            point(step0 + step, f"loss {loss.item():.4f}, {step * batch / max(t_train, 1e-9):.0f} samples/s "
                  f"({step / max(t_train, 1e-9):.1f} it/s)")
    evidence = final_evidence(ema, cfg, a, evaluate, fid_metric, align, x, x_ref, cond_ref, log, step0 + step)
    if shadow:
        evidence["shadow"] = shadow_evidence(ema, a, evaluate, shadow, step0 + step)
    segments = (prior.get("segments") or [{"steps": step0, "train_s": s0, "note": "run before resume support"}]
                if prior else []) + [{"steps": step, "train_s": round(t_train, 1), "max_seconds": a.max_seconds,
                                      "resumed": bool(prior), "date": datetime.date.today().isoformat(),
                                      # a resumed teacher's segments may come from different machines
                                      "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
                                      **({"lr_scale": a.lr_scale} if a.lr_scale != 1 else {}),
                                      **({"dropout": a.dropout} if a.dropout else {}),
                                      **({"ema_decay": a.ema_decay} if a.ema_decay != EMA_DECAY else {}),
                                      "eval_precision": a.eval_precision,
                                      **({"new_curve_from_step": step0} if new_curve else {})}]
    folder = out / cfg.name / "unet"
    if a.dropout:   # saved as an inference model: distillation starts its students without the teacher's dropout
        ema.register_to_config(dropout=0.0)
    ema.half().save_pretrained(str(folder), safe_serialization=True)
    _tag_config(folder / "config.json", cfg)
    return {"config": cfg.name, "cls": cfg.cls, "params": n_params, "data": cfg.data, "space": cfg.space,
            "steps_planned": steps, "steps_done": step0 + step, "segments": segments, "batch": batch, "lr": cfg.lr,
            "lr_schedule": f"warm-up {warm} steps, cosine over min(steps, {a.max_seconds:g} s) of progress", "ema_decay": a.ema_decay,
            "dropout": a.dropout,
            "train_seconds_total": round(s0 + t_train, 1), "it_per_s": round(step / max(t_train, 1e-9), 2),
            "fid_n": a.fid_n, "sample_steps": a.sample_steps, "sampler": "ddim, guidance 1",
            "eval_precision": a.eval_precision, "eval_numerics": EVAL_PRECISIONS[a.eval_precision],
            "eval_schedule": evals.describe(), **graph_info,
            "fid_reference": f"{len(x_ref)} held-out items (used neither for teacher training nor for distillation)",
            "metric_captions": "held-out captions" if cfg.conditional else None, "proxy": proxy_meta.get("modality"),
            "proxy_accuracy": proxy_meta.get("held_out_accuracy"), **evidence, **log,
            **({"earlier_curves": prior["earlier_curves"]} if prior and prior.get("earlier_curves") else {})}


def resume_point(a, cfg: TeacherConfig, unet, proxy_meta: dict, n_ref: int) -> dict | None:
    """With --resume-from: load the saved (EMA, fp16) weights into ``unet`` and return that
    teacher's curves entry. Raw weights and AdamW state are not saved (a device run returns files
    of at most 16 MiB), so a resumed run restarts AdamW with its warm-up and a new cosine from the
    EMA weights: a warm restart, recorded in ``segments``. A curve measured with another proxy or
    reference, or in another ``--eval-precision``, would mix two metrics, so that is refused unless
    ``--new-curve`` starts a new one."""
    if not a.resume_from:
        return None
    import json

    from safetensors.torch import load_file

    root = Path(a.resume_from)
    curves, weights = root / "curves.json", root / cfg.name / "unet" / "diffusion_pytorch_model.safetensors"
    if not curves.is_file() or not weights.is_file():
        raise SystemExit(f"--resume-from {root}: needs {curves} and {weights} (a train_teachers.py output)")
    prior = json.loads(curves.read_text()).get("teachers", {}).get(cfg.name)
    if not prior:
        raise SystemExit(f"--resume-from {root}: curves.json has no entry for {cfg.name}")
    ref = f"{n_ref} held-out items"
    if not str(prior.get("fid_reference", "")).startswith(ref):
        raise SystemExit(f"--resume-from {root}: {cfg.name}'s curve was measured against another reference "
                         f"({prior.get('fid_reference')}); retrain from scratch")
    if prior.get("proxy_accuracy") != proxy_meta.get("held_out_accuracy"):
        if not a.new_curve:
            raise SystemExit(f"--resume-from {root}: {cfg.name}'s curve was measured with another proxy; pass "
                             f"--new-curve to keep it as history and measure a new one, or keep its proxies")
        prior = rebase_curve(prior)
    elif (was := recorded_precision(prior)) != a.eval_precision:
        if not a.new_curve:
            raise SystemExit(f"--resume-from {root}: {cfg.name}'s curve was evaluated in {was}; pass --eval-precision "
                             f"{was} to continue it, or --new-curve to keep it as history and measure a new one in "
                             f"{a.eval_precision}")
        prior = rebase_curve(prior)
    if "train_seconds_total" not in prior:
        # curves of 2026-12-04 and before: the total was lost to the per-log-line list of the same
        # name; its last entry is the time at the last logged step (<= 50 steps before the end)
        prior = {**prior, "train_seconds_total": prior["train_seconds"][-1]}
    state = {k: v.float() for k, v in load_file(str(weights)).items()}
    unet.load_state_dict(state)
    print(f"  resuming {cfg.name} from {weights} at step {prior['steps_done']} ({prior['train_seconds_total']} s)")
    return prior


CURVE_KEYS = ("proxy_fid_step", "proxy_fid", "proxy_alignment")


def rebase_curve(prior: dict) -> dict:
    """``prior`` with its metric curve moved to ``earlier_curves`` (with the proxy accuracy, eval
    precision, final values and plateau verdict it was measured with) and emptied: the steps, seconds, loss log
    and segments go on, the curve starts again under the current proxies."""
    old = {k: prior.get(k) for k in (*CURVE_KEYS, "proxy", "proxy_accuracy", "final", "plateau")}
    old["eval_precision"] = recorded_precision(prior)
    old["until_step"] = prior["steps_done"]
    return {**prior, "earlier_curves": [*prior.get("earlier_curves", []), old],
            **{k: [] for k in CURVE_KEYS if k in prior}}


def make_evaluator(cfg: TeacherConfig, a, device: str, x_ref: torch.Tensor, cond_ref):
    """(evaluate(model, seed=0) -> (proxy-FID/FAD, alignment or None), the Frechet metric, the
    alignment proxy or None, the proxy's metadata): how a teacher is measured against the held-out
    split, here and in the diagnostics that must measure it the same way."""
    proxy, proxy_meta = load_proxy(proxy_path(a.proxies, cfg.data), device)
    fid_metric = _fid_metric(proxy, to_unit_images(x_ref, cfg.space), device)
    align = _align_proxy(a, cfg, device)

    def evaluate(model, seed: int = 0, precision: str | None = None) -> tuple[float, float | None]:
        return proxy_metrics(model, cfg, a, fid_metric, cond_ref, align, seed, precision or a.eval_precision)
    return evaluate, fid_metric, align, proxy_meta


def _fid_metric(proxy, real: torch.Tensor, device):
    """torchmetrics' Frechet machinery on the proxy features; the real statistics are
    accumulated once and kept across resets."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=proxy, normalize=True, reset_real_features=False).to(device)
    for i in range(0, len(real), 500):
        fid.update(real[i:i + 500].to(device), real=True)
    return fid


def _align_proxy(a, cfg: TeacherConfig, device: str):
    """The prompt-alignment proxy for a text-conditioned teacher, if one was trained (else None)."""
    from ldprune_deploy.quality.align import load_align

    path = Path(a.proxies) / "align-emoji.safetensors"
    if not cfg.conditional or not path.is_file():
        return None
    return load_align(path, device)[0]


@torch.no_grad()
def sample_images(unet, cfg: TeacherConfig, a, cond_ref, seed: int, precision: str):
    """``fid_n`` EMA samples in [0, 1] (DDIM, guidance 1) and, for T2I, the held-out caption
    embeddings they were generated from."""
    seeds = list(range(10_000 + 1000 * seed, 10_000 + 1000 * seed + a.fid_n))
    c = None
    if cfg.conditional:
        pick = torch.randint(0, len(cond_ref), (a.fid_n,), generator=torch.Generator().manual_seed(a.seed + seed))
        c = cond_ref[pick]
    device = next(unet.parameters()).device
    with eval_numerics(device.type, precision):
        z = generate(unet, seeds=seeds, latent_size=cfg.latent_size, cond=c, batch_size=500,
                     sampler=SamplerConfig(scheduler="ddim", steps=a.sample_steps, guidance=1.0), vae_scale=1)
    return to_unit_images(z, cfg.space), c


def frechet(fid_metric, images) -> float:
    device = fid_metric.device
    fid_metric.reset()
    for i in range(0, len(images), 500):
        fid_metric.update(images[i:i + 500].to(device), real=False)
    return float(fid_metric.compute())


def proxy_metrics(unet, cfg: TeacherConfig, a, fid_metric, cond_ref, align, seed: int,
                  precision: str) -> tuple[float, float | None]:
    """(proxy-FID/FAD against the held-out split, proxy alignment or None) of one set of samples."""
    fake, c = sample_images(unet, cfg, a, cond_ref, seed, precision)
    with feature_numerics(fid_metric.device.type, precision):
        al = float(align.score(fake, c).mean()) if align is not None else None
        return frechet(fid_metric, fake), al


def record_eval(log: dict, step: int, result: tuple[float, float | None], cfg: TeacherConfig, note: str = "") -> None:
    fid, al = result
    log["proxy_fid_step"].append(step)
    log["proxy_fid"].append(round(fid, 4))
    if al is not None:
        log["proxy_alignment"].append(round(al, 3))
    print(f"  step {step}: proxy-{'FAD' if cfg.data == 'notes' else 'FID'} {fid:.3f}"
          f"{'' if al is None else f', alignment {al:.2f}'}{', ' + note if note else ''}")


def final_evidence(ema, cfg, a, evaluate, fid_metric, align, x, x_ref, cond_ref, log, steps_done) -> dict:
    """At the end: the metric over --final-seeds sampling seeds (its noise), the plateau verdict and the
    sanity ladder (real training split << teacher << noise, all against the held-out split)."""
    from ldprune_deploy.quality.evidence import ladder, plateau, spread, trend

    seeds = [evaluate(ema, s) for s in range(a.final_seeds)]
    fids = [f for f, _ in seeds]
    n = min(a.fid_n, len(x))
    real = to_unit_images(x[torch.randperm(len(x), generator=torch.Generator().manual_seed(a.seed))[:n]], cfg.space)
    noise = torch.rand((n, *real.shape[1:]), generator=torch.Generator().manual_seed(a.seed))
    with feature_numerics(fid_metric.device.type, a.eval_precision):
        fid_rungs = {"real training split": frechet(fid_metric, real), "teacher": spread(fids)["mean"],
                     "uniform noise": frechet(fid_metric, noise)}
    out = {"final_seeds": fids, "final": spread(fids),
           "plateau": plateau(log["proxy_fid_step"], log["proxy_fid"], steps_done, fids),
           "plateau_trend": trend(log["proxy_fid_step"], log["proxy_fid"], steps_done, fids),
           "ladder": ladder(fid_rungs, list(fid_rungs))}
    if align is not None:
        als = [al for _, al in seeds]
        ref = to_unit_images(x_ref, cfg.space)
        shuffled = cond_ref[torch.randperm(len(cond_ref), generator=torch.Generator().manual_seed(a.seed))]
        rungs = {"real held-out, own captions": float(align.score(ref, cond_ref).mean()), "teacher": spread(als)["mean"],
                 "real held-out, shuffled captions": float(align.score(ref, shuffled).mean()),
                 "uniform noise, held-out captions": float(align.score(torch.rand(ref.shape), cond_ref).mean())}
        # shuffled captions are this metric's noise rung; pure noise images are reported beside it
        out.update(final_alignment_seeds=als, final_alignment=spread(als),
                   alignment_plateau=plateau(log["proxy_fid_step"], log["proxy_alignment"], steps_done, als),
                   alignment_ladder=ladder(rungs, list(rungs)[:3], higher_is_better=True))
    print(f"  final: {fids} plateau {out['plateau']['plateau']} (trend {out['plateau_trend']['trend']}), ladder {out['ladder']}")
    return out


def shadow_evidence(ema, a, evaluate, shadow: dict, steps_done: int) -> dict:
    """The --shadow-precision curve's final seeds and plateau verdicts, by the main curve's rules."""
    from ldprune_deploy.quality.evidence import plateau, spread, trend

    seeds = [evaluate(ema, s, shadow["eval_precision"]) for s in range(a.final_seeds)]
    fids = [f for f, _ in seeds]
    out = {**shadow, "eval_numerics": EVAL_PRECISIONS[shadow["eval_precision"]], "final_seeds": fids,
           "final": spread(fids), "plateau": plateau(shadow["proxy_fid_step"], shadow["proxy_fid"], steps_done, fids),
           "plateau_trend": trend(shadow["proxy_fid_step"], shadow["proxy_fid"], steps_done, fids)}
    if "proxy_alignment" in shadow:
        als = [al for _, al in seeds]
        out.update(final_alignment_seeds=als, final_alignment=spread(als),
                   alignment_plateau=plateau(shadow["proxy_fid_step"], shadow["proxy_alignment"], steps_done, als))
    print(f"  {shadow['eval_precision']} shadow final: {fids} plateau {out['plateau']['plateau']}")
    return out


def _tag_config(path: Path, cfg: TeacherConfig) -> None:
    # keys starting with "_" are ignored by diffusers and by ldprune's loader; they tell the
    # benchmarks how to decode the teacher's outputs
    import json

    data = json.loads(path.read_text())
    data["_ldprune_teacher"] = {"name": cfg.name, "data": cfg.data, "space": cfg.space,
                                "conditional": cfg.conditional, "text_len": cfg.text_len}
    write_json_atomic(path, data)


if __name__ == "__main__":
    sys.exit(main())
