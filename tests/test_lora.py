"""LoRA after pruning (issue 22, part 1): adapt a peft LoRA made for tiny-t2i to a pruned UNet."""

import copy

import numpy as np
import pytest
import torch

peft = pytest.importorskip("peft")
pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models: a 2nd OpenMP thread only spins (see conftest)

from ldprune_deploy.artifacts import Modification, PrunePlan
from ldprune_deploy.models import example_inputs
from ldprune_deploy.surgery import apply_plan
from ldprune_deploy.surgery.lora import adapt_lora, load_lora
from ldprune_deploy.unet import model_plan
from test_surgery import T2I_MODS

TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2", "conv1", "conv2"]
MODS = T2I_MODS[:7]   # the surgery tests' mixed plan, up to the mid block's resnet
REMOVED = ["down_blocks.0.attentions.0", "down_blocks.0.attentions.1.transformer_blocks.0.attn2",
           "mid_block.resnets.0", "down_blocks.1.resnets.0"]  # shortcut: conv1/conv2 adapters go too


def _peft_lora(unet):
    from peft import LoraConfig, get_peft_model_state_dict

    lu = copy.deepcopy(unet)
    torch.manual_seed(0)
    lu.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=TARGETS, init_lora_weights=False))
    sd = {f"unet.{k}": v.detach().clone() for k, v in get_peft_model_state_dict(lu).items()}
    return lu, sd


@pytest.fixture(scope="module")
def setup(tiny_t2i):
    unet, info = tiny_t2i
    unet = copy.deepcopy(unet).eval()
    lora_unet, sd = _peft_lora(unet)
    plan = PrunePlan(info.fingerprint, [Modification(o, m) for o, m in MODS], model=info.name)
    pruned = apply_plan(unet, plan).eval()
    return unet, info, lora_unet.eval(), sd, pruned


def test_adapt_and_load(setup):
    from peft import get_peft_model_state_dict

    unet, info, lora_unet, sd, pruned = setup
    plan = model_plan(pruned)
    new_sd, report = adapt_lora(sd, plan, unet=pruned)
    # (c) dropped = exactly the adapters inside removed operators (and the shortcut resnet's branch)
    lora_mods = sorted({k[len("unet."):].rsplit(".lora_", 1)[0] for k in sd})
    expect = [m for m in lora_mods if any(m == r or m.startswith(r + ".") for r in REMOVED)]
    assert sorted(report.dropped) == expect and expect
    assert 0 < report.dropped_share < 1 and 0 < report.sliced_away_share < 1
    assert report.sliced and all("down_blocks.0" in s for s in report.sliced)
    assert any(s.endswith("ff.net.0.proj") for s in report.sliced)
    assert any(s.endswith("to_out.0") for s in report.sliced)
    assert "dropped" in report.format() and len(report.format().splitlines()) < 40
    # (a) loads with diffusers' loader, every surviving module gets exactly its adapted weights
    target = copy.deepcopy(pruned)
    from ldprune_deploy.unet import copy_model_info

    copy_model_info(pruned, target)
    rep2 = load_lora(target, sd)
    assert rep2.dropped == report.dropped
    loaded = get_peft_model_state_dict(target, adapter_name=next(iter(target.peft_config)))
    want = {k[len("unet."):]: v for k, v in new_sd.items()}
    assert set(loaded) == set(want)
    for k, v in want.items():
        torch.testing.assert_close(loaded[k], v)
    # (b) an operator untouched by the plan behaves as in the unpruned + LoRA model
    x = torch.randn(2, 16, 64)
    op = "mid_block.attentions.0.transformer_blocks.0.attn1"
    with torch.no_grad():
        torch.testing.assert_close(target.get_submodule(op)(x), lora_unet.get_submodule(op)(x))
        base_r = unet.get_submodule("up_blocks.1.resnets.0")
        h, temb = torch.randn(1, base_r.conv1.in_channels, 8, 8), torch.randn(1, base_r.time_emb_proj.in_features)
        r = "up_blocks.1.resnets.0"
        torch.testing.assert_close(target.get_submodule(r)(h, temb), lora_unet.get_submodule(r)(h, temb))


def _fuse(unet, sd, prefix="unet."):
    """``unet`` with ``B @ A`` added to each adapted weight (lora_alpha == r: scale 1), as a copy."""
    fused = copy.deepcopy(unet)
    mods = {}
    for k, v in sd.items():
        mod, part = k[len(prefix):].rsplit(".lora_", 1)
        mods.setdefault(mod, {})[part[0]] = v
    with torch.no_grad():
        for mod, ab in mods.items():
            w = fused.get_submodule(mod).weight
            a, b = ab["A"], ab["B"]
            delta = b.reshape(b.shape[0], -1) @ a.reshape(a.shape[0], -1)
            w += delta.reshape(w.shape)
    return fused


