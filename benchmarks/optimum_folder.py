"""Load `ldprune export --pipeline` folders with optimum-onnx's own ORT pipelines and compare with diffusers.

optimum-onnx cannot share this environment (0.1.0 pins transformers < 4.58), so the script runs in two
interpreters: this one builds a tiny Stable Diffusion pipeline folder offline (tests/_tiny_sd.py components,
tiny-t2i UNet pruned with the ControlNet tests' mixed plan), exports it fp32 and fp16 with `--pipeline`, and
renders the PyTorch references; `--optimum-python` (a venv that has optimum-onnx) loads each folder with
`ORTStableDiffusionPipeline` / `ORTStableDiffusionImg2ImgPipeline` and renders the same images.

    python -m venv --system-site-packages /tmp/optvenv
    /tmp/optvenv/bin/pip install optimum-onnx==0.1.0 diffusers==0.35.2    # transformers 4.57 in the venv only
    python benchmarks/optimum_folder.py --optimum-python /tmp/optvenv/bin/python

Writes benchmarks/results/optimum_folder.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPT, STEPS, GUIDANCE = "a cat", 3, 7.5


def build(work: Path) -> dict:
    """This environment: the pipeline folders and the diffusers (PyTorch) reference images."""
    sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
    import numpy as np
    import torch
    from _tiny_sd import tiny_sd_components
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline
    from test_controlnet import MODS

    from ldprune_deploy.artifacts import Modification, PrunePlan
    from ldprune_deploy.exporter import ExportConfig, export
    from ldprune_deploy.exporter.pipeline import write_pipeline
    from ldprune_deploy.models import load_model
    from ldprune_deploy.pruned import save_pruned_pipeline
    from ldprune_deploy.surgery import apply_plan

    unet, info = load_model("tiny-t2i", quiet=True)
    pruned = apply_plan(unet, PrunePlan(info.fingerprint, [Modification(o, m) for o, m in MODS])).eval()
    comps = tiny_sd_components(work / "tok")
    save_pruned_pipeline(StableDiffusionPipeline(unet=unet, **comps), pruned, work / "sd")
    folders = {}
    for precision in ("fp32", "fp16"):
        exp = export(str(work / "sd"), ExportConfig(output=str(work / f"e-{precision}"), precision=precision,
                                                    batch="1:2:2", resolution="64:64:128"))
        out = write_pipeline(exp, work / f"onnx-{precision}")
        # transformers < 5 (the optimum venv) reads a slow CLIPTokenizer only from vocab.json + merges.txt;
        # transformers 5 saved tokenizer.json alone (a hub SD folder has all three)
        for f in ("vocab.json", "merges.txt"):
            shutil.copy(work / "tok" / f, out / "tokenizer" / f)
        folders[precision] = str(out)
    g = torch.Generator().manual_seed(2)
    latents, image = torch.randn(1, 4, 8, 8, generator=g), torch.rand(1, 3, 64, 64, generator=g)
    np.save(work / "latents.npy", latents.numpy())
    np.save(work / "image.npy", image.numpy())
    t2i = StableDiffusionPipeline(unet=pruned, **comps)
    i2i = StableDiffusionImg2ImgPipeline(unet=pruned, **comps)
    for p in (t2i, i2i):
        p.set_progress_bar_config(disable=True)
    np.save(work / "ref-txt2img.npy", t2i(PROMPT, height=64, width=64, num_inference_steps=STEPS,
                                          guidance_scale=GUIDANCE, latents=latents, output_type="np").images)
    np.save(work / "ref-img2img.npy", i2i(PROMPT, image=image, strength=0.7, num_inference_steps=4,
                                          guidance_scale=GUIDANCE, generator=torch.Generator().manual_seed(4),
                                          output_type="np").images)
    return {"folders": folders, "versions": _versions()}


def load(work: Path) -> dict:
    """The optimum interpreter: each folder through optimum's ORT pipelines, against the references."""
    import numpy as np
    import torch
    from optimum.onnxruntime import (
        ORTDiffusionPipeline,
        ORTStableDiffusionImg2ImgPipeline,
        ORTStableDiffusionPipeline,
    )

    warnings: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            warnings.append(record.getMessage()[:200])

    logging.getLogger("optimum").addHandler(Keep(level=logging.WARNING))
    latents, image = (torch.from_numpy(np.load(work / f)) for f in ("latents.npy", "image.npy"))
    refs = {k: np.load(work / f"ref-{k}.npy") for k in ("txt2img", "img2img")}
    res = {"versions": _versions(), "folders": {}}
    for precision, folder in json.loads((work / "build.json").read_text())["folders"].items():
        t0 = time.perf_counter()
        t2i = ORTStableDiffusionPipeline.from_pretrained(folder)
        i2i = ORTStableDiffusionImg2ImgPipeline.from_pretrained(folder)
        out = {"load_s": round(time.perf_counter() - t0, 2),
               "auto_class": type(ORTDiffusionPipeline.from_pretrained(folder)).__name__,
               "parts": {k: type(v).__name__ for k, v in t2i.components.items()}}
        img = {"txt2img": t2i(PROMPT, height=64, width=64, num_inference_steps=STEPS, guidance_scale=GUIDANCE,
                              latents=latents, output_type="np").images,
               "img2img": i2i(PROMPT, image=image, strength=0.7, num_inference_steps=4, guidance_scale=GUIDANCE,
                              generator=torch.Generator().manual_seed(4), output_type="np").images}
        for k, v in img.items():
            out[k] = {"shape": list(v.shape), "max_abs_vs_diffusers": float(np.abs(v - refs[k]).max()),
                      "image_std": float(v.std())}
        res["folders"][precision] = out
    res["optimum_warnings"] = sorted(set(warnings))
    return res


def _versions() -> dict:
    import importlib.metadata as md

    return {p: md.version(p) for p in ("torch", "transformers", "diffusers", "onnxruntime", "optimum-onnx")
            if _installed(p)}


def _installed(p: str) -> bool:
    import importlib.metadata as md

    try:
        md.version(p)
        return True
    except md.PackageNotFoundError:
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--optimum-python", help="interpreter with optimum-onnx installed (see the module doc)")
    ap.add_argument("-o", "--out", default=str(ROOT / "benchmarks/results/optimum_folder.json"))
    ap.add_argument("--load", metavar="WORK", help=argparse.SUPPRESS)   # the optimum half, run by the build half
    args = ap.parse_args()
    if args.load:
        (Path(args.load) / "load.json").write_text(json.dumps(load(Path(args.load)), indent=1))
        return 0
    if not args.optimum_python:
        ap.error("--optimum-python is required: optimum-onnx cannot be installed beside this environment")
    with tempfile.TemporaryDirectory(prefix="ldprune-optimum-") as tmp:
        work = Path(tmp)
        built = build(work)
        (work / "build.json").write_text(json.dumps(built))
        subprocess.run([args.optimum_python, __file__, "--load", str(work)], check=True)
        loaded = json.loads((work / "load.json").read_text())
    result = {"schema": "ldprune.optimum-folder/1", "date": time.strftime("%Y-%m-%d"),
              "setup": "tiny-t2i pruned (tests/test_controlnet.py MODS) in a tiny SD pipeline (tests/_tiny_sd.py); "
                       f"prompt {PROMPT!r}, {STEPS} DDIM steps, guidance {GUIDANCE}, 64 px; img2img strength 0.7, "
                       "4 steps; reference: diffusers' PyTorch pipelines on the same components",
              "build_env": built["versions"], "optimum_env": loaded["versions"],
              "results": loaded["folders"], "optimum_warnings": loaded["optimum_warnings"]}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["results"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
