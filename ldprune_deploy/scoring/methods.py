"""Importance methods, in one registry so the planner and benchmarks can swap them.

Each method scores a list of modifications applied together (one candidate, or a set for
the additivity check). Higher score = more important (modifying it changes more).
"""

from __future__ import annotations

import abc
import hashlib
import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..registry import Registry
from ..sampling import SamplerConfig, generate, make_scheduler
from ..artifacts import Modification
from ..surgery import swapped
from ..surgery.apply import resolve

METHODS: Registry[type["Method"]] = Registry("scoring method")


@dataclass
class Context:
    """Everything a method needs, built once per run (identically on every rank)."""

    unet: nn.Module
    info: Any
    catalogue: Any
    seeds: list[int]
    latent_size: int
    sampler: SamplerConfig
    cond: torch.Tensor | None = None
    uncond: torch.Tensor | None = None
    batch_size: int | None = None
    seed: int = 0
    cuda_graph: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Method(abc.ABC):
    name = ""
    generative = False  # runs the UNet (needs prompts, sampler, ...)
    needs_prompt = False  # defined for conditional UNets only (ScoreConfig.validate refuses the others)

    def prepare(self, ctx: Context) -> dict[str, Any]:
        """Compute reference quantities; return the ``baseline`` stats stored in the file."""
        return {}

    @abc.abstractmethod
    def score(self, ctx: Context, mods: list[Modification]) -> tuple[float, dict[str, float]]:
        """(score, parts) of applying ``mods`` together; higher = more important."""

    def params(self, ctx: Context) -> dict[str, Any]:
        return {}


# --------------------------------------------------------------------------- LD-Pruner


