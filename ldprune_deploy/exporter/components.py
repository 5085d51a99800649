"""Text encoder(s) and VAE of a diffusers pipeline folder -> ONNX, as optimum-onnx exports them.

Names, axes and the exported forwards follow optimum (checked 2026-12 against optimum-onnx
``exporters/onnx/model_configs.py``: ``CLIPTextOnnxConfig``, ``CLIPTextWithProjectionOnnxConfig``,
``VaeEncoderOnnxConfig``, ``VaeDecoderOnnxConfig``; and optimum ``exporters/utils.py``
``_get_submodels_for_export_diffusion``), because ``ORTStableDiffusionPipeline`` reads outputs
by name (``ORTVaeEncoder`` rebuilds ``latent_dist`` from ``latent_parameters``, ``ORTTextEncoder``
collects ``hidden_states.{i}``):

* ``text_encoder`` (``CLIPTextModel``): ``input_ids`` -> ``last_hidden_state``, ``pooler_output``;
  ``CLIPTextModelWithProjection`` (SDXL's ``text_encoder_2``): -> ``text_embeds``, ``last_hidden_state``;
  SDXL pipelines add ``hidden_states.0..N`` (the pipeline reads the penultimate layer);
* ``vae_encoder``: ``sample`` -> ``latent_parameters`` (``vae.encode(x).latent_dist.parameters``: mean
  and log-variance, so the pipeline can sample or take the mode);
* ``vae_decoder``: ``latent_sample`` -> ``sample`` (``vae.decode(z).sample``, post-quant conv included).

Each part is exported in fp32 with TorchScript (as the UNet; a CLIP or VAE graph gains little
from fp16 next to the UNet it runs once per image for, and SDXL's VAE overflows fp16) and checked
against PyTorch at another batch and spatial size than the trace, so the dynamic axes are proven too.
"""

from __future__ import annotations

import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import LdpruneError
from .check import TOLERANCE, compare, ort_session, verdict
from .onnx_export import check_model_file, save_onnx

TEXT_ENCODERS = {"CLIPTextModel": "clip-text", "CLIPTextModelWithProjection": "clip-text-with-projection"}
VAES = ("AutoencoderKL",)


@dataclass
class Part:
    """One ONNX component: its traced module, IO names with dynamic axes, and two input sets
    (``trace`` for the export, ``check`` at other shapes for the numeric check)."""

    name: str
    module: nn.Module
    inputs: dict[str, dict[int, str]]
    outputs: dict[str, dict[int, str]]
    trace: tuple[torch.Tensor, ...]
    check: tuple[torch.Tensor, ...]
    save_config: Callable[[Path], Any]


class _TextEncoder(nn.Module):
    def __init__(self, model: nn.Module, outputs: list[str]):
        super().__init__()
        self.model, self.names = model, outputs

    def forward(self, input_ids):
        hidden = any(n.startswith("hidden_states.") for n in self.names)
        out = self.model(input_ids=input_ids, output_hidden_states=hidden)
        return tuple(out.hidden_states[int(n.split(".")[1])] if n.startswith("hidden_states.") else getattr(out, n)
                     for n in self.names)


class _VaeEncoder(nn.Module):
    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, sample):
        return self.vae.encode(sample).latent_dist.parameters


class _VaeDecoder(nn.Module):
    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample):
        return self.vae.decode(latent_sample).sample


