"""Resolve a model argument (preset name, diffusers folder, safetensors file) to a UNet.

Nothing is downloaded: presets are built with random weights (and the tool says so),
folders and files are read locally with safetensors. A pruned folder is read through
``surgery``, so this module sits above it; what surgery needs (``ModelInfo``,
``build_unet``, fingerprints) is in ``unet.py``, below both.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .errors import LdpruneError
from .presets import PRESETS, Preset
from .spaces import SPACE_SCALE
from .unet import ModelInfo, build_unet, model_fingerprint, model_info, quiet_diffusers, set_model_info

log = logging.getLogger("ldprune")

UNET_CLASSES = ("UNet2DConditionModel", "UNet2DModel")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


def parse_dtype(name: str) -> torch.dtype:
    try:
        return DTYPES[name]
    except KeyError:
        raise LdpruneError(f"unknown dtype '{name}'", f"use one of {', '.join(DTYPES)}") from None


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise LdpruneError(f"unknown model preset '{name}'",
                           f"use one of: {', '.join(PRESETS)}, or a local diffusers folder")
    return PRESETS[name]


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


def find_unet_dir(path: Path) -> Path | None:
    """The folder holding a diffusers UNet's config.json, ``path/unet`` or ``path`` itself
    (a pipeline folder or its unet folder both work), or None when neither is one."""
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
        info = model_info(unet) or _info_for(type(unet).__name__, "module", unet, None, False)
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
    set_model_info(unet, info)
    return unet, info


def _load_folder(path: Path, device, dtype) -> tuple[nn.Module, ModelInfo]:
    if (path / "prune_plan.json").is_file() or (path / "unet" / "prune_plan.json").is_file():
        from .surgery.persist import load_pruned

        unet = load_pruned(path, device=device, dtype=dtype)
        return unet, model_info(unet)
    unet_dir = find_unet_dir(path)
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


def _apply_hints(info: ModelInfo, cfg: dict[str, Any]) -> None:
    """Folder configs may carry ``_ldprune_teacher`` hints (data space, text length)."""
    hint = cfg.get("_ldprune_teacher")
    if not isinstance(hint, dict):
        return
    scale = SPACE_SCALE.get(hint.get("space", ""), None)
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
    with quiet_diffusers():
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
