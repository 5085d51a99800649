"""`ldprune export --pipeline`: a complete ONNX Stable Diffusion folder in optimum-onnx's layout.

optimum-onnx is not installed (0.1.0 would downgrade transformers/huggingface_hub/tokenizers), so this
mirrors what it does: `ORTDiffusionPipeline.from_pretrained` (onnxruntime/modeling_diffusion.py) opens
`<part>/model.onnx` with a `config.json` beside it and builds scheduler/tokenizer through the classes
model_index.json names; `ORTUnet`/`ORTTextEncoder`/`ORTVaeEncoder`/`ORTVaeDecoder` feed and read the IO names
below (optimum's exporter configs in exporters/onnx/model_configs.py); and `StableDiffusionPipeline.__call__`
is replayed over the ONNX parts with numpy + onnxruntime and compared with the PyTorch pipeline.
"""

import importlib
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _tiny_sd import tiny_sd_components
from test_controlnet import MODS

from ldprune_deploy.artifacts import Modification, PrunePlan
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.exporter import ExportConfig, export
from ldprune_deploy.exporter.pipeline import _check_fit, write_pipeline
from ldprune_deploy.models import load_model
from ldprune_deploy.pruned import save_pruned_pipeline
from ldprune_deploy.surgery import apply_plan

pytestmark = pytest.mark.usefixtures("one_thread")

# what optimum's ORT parts feed and read (exporters/onnx/model_configs.py)
OPTIMUM_IO = {
    "unet": (["sample", "timestep", "encoder_hidden_states"], ["out_sample"]),
    "text_encoder": (["input_ids"], ["last_hidden_state", "pooler_output"]),
    "vae_encoder": (["sample"], ["latent_parameters"]),
    "vae_decoder": (["latent_sample"], ["sample"]),
}


