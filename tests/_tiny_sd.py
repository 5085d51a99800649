"""Tiny Stable Diffusion components built offline (no hub): a CLIP tokenizer over a 12-word vocabulary, a
2-layer CLIP text encoder (32 wide = tiny-t2i's cross_attention_dim), a 4-block VAE (scale 8, 4 latent
channels = tiny-t2i's in/out channels) and a DDIM scheduler. Shared by the ControlNet, ONNX pipeline
folder and LoRA tests."""

import json
from pathlib import Path

import torch


def tiny_sd_components(folder: Path) -> dict:
    """``StableDiffusionPipeline(unet=..., **tiny_sd_components(tmp))`` keyword arguments."""
    from diffusers import AutoencoderKL, DDIMScheduler
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2}
    for w in ["a</w>", "cat</w>", "dog</w>", "c", "a", "t", "d", "o", "g"]:
        vocab[w] = len(vocab)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=8,
                              pad_token="!")
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=2, hidden_size=32, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, vocab_size=len(vocab), max_position_embeddings=8, layer_norm_eps=1e-5)).eval()
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[8, 8, 16, 16],
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
                        layers_per_block=1, norm_num_groups=8, sample_size=64).eval()
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)   # 0 would be rewritten by one pipeline only
    return dict(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler, safety_checker=None,
                feature_extractor=None, requires_safety_checker=False)
