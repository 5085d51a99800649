"""The distillation loop (accelerate): teacher frozen, student trained, exact resume."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import Any, Callable

import torch

from ..jsonio import write_json_atomic
from ..errors import LdpruneError
from ..unet import model_plan, set_model_plan
from .checkpoint import EMA, checkpoint_dirs, load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import DistillConfig
from .data import DistillData, load_data
from .losses import FeatureTaps, default_stages, distill_loss, unwrap
from .report import activation_bytes, format_memory, memory_report, plot_losses
from .setup import load_pair, lr_lambda, noise_scheduler, prepare_output, snr_weights, task_target

log = logging.getLogger("ldprune")


class BatchPlan:
    """Which samples, noise, timesteps, flips and dropped captions each micro-step uses.

    Everything is a pure function of (seed, step, micro-step), drawn for the *global* batch and
    sliced per process: a resumed run, or the same global batch split over more processes,
    sees exactly the same samples and noise. No RNG state has to survive a restart for this.
    """

    def __init__(self, n: int, shape: tuple[int, ...], cfg: DistillConfig, world: int, rank: int, T: int):
        self.n, self.shape, self.cfg, self.world, self.rank, self.T = n, shape, cfg, world, rank, T
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            self._perms = {epoch: torch.randperm(self.n, generator=torch.Generator().manual_seed(
                self.cfg.seed * 7919 + epoch))}
        return self._perms[epoch]

    def position(self, step: int, micro: int) -> int:
        return (step * self.cfg.grad_accum + micro) * self.cfg.batch_size * self.world

    def __call__(self, step: int, micro: int) -> dict[str, torch.Tensor]:
        B, G = self.cfg.batch_size, self.cfg.batch_size * self.world
        pos = self.position(step, micro)
        idx = torch.stack([self._perm(k // self.n)[k % self.n] for k in range(pos, pos + G)])
        # explicit arithmetic, not hash(): the stream must not depend on the Python version
        g = torch.Generator().manual_seed(((self.cfg.seed * 1_000_003 + step) * 1009 + micro) % 2**63)
        out = {"idx": idx, "noise": torch.randn((G, *self.shape), generator=g),
               "t": torch.randint(0, self.T, (G,), generator=g),
               "flip": torch.rand(G, generator=g) < (0.5 if self.cfg.random_flip else 0.0),
               "drop": torch.rand(G, generator=g) < self.cfg.cond_dropout}
        # drawn after the rest, so a run without caption mixing sees the stream it always did
        out |= {"mix": torch.rand(G, generator=g) < self.cfg.caption_mix,
                "partner": torch.randint(0, self.n, (G,), generator=g), "lam": torch.rand(G, generator=g)}
        sl = slice(self.rank * B, (self.rank + 1) * B)
        return {k: v[sl] for k, v in out.items()}


def mix_captions(ctx: torch.Tensor, emb: torch.Tensor, b: dict[str, torch.Tensor], drop: torch.Tensor, share: float
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows ``b["mix"]`` get ``lam * own + (1 - lam) * partner`` caption embeddings (token by token).

    No image matches a blended caption, so such a row's noise target is not the task's answer;
    only the KD terms, the teacher's answer to it, train on it. The per-row task weight is 0 there
    and 1 / (1 - share) elsewhere, so the task term keeps its expected weight. A dropped caption
    stays dropped (the empty caption's task target is valid) and keeps its task weight.
    """
    mix = b["mix"].to(ctx.device) & ~drop
    lam = b["lam"].to(ctx.device, ctx.dtype)[:, None, None]
    blend = lam * ctx + (1 - lam) * emb[b["partner"]].to(ctx.device, ctx.dtype)
    ctx = torch.where(mix[:, None, None], blend, ctx)
    return ctx, (~mix).float() / (1 - share)


def _accelerator(config: DistillConfig):
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState
    from accelerate.utils import DistributedDataParallelKwargs

    # accelerate keeps one global state; a second run in the same process (tests, notebooks) with
    # another precision would be refused, so drop the per-run part (keeps the process group).
    AcceleratorState._reset_state()
    return Accelerator(mixed_precision=config.mixed_precision, cpu=config.cpu,
                       kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=False)])


def _get_data(config, acc, teacher, info, out: Path, beta_schedule: str, resuming: bool) -> DistillData:
    if isinstance(config.data, DistillData) or (config.data is not None and str(config.data).endswith(".safetensors")):
        return load_data(config, teacher, info, acc.device, beta_schedule)
    cache = out / "data.safetensors"  # encoded/generated once (on the main process), reused on resume
    if not (resuming and cache.is_file()):
        if acc.is_main_process:
            data = load_data(config, teacher, info, acc.device, beta_schedule)
            out.mkdir(parents=True, exist_ok=True)
            data.save(cache)
        acc.wait_for_everyone()
    return DistillData.load(cache)


