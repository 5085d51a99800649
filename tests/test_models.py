import json

import pytest
import torch

from ldprune_deploy.catalogue import build_catalogue
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.models import example_inputs, load_model
from ldprune_deploy.presets import PRESETS
from ldprune_deploy.unet import config_fingerprint


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_builds_on_meta_and_has_prunable_operators(name):
    unet, info = load_model(name, device="meta")
    assert info.random_weights and info.source == "preset"
    cat = build_catalogue(unet, info, flops=False)
    assert len(cat.candidates()) > 10
    assert info.fingerprint == config_fingerprint(unet.config)


def test_sd15_catalogue_counts_and_flops():
    cat = build_catalogue("sd15", batch=2)
    counts = cat.counts()
    assert counts["resnet"] == 22
    assert counts["transformer"] == 16
    assert counts["attn1"] + counts["attn2"] + counts["ff"] == 48
    assert "transformer_block" not in counts  # one block per transformer: same as removing the transformer
    removals = [c for c in cat.candidates() if c[1] in ("remove", "shortcut")]
    assert len(removals) == 86
    assert cat.total_flops == pytest.approx(1.607e12, rel=0.01)  # batch 2, 512px


def test_sdxl_lists_transformer_blocks():
    cat = build_catalogue("sdxl", flops=False)
    assert cat.counts()["transformer_block"] == 70


def test_unknown_preset_lists_known_ones():
    with pytest.raises(LdpruneError) as e:
        load_model("sd99")
    assert "sd15" in e.value.fix and "tiny-t2i" in e.value.fix


def test_path_that_is_not_a_unet(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"_class_name": "AutoencoderKL"}))
    with pytest.raises(LdpruneError, match="not a diffusers UNet folder"):
        load_model(str(tmp_path))
    f = tmp_path / "notes.txt"
    f.write_text("x")
    with pytest.raises(LdpruneError, match="neither a diffusers folder"):
        load_model(str(f))


def test_diffusers_folder_and_safetensors_file_round_trip(tmp_path, tiny_t2i):
    from safetensors.torch import save_file

    unet, info = tiny_t2i
    unet.save_pretrained(tmp_path / "pipe" / "unet")
    x = example_inputs(unet, info, batch=1)
    with torch.no_grad():
        ref = unet(**x).sample
        for spec, kw in ((tmp_path / "pipe", {}), (tmp_path / "pipe" / "unet", {})):
            u2, i2 = load_model(str(spec), **kw)
            assert i2.source == "folder" and not i2.random_weights
            assert torch.equal(u2(**x).sample, ref)
        save_file(unet.state_dict(), str(tmp_path / "w.safetensors"))
        u3, _ = load_model(str(tmp_path / "w.safetensors"), preset="tiny-t2i")
        assert torch.equal(u3(**x).sample, ref)
    with pytest.raises(LdpruneError, match="--preset"):
        load_model(str(tmp_path / "w.safetensors"))
    with pytest.raises(LdpruneError, match="do not match"):
        load_model(str(tmp_path / "w.safetensors"), preset="tiny-uncond")


def test_example_inputs_for_sdxl_include_micro_conditioning():
    unet, info = load_model("sdxl", device="meta")
    x = example_inputs(unet, info, batch=2, resolution=1024, device="meta")
    assert x["sample"].shape == (2, 4, 128, 128)
    assert x["added_cond_kwargs"]["text_embeds"].shape == (2, 1280)


def test_teacher_folder_hints_set_data_space_and_text_length(tmp_path, tiny_uncond):
    unet, info = tiny_uncond
    unet.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["_ldprune_teacher"] = {"space": "unshuffle2", "text_len": 32}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    _, hinted = load_model(str(tmp_path))
    assert (hinted.vae_scale_factor, hinted.resolution, hinted.text_len) == (2, 32, 32)
    assert hinted.fingerprint == info.fingerprint  # private keys do not change the architecture hash
