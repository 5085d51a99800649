"""Torch UNet -> ONNX with fixed IO names, dynamic axes, operator ids on every node.

Both torch exporters are supported; see README.md in this folder for why TorchScript is
the default. Every node is renamed ``/<module path with '/'>/<OpType>_<n>`` (the TorchScript
convention) and carries ``ldprune.module`` / ``ldprune.operator`` metadata, so TensorRT
layer names and ORT profiles map back to catalogue operator ids whichever exporter ran.
"""

from __future__ import annotations

import logging
import math
import re
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import LdpruneError
from .config import ExportConfig

log = logging.getLogger("ldprune")

TWO_GB = 2**31 - 1
WRAPPER_ATTR = "unet"


MID_RES = "mid_block_res"


def down_res_name(i: int) -> str:
    return f"down_block_res_{i}"


def input_names(unet: nn.Module, info, controlnet: bool = False, n_down_res: int | None = None) -> list[str]:
    """ONNX input names in order; ``controlnet`` appends ``down_block_res_0..N-1`` and ``mid_block_res``
    (``n_down_res``: N, default: the number of down-block outputs of ``unet``)."""
    names = ["sample", "timestep"]
    if info.conditional:
        names.append("encoder_hidden_states")
        if getattr(unet.config, "addition_embed_type", None) == "text_time":
            names += ["text_embeds", "time_ids"]
    if controlnet:
        if n_down_res is None:
            from ..surgery.controlnet import unet_residuals

            n_down_res = len(unet_residuals(unet)[0])
        names += [down_res_name(i) for i in range(n_down_res)] + [MID_RES]
    return names


def residual_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    """``down_block_additional_residuals`` / ``mid_block_additional_residual`` from named inputs ({} if none)."""
    if MID_RES not in kw:
        return {}
    n = sum(1 for k in kw if k.startswith("down_block_res_"))
    return {"down_block_additional_residuals": tuple(kw[down_res_name(i)] for i in range(n)),
            "mid_block_additional_residual": kw[MID_RES]}


class _Wrapper(nn.Module):
    """Positional-only forward with the ONNX input names; returns ``out_sample`` only."""

    def __init__(self, unet: nn.Module, names: list[str]):
        super().__init__()
        setattr(self, WRAPPER_ATTR, unet)
        self.names = names

    def forward(self, *args):
        kw = dict(zip(self.names, args))
        unet = getattr(self, WRAPPER_ATTR)
        if "encoder_hidden_states" not in kw:
            return unet(kw["sample"], kw["timestep"], return_dict=False)[0]
        extra = residual_kwargs(kw)
        if "text_embeds" in kw:
            extra["added_cond_kwargs"] = {"text_embeds": kw["text_embeds"], "time_ids": kw["time_ids"]}
        return unet(kw["sample"], kw["timestep"], kw["encoder_hidden_states"], return_dict=False, **extra)[0]


def flat_inputs(inputs: dict[str, Any], names: list[str]) -> tuple[torch.Tensor, ...]:
    """``example_inputs`` dict (with ``added_cond_kwargs``) -> tuple in ONNX input order."""
    flat = {k: v for k, v in inputs.items() if k != "added_cond_kwargs"}
    flat.update(inputs.get("added_cond_kwargs") or {})
    return tuple(flat[n] for n in names)


def _levels(inputs: dict[str, Any], names: list[str]) -> dict[str, int]:
    """Downsampling level of each residual input (its side = the sample's side / 2**level)."""
    side = inputs["sample"].shape[2]
    out = {}
    for n in names:
        if n.startswith("down_block_res_") or n == MID_RES:
            out[n] = max(int(round(math.log2(side / inputs[n].shape[2]))), 0)
    return out


def _dynamic_axes(names: list[str], spatial: bool, levels: dict[str, int] | None = None
                  ) -> dict[str, dict[int, str]]:
    axes = {n: {0: "batch"} for n in names}
    axes["out_sample"] = {0: "batch"}
    if spatial:
        axes["sample"] = {0: "batch", 2: "height", 3: "width"}
        axes["out_sample"] = {0: "batch", 2: "height", 3: "width"}
        for n, lv in (levels or {}).items():
            sfx = f"_div{2 ** lv}" if lv else ""
            axes[n] = {0: "batch", 2: f"height{sfx}", 3: f"width{sfx}"}
    return axes