def _forward(model, x, t, ctx, extra):
    kw = {}
    if ctx is not None:
        kw["encoder_hidden_states"] = ctx
    if extra is not None:
        kw["added_cond_kwargs"] = extra
    return model(x, t, **kw, return_dict=False)[0]


def distill(teacher: Any, student: Any, config: DistillConfig | None = None, *,
            on_grads: Callable[[int, torch.nn.Module], None] | None = None) -> Path:
    """Distil ``teacher`` into the pruned ``student``; returns the final model folder (OUT/model,
    or OUT itself with ``save_final=False``). An in-memory teacher is frozen and cast in place.

    ``on_grads(step, model)`` is called on the main process after the (all-reduced)
    gradients of each optimizer step are ready, before clipping: for tests and diagnostics.
    """
    config = config or DistillConfig()
    config.check()
    out = Path(config.output)
    acc = _accelerator(config)
    prepare_output(out, config.resume, config.overwrite, acc.is_main_process)
    acc.wait_for_everyone()
    t_unet, info, s_unet = load_pair(teacher, student, config.teacher_dtype)
    if config.lambda_prompt > 0 and not info.conditional:
        raise LdpruneError(f"--lambda-prompt {config.lambda_prompt} needs a text-conditional teacher; "
                           f"{info.name} is unconditional (it has no caption effect to match)",
                           "drop --lambda-prompt (or set it to 0)")
    if config.caption_mix > 0 and not info.conditional:
        raise LdpruneError(f"--caption-mix {config.caption_mix} needs a text-conditional teacher; "
                           f"{info.name} is unconditional (it has no captions to blend)",
                           "drop --caption-mix (or set it to 0)")
    t_dtype = next(t_unet.parameters()).dtype
    t_unet.to(acc.device)
    s_unet.to(acc.device).train()
    stages = config.stages or default_stages(t_unet)
    sched, beta_schedule = noise_scheduler(info, config)

    ckpts = checkpoint_dirs(out) if config.resume else []
    ck = load_checkpoint(ckpts[-1]) if ckpts else None
    if config.resume and ck is None:
        log.info("--resume: no checkpoint in %s yet, starting from step 0", out)
    data = _get_data(config, acc, t_unet, info, out, beta_schedule, ck is not None)
    data.check(s_unet, info.conditional)
    lat, emb = data.latents, data.embeddings

    opt = torch.optim.AdamW([p for p in s_unet.parameters() if p.requires_grad], lr=config.lr,
                            betas=tuple(config.betas), weight_decay=config.weight_decay)
    # a plain LambdaLR stepped once per optimizer step (accelerate's wrapper would step it per process)
    lr_sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(config))
    ema = EMA(s_unet, config.ema_decay) if config.ema_decay and acc.is_main_process else None
    run_state = {"config": config.resume_view(), "world_size": acc.num_processes,
                 "teacher_fingerprint": info.fingerprint, "student_params": sum(p.numel() for p in s_unet.parameters())}
    start, history = 0, []
    if ck is not None:
        start, history = _restore(ck, config, run_state, s_unet, opt, lr_sched, ema, acc)
    model, opt = acc.prepare(s_unet, opt)
    taps_t, taps_s = FeatureTaps(t_unet, stages, detach=True), FeatureTaps(unwrap(model), stages)

    plan = BatchPlan(len(data), tuple(lat.shape[1:]), config, acc.num_processes, acc.process_index,
                     config.num_train_timesteps)
    from ..sampling import added_cond

    def micro_loss(step: int, micro: int):
        b = plan(step, micro)
        x0 = lat[b["idx"]].to(acc.device)
        x0 = torch.where(b["flip"].to(acc.device)[:, None, None, None], x0.flip(-1), x0)
        noise, t = b["noise"].to(acc.device), b["t"].to(acc.device)
        noisy = sched.add_noise(x0, noise, t)
        ctx, task_weight = None, None
        if emb is not None:
            ctx = emb[b["idx"]].to(acc.device)
            drop = b["drop"].to(acc.device)
            if config.caption_mix > 0:
                ctx, task_weight = mix_captions(ctx, emb, b, drop, config.caption_mix)
            ctx = torch.where(drop[:, None, None], torch.zeros_like(ctx), ctx)
        extra = added_cond(s_unet, len(t), lat.shape[-1], info.vae_scale_factor, acc.device, torch.float32)
        target = task_target(sched, x0, noise, t, config.prediction_type)
        row_weight = None if config.snr_gamma is None else snr_weights(sched, t, config.snr_gamma,
                                                                          config.prediction_type)
        B, prompt = len(t), config.lambda_prompt > 0 and ctx is not None
        if prompt:
            # conditional and empty-caption rows in one forward per model: DDP allows one
            # forward before backward, and the halves share noise and timesteps
            noisy, t, ctx = torch.cat([noisy, noisy]), torch.cat([t, t]), torch.cat([ctx, torch.zeros_like(ctx)])
            extra = extra and {k: torch.cat([v, v]) for k, v in extra.items()}
        with torch.no_grad():
            cast = lambda v: None if v is None else v.to(t_dtype)  # noqa: E731
            eps_t = _forward(t_unet, cast(noisy), t, cast(ctx),
                             extra and {k: cast(v) for k, v in extra.items()}).float()
        feats_t = taps_t.pop()
        eps_s = _forward(model, noisy, t, ctx, extra)
        feats_s, uncond = taps_s.pop(), None
        if prompt:
            uncond = (eps_s[B:], eps_t[B:])
            eps_s, eps_t = eps_s[:B], eps_t[:B]
            feats_s, feats_t = ({k: v[:B] for k, v in f.items()} for f in (feats_s, feats_t))
        return distill_loss(eps_s, target, eps_t, feats_s, feats_t, mode=config.feat_loss,
                            lambda_task=config.lambda_task, lambda_out=config.lambda_out,
                            lambda_feat=config.lambda_feat, uncond=uncond, lambda_prompt=config.lambda_prompt,
                            task_weight=task_weight, row_weight=row_weight)

    mem = None
    if acc.is_main_process and start == 0:
        with acc.no_sync(model):  # a forward without backward must not arm DDP's gradient reducer
            mem = _memory(t_unet, unwrap(model), config, lambda: micro_loss(0, 0)[0])
        taps_t.pop(), taps_s.pop()
        log.info(format_memory(mem))
        write_json_atomic(out / "memory.json", mem)
    if acc.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(acc.device)

    from tqdm.auto import tqdm

    bar = tqdm(total=config.steps, initial=start, desc="distill", unit="step", dynamic_ncols=True,
               disable=not (acc.is_main_process and config.progress))
    t0 = time.perf_counter()
    try:
        for step in range(start, config.steps):
            sums: dict[str, float] = {}
            for micro in range(config.grad_accum):
                sync = micro == config.grad_accum - 1
                with contextlib.nullcontext() if sync else acc.no_sync(model):
                    loss, terms = micro_loss(step, micro)
                    acc.backward(loss / config.grad_accum)
                for k, v in terms.items():
                    sums[k] = sums.get(k, 0.0) + v / config.grad_accum
            if on_grads is not None and acc.is_main_process:
                on_grads(step, unwrap(model))
            gnorm = acc.clip_grad_norm_(model.parameters(), config.max_grad_norm) if config.max_grad_norm else None
            opt.step()
            lr_sched.step()
            opt.zero_grad(set_to_none=True)
            if ema is not None:
                ema.update(unwrap(model))
            rec = _reduce(acc, sums)
            rec = {"step": step + 1, "lr": lr_sched.get_last_lr()[0], **rec,
                   "grad_norm": None if gnorm is None else float(gnorm), "elapsed_s": time.perf_counter() - t0}
            history.append(rec)
            bar.set_postfix(loss=f"{rec['total']:.4g}", task=f"{rec['task']:.3g}", feat=f"{rec['feat']:.3g}")
            bar.update(1)
            if config.checkpoint_every and (step + 1) % config.checkpoint_every == 0:
                _checkpoint(acc, out, step + 1, model, opt, lr_sched, ema, history, run_state, plan, config)
    finally:
        bar.close()
        taps_t.remove()
        taps_s.remove()
    return _finish(acc, out, model, ema, history, config, data, info, mem, start)