def test_fuse_then_prune_equals_prune_then_adapt(setup):
    unet, info, lora_unet, sd, pruned = setup
    plan = model_plan(pruned)  # kept units resolved on the unfused model: both orders keep the same
    new_sd, _ = adapt_lora(sd, plan, unet=pruned)
    a = apply_plan(_fuse(unet, sd), plan).eval()              # fuse, then prune
    b = _fuse(pruned, new_sd).eval()                           # prune, adapt, then fuse
    inputs = example_inputs(unet, info, batch=1)
    with torch.no_grad():
        torch.testing.assert_close(a(**inputs).sample, b(**inputs).sample, rtol=1e-4, atol=1e-5)
        # the unfused LoRA loaded by diffusers gives the same as well
        c = copy.deepcopy(pruned)
        from ldprune_deploy.unet import copy_model_info

        copy_model_info(pruned, c)
        load_lora(c, sd)
        torch.testing.assert_close(c(**inputs).sample, b(**inputs).sample, rtol=1e-4, atol=1e-5)


def test_adapt_accepts_other_namings(setup):
    unet, info, lora_unet, sd, pruned = setup
    plan = model_plan(pruned)
    ref, _ = adapt_lora(sd, plan, unet=pruned)
    bare = {k[len("unet."):].replace(".lora_A.", ".lora.down.").replace(".lora_B.", ".lora.up."): v
            for k, v in sd.items()}
    out, _ = adapt_lora(bare, plan, unet=pruned)
    assert set(out) == set(ref)
    for k in ref:
        torch.testing.assert_close(out[k], ref[k])


def _text_encoder_lora(te):
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model

    lt = copy.deepcopy(te)
    torch.manual_seed(1)
    inject_adapter_in_model(LoraConfig(r=4, lora_alpha=4, target_modules=["q_proj", "v_proj", "fc1"],
                                       init_lora_weights=False), lt)
    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(lt).items()}


def _image(pipe):
    pipe.set_progress_bar_config(disable=True)
    return pipe("a cat", num_inference_steps=2, height=64, width=64, output_type="np",
                generator=torch.Generator().manual_seed(0)).images


def test_pipeline_loads_a_diffusers_format_lora_file(setup, tmp_path):
    """A peft LoRA (UNet + text encoder) saved with save_lora_weights, loaded into a StableDiffusionPipeline
    holding the pruned UNet: load_lora(pipe, folder) gives the image of fuse-then-prune; diffusers' own
    pipe.load_lora_weights gives the same from the adapted state dict, and refuses the unadapted file."""
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import load_file

    from _tiny_sd import tiny_sd_components
    from ldprune_deploy.unet import copy_model_info

    unet, _, _, sd, pruned = setup
    comps = tiny_sd_components(tmp_path / "tok")
    te_sd = _text_encoder_lora(comps["text_encoder"])
    unet_layers = {k[len("unet."):]: v for k, v in sd.items()}
    StableDiffusionPipeline.save_lora_weights(tmp_path / "lora", unet_lora_layers=unet_layers,
                                              text_encoder_lora_layers=te_sd, safe_serialization=True)

    def pipe_with(u, te=None):
        return StableDiffusionPipeline(unet=copy_model_info(pruned, copy.deepcopy(u)) if u is pruned else u,
                                       **{**comps, "text_encoder": te or copy.deepcopy(comps["text_encoder"])})

    plain = _image(pipe_with(pruned))
    pipe = pipe_with(pruned)
    report = load_lora(pipe, tmp_path / "lora")
    assert report.dropped and report.sliced and any("text-encoder tensors loaded unchanged" in n for n in report.notes)
    got = _image(pipe)
    # reference: both LoRAs fused into the weights, the UNet's before pruning
    ref_unet = apply_plan(_fuse(unet, sd), model_plan(pruned)).eval()
    ref = _image(pipe_with(ref_unet, _fuse(comps["text_encoder"], {f"text_encoder.{k}": v for k, v in te_sd.items()},
                                           prefix="text_encoder.")))
    assert np.abs(got - ref).max() < 1e-4 and np.abs(got - plain).max() > 1e-3
    # diffusers' loader, fed the adapted UNet part (+ the text encoder's unchanged), gives the same image
    raw = load_file(str(tmp_path / "lora" / "pytorch_lora_weights.safetensors"))
    text = {k: v for k, v in raw.items() if k.startswith("text_encoder.")}
    adapted, _ = adapt_lora({k: v for k, v in raw.items() if k not in text}, model_plan(pruned), unet=pruned)
    own = pipe_with(pruned)
    own.load_lora_weights({**adapted, **text})
    assert np.abs(_image(own) - got).max() < 1e-5
    # ... and refuses the unadapted file: the narrowed operators' adapters no longer fit
    with pytest.raises(RuntimeError, match="size mismatch"):
        pipe_with(pruned).load_lora_weights(tmp_path / "lora")


def test_load_lora_refuses_what_it_cannot_adapt(setup):
    from ldprune_deploy.errors import LdpruneError
    from ldprune_deploy.unet import copy_model_info

    _, _, _, sd, pruned = setup
    target = copy_model_info(pruned, copy.deepcopy(pruned))
    with pytest.raises(LdpruneError, match="text-encoder tensors and the target is a bare UNet") as e:
        load_lora(target, {**sd, "text_encoder.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight":
                           torch.zeros(4, 32)})
    assert "load_lora(pipe, lora)" in e.value.fix
    kohya = {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 32)}
    with pytest.raises(LdpruneError, match="kohya/A1111 naming") as e:
        load_lora(target, kohya)
    assert "fuse_lora" in e.value.fix and "apply_plan" in e.value.fix