def latent_stats(latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Element-wise mean and (sample, n-1) standard deviation over the N samples of dim 0."""
    x = latents.double()
    return x.mean(0), x.std(0, correction=1)


def ld_pruner_distance(ref: tuple[torch.Tensor, torch.Tensor],
                       mod: tuple[torch.Tensor, torch.Tensor]) -> tuple[float, float, float]:
    """``(score, avg_dist, std_dist)`` with score = ‖μ_orig − μ_mod‖₂ + ‖σ_orig − σ_mod‖₂."""
    avg = float(torch.linalg.vector_norm(ref[0] - mod[0]))
    std = float(torch.linalg.vector_norm(ref[1] - mod[1]))
    return avg + std, avg, std


def _finite(x: float) -> float:
    return x if math.isfinite(x) else math.inf


def _require_finite(*latents: torch.Tensor) -> None:
    if not all(torch.isfinite(x).all() for x in latents):
        from ..errors import LdpruneError

        raise LdpruneError("the original model's latents contain inf/NaN (fp16 overflow?)",
                           "score in --dtype fp32 or bf16")


def no_prompt_error(method: str):
    from ..errors import LdpruneError

    return LdpruneError(f"{method} measures what the prompt does, and this UNet takes no prompt",
                        "use --method ld-pruner for unconditional models")


@METHODS.register("ld-pruner")
class LDPruner(Method):
    generative = True

    def _latents(self, ctx: Context) -> torch.Tensor:
        return generate(ctx.unet, seeds=ctx.seeds, latent_size=ctx.latent_size, sampler=ctx.sampler,
                        cond=ctx.cond, uncond=ctx.uncond, batch_size=ctx.batch_size,
                        vae_scale=ctx.info.vae_scale_factor, cuda_graph=ctx.cuda_graph)

    def prepare(self, ctx):
        lat = self._latents(ctx)
        _require_finite(lat)
        self.ref = latent_stats(lat)
        return self._ref_norms()

    def _ref_norms(self) -> dict[str, float]:
        """The baseline recorded in the scores file: the norms of the reference mean and std."""
        return {"mean_norm": float(torch.linalg.vector_norm(self.ref[0])),
                "std_norm": float(torch.linalg.vector_norm(self.ref[1]))}

    def score(self, ctx, mods):
        with swapped(ctx.unet, mods):
            lat = self._latents(ctx)
        s, avg, std = ld_pruner_distance(self.ref, latent_stats(lat))
        return _finite(s), {"avg_dist": _finite(avg), "std_dist": _finite(std)}


@METHODS.register("ld-pruner-prompt")
class LDPrunerPrompt(LDPruner):
    """LD-Pruner plus how far each sample's response to its prompt moves.

    LD-Pruner compares the distribution of the generated latents over all prompts, so an operator
    that changes *which* prompt a sample follows can score low while the statistics barely move:
    on the emoji-t2i teacher (H200, 2026-12-04) LD-Pruner's plans removed whole transformers and
    the distilled student kept 0.70x the teacher's prompt alignment, 0.88x with every
    cross-attention kept out of the plan at the same latency. The same statistic on the prompt's
    effect was tried first and left the plan unchanged (CPU, seed 0: the effect's element-wise
    std moved 10-25 % when a whole transformer went, other cross-attentions carry the prompt), so
    the added term is paired per sample: each seed is also sampled with another sample's prompt (a
    fixed rotation by one), d_i = x_i(own prompt) - x_i(other prompt), and
    score = ||mu_x - mu_x'|| + ||sigma_x - sigma_x'|| + mean_i ||d_i - d_i'||  (all in latent units).
    Twice LD-Pruner's UNet calls (both prompt sets go through in one batch). Conditional UNets only.
    """

    needs_prompt = True

    def _pairs(self, ctx: Context) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(ctx.seeds)
        other = torch.roll(torch.arange(n), -1)   # sample i with sample i+1's prompt
        lat = generate(ctx.unet, seeds=ctx.seeds + ctx.seeds, latent_size=ctx.latent_size, sampler=ctx.sampler,
                       cond=torch.cat([ctx.cond, ctx.cond[other]]), uncond=ctx.uncond, batch_size=ctx.batch_size,
                       vae_scale=ctx.info.vae_scale_factor, cuda_graph=ctx.cuda_graph)
        return lat[:n], (lat[:n] - lat[n:]).double()

    def prepare(self, ctx):
        from ..errors import LdpruneError

        if ctx.cond is None:
            raise no_prompt_error("ld-pruner-prompt")
        if len(ctx.seeds) < 2:
            raise LdpruneError("ld-pruner-prompt pairs each sample with another sample's prompt: N_gen must be >= 2",
                               "raise --n-gen")
        lat, self.effect = self._pairs(ctx)
        _require_finite(lat, self.effect)
        self.ref = latent_stats(lat)
        return {**self._ref_norms(), "prompt_effect_norm": float(self.effect.flatten(1).norm(dim=1).mean())}

    def score(self, ctx, mods):
        with swapped(ctx.unet, mods):
            lat, effect = self._pairs(ctx)
        s, avg, std = ld_pruner_distance(self.ref, latent_stats(lat))
        prompt = float((effect - self.effect).flatten(1).norm(dim=1).mean())
        return _finite(s + prompt), {"avg_dist": _finite(avg), "std_dist": _finite(std), "prompt_dist": _finite(prompt)}

    def params(self, ctx):
        return {"prompt_pairing": "sample i also with sample i+1's prompt (same seed)",
                "prompt_term": "mean over samples of ||d_i - d_i'||, d = x(own prompt) - x(other prompt)"}


# --------------------------------------------------------------------------- LAPTOP-Diff


@METHODS.register("laptop")
class Laptop(Method):
    """One-shot output loss E‖ε_mod − ε_orig‖² over calibration inputs.

    No training data is assumed: the clean latents are the original model's own samples
    (same seeds/prompts as ld-pruner), noised at a uniformly sampled timestep per sample.
    """

    generative = True
    NOISE_SEED_OFFSET = 1_000_003  # keeps the calibration noise independent of the sampling noise

    def prepare(self, ctx):
        x0 = generate(ctx.unet, seeds=ctx.seeds, latent_size=ctx.latent_size, sampler=ctx.sampler,
                      cond=ctx.cond, uncond=ctx.uncond, batch_size=ctx.batch_size,
                      vae_scale=ctx.info.vae_scale_factor, cuda_graph=ctx.cuda_graph)
        ts, noise = [], []
        for s in ctx.seeds:
            g = torch.Generator("cpu").manual_seed(s + self.NOISE_SEED_OFFSET)
            ts.append(int(torch.randint(0, 1000, (1,), generator=g)))
            noise.append(torch.randn(x0.shape[1:], generator=g))
        self.t = torch.tensor(ts)
        ddpm = make_scheduler(SamplerConfig(scheduler="ddpm", prediction_type=ctx.sampler.prediction_type,
                                            beta_schedule=ctx.sampler.beta_schedule))
        self.x_t = ddpm.add_noise(x0, torch.stack(noise), self.t)
        self.ref = self._eps(ctx)
        return {"eps_sq_norm": float(self.ref.double().pow(2).flatten(1).sum(1).mean()),
                "timesteps": [int(self.t.min()), int(self.t.max())]}

    @torch.no_grad()
    def _eps(self, ctx) -> torch.Tensor:
        p = next(ctx.unet.parameters())
        n = len(ctx.seeds)
        bs = ctx.batch_size or n
        out = []
        for a in range(0, n, bs):
            sl = slice(a, min(a + bs, n))
            kw = {}
            if ctx.cond is not None:
                kw["encoder_hidden_states"] = ctx.cond[sl].to(p.device, p.dtype)
                from ..sampling import added_cond

                extra = added_cond(ctx.unet, sl.stop - sl.start, ctx.latent_size, ctx.info.vae_scale_factor,
                                   p.device, p.dtype)
                if extra is not None:
                    kw["added_cond_kwargs"] = extra
            eps = ctx.unet(self.x_t[sl].to(p.device, p.dtype), self.t[sl].to(p.device), **kw, return_dict=False)[0]
            out.append(eps.float().cpu())
        return torch.cat(out)

    def score(self, ctx, mods):
        with swapped(ctx.unet, mods):
            eps = self._eps(ctx)
        loss = float((eps.double() - self.ref.double()).pow(2).flatten(1).sum(1).mean())
        return _finite(loss), {"output_loss": _finite(loss)}

    def params(self, ctx):
        return {"calibration": "own samples noised at uniform timesteps", "noise_seed_offset": self.NOISE_SEED_OFFSET}


# --------------------------------------------------------------------------- baselines


@METHODS.register("random")
class RandomScore(Method):
    """Uniform in [0, 1), a hash of (seed, candidate): the same on any rank or rerun."""

    def score(self, ctx, mods):
        key = f"{ctx.seed}|" + ";".join(f"{m.operator}:{m.modification}" for m in mods)
        h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "little")
        return h / 2**64, {}

    def params(self, ctx):
        return {"seed": ctx.seed}


def _l1_and_count(module: nn.Module) -> tuple[float, int]:
    l1, n = 0.0, 0
    for p in module.parameters():  # parameters() is deduplicated, so shared tensors count once
        l1 += float(p.detach().abs().sum(dtype=torch.float64))
        n += p.numel()
    return l1, n


@METHODS.register("magnitude")
class Magnitude(Method):
    """Mean |w| (L1 per parameter) of the weights the modification removes."""

    def score(self, ctx, mods):
        parents = {id(p): p for p in (resolve(ctx.unet, m.operator)[1] for m in mods)}
        before = [_l1_and_count(p) for p in parents.values()]
        with swapped(ctx.unet, mods):
            after = [_l1_and_count(p) for p in parents.values()]
        l1 = sum(b[0] - a[0] for b, a in zip(before, after))
        n = sum(b[1] - a[1] for b, a in zip(before, after))
        return (l1 / n if n > 0 else 0.0), {"l1_removed": l1, "params_removed": n}


@METHODS.register("size")
class Size(Method):
    """Parameters removed (FLOPs removed in the parts): bigger operators rank as more important."""

    def score(self, ctx, mods):
        params = flops = 0
        for m in mods:
            op = ctx.catalogue.get(m.operator)
            opt = op.mod(m.modification)
            params += op.params - opt.params
            flops += op.flops - opt.flops
        return float(params), {"params_removed": params, "flops_removed": flops}

    def params(self, ctx):
        return {"flops_at": {"batch": ctx.catalogue.batch, "resolution": ctx.catalogue.resolution}}
