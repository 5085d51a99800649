"""Generate final latents with any diffusers scheduler, deterministically per sample.

Each sample's initial noise comes from its own seed (``seed + index``), so a sample is the
same whether it is generated alone, in a batch, or on another process of a sharded run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from .errors import LdpruneError

SCHEDULERS = {
    "ddim": "DDIMScheduler", "ddpm": "DDPMScheduler", "pndm": "PNDMScheduler", "euler": "EulerDiscreteScheduler",
    "dpm++": "DPMSolverMultistepScheduler", "unipc": "UniPCMultistepScheduler", "lms": "LMSDiscreteScheduler",
}


@dataclass
class SamplerConfig:
    scheduler: str = "ddim"      # a key of SCHEDULERS or any diffusers scheduler class name
    steps: int = 25
    guidance: float = 7.5        # classifier-free guidance (conditional UNets only; 1 = off)
    prediction_type: str = "epsilon"
    beta_schedule: str = "scaled_linear"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def make_scheduler(cfg: SamplerConfig):
    import diffusers

    cls_name = SCHEDULERS.get(cfg.scheduler, cfg.scheduler)
    cls = getattr(diffusers, cls_name, None)
    if cls is None or not cls_name.endswith("Scheduler"):
        raise LdpruneError(f"unknown scheduler '{cfg.scheduler}'",
                           f"use one of {', '.join(SCHEDULERS)} or a diffusers scheduler class name")
    kw = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule=cfg.beta_schedule,
              prediction_type=cfg.prediction_type)
    import inspect

    accepted = inspect.signature(cls.__init__).parameters
    return cls(**{k: v for k, v in kw.items() if k in accepted})


def initial_noise(shape: tuple[int, ...], seeds: list[int]) -> torch.Tensor:
    return torch.stack([torch.randn(shape, generator=torch.Generator("cpu").manual_seed(s)) for s in seeds])


def added_cond(unet: nn.Module, batch: int, latent_size: int, vae_scale: int, device, dtype) -> dict | None:
    """SDXL-style micro-conditioning (pooled text + size ids); None for other UNets."""
    cfg = unet.config
    if getattr(cfg, "addition_embed_type", None) != "text_time":
        return None
    text_dim = cfg.projection_class_embeddings_input_dim - 6 * cfg.addition_time_embed_dim
    px = latent_size * vae_scale
    ids = torch.tensor([px, px, 0, 0, px, px], dtype=dtype, device=device).expand(batch, 6)
    g = torch.Generator("cpu").manual_seed(1234)
    return {"text_embeds": torch.randn(1, text_dim, generator=g).to(device, dtype).expand(batch, -1),
            "time_ids": ids}


@torch.no_grad()
def generate(unet: nn.Module, *, seeds: list[int], latent_size: int, sampler: SamplerConfig | None = None,
             cond: torch.Tensor | None = None, uncond: torch.Tensor | None = None,
             batch_size: int | None = None, vae_scale: int = 8, progress=None,
             cuda_graph: bool = False) -> torch.Tensor:
    """Final latents, one per seed; ``cond`` is (len(seeds), L, D) for conditional UNets.

    With ``guidance > 1`` the conditional and unconditional halves go through the UNet in
    one batched call. ``cuda_graph``: replay the UNet call from a CUDA graph after the first
    step (``graph_call.GraphedCall``; the UNet must not change during the call). Returns a
    float32 CPU tensor.
    """
    sampler = sampler or SamplerConfig()
    p = next(unet.parameters())
    device, dtype = p.device, p.dtype
    conditional = type(unet).__name__ == "UNet2DConditionModel" or hasattr(unet.config, "cross_attention_dim")
    if conditional and cond is None:
        raise LdpruneError("a conditional UNet needs prompt embeddings", "pass cond=(N, L, D) embeddings")
    if not conditional and cond is not None:
        raise LdpruneError("prompts were given for an unconditional UNet", "drop the prompts")
    shape = (unet.config.in_channels, latent_size, latent_size)
    bs = batch_size or len(seeds)
    call = unet_call(unet)
    if cuda_graph:
        from .graph_call import GraphedCall

        call = GraphedCall(call, name=f"{type(unet).__name__} sampling")
    outs = []
    for start in range(0, len(seeds), bs):
        idx = list(range(start, min(start + bs, len(seeds))))
        x = initial_noise(shape, [seeds[i] for i in idx]).to(device, dtype)
        c = cond[idx].to(device, dtype) if cond is not None else None
        outs.append(_denoise(unet, call, x, c, uncond, sampler, latent_size, vae_scale, progress).float().cpu())
    return torch.cat(outs)


def unet_call(unet):
    return lambda **kw: unet(**kw, return_dict=False)[0]


def _denoise(unet, call, x, c, uncond, sampler: SamplerConfig, latent_size, vae_scale, progress) -> torch.Tensor:
    sched = make_scheduler(sampler)
    sched.set_timesteps(sampler.steps, device=x.device)
    x = x * sched.init_noise_sigma
    n = x.shape[0]
    cfg = c is not None and sampler.guidance > 1.0
    if cfg:
        u = (uncond if uncond is not None else torch.zeros_like(c[:1])).to(c.device, c.dtype)
        ctx = torch.cat([u.expand(n, -1, -1), c])
    else:
        ctx = c
    extra = added_cond(unet, ctx.shape[0] if ctx is not None else n, latent_size, vae_scale, x.device, x.dtype)
    gen = torch.Generator(x.device.type).manual_seed(0)  # only used by stochastic schedulers
    for t in sched.timesteps:
        inp = torch.cat([x, x]) if cfg else x
        inp = sched.scale_model_input(inp, t)
        kw = {"encoder_hidden_states": ctx} if ctx is not None else {}
        if extra is not None:
            kw["added_cond_kwargs"] = extra
        eps = call(sample=inp, timestep=t, **kw)
        if cfg:
            e_u, e_c = eps.chunk(2)
            eps = e_u + sampler.guidance * (e_c - e_u)
        step_kw = {"generator": gen} if "generator" in _step_params(sched) else {}
        x = sched.step(eps, t, x, **step_kw).prev_sample
        if progress is not None:
            progress()
    return x


def _step_params(sched) -> set[str]:
    import inspect

    return set(inspect.signature(sched.step).parameters)
