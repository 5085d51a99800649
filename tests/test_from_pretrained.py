import json

import torch

from ldprune_deploy.artifacts import Modification, PrunePlan
from ldprune_deploy.models import example_inputs
from ldprune_deploy.pruned import PrunedUNet2DConditionModel, PrunedUNet2DModel, save_pruned_pipeline
from ldprune_deploy.surgery import apply_plan, load_pruned, save_pruned

MODS = [("down_blocks.0.attentions.0", "remove"),
        ("down_blocks.0.resnets.1", "width:0.5"),
        ("down_blocks.1.resnets.0", "shortcut"),
        ("mid_block.resnets.0", "remove")]
UNCOND = [("mid_block.attentions.0", "remove"), ("down_blocks.0.resnets.1", "width:0.5")]


def _plan(info, mods):
    return PrunePlan(info.fingerprint, [Modification(o, m) for o, m in mods], model=info.name)


def test_pruned_unet_from_pretrained_round_trips_bit_for_bit(tmp_path, tiny_t2i):
    unet, info = tiny_t2i
    pruned = apply_plan(unet, _plan(info, MODS))
    a = save_pruned(pruned, tmp_path / "a")
    cfg = json.loads((a / "config.json").read_text())
    assert cfg["_ldprune_class"] == "PrunedUNet2DConditionModel" and cfg["_ldprune_plan"] == "prune_plan.json"
    assert cfg["_class_name"] == "UNet2DConditionModel" and "_diffusers_version" in cfg  # finders look for it
    m = PrunedUNet2DConditionModel.from_pretrained(a)
    assert isinstance(m, PrunedUNet2DConditionModel)
    ref, got = pruned.state_dict(), m.state_dict()
    assert set(ref) == set(got) and all(torch.equal(ref[k], got[k]) for k in ref)
    args = example_inputs(pruned, info, batch=1)
    with torch.no_grad():
        assert torch.equal(pruned(**args).sample, m(**args).sample)
    m.save_pretrained(tmp_path / "b")
    for f in ("config.json", "diffusion_pytorch_model.safetensors", "prune_plan.json"):
        assert (a / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f
    assert load_pruned(tmp_path / "b").state_dict().keys() == ref.keys()  # old loader still works


def test_plain_diffusion_pipeline_from_pretrained_loads_pruned_unet(tmp_path, tiny_uncond):
    from diffusers import DDPMPipeline, DDPMScheduler, DiffusionPipeline

    unet, info = tiny_uncond
    pruned = apply_plan(unet, _plan(info, UNCOND))
    pipe = DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=50))
    save_pruned_pipeline(pipe, pruned, tmp_path / "p")
    index = json.loads((tmp_path / "p" / "model_index.json").read_text())
    assert index["unet"] == ["ldprune_deploy.pruned", "PrunedUNet2DModel"]
    # diffusers >= 0.42 resolves "ldprune_deploy.pruned" from sys.modules (imported at the top of this file)
    loaded = DiffusionPipeline.from_pretrained(tmp_path / "p")
    assert isinstance(loaded.unet, PrunedUNet2DModel)
    ref = pruned.state_dict()
    assert all(torch.equal(ref[k], v) for k, v in loaded.unet.state_dict().items())
    img = loaded(batch_size=1, num_inference_steps=2, generator=torch.Generator().manual_seed(0),
                 output_type="np").images
    assert img.shape[0] == 1


def test_stable_diffusion_folder_with_pruned_unet_loads_with_plain_diffusers(tmp_path, tiny_t2i):
    from diffusers import AutoencoderKL, DDIMScheduler, DiffusionPipeline, StableDiffusionPipeline

    unet, info = tiny_t2i
    pruned = apply_plan(unet, _plan(info, MODS))
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=[8, 8, 8, 8], norm_num_groups=4, latent_channels=4, sample_size=128,
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
    sd = StableDiffusionPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet, scheduler=DDIMScheduler(),
                                 safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    save_pruned_pipeline(sd, pruned, tmp_path / "sd")
    assert json.loads((tmp_path / "sd" / "model_index.json").read_text())["unet"] == \
        ["ldprune_deploy.pruned", "PrunedUNet2DConditionModel"]
    # no text encoder/tokenizer in this offline tiny pipeline: those are passed as None explicitly
    loaded = DiffusionPipeline.from_pretrained(tmp_path / "sd", text_encoder=None, tokenizer=None,
                                               safety_checker=None, feature_extractor=None)
    assert isinstance(loaded.unet, PrunedUNet2DConditionModel)
    emb = torch.randn(1, 8, 32)
    out = loaded(prompt_embeds=emb, negative_prompt_embeds=torch.zeros_like(emb), num_inference_steps=2,
                 height=128, width=128, output_type="np").images
    assert out.shape == (1, 128, 128, 3)
