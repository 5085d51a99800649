"""Data sources of the distillation stage: image folders (pixels / VAE latents), captions, mel folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from ldprune_deploy.distillation import DistillConfig
from ldprune_deploy.distillation.data import DistillData, load_data
from ldprune_deploy.errors import LdpruneError


def _images(folder, n, size=20):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size + 4 * i, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    return folder


def test_pixel_space_image_folder(tiny_uncond, tmp_path):
    unet, info = tiny_uncond
    folder = _images(tmp_path / "imgs", 3)
    data = load_data(DistillConfig(data=folder), unet, info, "cpu", "linear")
    assert data.latents.shape == (3, 3, 16, 16) and data.embeddings is None
    assert -1.0 <= float(data.latents.min()) and float(data.latents.max()) <= 1.0
    data.check(unet, conditional=False)


def test_vae_encoded_image_folder_with_jsonl_and_sidecar_captions(tiny_t2i, tmp_path):
    from diffusers import AutoencoderKL

    unet, info = tiny_t2i
    folder = _images(tmp_path / "imgs", 3, size=128)
    (folder / "captions.jsonl").write_text(json.dumps({"file": "im0.png", "text": "a red cat"}) + "\n"
                                           + json.dumps({"file": "im1.png", "text": "a dog"}) + "\n")
    (folder / "im2.txt").write_text("a bird\n")
    vae_dir = tmp_path / "vae"
    torch.manual_seed(0)
    AutoencoderKL(block_out_channels=[8, 8, 8, 8], down_block_types=["DownEncoderBlock2D"] * 4,
                  up_block_types=["UpDecoderBlock2D"] * 4, latent_channels=4, norm_num_groups=4,
                  sample_size=128).save_pretrained(vae_dir)
    cfg = DistillConfig(data=folder, vae=vae_dir)
    data = load_data(cfg, unet, info, "cpu", "scaled_linear")
    assert data.latents.shape == (3, 4, 16, 16)
    assert data.embeddings.shape == (3, 8, 32)
    data.check(unet, conditional=True)
    again = load_data(cfg, unet, info, "cpu", "scaled_linear")  # the posterior mean: deterministic
    assert torch.equal(data.latents, again.latents)
    with pytest.raises(LdpruneError, match="--vae"):
        load_data(DistillConfig(data=folder), unet, info, "cpu", "scaled_linear")
    (folder / "im2.txt").unlink()
    with pytest.raises(LdpruneError, match="no caption"):
        load_data(cfg, unet, info, "cpu", "scaled_linear")


def test_mel_spectrogram_folder(tiny_uncond, tmp_path):
    unet, info = tiny_uncond
    folder = tmp_path / "mels"
    folder.mkdir()
    for i in range(2):
        np.save(folder / f"m{i}.npy", np.full((16, 16), 255 * i, dtype=np.uint8))
    data = load_data(DistillConfig(data=folder), unet, info, "cpu", "linear")
    assert data.latents.shape == (2, 1, 16, 16)
    assert float(data.latents[0].max()) == -1.0 and float(data.latents[1].min()) == 1.0
    with pytest.raises(LdpruneError, match="the UNet takes"):  # tiny-uncond has 3 channels
        data.check(unet, conditional=False)


def test_pre_encoded_file_round_trip_and_errors(tiny_t2i, tmp_path):
    unet, info = tiny_t2i
    d = DistillData(torch.randn(2, 4, 16, 16), torch.randn(2, 8, 32), "x")
    d.save(tmp_path / "d.safetensors")
    back = load_data(DistillConfig(data=tmp_path / "d.safetensors"), unet, info, "cpu", "scaled_linear")
    assert torch.equal(back.latents, d.latents) and torch.equal(back.embeddings, d.embeddings)
    DistillData(d.latents).save(tmp_path / "noemb.safetensors")
    with pytest.raises(LdpruneError, match="no embeddings"):
        DistillData.load(tmp_path / "noemb.safetensors").check(unet, conditional=True)