def text_encoder_part(name: str, model: nn.Module, hidden_states: bool) -> Part:
    """``hidden_states``: also export every layer's output (optimum does for SDXL/SD3 pipelines)."""
    cls = type(model).__name__
    if cls not in TEXT_ENCODERS:
        raise LdpruneError(f"{name} is a {cls}; the ONNX pipeline folder supports {', '.join(TEXT_ENCODERS)}",
                           "export this text encoder with optimum-cli and put it beside the folder's unet/")
    cfg = model.config
    first = ["text_embeds", "last_hidden_state"] if cls == "CLIPTextModelWithProjection" else \
        ["last_hidden_state", "pooler_output"]
    names = first + ([f"hidden_states.{i}" for i in range(cfg.num_hidden_layers + 1)] if hidden_states else [])
    pooled = ("pooler_output", "text_embeds")
    outputs = {n: {0: "batch_size"} if n in pooled else {0: "batch_size", 1: "sequence_length"} for n in names}
    # what the config.json beside the ONNX says (optimum records the same two fields)
    cfg.export_model_type = TEXT_ENCODERS[cls]
    cfg.output_hidden_states = hidden_states
    seq = cfg.max_position_embeddings
    g = torch.Generator().manual_seed(0)

    def ids(batch: int) -> torch.Tensor:
        x = torch.randint(0, cfg.vocab_size, (batch, seq), generator=g)
        x[:, seq // 2] = cfg.eos_token_id   # the pooled output is read at the end-of-text token
        return x

    return Part(name, _TextEncoder(model, names), {"input_ids": {0: "batch_size", 1: "sequence_length"}}, outputs,
                (ids(2),), (ids(1),), cfg.save_pretrained)


def vae_parts(vae: nn.Module) -> list[Part]:
    if type(vae).__name__ not in VAES:
        raise LdpruneError(f"the pipeline's vae is a {type(vae).__name__}; the ONNX pipeline folder supports "
                           f"{', '.join(VAES)}", "export the VAE with optimum-cli and put it beside the folder's unet/")
    cfg = vae.config
    f = 2 ** (len(cfg.block_out_channels) - 1)
    g = torch.Generator().manual_seed(0)
    # trace square, check non-square at another batch: each spatial axis is shown to be free
    img = (torch.randn(2, cfg.in_channels, 8 * f, 8 * f, generator=g),
           torch.randn(1, cfg.in_channels, 6 * f, 10 * f, generator=g))
    lat = (torch.randn(2, cfg.latent_channels, 8, 8, generator=g),
           torch.randn(1, cfg.latent_channels, 6, 10, generator=g))
    return [
        Part("vae_encoder", _VaeEncoder(vae), {"sample": {0: "batch_size", 2: "sample_height", 3: "sample_width"}},
             {"latent_parameters": {0: "batch_size", 2: f"sample_height / {f}", 3: f"sample_width / {f}"}},
             img[:1], img[1:], vae.save_config),
        Part("vae_decoder", _VaeDecoder(vae), {"latent_sample": {0: "batch_size", 2: "latent_height",
                                                                 3: "latent_width"}},
             {"sample": {0: "batch_size", 2: f"latent_height * {f}", 3: f"latent_width * {f}"}},
             lat[:1], lat[1:], vae.save_config),
    ]


def export_part(part: Part, folder: Path, opset: int = 17) -> dict[str, Any]:
    """Write ``folder/model.onnx`` (+ ``.data`` past 2 GB) and ``config.json``; return the numeric check.

    Raises LdpruneError when ONNX Runtime's output differs from PyTorch's beyond the fp32 tolerance."""
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    module = part.module.float().cpu().eval()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"ldprune-{part.name}-", dir=folder.parent) as work, \
            torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = Path(work) / "model.onnx"
        torch.onnx.export(module, part.trace, str(raw), input_names=list(part.inputs),
                          output_names=list(part.outputs), dynamic_axes={**part.inputs, **part.outputs},
                          opset_version=opset, dynamo=False, do_constant_folding=True)
        check_model_file(raw)
        # one proto (+ one .data file past 2 GB) instead of the exporter's file per large tensor
        save_onnx(onnx.load(str(raw)), folder / "model.onnx")
    export_s = time.perf_counter() - t0
    part.save_config(folder)
    res = check_part(part, folder / "model.onnx")
    res["export_s"] = round(export_s, 2)
    return res


def check_part(part: Part, path: Path) -> dict[str, Any]:
    sess = ort_session(path)
    got = sess.run(list(part.outputs), {n: x.numpy() for n, x in zip(part.inputs, part.check)})
    with torch.no_grad():
        ref = part.module(*part.check)
    ref = [r.numpy() for r in (ref if isinstance(ref, tuple) else (ref,))]
    tol = TOLERANCE["fp32"]
    per = {}
    for name, r, o in zip(part.outputs, ref, got):
        if r.shape != o.shape:
            raise LdpruneError(f"{part.name} output {name}: ONNX Runtime gives shape {list(o.shape)}, PyTorch "
                               f"{list(r.shape)}", "report this with the pipeline folder")
        per[name] = compare(r, o)
        fails = verdict(per[name], tol)
        if fails:
            raise LdpruneError(f"exported {part.name} does not match PyTorch at output {name}: {'; '.join(fails)}",
                               "report this with the pipeline folder; the component's PyTorch forward may not "
                               "trace (data-dependent control flow)")
    return {"passed": True, "tolerance": tol, "shapes": {n: list(x.shape) for n, x in zip(part.inputs, part.check)},
            "outputs": {n: {k: m[k] for k in ("rel_l2", "cosine", "max_abs")} for n, m in per.items()},
            "io": {"inputs": list(part.inputs), "outputs": list(part.outputs)}}

