"""``--pipeline``: a complete ONNX Stable Diffusion folder in the layout optimum-onnx's ORT pipelines load.

``write_pipeline(export_dir, out_dir, source=<diffusers pipeline folder>)`` writes what
``ORTStableDiffusionPipeline.from_pretrained(out_dir)`` (optimum-onnx ``onnxruntime/modeling_diffusion.py``)
opens: ``model_index.json``; ``unet/``, ``text_encoder/`` (and ``text_encoder_2/`` for SDXL),
``vae_encoder/``, ``vae_decoder/``, each a ``model.onnx`` with a ``config.json`` beside it
(``ORTModelMixin`` refuses a part without one); ``tokenizer*/``, ``scheduler/``, ``feature_extractor/``
copied from the source, which the loader builds through the classes ``model_index.json`` names.

The UNet is our checked export (pruned or not) with one change optimum's exporter makes too:
``timestep`` becomes a float32 scalar. Our export takes int64 ``[batch]``; ``ORTUnet`` would cast
each float timestep to the input's dtype, truncating the fractional timesteps of Euler/LMS-type
schedulers, and unsqueeze it on every step. The text encoder and VAE come from ``components``.

Without a source folder (a preset has no text encoder or VAE) only ``unet/`` is written, and
``PIPELINE.md`` says how to complete it. optimum-onnx cannot be installed beside this project's
transformers 5, so the tests mirror its loader; ``benchmarks/optimum_folder.py`` runs the real one
from a separate environment.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from ..errors import LdpruneError
from ..jsonio import atomic_output_dir, write_json_atomic
from .manifest import MANIFEST, onnx_io, read_manifest

COPY_DIRS = ("tokenizer", "tokenizer_2", "scheduler", "feature_extractor")
TEXT_ENCODER_DIRS = ("text_encoder", "text_encoder_2")
SCHEMA = "ldprune.onnx_pipeline/1"
RECORD = "ldprune_pipeline.json"


def write_pipeline(export_dir: str | Path, out_dir: str | Path, *, source: str | Path | None = None,
                   overwrite: bool = False) -> Path:
    """Write the ONNX pipeline folder ``out_dir`` from the UNet export ``export_dir``.

    ``source``: the diffusers pipeline folder whose text encoder(s), VAE, tokenizer(s) and scheduler
    go with the UNet (default: the exported model's own folder when it is a pipeline folder)."""
    export_dir = Path(export_dir)
    man = read_manifest(export_dir)
    _refuse(man)
    src = _source(man, source)
    index = json.loads((src / "model_index.json").read_text()) if src is not None else None
    comps = _load_components(src, index) if src is not None else {}
    if comps:
        _check_fit(man, comps)
    with atomic_output_dir(out_dir, overwrite) as tmp:
        unet_io = _write_unet(export_dir, man, tmp / "unet", _unet_extras(index, comps))
        checks = _write_components(comps, index, tmp) if comps else {}
        copied = []
        if src is not None:
            for d in COPY_DIRS:
                if (src / d).is_dir():
                    shutil.copytree(src / d, tmp / d)
                    copied.append(d)
            # optimum's exporter saves the original pipeline's index; the UNet is a plain one in ONNX form
            index["unet"] = ["diffusers", man["model"]["cls"]]
            (tmp / "model_index.json").write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
        record = {"schema": SCHEMA, "export": str(export_dir), "source": str(src) if src else None,
                  "complete": bool(comps), "unet": {"io": unet_io, "precision": man["precision"],
                                                    "check": man.get("check")},
                  "components": checks, "copied": copied}
        write_json_atomic(tmp / RECORD, record)
        (tmp / "PIPELINE.md").write_text(_notes(man, record))
    return Path(out_dir)


def _refuse(man: dict[str, Any]) -> None:
    if man["model"]["cls"] != "UNet2DConditionModel":
        raise LdpruneError(f"--pipeline needs a text-conditioned UNet; {man['model']['name']} is a "
                           f"{man['model']['cls']} (optimum-onnx has no ORT pipeline for it)",
                           "use the export folder's unet.onnx directly (ort-* runners) or drop --pipeline")
    if (man.get("config") or {}).get("controlnet"):
        refuse_controlnet()


def refuse_controlnet() -> None:
    """The CLI calls this before exporting, so ``--pipeline --controlnet`` fails before the export's minutes."""
    raise LdpruneError("--pipeline with --controlnet: optimum's ORTUnet feeds no ControlNet residual inputs, "
                       "so it could not run this UNet", "export once without --controlnet for the pipeline folder")


def _source(man: dict[str, Any], source: str | Path | None) -> Path | None:
    if source is not None:
        src = Path(source)
        if not (src / "model_index.json").is_file():
            raise LdpruneError(f"--pipeline-from {src}: no model_index.json, not a diffusers pipeline folder",
                               "pass the folder DiffusionPipeline.save_pretrained wrote (with text_encoder/, vae/, "
                               "tokenizer/, scheduler/)")
        return src
    model = Path(man["model"]["name"])
    root = model.parent if model.name == "unet" else model
    return root if (root / "model_index.json").is_file() else None


def _load_components(src: Path, index: dict[str, Any]) -> dict[str, Any]:
    """The text encoder(s) and VAE the source's model_index.json names, loaded from safetensors."""
    import diffusers
    import transformers

    from .components import TEXT_ENCODERS, VAES

    out: dict[str, Any] = {}
    for name in (*TEXT_ENCODER_DIRS, "vae"):
        cls = (index.get(name) or [None, None])[1]
        if cls is None:
            continue
        known = TEXT_ENCODERS if name != "vae" else VAES
        if cls not in known:
            raise LdpruneError(f"{src}/{name} is a {cls}; the ONNX pipeline folder supports {', '.join(known)}",
                               "export that component with optimum-cli and put it beside this folder's unet/")
        loader = getattr(transformers if name != "vae" else diffusers, cls)
        try:
            out[name] = loader.from_pretrained(src / name, use_safetensors=True).eval()
        except (OSError, ValueError) as e:
            raise LdpruneError(f"cannot load {name} ({cls}) from {src / name}: {e}",
                               "the folder needs the component's config.json and .safetensors weights") from None
    missing = [n for n in ("text_encoder", "vae") if n not in out]
    if missing:
        raise LdpruneError(f"{src} has no {' and no '.join(missing)}: a Stable Diffusion ONNX folder needs both",
                           "pass a complete diffusers pipeline folder with --pipeline-from")
    return out


def _check_fit(man: dict[str, Any], comps: dict[str, Any]) -> None:
    """Refuse a text encoder / VAE that cannot feed this UNet, before any export."""
    cfg = man["unet_config"]
    hidden = sum(comps[n].config.hidden_size for n in TEXT_ENCODER_DIRS if n in comps)
    if hidden != cfg["cross_attention_dim"]:
        raise LdpruneError(f"the source's text encoder(s) give {hidden}-wide embeddings, the UNet's "
                           f"cross_attention_dim is {cfg['cross_attention_dim']}",
                           "pass the pipeline folder the UNet was made from (--pipeline-from)")
    lat = comps["vae"].config.latent_channels
    if lat != cfg["out_channels"]:
        raise LdpruneError(f"the source's VAE has {lat} latent channels, the UNet predicts {cfg['out_channels']}",
                           "pass the pipeline folder the UNet was made from (--pipeline-from)")


def _unet_extras(index: dict[str, Any] | None, comps: dict[str, Any]) -> dict[str, Any]:
    """Fields optimum's exporter adds to unet/config.json (SDXL's time ids depend on the first two)."""
    if index is None:
        return {}
    te = comps.get("text_encoder_2") or comps.get("text_encoder")
    return {"requires_aesthetics_score": bool(index.get("requires_aesthetics_score", False)),
            "text_encoder_projection_dim": getattr(te.config, "projection_dim", None) if te is not None else None,
            "export_model_type": "unet-2d-condition"}


def _write_unet(export_dir: Path, man: dict[str, Any], folder: Path, extras: dict[str, Any]) -> dict[str, Any]:
    import diffusers
    import onnx

    from .onnx_export import check_model_file

    folder.mkdir()
    # structure only: the weights stay in the .data file, which keeps its name (the graph refers to it)
    m = onnx.load(str(export_dir / man["onnx_file"]), load_external_data=False)
    scalar_float_timestep(m)
    (folder / "model.onnx").write_bytes(m.SerializeToString())
    data = export_dir / (man["onnx_file"] + ".data")
    if data.exists():
        shutil.copy2(data, folder / data.name)
    check_model_file(folder / "model.onnx")
    io = onnx_io(folder / "model.onnx")
    write_json_atomic(folder / MANIFEST, {**man, "io": io, "pipeline_timestep": "float32 scalar (optimum's layout)"})
    write_json_atomic(folder / "config.json", {**man["unet_config"], "_diffusers_version": diffusers.__version__,
                                               **extras})
    return io


def scalar_float_timestep(model) -> None:
    """Make graph input ``timestep`` a float32 scalar, unsqueezed to ``[1]`` in front of the old path
    (which expands it to the batch and casts it to float before the sinusoidal embedding)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    g = model.graph
    inp = next((i for i in g.input if i.name == "timestep"), None)
    if inp is None:
        raise LdpruneError("the exported UNet has no 'timestep' input", "re-export it with `ldprune export`")
    inner = "/ldprune/timestep_1d"
    for node in g.node:
        for k, name in enumerate(node.input):
            if name == "timestep":
                node.input[k] = inner
    axes = numpy_helper.from_array(np.array([0], np.int64), "/ldprune/timestep_axes")
    g.initializer.append(axes)
    g.node.insert(0, helper.make_node("Unsqueeze", ["timestep", axes.name], [inner],
                                      name="/ldprune/timestep/Unsqueeze"))
    inp.type.tensor_type.elem_type = TensorProto.FLOAT
    inp.type.tensor_type.shape.ClearField("dim")   # a present, empty shape: rank 0
    # shape inference recorded the old int64 type on the path up to its Cast: drop those entries
    stale, frontier = set(), {inner}
    while frontier:
        nxt = set()
        for node in g.node:
            if node.op_type != "Cast" and frontier & set(node.input):
                nxt |= set(node.output) - stale
        stale |= nxt
        frontier = nxt
    keep = [v for v in g.value_info if v.name not in stale]
    del g.value_info[:]
    g.value_info.extend(keep)


def _write_components(comps: dict[str, Any], index: dict[str, Any], tmp: Path) -> dict[str, Any]:
    from .components import export_part, text_encoder_part, vae_parts

    # optimum exports every layer's hidden state for SDXL (its pipeline reads the penultimate one)
    xl = str(index.get("_class_name", "")).startswith("StableDiffusionXL")
    parts = [text_encoder_part(n, comps[n], hidden_states=xl) for n in TEXT_ENCODER_DIRS if n in comps]
    parts += vae_parts(comps["vae"])
    return {p.name: export_part(p, tmp / p.name) for p in parts}


def _notes(man: dict[str, Any], record: dict[str, Any]) -> str:
    io = ", ".join(f"{i['name']} {i['dtype']}{i['shape']}" for i in record["unet"]["io"]["inputs"])
    rows = [f"| unet | {io} | out_sample | {man['precision']}, check vs PyTorch: see unet/export.json |"]
    for name, c in record["components"].items():
        worst = max(o["rel_l2"] for o in c["outputs"].values())
        rows.append(f"| {name} | {', '.join(c['io']['inputs'])} | {', '.join(c['io']['outputs'])} | fp32, "
                    f"rel L2 vs PyTorch {worst:.2g} at {c['shapes']} |")
    head = f"""# ONNX pipeline folder ({'complete' if record['complete'] else 'UNet only'})

Layout and IO names of optimum-onnx's ORT diffusion pipelines. The UNet was exported by ldprune
(exporter {man['exporter']}, opset {man['opset']}); its `timestep` is a float32 scalar, as optimum
exports it.

| part | inputs | outputs | precision, check |
|---|---|---|---|
""" + "\n".join(rows) + "\n\n"
    if record["complete"]:
        return head + f"""Text encoder(s), VAE, tokenizer(s) and scheduler come from {record['source']}.
Load it with

    from optimum.onnxruntime import ORTStableDiffusionPipeline   # ...XLPipeline for SDXL
    pipe = ORTStableDiffusionPipeline.from_pretrained("<this folder>")

(optimum-onnx 0.1.0 needs transformers < 4.58, so install it in its own environment. A tiny
folder of this layout, loaded by its ORTStableDiffusionPipeline and ORTStableDiffusionImg2ImgPipeline,
gave diffusers' images within 3e-6 (fp32): benchmarks/optimum_folder.py in ldprune-deploy.)
"""
    return head + """The model was not a diffusers pipeline folder, so no text encoder, VAE, tokenizer or
scheduler exists here. Pass the pipeline folder the UNet was made from:

    ldprune export --model <pruned> --pipeline <dir> --pipeline-from <diffusers pipeline folder>
""" + json.dumps({"ranges": man["ranges"]}) + "\n"
