"""Build the scoring context: model on its device, prompts/embeddings, seeds, sampler."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import torch

from ..conditioning import default_encoder, file_prompts, load_prompts, open_embeddings
from ..errors import LdpruneError
from ..sampling import SamplerConfig
from .config import ScoreConfig
from .methods import Context

log = logging.getLogger("ldprune")


def _prompts(config: ScoreConfig) -> tuple[list[str], str]:
    if config.prompt_list is not None:
        prompts = [p for p in config.prompt_list if p.strip()]
        if not prompts:
            raise LdpruneError("the prompt list is empty", "pass at least one prompt")
        return prompts, "list"
    prompts, source = load_prompts(config.prompts)
    if source == "builtin":
        log.info("no prompts given: using the %d built-in prompts", len(prompts))
    return prompts, source


def build_context(unet, info, catalogue, config: ScoreConfig, generative: bool) -> tuple[Context, dict[str, Any]]:
    """The context and the method-independent ``params`` recorded in the scores file."""
    latent = info.latent_size(config.resolution)
    seeds = [config.seed + i for i in range(config.n_gen)]
    sampler = SamplerConfig(scheduler=config.scheduler, steps=config.steps,
                            guidance=config.guidance if info.conditional else 1.0)
    ctx = Context(unet=unet, info=info, catalogue=catalogue, seeds=seeds, latent_size=latent, sampler=sampler,
                  batch_size=config.batch_size, seed=config.seed)
    params: dict[str, Any] = {"seed": config.seed}
    if not generative:
        return ctx, params
    params = {"n_gen": config.n_gen, "steps": config.steps, "scheduler": config.scheduler,
              "guidance": sampler.guidance if info.conditional else None,
              "seeds": [seeds[0], seeds[-1]], "resolution": config.resolution or info.resolution,
              "latent_size": latent, "dtype": config.dtype, "device_type": torch.device(config.device).type}
    if info.conditional:
        encoder = open_embeddings(config.embeddings) if config.embeddings else default_encoder(unet)
        if config.embeddings and config.prompt_list is None and config.prompts is None:
            prompts, source = file_prompts(encoder, config.n_gen), f"embeddings:{encoder.name}"
        else:
            prompts, source = _prompts(config)
        if encoder.dim != unet.config.cross_attention_dim:
            raise LdpruneError(f"embeddings have dimension {encoder.dim}, the UNet expects "
                               f"{unet.config.cross_attention_dim}", "use embeddings from this model's text encoder")
        per_sample = [prompts[i % len(prompts)] for i in range(config.n_gen)]
        ctx.cond = encoder.encode(per_sample)
        try:
            ctx.uncond = encoder.encode([""])
        except LdpruneError:
            log.warning("no embedding for the empty prompt in %s: the unconditional branch uses zeros", encoder.name)
        digest = hashlib.sha256("\n".join(prompts).encode()).hexdigest()[:16]
        params.update({"prompt_source": source, "n_prompts": len(prompts), "prompts_sha": digest,
                       "encoder": encoder.name})
    return ctx, params
