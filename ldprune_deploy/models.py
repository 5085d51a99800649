"""Resolve a model argument (preset name, diffusers folder, safetensors file) to a UNet.

Nothing is downloaded: presets are built with random weights (and the tool says so),
folders and files are read locally with safetensors.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import LdpruneError
from .presets import PRESETS, Preset

log = logging.getLogger("ldprune")

UNET_CLASSES = ("UNet2DConditionModel", "UNet2DModel")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class ModelInfo:
    """What the tool needs to know about a UNet beyond its config."""

    name: str                 # preset name or path
    source: str               # "preset" | "folder" | "file" | "pruned"
    cls: str
    conditional: bool
    vae_scale_factor: int
    resolution: int           # default pixel resolution
    text_len: int
    random_weights: bool
    fingerprint: str          # of the base architecture (config hash)
    space: str | None = None  # data space of the project's teachers ("unshuffle2", "mel", "pixel"), from the hint

    def latent_size(self, resolution: int | None = None) -> int:
        res = resolution or self.resolution
        if res % self.vae_scale_factor:
            raise LdpruneError(f"resolution {res} is not a multiple of the VAE scale factor "
                               f"{self.vae_scale_factor}", "pass a resolution divisible by it")
        return res // self.vae_scale_factor


def parse_dtype(name: str) -> torch.dtype:
    try:
        return DTYPES[name]
    except KeyError:
        raise LdpruneError(f"unknown dtype '{name}'", f"use one of {', '.join(DTYPES)}") from None


def config_fingerprint(config: dict[str, Any]) -> str:
    """Stable hash of a UNet config (private ``_*`` keys such as the diffusers version ignored)."""
    clean = {k: v for k, v in dict(config).items() if not k.startswith("_")}
    blob = json.dumps(clean, sort_keys=True, default=lambda o: list(o) if isinstance(o, tuple) else str(o))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def model_fingerprint(unet: nn.Module) -> str:
    return config_fingerprint(unet.config)


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise LdpruneError(f"unknown model preset '{name}'",
                           f"use one of: {', '.join(PRESETS)}, or a local diffusers folder")
    return PRESETS[name]


@contextlib.contextmanager
def _quiet_diffusers():
    """diffusers warns about fp32 modules on every ``.to(dtype)``; not useful here."""
    logger = logging.getLogger("diffusers")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def build_unet(cls_name: str, config: dict[str, Any], device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32, seed: int = 0) -> nn.Module:
    import diffusers

    cls = getattr(diffusers, cls_name)
    cfg = {k: v for k, v in dict(config).items() if not k.startswith("_")}
    with _quiet_diffusers():
        if str(device) == "meta":
            with torch.device("meta"):
                return cls(**cfg).to(dtype)
        # random weights are drawn where the model will run: seconds for SDXL on a GPU instead of a
        # minute on the CPU, and every command (profile, verify, evaluate, benchmarks) loads a preset
        # the same way (latency does not depend on the values: measured on the H200, 2026-12-03)
        dev = torch.device(device)
        with torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []), dev:
            torch.manual_seed(seed)
            unet = cls(**cfg)
        return unet.to(device=device, dtype=dtype).eval()


def _info_for(name: str, source: str, unet: nn.Module, preset: Preset | None, random_weights: bool,
              vae_scale_factor: int | None = None) -> ModelInfo:
    cfg = unet.config
    cond = type(unet).__name__ == "UNet2DConditionModel"
    if preset is not None:
        vsf, res, tl = preset.vae_scale_factor, preset.resolution, preset.text_len
    else:
        vsf = vae_scale_factor or (8 if cond else 1)
        size = cfg.sample_size if isinstance(cfg.sample_size, int) else cfg.sample_size[0]
        res, tl = size * vsf, 77
    return ModelInfo(name=name, source=source, cls=type(unet).__name__, conditional=cond,
                     vae_scale_factor=vsf, resolution=res, text_len=tl,
                     random_weights=random_weights, fingerprint=model_fingerprint(unet))


def _find_unet_dir(path: Path) -> Path | None:
    for cand in (path / "unet", path):
        cfg = cand / "config.json"
        if cfg.is_file():
            try:
                cls = json.loads(cfg.read_text()).get("_class_name")
            except json.JSONDecodeError:
                raise LdpruneError(f"{cfg} is not valid JSON", "repair or re-save the model folder") from None
            if cls in UNET_CLASSES:
                return cand
    return None


def _vae_scale_from_folder(unet_dir: Path) -> int | None:
    vae_cfg = unet_dir.parent / "vae" / "config.json"
    if vae_cfg.is_file():
        blocks = json.loads(vae_cfg.read_text()).get("block_out_channels", [])
        return 2 ** (len(blocks) - 1) if blocks else None
    return None


def load_model(spec: str | nn.Module, *, preset: str | None = None, device: str | torch.device = "cpu",
               dtype: torch.dtype = torch.float32, seed: int = 0, quiet: bool = False) -> tuple[nn.Module, ModelInfo]:
    """Return ``(unet, info)`` for a preset name, a diffusers folder or a safetensors file.

    ``preset`` names the architecture of a bare ``.safetensors`` file. ``device="meta"``
    builds the architecture without weights (catalogue and FLOP counting of large models).
    """
    if isinstance(spec, nn.Module):
        unet = spec
        info = getattr(unet, "_ldprune_info", None) or _info_for(type(unet).__name__, "module", unet, None, False)
        return unet, info
    spec = str(spec)
    path = Path(spec)
    if spec in PRESETS and not path.exists():
        p = PRESETS[spec]
        unet = build_unet(p.cls, p.config, device, dtype, seed)
        if not quiet and str(device) != "meta":
            log.warning("model '%s' is a preset: random weights (fine for latency, not for quality)", spec)
        info = _info_for(spec, "preset", unet, p, True)
    elif path.suffix == ".safetensors":
        unet, info = _load_file(path, preset, device, dtype)
    elif path.is_dir():
        unet, info = _load_folder(path, device, dtype)
    elif path.exists():
        raise LdpruneError(f"{path} is neither a diffusers folder nor a .safetensors file",
                           "pass a preset name, a diffusers folder (with unet/ or config.json) or a .safetensors file")
    else:
        raise LdpruneError(f"unknown model '{spec}': not a preset and no such path",
                           f"use one of: {', '.join(PRESETS)}, or a local diffusers folder")
    unet._ldprune_info = info
    return unet, info


def _load_folder(path: Path, device, dtype) -> tuple[nn.Module, ModelInfo]:
    if (path / "prune_plan.json").is_file() or (path / "unet" / "prune_plan.json").is_file():
        from .surgery.persist import load_pruned

        unet = load_pruned(path, device=device, dtype=dtype)
        return unet, unet._ldprune_info
    unet_dir = _find_unet_dir(path)
    if unet_dir is None:
        raise LdpruneError(f"{path} is not a diffusers UNet folder (no config.json with _class_name "
                           f"UNet2DConditionModel/UNet2DModel, neither in it nor in unet/)",
                           "pass the pipeline folder, its unet/ folder, or a preset name")
    cfg = json.loads((unet_dir / "config.json").read_text())
    unet = build_unet(cfg["_class_name"], cfg, "meta", dtype)
    _load_weights(unet, _weight_file(unet_dir), device, dtype)
    info = _info_for(str(path), "folder", unet, None, False, _vae_scale_from_folder(unet_dir))
    _apply_hints(info, cfg)
    return unet.eval(), info


# Data spaces of the project's own teachers (benchmarks/train_teachers.py tags their config):
# pixels per model-space pixel.
_SPACE_SCALE = {"unshuffle2": 2, "mel": 1, "pixel": 1}


def _apply_hints(info: ModelInfo, cfg: dict[str, Any]) -> None:
    """Folder configs may carry ``_ldprune_teacher`` hints (data space, text length)."""
    hint = cfg.get("_ldprune_teacher")
    if not isinstance(hint, dict):
        return
    scale = _SPACE_SCALE.get(hint.get("space", ""), None)
    if scale is not None:
        info.space = hint["space"]
        size = cfg.get("sample_size", 32)
        size = size if isinstance(size, int) else size[0]
        info.vae_scale_factor, info.resolution = scale, size * scale
    if isinstance(hint.get("text_len"), int):
        info.text_len = hint["text_len"]


def _weight_file(folder: Path) -> Path:
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        bins = sorted(folder.glob("*.bin"))
        hint = " (found .bin pickles, which are not loaded for safety)" if bins else ""
        raise LdpruneError(f"no .safetensors weights in {folder}{hint}",
                           "re-save the UNet with save_pretrained(safe_serialization=True)")
    if len(files) > 1:
        preferred = [f for f in files if f.name == "diffusion_pytorch_model.safetensors"]
        if not preferred:
            raise LdpruneError(f"several weight files in {folder}: {[f.name for f in files]}",
                               "keep one diffusion_pytorch_model.safetensors (sharded weights are not supported yet)")
        return preferred[0]
    return files[0]


def _load_file(path: Path, preset: str | None, device, dtype) -> tuple[nn.Module, ModelInfo]:
    if not path.is_file():
        raise LdpruneError(f"weights file not found: {path}", "check the path")
    if preset is None:
        raise LdpruneError(f"{path.name} is a bare weights file and its architecture is unknown",
                           f"pass --preset with one of: {', '.join(PRESETS)}")
    p = get_preset(preset)
    unet = build_unet(p.cls, p.config, "meta", dtype)
    _load_weights(unet, path, device, dtype)
    return unet.eval(), _info_for(str(path), "file", unet, p, False)


def _load_weights(unet: nn.Module, file: Path, device, dtype) -> None:
    from safetensors.torch import load_file

    try:
        state = load_file(str(file), device=str(device) if str(device) != "meta" else "cpu")
    except Exception as e:  # safetensors raises several types for corrupt files
        raise LdpruneError(f"cannot read weights {file}: {e}", "re-save the weights file") from None
    expected = unet.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    bad_shape = [k for k in expected if k in state and tuple(state[k].shape) != tuple(expected[k].shape)]
    if missing or unexpected or bad_shape:
        detail = "; ".join(f"{n} {len(v)} e.g. {v[0]}" for n, v in
                           (("missing", missing), ("unexpected", unexpected), ("wrong shape", bad_shape)) if v)
        raise LdpruneError(f"weights in {file} do not match the architecture ({detail})",
                           "check that the weights belong to this model/preset")
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    unet.load_state_dict(state, assign=True)
    with _quiet_diffusers():
        unet.to(device)


def example_inputs(unet: nn.Module, info: ModelInfo, batch: int = 1, resolution: int | None = None,
                   dtype: torch.dtype | None = None, device: str | torch.device | None = None,
                   seed: int = 0, text_len: int | None = None) -> dict[str, Any]:
    """Random keyword inputs for ``unet(**inputs)`` at the given batch and pixel resolution."""
    p = next(unet.parameters())
    dtype = dtype or p.dtype
    device = device or p.device
    size = info.latent_size(resolution)
    cfg = unet.config
    g = torch.Generator("cpu").manual_seed(seed)

    def rnd(*shape):
        t = torch.randn(*shape, generator=g) if str(device) != "meta" else torch.empty(*shape)
        return t.to(device=device, dtype=dtype)

    inputs: dict[str, Any] = {
        "sample": rnd(batch, cfg.in_channels, size, size),
        "timestep": torch.full((batch,), 500, dtype=torch.long, device=device),
    }
    if info.conditional:
        inputs["encoder_hidden_states"] = rnd(batch, text_len or info.text_len, cfg.cross_attention_dim)
        if cfg.addition_embed_type == "text_time":
            text_dim = cfg.projection_class_embeddings_input_dim - 6 * cfg.addition_time_embed_dim
            inputs["added_cond_kwargs"] = {"text_embeds": rnd(batch, text_dim), "time_ids": rnd(batch, 6)}
    return inputs