def _memory(teacher, student, config, one_sample_loss) -> dict[str, Any]:
    # estimated from one micro-step at batch 1 (scaled to the micro-batch), then thrown away
    bs = config.batch_size
    config.batch_size = 1
    try:
        act = activation_bytes(one_sample_loss)
    finally:
        config.batch_size = bs
    student.zero_grad(set_to_none=True)
    return memory_report(teacher, student, act_per_sample=act, micro_batch=bs, ema=config.ema_decay is not None)


def _reduce(acc, sums: dict[str, float]) -> dict[str, float]:
    if acc.num_processes == 1:
        return sums
    keys = sorted(sums)
    v = acc.reduce(torch.tensor([sums[k] for k in keys], device=acc.device, dtype=torch.float64), "mean")
    return dict(zip(keys, v.tolist()))


def _checkpoint(acc, out, step, model, opt, lr_sched, ema, history, run_state, plan, config) -> None:
    from accelerate.utils import gather_object

    rngs = gather_object([rng_state()]) if acc.num_processes > 1 else [rng_state()]
    if acc.is_main_process:
        trainer = {"optimizer": opt.state_dict(), "scheduler": lr_sched.state_dict()}
        if acc.scaler is not None:
            trainer["scaler"] = acc.scaler.state_dict()
        save_checkpoint(out, step, model=unwrap(model), trainer=trainer, ema=ema, rng=rngs,
                        state={**run_state, "data_position": plan.position(step, 0), "history": history},
                        keep=config.keep_checkpoints)
        write_json_atomic(out / "losses.json", {"history": history})
    acc.wait_for_everyone()


