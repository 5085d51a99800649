"""``--pipeline``: the UNet in the folder layout optimum-onnx's ORT diffusion pipelines load.

What optimum (``ORTStableDiffusionPipeline.from_pretrained(dir)``) needs: ``model_index.json``,
``unet/model.onnx``, ``text_encoder/model.onnx``, ``vae_decoder/model.onnx`` (and
``vae_encoder`` for img2img), ``tokenizer/``, ``scheduler/``, each ONNX folder with its
``config.json``. Our UNet ONNX already uses optimum's IO names (``sample``, ``timestep``,
``encoder_hidden_states`` [, ``text_embeds``, ``time_ids``] -> ``out_sample``), and optimum
reads input dtypes from the session, so the UNet drops in as is.

Why we do not write the whole pipeline: presets have random UNets only, no text encoder or
VAE exists offline, and optimum-onnx is not a dependency here (it pulls transformers + optimum
and an exporter of its own), so a complete folder could be neither produced nor load-tested.
The closest working path, written into ``PIPELINE.md`` of the folder:
``optimum-cli export onnx --model <original pipeline> <DIR>`` for the other components, then
this command's ``unet/`` replaces optimum's. When the model came from a diffusers pipeline
folder, its tokenizer/scheduler/feature_extractor and model_index.json are copied here.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..jsonio import atomic_output_dir, write_json_atomic
from .manifest import MANIFEST, read_manifest

COPY_DIRS = ("tokenizer", "tokenizer_2", "scheduler", "feature_extractor")


def write_pipeline(export_dir: str | Path, out_dir: str | Path, *, overwrite: bool = False) -> Path:
    export_dir = Path(export_dir)
    man = read_manifest(export_dir)
    src = Path(man["model"]["name"])
    src_root = src.parent if src.name == "unet" else src
    from_pipeline = (src_root / "model_index.json").is_file()
    with atomic_output_dir(out_dir, overwrite) as tmp:
        unet = tmp / "unet"
        unet.mkdir()
        # external data keeps its file name: the .onnx refers to it by that relative name
        shutil.copy2(export_dir / man["onnx_file"], unet / "model.onnx")
        data = export_dir / (man["onnx_file"] + ".data")
        if data.exists():
            shutil.copy2(data, unet / data.name)
        shutil.copy2(export_dir / MANIFEST, unet / MANIFEST)
        write_json_atomic(unet / "config.json", man["unet_config"])
        copied = []
        if from_pipeline:
            for d in COPY_DIRS:
                if (src_root / d).is_dir():
                    shutil.copytree(src_root / d, tmp / d)
                    copied.append(d)
            shutil.copy2(src_root / "model_index.json", tmp / "model_index.json")
        (tmp / "PIPELINE.md").write_text(_notes(man, src_root if from_pipeline else None, copied))
    return Path(out_dir)


def _notes(man: dict, src: Path | None, copied: list[str]) -> str:
    io = ", ".join(f"{i['name']} {i['dtype']}{i['shape']}" for i in man["io"]["inputs"])
    origin = (f"Copied from {src}: {', '.join(copied) or 'nothing'} and model_index.json.\n" if src else
              "The model was not a diffusers pipeline folder: no text encoder, VAE, tokenizer or scheduler exists.\n")
    return f"""# ONNX pipeline folder (UNet only)

`unet/model.onnx` is the {man['precision']} UNet exported by ldprune (exporter {man['exporter']},
opset {man['opset']}), numerically checked: see `unet/export.json`. Inputs: {io}; output: out_sample.
{origin}
To get a folder that optimum-onnx's `ORTStableDiffusionPipeline` (or the XL one) loads:

    optimum-cli export onnx --model <original diffusers pipeline folder> full/
    rm -r full/unet && cp -r {Path('unet')} full/unet

then `ORTStableDiffusionPipeline.from_pretrained("full/")`. This step was not run here:
optimum-onnx is not installed and no text encoder / VAE weights are available offline.
""" + json.dumps({"ranges": man["ranges"]}) + "\n"