def _session(path):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A diffusers pipeline folder with a pruned tiny-t2i UNet, its export, and the ONNX pipeline folder."""
    from diffusers import StableDiffusionPipeline

    tmp = tmp_path_factory.mktemp("optimum")
    unet, info = load_model("tiny-t2i", quiet=True)
    pruned = apply_plan(unet, PrunePlan(info.fingerprint, [Modification(o, m) for o, m in MODS])).eval()
    comps = tiny_sd_components(tmp / "tok")
    save_pruned_pipeline(StableDiffusionPipeline(unet=unet, **comps), pruned, tmp / "sd")
    exp = export(str(tmp / "sd"), ExportConfig(output=str(tmp / "e"), precision="fp32", batch="1:2:2",
                                               resolution="64:64:128"))
    out = write_pipeline(exp, tmp / "onnx")
    return SimpleNamespace(out=out, src=tmp / "sd", pruned=pruned, comps=comps, tmp=tmp)


def test_layout_names_and_loading_match_optimum(folder):
    out = folder.out
    index = json.loads((out / "model_index.json").read_text())
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]   # no ldprune import needed to load it
    assert index["_class_name"] == "StableDiffusionPipeline"
    for part, (ins, outs) in OPTIMUM_IO.items():
        assert (out / part / "config.json").is_file(), part   # ORTModelMixin refuses a part without one
        sess = _session(out / part / "model.onnx")
        assert [i.name for i in sess.get_inputs()] == ins, part
        assert [o.name for o in sess.get_outputs()] == outs, part
    ts = next(i for i in _session(out / "unet" / "model.onnx").get_inputs() if i.name == "timestep")
    assert ts.shape == [] and ts.type == "tensor(float)"   # optimum's scalar: ORTUnet then feeds t as is
    cfg = {p: json.loads((out / p / "config.json").read_text()) for p in OPTIMUM_IO}
    assert "time_cond_proj_dim" in cfg["unet"] and cfg["unet"]["export_model_type"] == "unet-2d-condition"
    assert cfg["vae_decoder"]["scaling_factor"] == folder.comps["vae"].config.scaling_factor
    assert cfg["vae_encoder"]["block_out_channels"] == [8, 8, 16, 16]   # the pipeline's vae_scale_factor
    assert cfg["text_encoder"]["num_hidden_layers"] == 2 and cfg["text_encoder"]["export_model_type"] == "clip-text"
    # ORTDiffusionPipeline.from_pretrained's submodel loading, as written there
    loaded = {}
    for sub in ("scheduler", "tokenizer", "tokenizer_2", "tokenizer_3", "feature_extractor"):
        lib, cls = index.get(sub, (None, None))
        if lib is not None:
            loaded[sub] = getattr(importlib.import_module(lib), cls).from_pretrained(out / sub)
    assert set(loaded) == {"scheduler", "tokenizer"}
    assert loaded["tokenizer"]("a cat").input_ids == folder.comps["tokenizer"]("a cat").input_ids
    rec = json.loads((out / "ldprune_pipeline.json").read_text())
    assert rec["complete"] and set(rec["components"]) == {"text_encoder", "vae_encoder", "vae_decoder"}
    assert all(c["passed"] for c in rec["components"].values())
    assert "ORTStableDiffusionPipeline" in (out / "PIPELINE.md").read_text()


def test_each_onnx_part_matches_pytorch(folder):
    out, c = folder.out, folder.comps
    g = torch.Generator().manual_seed(5)
    ids = c["tokenizer"](["a cat", "dog"], padding="max_length", max_length=8, return_tensors="pt").input_ids
    img = torch.randn(1, 3, 48, 80, generator=g)
    lat = torch.randn(2, 4, 6, 10, generator=g)
    with torch.no_grad():
        te = c["text_encoder"](ids)
        refs = {"text_encoder": ([ids], [te.last_hidden_state, te.pooler_output]),
                "vae_encoder": ([img], [c["vae"].encode(img).latent_dist.parameters]),
                "vae_decoder": ([lat], [c["vae"].decode(lat).sample])}
        # the UNet at a fractional timestep (Euler-type schedulers) and a resolution the trace did not use
        sample, ehs = torch.randn(2, 4, 12, 12, generator=g), torch.randn(2, 8, 32, generator=g)
        refs["unet"] = ([sample, torch.tensor(333.7), ehs], [folder.pruned(sample, torch.tensor(333.7), ehs).sample])
    for part, (ins, ref) in refs.items():
        sess = _session(out / part / "model.onnx")
        got = sess.run(None, {i.name: x.numpy() for i, x in zip(sess.get_inputs(), ins)})
        for r, o in zip(ref, got):
            r = r.numpy()
            assert o.shape == r.shape, part
            assert np.linalg.norm(o - r) / np.linalg.norm(r) < 1e-4, part
    # 333.7 is not 333 or 334: the float timestep reaches the embedding (an int64 input would truncate it)
    with torch.no_grad():
        trunc = folder.pruned(sample, torch.tensor(333), ehs).sample.numpy()
    assert np.abs(got[0] - trunc).max() > 1e-4


def _ort_txt2img(out, prompt: str, latents: np.ndarray, steps: int, guidance: float) -> np.ndarray:
    """StableDiffusionPipeline.__call__ as optimum's ORT pipeline runs it, in numpy over the folder's parts."""
    index = json.loads((out / "model_index.json").read_text())

    def load(sub):
        lib, cls = index[sub]
        return getattr(importlib.import_module(lib), cls).from_pretrained(out / sub)

    tok, sched = load("tokenizer"), load("scheduler")
    te, unet, dec = (_session(out / p / "model.onnx") for p in ("text_encoder", "unet", "vae_decoder"))
    scaling = json.loads((out / "vae_decoder" / "config.json").read_text())["scaling_factor"]

    def embed(text):
        ids = tok([text], padding="max_length", max_length=tok.model_max_length, truncation=True,
                  return_tensors="np").input_ids.astype(np.int64)
        return te.run(["last_hidden_state"], {"input_ids": ids})[0]

    ehs = np.concatenate([embed(""), embed(prompt)])   # classifier-free guidance: [uncond, cond]
    sched.set_timesteps(steps)
    x = torch.from_numpy(latents) * sched.init_noise_sigma
    for t in sched.timesteps:
        inp = sched.scale_model_input(torch.cat([x, x]), t).numpy()
        eps = unet.run(None, {"sample": inp, "timestep": np.asarray(t, np.float32), "encoder_hidden_states": ehs})[0]
        eps = eps[:1] + guidance * (eps[1:] - eps[:1])
        x = sched.step(torch.from_numpy(eps), t, x).prev_sample
    image = dec.run(None, {"latent_sample": (x / scaling).numpy()})[0]
    return np.clip(image / 2 + 0.5, 0, 1).transpose(0, 2, 3, 1)


def test_txt2img_over_the_onnx_folder_matches_the_pytorch_pipeline(folder):
    from diffusers import StableDiffusionPipeline

    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(2))
    pipe = StableDiffusionPipeline(unet=folder.pruned, **folder.comps)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe("a cat", height=64, width=64, num_inference_steps=3, guidance_scale=7.5, latents=latents.clone(),
               output_type="np").images
    got = _ort_txt2img(folder.out, "a cat", latents.numpy(), steps=3, guidance=7.5)
    assert got.shape == ref.shape == (1, 64, 64, 3)
    assert np.abs(got - ref).max() < 1e-3 and got.std() > 1e-3
    other = _ort_txt2img(folder.out, "dog", latents.numpy(), steps=3, guidance=7.5)
    assert np.abs(other - got).max() > 1e-3   # the prompt reaches the image through the text encoder


def test_sdxl_text_encoder_2_exports_optimums_outputs(tmp_path):
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    from ldprune_deploy.exporter.components import export_part, text_encoder_part

    torch.manual_seed(0)
    m = CLIPTextModelWithProjection(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=2, hidden_size=16, intermediate_size=20, num_attention_heads=2,
        num_hidden_layers=2, vocab_size=12, max_position_embeddings=8, projection_dim=8)).eval()
    res = export_part(text_encoder_part("text_encoder_2", m, hidden_states=True), tmp_path / "text_encoder_2")
    names = ["text_embeds", "last_hidden_state", "hidden_states.0", "hidden_states.1", "hidden_states.2"]
    assert [o.name for o in _session(tmp_path / "text_encoder_2" / "model.onnx").get_outputs()] == names
    assert res["passed"] and res["shapes"]["input_ids"] == [1, 8]
    cfg = json.loads((tmp_path / "text_encoder_2" / "config.json").read_text())
    assert cfg["output_hidden_states"] and cfg["export_model_type"] == "clip-text-with-projection"


def test_unet_only_without_a_source_pipeline(tmp_path):
    import onnx

    exp = export("tiny-t2i", ExportConfig(output=str(tmp_path / "e"), precision="fp32", batch="2"))
    # as an SD-sized export is (> 2 GB): weights in unet.onnx.data, which the folder's graph must still find
    onnx.save_model(onnx.load(str(exp / "unet.onnx")), str(exp / "unet.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="unet.onnx.data", size_threshold=0)
    out = write_pipeline(exp, tmp_path / "pipe")
    assert sorted(p.name for p in out.iterdir()) == ["PIPELINE.md", "ldprune_pipeline.json", "unet"]
    assert "--pipeline-from" in (out / "PIPELINE.md").read_text()
    data = out / "unet" / "unet.onnx.data"
    assert data.stat().st_size == (exp / "unet.onnx.data").stat().st_size
    graph = onnx.load(str(out / "unet" / "model.onnx"), load_external_data=False).graph
    weights = [t for t in graph.initializer if t.name.startswith("unet.")]   # the UNet's parameters
    assert len(weights) > 100 and all(t.data_location == onnx.TensorProto.EXTERNAL for t in weights)
    sess = _session(out / "unet" / "model.onnx")
    (res,) = sess.run(None, {"sample": np.random.rand(2, 4, 16, 16).astype(np.float32),
                             "timestep": np.asarray(10.0, np.float32),
                             "encoder_hidden_states": np.random.rand(2, 8, 32).astype(np.float32)})
    assert res.shape == (2, 4, 16, 16) and np.isfinite(res).all()


def test_refusals_name_the_problem(tmp_path, folder):
    """(An unconditional UNet is refused too: tests/test_export.py.)"""
    with pytest.raises(LdpruneError, match="no model_index.json"):
        write_pipeline(folder.tmp / "e", tmp_path / "p1", source=tmp_path)
    assert not (tmp_path / "p1").exists()
    man = {"unet_config": {"cross_attention_dim": 32, "out_channels": 4}}
    vae = SimpleNamespace(config=SimpleNamespace(latent_channels=4))
    with pytest.raises(LdpruneError, match="give 16-wide embeddings.*cross_attention_dim is 32"):
        _check_fit(man, {"text_encoder": SimpleNamespace(config=SimpleNamespace(hidden_size=16)), "vae": vae})
    vae.config.latent_channels = 16
    with pytest.raises(LdpruneError, match="16 latent channels, the UNet predicts 4"):
        _check_fit(man, {"text_encoder": SimpleNamespace(config=SimpleNamespace(hidden_size=32)), "vae": vae})


def test_cli_refuses_pipeline_flag_misuse_before_exporting(tmp_path, capsys):
    from ldprune_deploy.cli import main

    base = ["export", "--model", "tiny-t2i", "-o", str(tmp_path / "e")]
    assert main(base + ["--pipeline-from", str(tmp_path)]) == 2
    assert "--pipeline-from without --pipeline" in capsys.readouterr().err
    assert main(base + ["--controlnet", "--pipeline", str(tmp_path / "p")]) == 2
    assert "ORTUnet feeds no ControlNet residual inputs" in capsys.readouterr().err
    assert not (tmp_path / "e").exists() and not (tmp_path / "p").exists()