def _dynamic_shapes(names: list[str], cfg: ExportConfig, latent_min: int, latent_max: int, step: int,
                    levels: dict[str, int] | None = None):
    from torch.export import Dim

    b = Dim("batch", min=max(cfg.batch.min, 1), max=cfg.batch.max) if cfg.batch.dynamic else None
    shapes: dict[str, Any] = {n: ({0: b} if b is not None else None) for n in names}
    if cfg.resolution.dynamic:
        # a latent side must stay divisible by the UNet's total downsampling (``step``)
        h = Dim("h", min=max(latent_min // step, 1), max=latent_max // step)
        w = Dim("w", min=max(latent_min // step, 1), max=latent_max // step)
        shapes["sample"] = {**({0: b} if b is not None else {}), 2: step * h, 3: step * w}
        for n, lv in (levels or {}).items():   # a residual at level lv is the sample's side / 2**lv
            f = step // 2 ** lv
            shapes[n] = {**({0: b} if b is not None else {}), 2: f * h if f > 1 else h, 3: f * w if f > 1 else w}
    return (tuple(shapes[n] for n in names),)


def torch_export(unet: nn.Module, info, inputs: dict[str, Any], cfg: ExportConfig, path: Path,
                 latent_range: tuple[int, int], step: int) -> None:
    """Run the chosen torch exporter; the model and inputs are fp32 on CPU."""
    names = input_names(unet, info, cfg.controlnet, _n_down_res(inputs))
    wrapper = _Wrapper(unet, names).eval()
    args = flat_inputs(inputs, names)
    levels = _levels(inputs, names)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if cfg.exporter == "dynamo":
            prog = torch.onnx.export(wrapper, args, None, input_names=names, output_names=["out_sample"],
                                     opset_version=max(cfg.opset, 18), dynamo=True,
                                     dynamic_shapes=_dynamic_shapes(names, cfg, *latent_range, step, levels),
                                     verbose=False)
            prog.save(str(path), external_data=True)
        else:
            torch.onnx.export(wrapper, args, str(path), input_names=names, output_names=["out_sample"],
                              opset_version=cfg.opset, dynamo=False, do_constant_folding=True,
                              dynamic_axes=_dynamic_axes(names, cfg.resolution.dynamic, levels))


def _n_down_res(inputs: dict[str, Any]) -> int | None:
    n = sum(1 for k in inputs if k.startswith("down_block_res_"))
    return n if n else None


_SCOPE_KEY = "pkg.torch.onnx.name_scopes"


def _module_of(node) -> str:
    """Dotted module path of a node from the exporter's scope info ('' = top level)."""
    for p in node.metadata_props:
        if p.key == _SCOPE_KEY:   # dynamo: ['', 'unet', 'unet.down_blocks.0', ..., 'conv_2d']
            import ast

            scopes = [s for s in ast.literal_eval(p.value)[:-1] if s]
            path = scopes[-1] if scopes else ""
            return path[len(WRAPPER_ATTR) + 1:] if path.startswith(WRAPPER_ATTR + ".") else ""
    parts = node.name.split("/")     # torchscript: /unet/down_blocks.0/resnets.0/conv1/Conv
    if len(parts) > 2 and parts[1] == WRAPPER_ATTR:
        return ".".join(parts[2:-1])
    return ""


def operator_of(module_path: str, operator_ids: set[str]) -> str | None:
    """The catalogue operator a module path belongs to (the longest id that is a prefix)."""
    path = module_path
    while path:
        if path in operator_ids:
            return path
        path = path.rpartition(".")[0]
    return None


def annotate(model, operator_ids: set[str]) -> dict[str, int]:
    """Rename nodes to path-bearing unique names, tag them; return nodes per operator id."""
    counts: dict[str, int] = {}
    seen: dict[str, int] = {}
    renamed: dict[str, str] = {}
    for node in model.graph.node:
        mod = _module_of(node)
        # keep module indices ("resnets.0") as one path segment, like TorchScript does
        base = "/" + "/".join(_segments(mod)) + "/" + node.op_type if mod else "/" + node.op_type
        seen[base] = seen.get(base, -1) + 1
        new = base if seen[base] == 0 else f"{base}_{seen[base]}"
        renamed[node.name] = new
        node.name = new
        del node.metadata_props[:]   # exporter stack traces cost megabytes and leak local paths
        op = operator_of(mod, operator_ids)
        _set_meta(node, "ldprune.module", mod)
        if op is not None:
            _set_meta(node, "ldprune.operator", op)
            counts[op] = counts.get(op, 0) + 1
    return counts


def _segments(mod: str) -> list[str]:
    out: list[str] = []
    for part in mod.split("."):
        if part.isdigit() and out:
            out[-1] = f"{out[-1]}.{part}"
        else:
            out.append(part)
    return out


def layer_operators(layer_name: str, operator_ids: set[str]) -> list[str]:
    """Operator ids named in a TensorRT/ORT layer name such as ``/a.0/b/Conv + /a.0/c/Sigmoid``
    or ``{ForeignNode[/a.0/Transpose.../b/Conv]}`` (node names are ``/<module path>/<op>``)."""
    found: list[str] = []
    for tok in re.split(r"[\s+\[\]{},]|\.\.\.", layer_name):
        parts = [p for p in tok.split("/") if p] if tok.startswith("/") else []
        if len(parts) < 2:
            continue
        op = operator_of(".".join(parts[:-1]), operator_ids)
        if op is not None and op not in found:
            found.append(op)
    return found


def _set_meta(node, key: str, value: str) -> None:
    p = node.metadata_props.add()
    p.key, p.value = key, value


def save_onnx(model, path: Path) -> list[Path]:
    """Save, with weights in ``<name>.data`` when the proto would pass 2 GB; return files written."""
    import onnx

    data = path.with_name(path.name + ".data")
    if data.exists():
        data.unlink()
    limit = TWO_GB - 64 * 2**20
    blob, size = _encode(model, limit, plain=path.suffix == ".onnx")
    if size > limit:
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data.name, size_threshold=1024)
        return [path, data]
    if blob is None:
        onnx.save_model(model, str(path))
    else:   # the bytes save_model would write for a .onnx path
        path.write_bytes(blob)
    return [path]


def _encode(model, limit: int, plain: bool) -> tuple[bytes | None, int]:
    """(the encoded proto, or None where it is not needed, and its size in bytes).

    upb's ByteSize() encodes the whole message to measure it, so measuring and then saving
    encoded SD1.5's 1.7 GB fp16 proto twice (7.5 s + 2.9 s on 2 CPU cores); the one encoding
    is kept for writing instead. Where save_model does more than encode (tensors marked
    external that still hold raw_data are moved out first) it is left to do that."""
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    # encoding raises past 2 GB, so count the weights first
    size = sum(len(t.raw_data) for t in model.graph.initializer)
    if size >= TWO_GB:
        return None, size
    plain = plain and not any(uses_external_data(t) and t.HasField("raw_data") for t in _get_all_tensors(model))
    try:
        if not plain:
            return None, model.ByteSize()
        blob = model.SerializeToString()
    except Exception:   # protobuf EncodeError
        return None, TWO_GB + 1
    return (blob if len(blob) <= limit else None), len(blob)


def check_model_file(path: Path) -> None:
    """Path-based checker and shape inference, so models over 2 GB are checked too."""
    import onnx

    missing = missing_external_data(path)
    if missing:
        raise LdpruneError(f"{path} refers to external data {missing[0]} that is not there",
                           "keep the .onnx and its .data file together in one folder (copy both)")
    try:
        onnx.checker.check_model(str(path), full_check=False)
        # in place: the stored value_info lets fp16 conversion and NaN localisation see types
        onnx.shape_inference.infer_shapes_path(str(path), str(path), check_type=True)
    except Exception as e:   # onnx raises ValidationError / InferenceError / RuntimeError
        raise LdpruneError(f"exported ONNX {path.name} failed the ONNX checker: {e}",
                           "report this with the model; try the other exporter (--exporter)") from None


def missing_external_data(path: Path) -> list[str]:
    import onnx
    from onnx.external_data_helper import _get_all_tensors

    m = onnx.load(str(path), load_external_data=False)
    locs = {e.value for t in _get_all_tensors(m) for e in t.external_data if e.key == "location"}
    return sorted(loc for loc in locs if not (path.parent / loc).is_file())
