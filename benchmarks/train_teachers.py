"""Train the three quality-benchmark teachers (emoji T2I, emoji UIG, notes UAG) on the GPU.

    python benchmarks/train_teachers.py --data data_cache --emb data_cache/emoji-emb.safetensors \
        --proxies benchmarks/assets --out $OUT/teachers
    python benchmarks/train_teachers.py --smoke --data DIR --limit N --emb FILE --out DIR   # CPU check

DDPM epsilon loss on the toolchain's default schedule, AdamW + warm-up/cosine, bf16 autocast
on CUDA, EMA weights (those are saved and evaluated), proxy-FID (proxy-FAD for mel) of EMA
samples (DDIM, guidance 1) against the training split every ``--eval-every`` steps: the
curve the recovery-speed experiment compares students against. Training stops at the
configured steps or ``--max-seconds``, whichever comes first (the step count reached is
recorded). Output (7 files): <name>/unet/{config.json, diffusion_pytorch_model.safetensors}
(fp16) per teacher, and curves.json.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ldprune_deploy.artifacts import write_json_atomic
from ldprune_deploy.data import load_emoji, load_notes
from ldprune_deploy.data.proxy import load_proxy, proxy_path
from ldprune_deploy.data.text import load_embeddings
from ldprune_deploy.data.teachers import TEACHERS, TeacherConfig, build_teacher, to_model_space, to_unit_images
from ldprune_deploy.sampling import SamplerConfig, generate, make_scheduler

EMA_DECAY = 0.999


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
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--fid-n", type=int, default=1000, help="generated samples per proxy-FID point")
    ap.add_argument("--sample-steps", type=int, default=25, help="DDIM steps for the FID samples")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--smoke", action="store_true", help="2 steps at batch 4, 8-sample FID: a CPU check")
    a = ap.parse_args(argv)
    if a.smoke:
        a.steps, a.eval_every, a.fid_n, a.sample_steps = a.steps or 2, 1, 8, 1
    device = "cuda" if torch.cuda.is_available() else "cpu"
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
    return 0


def load_data(cfg: TeacherConfig, a):
    d = load_emoji(a.data, a.limit) if cfg.data == "emoji" else load_notes(a.data, a.limit)
    x = to_model_space(d["images64"] if cfg.data == "emoji" else d["mels"], cfg.space)
    train = torch.from_numpy(~d["held_out"])
    cond = None
    if cfg.conditional:
        from ldprune_deploy.data.common import cache_dir

        emb = a.emb or cache_dir(a.data) / ("emoji-emb.safetensors" if a.limit is None else f"emoji-{a.limit}-emb.safetensors")
        cond = load_embeddings(emb).encode([str(c) for c in d["captions"]])
    return x[train], (cond[train] if cond is not None else None)


def train_one(cfg: TeacherConfig, a, device: str, out: Path) -> dict:
    torch.manual_seed(a.seed)
    g = torch.Generator().manual_seed(a.seed)
    x, cond = load_data(cfg, a)
    proxy, proxy_meta = load_proxy(proxy_path(a.proxies, cfg.data), device)
    fid_metric = _fid_metric(proxy, to_unit_images(x, cfg.space), device)
    unet = build_teacher(cfg).to(device).train()
    ema = copy.deepcopy(unet).eval().requires_grad_(False)
    sched = make_scheduler(SamplerConfig(scheduler="ddpm"))
    acp = sched.alphas_cumprod.to(device)
    steps = a.steps or cfg.steps
    batch = 4 if a.smoke else cfg.batch
    # fused AdamW and one foreach EMA update: a tiny UNet's step is launch-bound, so fewer kernels = more steps
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=0.0, fused=device == "cuda")
    ema_params, params = list(ema.parameters()), list(unet.parameters())
    warm = max(1, min(200, steps // 10))

    def lr_factor(step: int, seconds: float) -> float:
        # cosine over whichever budget runs out first (steps or --max-seconds), so a
        # time-capped teacher still ends annealed instead of stopping at a high learning rate
        progress = min(1.0, max(step / steps, seconds / a.max_seconds))
        return min(1.0, (step + 1) / warm) * 0.5 * (1 + math.cos(math.pi * progress))
    x_dev = x.to(device)
    cond_dev = cond.to(device) if cond is not None else None
    log = {"step": [], "loss": [], "proxy_fid": [], "proxy_fid_step": [], "train_seconds": []}
    n_params = sum(p.numel() for p in unet.parameters())
    print(f"{cfg.name}: {n_params / 1e6:.2f} M params, {len(x)} training items, {steps} steps x {batch} on {device}")
    t_train, loss_acc, step = 0.0, 0.0, 0
    while step < steps and t_train < a.max_seconds:
        t0 = time.perf_counter()
        idx = torch.randint(0, len(x), (batch,), generator=g).to(device)
        x0 = x_dev[idx]
        noise = torch.randn_like(x0)
        t = torch.randint(0, len(acp), (batch,), device=device)
        ab = acp[t].view(-1, 1, 1, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        kw = {}
        if cond_dev is not None:
            c = cond_dev[idx]
            keep = (torch.rand(batch, 1, 1, device=device) >= cfg.cond_drop).to(c.dtype)
            kw["encoder_hidden_states"] = c * keep
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device == "cuda"):
            eps = unet(xt, t, **kw, return_dict=False)[0]
        loss = F.mse_loss(eps.float(), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        for group in opt.param_groups:
            group["lr"] = cfg.lr * lr_factor(step, t_train)
        opt.step()
        with torch.no_grad():
            decay = min(EMA_DECAY, (1 + step) / (10 + step))   # warm-up: early EMA is not stuck at init
            torch._foreach_lerp_(ema_params, params, 1 - decay)
        if device == "cuda" and step % 50 == 0:
            torch.cuda.synchronize()
        t_train += time.perf_counter() - t0
        loss_acc += loss.item() if step % 50 == 0 or a.smoke else 0.0
        step += 1
        if step % 50 == 0 or a.smoke:
            log["step"].append(step)
            log["loss"].append(round(loss.item(), 5))
            log["train_seconds"].append(round(t_train, 2))
        if step % a.eval_every == 0 or step >= steps or t_train >= a.max_seconds:
            fid = proxy_fid(ema, cfg, a, fid_metric, cond)
            log["proxy_fid_step"].append(step)
            log["proxy_fid"].append(round(fid, 4))
            print(f"  step {step}: loss {loss.item():.4f}, proxy-{'FAD' if cfg.data == 'notes' else 'FID'} "
                  f"{fid:.3f}, {step * batch / max(t_train, 1e-9):.0f} samples/s ({step / max(t_train, 1e-9):.1f} it/s)")
    folder = out / cfg.name / "unet"
    ema.half().save_pretrained(str(folder), safe_serialization=True)
    _tag_config(folder / "config.json", cfg)
    return {"config": cfg.name, "cls": cfg.cls, "params": n_params, "data": cfg.data, "space": cfg.space,
            "steps_planned": steps, "steps_done": step, "batch": batch, "lr": cfg.lr,
            "lr_schedule": f"warm-up {warm} steps, cosine over min(steps, {a.max_seconds:g} s) of progress", "ema_decay": EMA_DECAY,
            "train_seconds": round(t_train, 1), "it_per_s": round(step / max(t_train, 1e-9), 2),
            "fid_n": a.fid_n, "sample_steps": a.sample_steps, "sampler": "ddim, guidance 1",
            "fid_reference": f"{len(x)} training-split items", "proxy": proxy_meta.get("modality"),
            "proxy_accuracy": proxy_meta.get("held_out_accuracy"), **log}


def _fid_metric(proxy, real: torch.Tensor, device):
    """torchmetrics' Frechet machinery on the proxy features; the real statistics are
    accumulated once and kept across resets."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=proxy, normalize=True, reset_real_features=False).to(device)
    for i in range(0, len(real), 500):
        fid.update(real[i:i + 500].to(device), real=True)
    return fid


@torch.no_grad()
def proxy_fid(unet, cfg: TeacherConfig, a, fid_metric, cond) -> float:
    seeds = list(range(10_000, 10_000 + a.fid_n))
    c = None
    if cfg.conditional:
        pick = torch.randint(0, len(cond), (a.fid_n,), generator=torch.Generator().manual_seed(a.seed))
        c = cond[pick]
    device = next(unet.parameters()).device
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
        z = generate(unet, seeds=seeds, latent_size=cfg.latent_size, cond=c, batch_size=500,
                     sampler=SamplerConfig(scheduler="ddim", steps=a.sample_steps, guidance=1.0), vae_scale=1)
    fake = to_unit_images(z, cfg.space)
    fid_metric.reset()
    for i in range(0, len(fake), 500):
        fid_metric.update(fake[i:i + 500].to(device), real=False)
    return float(fid_metric.compute())


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
