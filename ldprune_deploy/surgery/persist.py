"""Save a pruned UNet as a diffusers-style folder and load it back with one call."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from ..jsonio import atomic_output_dir, write_json_atomic
from ..errors import LdpruneError
from ..unet import ModelInfo, build_unet, config_fingerprint, model_info, model_plan, set_model_info, set_model_plan
from .apply import swap_one, validate
from ..artifacts import Modification, PrunePlan

WEIGHTS = "diffusion_pytorch_model.safetensors"
PLAN_FILE = "prune_plan.json"


def save_pruned(model: nn.Module, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """Write config.json (the base architecture), the pruned weights and prune_plan.json.

    The folder is written to a temp folder and renamed, so an existing folder is never
    left half-written.
    """
    from safetensors.torch import save_file

    plan = model_plan(model)
    if plan is None:
        raise LdpruneError("model has no prune plan attached", "prune it with apply_plan() first")
    info = model_info(model)
    with atomic_output_dir(out_dir, overwrite) as tmp:
        model.save_config(tmp)
        # record the loader class (ldprune_deploy.pruned) and the plan file; `_class_name` stays the
        # base class, which the folder finders (models.find_unet_dir, pipeline checks) look for
        cfg = json.loads((tmp / "config.json").read_text())
        cfg["_class_name"] = _base_class(cfg["_class_name"])
        cfg["_ldprune_class"] = "Pruned" + cfg["_class_name"]
        cfg["_ldprune_plan"] = PLAN_FILE
        (tmp / "config.json").write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
        state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS), metadata={"format": "pt"})
        # one metadata key only: safetensors writes a multi-key metadata map in hash order, which
        # would make re-saving not byte-identical (the plan file is named in config.json instead)
        saved = PrunePlan(**{**plan.__dict__})
        if info is not None and "model_info" not in saved.meta:  # keep the original on re-save
            saved.meta = {**saved.meta, "model_info": {
                "name": info.name, "vae_scale_factor": info.vae_scale_factor,
                "resolution": info.resolution, "text_len": info.text_len,
                "random_weights": info.random_weights, "space": info.space}}
        write_json_atomic(tmp / PLAN_FILE, saved.to_json())
    return Path(out_dir)


def _base_class(name: str) -> str:
    return name[len("Pruned"):] if name.startswith("PrunedUNet") else name


def _pruned_dir(path: Path) -> Path:
    for cand in (path, path / "unet"):
        if (cand / PLAN_FILE).is_file():
            return cand
    raise LdpruneError(f"{path} has no {PLAN_FILE}; it is not a pruned model folder",
                       "pass a folder written by `ldprune prune` or save_pruned()")


def load_pruned(path: str | Path, *, device: str | torch.device = "cpu",
                dtype: torch.dtype = torch.float32) -> nn.Module:
    """Rebuild the base architecture, re-apply the saved plan, load the pruned weights."""
    from safetensors.torch import load_file

    folder = _pruned_dir(Path(path))
    plan = PrunePlan.load(folder / PLAN_FILE)
    cfg_file = folder / "config.json"
    try:
        cfg = json.loads(cfg_file.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise LdpruneError(f"cannot read {cfg_file}: {e}", "re-save the pruned model") from None
    if config_fingerprint(cfg) != plan.model_fingerprint:
        raise LdpruneError(f"{PLAN_FILE} in {folder} was made for model {plan.model_fingerprint}, "
                           f"config.json is {config_fingerprint(cfg)}", "re-save the pruned model")
    cfg["_class_name"] = _base_class(cfg["_class_name"])
    unet = build_unet(cfg["_class_name"], cfg, "meta", dtype)
    validate(unet, plan)
    missing_keep = [m.operator for m in plan.modifications if m.modification.startswith("width:") and m.keep is None]
    if missing_keep:
        raise LdpruneError(f"{PLAN_FILE} lacks the kept units of {missing_keep[0]}",
                           "re-save the pruned model with save_pruned()")
    for m in plan.modifications:
        swap_one(unet, Modification(m.operator, m.modification, m.keep))
    wfile = folder / WEIGHTS
    if not wfile.is_file():
        raise LdpruneError(f"weights missing: {wfile}", "re-save the pruned model")
    state = load_file(str(wfile), device="cpu")
    expected = unet.state_dict()
    if set(state) != set(expected) or any(tuple(state[k].shape) != tuple(expected[k].shape) for k in expected):
        raise LdpruneError(f"weights in {wfile} do not match the pruned architecture",
                           "re-save the pruned model; the plan and weights must come from the same run")
    unet.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, assign=True)
    unet.to(device).eval()
    set_model_plan(unet, plan)
    mi = plan.meta.get("model_info", {})
    cond = cfg["_class_name"] == "UNet2DConditionModel"
    size = cfg.get("sample_size", 64)
    size = size if isinstance(size, int) else size[0]
    vsf = mi.get("vae_scale_factor", 8 if cond else 1)
    set_model_info(unet, ModelInfo(
        name=str(path), source="pruned", cls=cfg["_class_name"], conditional=cond, vae_scale_factor=vsf,
        resolution=mi.get("resolution", size * vsf), text_len=mi.get("text_len", 77),
        random_weights=mi.get("random_weights", False), fingerprint=plan.model_fingerprint,
        space=mi.get("space")))
    return unet
