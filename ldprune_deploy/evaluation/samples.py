"""Sample generation for the evaluator: same seeds and prompts for both models, then decoding.

Decoding: pixel UNets (VAE scale factor 1, including mel-spectrogram UNets) map their
output from [-1, 1] to [0, 1] directly. Latent UNets need ``--vae`` (a local diffusers
``AutoencoderKL`` folder). Without one, ``--latent-space`` computes the metrics on the
latents themselves (min-max scaled to [0, 1] with the *teacher's* range, so both models
share one mapping), and every figure is labelled ``latent-space``; otherwise it is an error.
UNets tagged with one of the project's data spaces (``ModelInfo.space``, from the
``_ldprune_teacher`` hint of ``benchmarks/train_teachers.py``) are decoded exactly with
``spaces.to_unit_images`` (``unshuffle2``: pixel shuffle back to 64x64 RGB; ``mel``:
the spectrogram itself), with no VAE and no latent-space label.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import torch

from ..errors import LdpruneError
from ..sampling import SamplerConfig, generate

log = logging.getLogger("ldprune")


def prompt_conditioning(unet, n: int, prompts_file: str | None, embeddings: str | None):
    """(prompts, cond (n, L, D), uncond (1, L, D), encoder name) for a conditional UNet."""
    from ..conditioning import default_encoder, file_prompts, load_prompts, open_embeddings

    if embeddings:
        enc = open_embeddings(embeddings)
        if prompts_file:
            prompts, _ = load_prompts(prompts_file)
        else:
            prompts = file_prompts(enc, n)
    else:
        enc = default_encoder(unet)
        prompts, _ = load_prompts(prompts_file)
        log.warning("prompts are encoded with synthetic pseudo-embeddings (no text encoder given); "
                    "pass --embeddings for real text conditioning")
    if not prompts:
        raise LdpruneError("no prompts to condition on", "pass --prompts FILE")
    chosen = [prompts[i % len(prompts)] for i in range(n)]
    cond = enc.encode(chosen)
    try:
        uncond = enc.encode([""])
    except LdpruneError:   # embedding files need not hold the empty prompt
        uncond = torch.zeros_like(cond[:1])
    return chosen, cond, uncond, enc.name


def sample_latents(unet, seeds: list[int], latent_size: int, sampler: SamplerConfig, cond, uncond,
                   batch_size: int, vae_scale: int) -> tuple[torch.Tensor, dict[str, Any]]:
    """Final latents plus wall time and (on CUDA) peak memory of the sampling loop."""
    dev = next(unet.parameters()).device
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
    t0 = time.perf_counter()
    lat = generate(unet, seeds=seeds, latent_size=latent_size, sampler=sampler, cond=cond, uncond=uncond,
                   batch_size=batch_size, vae_scale=vae_scale)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    stats = {"wall_s": time.perf_counter() - t0, "n": len(seeds),
             "peak_memory_mb": torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else None}
    return lat, stats


def time_sampling(unet, seeds: list[int], latent_size: int, sampler: SamplerConfig, cond, uncond,
                  vae_scale: int, repeats: int) -> dict[str, Any]:
    """End-to-end sampling time of one batch for ``sampler.steps`` steps (median of repeats)."""
    times, peak = [], None
    # one untimed 1-step call first: the first call pays for allocator and kernel set-up
    warm = SamplerConfig(**{**sampler.to_json(), "steps": 1})
    sample_latents(unet, seeds, latent_size, warm, cond, uncond, len(seeds), vae_scale)
    for _ in range(max(1, repeats)):
        _, st = sample_latents(unet, seeds, latent_size, sampler, cond, uncond, len(seeds), vae_scale)
        times.append(st["wall_s"] * 1000)
        peak = st["peak_memory_mb"]
    times.sort()
    return {"median_ms": times[len(times) // 2], "all_ms": times, "batch": len(seeds), "steps": sampler.steps,
            "peak_memory_mb": peak}


# data spaces decoded by ``spaces.to_unit_images``, and how the report names them
SPACE_DECODING = {"unshuffle2": "unshuffle2 (exact pixel shuffle)", "mel": "mel (spectrogram as is)"}


class Decoder:
    def __init__(self, vae_scale_factor: int, vae: str | None, latent_space: bool, device, dtype,
                 space: str | None = None):
        self.vae = None
        self.range: tuple[float, float] | None = None
        # an explicit --latent-space still wins (metrics on the raw model space, labelled so)
        self.space = space if space in SPACE_DECODING and not latent_space else None
        if self.space is not None and vae:
            raise LdpruneError(f"this UNet works in the '{space}' data space, decoded exactly without a VAE; "
                               f"--vae {vae} does not apply", "drop --vae")
        if self.space is not None:
            self.mode = SPACE_DECODING[self.space]
        elif vae_scale_factor == 1:
            self.mode = "pixels"
        elif vae:
            self.mode = f"vae:{Path(vae).name}"
            self.vae = _load_vae(vae, device, dtype)
        elif latent_space:
            self.mode = "latent-space"
        else:
            raise LdpruneError("this is a latent UNet: its samples need a VAE to become images",
                               "pass --vae FOLDER (a local diffusers AutoencoderKL), or --latent-space to "
                               "compute the metrics on latents (labelled latent-space)")

    @torch.no_grad()
    def __call__(self, latents: torch.Tensor, batch: int = 16) -> torch.Tensor:
        if self.space is not None:
            from ..spaces import to_unit_images

            return to_unit_images(latents, self.space)
        if self.mode == "pixels":
            return ((latents + 1) / 2).clamp(0, 1)
        if self.mode == "latent-space":
            if self.range is None:   # fixed by the first call (the teacher's samples)
                self.range = (float(latents.min()), float(latents.max()))
            lo, hi = self.range
            return ((latents - lo) / max(hi - lo, 1e-8)).clamp(0, 1)
        p = next(self.vae.parameters())
        sf = getattr(self.vae.config, "scaling_factor", 0.18215)
        out = [self.vae.decode(latents[i:i + batch].to(p.device, p.dtype) / sf).sample.float().cpu()
               for i in range(0, len(latents), batch)]
        return ((torch.cat(out) + 1) / 2).clamp(0, 1)


def _load_vae(path: str, device, dtype):
    folder = Path(path)
    for cand in (folder / "vae", folder):
        if (cand / "config.json").is_file():
            folder = cand
            break
    else:
        raise LdpruneError(f"--vae {path}: no diffusers AutoencoderKL folder (config.json) there",
                           "pass a folder saved with AutoencoderKL.save_pretrained (nothing is downloaded)")
    if not any(folder.glob("*.safetensors")):
        raise LdpruneError(f"--vae {folder} has no .safetensors weights (pickled .bin files are not loaded)",
                           "re-save the VAE with safe_serialization=True")
    from diffusers import AutoencoderKL

    try:
        vae = AutoencoderKL.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
    except Exception as e:
        raise LdpruneError(f"cannot load the VAE from {folder}: {e}", "pass a diffusers AutoencoderKL folder") from None
    return vae.to(device=device, dtype=dtype).eval()


def load_reference(path: str) -> torch.Tensor:
    """Real samples to measure both models against: .npy/.npz (key 'images' or the first array)
    or .safetensors (key 'images'); (N, C, H, W) or (N, H, W, C), uint8 or float in [0, 1]."""
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise LdpruneError(f"reference set not found: {p}", "pass --reference FILE (.npy, .npz or .safetensors)")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        arr = load_file(str(p)).get("images")
        if arr is None:
            raise LdpruneError(f"{p} has no 'images' tensor", "store the reference set under the key 'images'")
    elif p.suffix in (".npy", ".npz"):
        data = np.load(p, allow_pickle=False)
        arr = data if isinstance(data, np.ndarray) else (data["images"] if "images" in data else data[data.files[0]])
        arr = torch.from_numpy(np.asarray(arr))
    else:
        raise LdpruneError(f"unsupported reference format {p.suffix}", "use .npy, .npz or .safetensors")
    if arr.dim() == 3:
        arr = arr.unsqueeze(1)
    if arr.dim() != 4:
        raise LdpruneError(f"reference set {p} has shape {tuple(arr.shape)}", "store it as (N, C, H, W)")
    if arr.shape[-1] in (1, 3) and arr.shape[1] not in (1, 3):
        arr = arr.permute(0, 3, 1, 2)
    return arr.float() / 255 if arr.dtype == torch.uint8 else arr.float()
