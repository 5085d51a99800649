"""Training data for distillation, always reduced to tensors: latents (N, C, H, W) and,
for conditional UNets, text embeddings (N, L, D).

Sources: a pre-encoded safetensors file; an image folder with captions (encoded by a local
VAE, or used as pixels when the UNet works on pixels); a folder of mel spectrograms
(.npy); or nothing at all (data-free: the teacher's own samples from prompts).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import LdpruneError

log = logging.getLogger("ldprune")
IMAGE_EXT = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclass
class DistillData:
    latents: torch.Tensor
    embeddings: torch.Tensor | None = None
    source: str = "memory"
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.latents.shape[0]

    def save(self, path: Path) -> None:
        from ..tensorfile import save_tensors

        t = {"latents": self.latents.contiguous()}
        if self.embeddings is not None:
            t["embeddings"] = self.embeddings.contiguous()
        save_tensors(t, path, metadata={"source": self.source, "meta": json.dumps(self.meta, default=str)})

    @classmethod
    def load(cls, path: str | Path) -> "DistillData":
        from safetensors import safe_open

        path = Path(path)
        try:
            with safe_open(str(path), "pt") as f:
                keys, md = set(f.keys()), f.metadata() or {}
                if "latents" not in keys:
                    raise LdpruneError(f"{path} has no 'latents' tensor (has: {sorted(keys)})",
                                       "write latents (N, C, H, W) and optional embeddings (N, L, D)")
                lat = f.get_tensor("latents").float()
                emb = f.get_tensor("embeddings").float() if "embeddings" in keys else None
        except LdpruneError:
            raise
        except Exception as e:  # safetensors raises several types for unreadable files
            raise LdpruneError(f"cannot read pre-encoded data {path}: {e}", "pass a safetensors file") from None
        return cls(lat, emb, md.get("source", f"file:{path.name}"), json.loads(md.get("meta", "{}")))

    def check(self, unet: nn.Module, conditional: bool) -> None:
        cfg = unet.config
        if self.latents.ndim != 4 or self.latents.shape[1] != cfg.in_channels:
            raise LdpruneError(f"data latents have shape {tuple(self.latents.shape)}, the UNet takes "
                               f"(N, {cfg.in_channels}, H, W)", "encode the data for this model")
        if len(self) == 0:
            raise LdpruneError(f"the training data ({self.source}) holds no samples", "add samples")
        if conditional:
            e = self.embeddings
            if e is None:
                raise LdpruneError(f"the UNet is text-conditional but the data ({self.source}) has no embeddings",
                                   "add an 'embeddings' (N, L, D) tensor, captions, or use --data-free")
            if e.ndim != 3 or e.shape[0] != len(self) or e.shape[2] != cfg.cross_attention_dim:
                raise LdpruneError(f"embeddings have shape {tuple(e.shape)}, expected ({len(self)}, L, "
                                   f"{cfg.cross_attention_dim})", "encode captions with the model's text encoder")


# --------------------------------------------------------------------------- text


def resolve_encoder(spec: Any, unet: nn.Module):
    from ..conditioning import open_embeddings, default_encoder

    if spec is None:
        log.warning("no text encoder given: captions get deterministic synthetic embeddings "
                    "(fine for random-weight models; pass --text-encoder for real ones)")
        return default_encoder(unet)
    if isinstance(spec, (str, Path)):
        return open_embeddings(spec)
    if hasattr(spec, "encode"):
        return spec
    if callable(spec):
        class _Fn:
            name = getattr(spec, "__name__", "callable")
            encode = staticmethod(spec)
        return _Fn()
    raise LdpruneError(f"unusable text encoder {spec!r}", "pass an embedding file or an object with encode()")


def _captions(folder: Path, files: list[Path]) -> dict[str, str]:
    caps: dict[str, str] = {}
    for jl in sorted(folder.glob("*.jsonl")):
        for n, line in enumerate(jl.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                caps[rec.get("file") or rec["file_name"]] = rec["text"]
            except (json.JSONDecodeError, KeyError, TypeError):
                raise LdpruneError(f"{jl}:{n} is not a {{\"file\": ..., \"text\": ...}} record",
                                   "fix that line of the captions file") from None
    for f in files:
        side = f.with_suffix(".txt")
        if f.name not in caps and side.is_file():
            caps[f.name] = side.read_text().strip()
    return caps


def _list_data(folder: Path) -> tuple[str, list[Path]]:
    if not folder.exists():
        raise LdpruneError(f"data folder not found: {folder}", "check the --data path")
    imgs = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXT)
    mels = sorted(folder.glob("*.npy"))
    if not imgs and not mels:
        raise LdpruneError(f"data folder {folder} holds no images ({', '.join(IMAGE_EXT)}) and no mel "
                           f"spectrograms (.npy)", "put the training data there, or use --data-free")
    if imgs and mels:
        raise LdpruneError(f"data folder {folder} mixes images and .npy spectrograms", "keep one kind per folder")
    return ("image", imgs) if imgs else ("mel", mels)


def _load_image(path: Path, res: int, channels: int, crop_gen: torch.Generator | None) -> torch.Tensor:
    import numpy as np
    from PIL import Image

    img = Image.open(path).convert("L" if channels == 1 else "RGB")
    w, h = img.size
    s = res / min(w, h)
    img = img.resize((max(res, round(w * s)), max(res, round(h * s))), Image.BICUBIC)
    w, h = img.size
    if crop_gen is not None:  # random crop, seeded so the dataset is reproducible
        x0 = int(torch.randint(0, w - res + 1, (1,), generator=crop_gen))
        y0 = int(torch.randint(0, h - res + 1, (1,), generator=crop_gen))
    else:
        x0, y0 = (w - res) // 2, (h - res) // 2
    a = np.asarray(img.crop((x0, y0, x0 + res, y0 + res)), dtype=np.float32) / 127.5 - 1.0
    t = torch.from_numpy(a)
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1)


def _load_mel(path: Path) -> torch.Tensor:
    import numpy as np

    a = np.load(path, allow_pickle=False)
    t = torch.from_numpy(a.astype(np.float32))
    if a.dtype == np.uint8:  # mel images as rendered by audio-diffusion: 0..255
        t = t / 127.5 - 1.0
    if t.ndim == 2:
        t = t[None]
    if t.ndim != 3:
        raise LdpruneError(f"{path} has shape {tuple(a.shape)}; expected (H, W) or (C, H, W)",
                           "save one spectrogram per .npy file")
    return t


@torch.no_grad()
def _vae_encode(vae_dir: str | Path, pixels: torch.Tensor, device, batch: int = 8) -> torch.Tensor:
    from diffusers import AutoencoderKL

    vae_dir = Path(vae_dir)
    if not (vae_dir / "config.json").is_file():
        raise LdpruneError(f"{vae_dir} is not a diffusers AutoencoderKL folder (no config.json)",
                           "pass the pipeline's vae/ folder")
    vae = AutoencoderKL.from_pretrained(str(vae_dir), local_files_only=True).to(device).eval()
    sf = getattr(vae.config, "scaling_factor", 0.18215)
    # the posterior mean, not a sample: the encoded dataset must not depend on an RNG
    out = [vae.encode(pixels[i:i + batch].to(device)).latent_dist.mean.float().cpu() * sf
           for i in range(0, len(pixels), batch)]
    return torch.cat(out)


def load_folder(folder: str | Path, unet: nn.Module, info, config, device) -> DistillData:
    folder = Path(folder)
    kind, files = _list_data(folder)
    cfg = unet.config
    conditional = info.conditional
    if kind == "image":
        res = config.resolution or info.resolution
        gen = torch.Generator().manual_seed(config.seed) if config.random_crop else None
        pix_ch = cfg.in_channels if info.vae_scale_factor == 1 else 3
        pixels = torch.stack([_load_image(f, res, pix_ch, gen) for f in files])
        if info.vae_scale_factor == 1:
            latents = pixels
        elif config.vae is None:
            raise LdpruneError(f"{folder} holds images but the UNet works on latents (VAE scale "
                               f"{info.vae_scale_factor})", "pass --vae with the pipeline's vae/ folder, "
                               "or a pre-encoded .safetensors as --data")
        else:
            latents = _vae_encode(config.vae, pixels, device)
    else:
        mels = [_load_mel(f) for f in files]
        shapes = {tuple(m.shape) for m in mels}
        if len(shapes) > 1:
            raise LdpruneError(f"spectrograms in {folder} differ in shape: {sorted(shapes)[:3]}",
                               "render every spectrogram at the same size")
        latents = torch.stack(mels)
    emb = None
    if conditional:
        caps = _captions(folder, files)
        missing = [f.name for f in files if f.name not in caps]
        if missing:
            raise LdpruneError(f"{len(missing)} file(s) in {folder} have no caption, e.g. {missing[0]}",
                               "add a captions .jsonl ({\"file\": ..., \"text\": ...}) or sidecar .txt files")
        emb = resolve_encoder(config.text_encoder, unet).encode([caps[f.name] for f in files]).float()
    return DistillData(latents.float(), emb, f"{kind}-folder:{folder}", {"files": len(files)})


def generate_data_free(teacher: nn.Module, info, config, beta_schedule: str) -> DistillData:
    """The teacher's own samples (final latents) from prompts, or unconditional."""
    from ..conditioning import load_prompts
    from ..graph_call import use_cuda_graph
    from ..sampling import SamplerConfig, generate

    n = config.n_samples
    if n < 1:
        raise LdpruneError("data-free distillation needs --n-samples >= 1", "pass e.g. --n-samples 256")
    seeds = [config.seed * 1_000_003 + i for i in range(n)]
    emb, meta = None, {"n": n, "steps": config.gen_steps, "seeds_from": seeds[0]}
    if info.conditional:
        prompts, src = load_prompts(config.prompts)
        chosen = [prompts[i % len(prompts)] for i in range(n)]
        emb = resolve_encoder(config.text_encoder, teacher).encode(chosen).float()
        meta.update(prompts=src, guidance=config.gen_guidance)
    elif config.prompts is not None:
        raise LdpruneError("prompts were given for an unconditional UNet", "drop --prompts")
    sampler = SamplerConfig(scheduler="ddim", steps=config.gen_steps, guidance=config.gen_guidance,
                            prediction_type=config.prediction_type, beta_schedule=beta_schedule)
    lat = generate(teacher, seeds=seeds, latent_size=info.latent_size(config.resolution), sampler=sampler,
                   cond=emb, batch_size=max(1, config.batch_size), vae_scale=info.vae_scale_factor,
                   cuda_graph=use_cuda_graph(None, next(teacher.parameters()).device))
    return DistillData(lat.float(), emb, "data-free", meta)


def load_data(config, teacher: nn.Module, info, device, beta_schedule: str) -> DistillData:
    d = config.data
    if config.data_free:
        return generate_data_free(teacher, info, config, beta_schedule)
    if isinstance(d, DistillData):
        return d
    path = Path(d)
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise LdpruneError(f"pre-encoded data file not found: {path}", "check the --data path")
        return DistillData.load(path)
    if path.exists() and not path.is_dir():
        raise LdpruneError(f"--data {path} is neither a folder nor a .safetensors file",
                           "pass an image/mel folder or a pre-encoded .safetensors")
    return load_folder(path, teacher, info, config, device)