def _restore(ck, config, run_state, model, opt, lr_sched, ema, acc) -> tuple[int, list]:
    st = ck["state"]
    mine, theirs = run_state["config"], st["config"]
    # a key added after the checkpoint was written (lambda_prompt) had its default in that run
    theirs = {**{k: f.default for k, f in DistillConfig.__dataclass_fields__.items() if k in mine}, **theirs}
    diff = [k for k in mine if mine[k] != theirs.get(k) and not (k == "steps" and config.lr_schedule == "constant")]
    same_run = (st["world_size"], st["teacher_fingerprint"]) == (run_state["world_size"], run_state["teacher_fingerprint"])
    if diff or not same_run:
        what = ", ".join(f"{k}: {theirs.get(k)} -> {mine[k]}" for k in diff) or "process count / teacher"
        raise LdpruneError(f"cannot resume exactly: settings differ from the checkpointed run ({what})",
                           "resume with the same settings and number of processes, or start a new -o folder")
    model.load_state_dict(ck["student"])
    opt.load_state_dict(ck["trainer"]["optimizer"])
    lr_sched.load_state_dict(ck["trainer"]["scheduler"])
    if "scaler" in ck["trainer"] and acc.scaler is not None:
        acc.scaler.load_state_dict(ck["trainer"]["scaler"])
    if ema is not None:
        if "ema" not in ck:
            raise LdpruneError("the checkpoint has no EMA but --ema is on", "resume with the same --ema setting")
        ema.load_state_dict(ck["ema"], st["ema_updates"])
    rngs = ck["rng"]
    set_rng_state(rngs[acc.process_index] if acc.process_index < len(rngs) else rngs[0])
    log.info("resumed from step %d (%s)", st["step"], ck["state"].get("data_position"))
    return st["step"], list(st["history"])


def _finish(acc, out, model, ema, history, config, data, info, mem, start) -> Path:
    acc.wait_for_everyone()
    final = out / "model"
    if acc.is_main_process:
        write_json_atomic(out / "losses.json", {"history": history})
        plot_losses(history, out / "losses.png")
        net = unwrap(model)
        plan = model_plan(net)
        set_model_plan(net, type(plan)(**{**plan.__dict__, "meta": {**plan.meta, "distill": {
            "steps": config.steps, "data": data.source, "feat_loss": config.feat_loss,
            "final_loss": history[-1]["total"] if history else None}}}))
        saved = []
        if config.save_final:
            if ema is not None:
                other = "model-raw" if config.final_weights == "ema" else "model-ema"
                first = "raw" if config.final_weights == "ema" else "ema"
                _save(net, ema if first == "ema" else None, out / other)
                _save(net, ema if first == "raw" else None, final)
                saved = [str(final), str(out / other)]
            else:
                _save(net, None, final)
                saved = [str(final)]
        set_model_plan(net, plan)
        timed = history[start + min(5, max(0, (len(history) - start) // 4)):]
        sps = None
        if len(timed) >= 2:
            dt = timed[-1]["elapsed_s"] - timed[0]["elapsed_s"]
            sps = (len(timed) - 1) * config.batch_size * config.grad_accum * acc.num_processes / dt if dt > 0 else None
        peak = torch.cuda.max_memory_allocated(acc.device) if acc.device.type == "cuda" else None
        write_json_atomic(out / "summary.json", {
            "schema": "ldprune.distill_summary/1", "steps": config.steps, "resumed_from": start,
            "processes": acc.num_processes, "global_batch": config.batch_size * config.grad_accum * acc.num_processes,
            "samples_per_s": sps, "peak_memory_bytes": peak, "memory_estimate": mem, "data": data.source,
            "n_samples": len(data), "teacher": info.name, "final": saved, "config": config.to_json(),
            "last": history[-1] if history else None})
    acc.wait_for_everyone()
    return final if config.save_final else out


def _save(net, ema, path: Path) -> None:
    from ..surgery import save_pruned

    if ema is None:
        save_pruned(net, path, overwrite=True)
        return
    raw = {k: v.detach().clone() for k, v in net.state_dict().items()}
    ema.copy_to(net)
    try:
        save_pruned(net, path, overwrite=True)
    finally:
        net.load_state_dict(raw)
