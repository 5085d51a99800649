"""Architecture configs of the supported UNets (random weights; nothing is downloaded).

The configs follow the published diffusers ``unet/config.json`` files of each model, so
latency measured on them is the latency of the real architecture.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Preset:
    name: str
    cls: str                      # "UNet2DConditionModel" or "UNet2DModel"
    config: dict[str, Any]
    vae_scale_factor: int          # pixels per latent pixel (1: the UNet works on pixels)
    resolution: int                # default pixel resolution
    description: str
    text_len: int = 77
    extra: dict[str, Any] = field(default_factory=dict)


_SD_DOWN = ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"]
_SD_UP = ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3

PRESETS: dict[str, Preset] = {}


def _add(p: Preset) -> None:
    PRESETS[p.name] = p


_add(Preset(
    "sd15", "UNet2DConditionModel",
    dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
         block_out_channels=[320, 640, 1280, 1280], down_block_types=_SD_DOWN, up_block_types=_SD_UP,
         cross_attention_dim=768, attention_head_dim=8, norm_num_groups=32,
         flip_sin_to_cos=True, freq_shift=0, act_fn="silu", downsample_padding=1),
    vae_scale_factor=8, resolution=512, description="Stable Diffusion v1.5 UNet (860M)"))

_add(Preset(
    "sd21", "UNet2DConditionModel",
    dict(sample_size=96, in_channels=4, out_channels=4, layers_per_block=2,
         block_out_channels=[320, 640, 1280, 1280], down_block_types=_SD_DOWN, up_block_types=_SD_UP,
         cross_attention_dim=1024, attention_head_dim=[5, 10, 20, 20], use_linear_projection=True,
         upcast_attention=True, norm_num_groups=32, flip_sin_to_cos=True, freq_shift=0, act_fn="silu"),
    vae_scale_factor=8, resolution=768, description="Stable Diffusion v2.1 UNet (865M)"))

_add(Preset(
    "sdxl", "UNet2DConditionModel",
    dict(sample_size=128, in_channels=4, out_channels=4, layers_per_block=2,
         block_out_channels=[320, 640, 1280],
         down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
         up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
         transformer_layers_per_block=[1, 2, 10], attention_head_dim=[5, 10, 20],
         cross_attention_dim=2048, use_linear_projection=True, addition_embed_type="text_time",
         addition_time_embed_dim=256, projection_class_embeddings_input_dim=2816,
         norm_num_groups=32, flip_sin_to_cos=True, freq_shift=0, act_fn="silu"),
    vae_scale_factor=8, resolution=1024, description="Stable Diffusion XL base UNet (2.6B)",
    extra={"text_embeds_dim": 1280, "time_ids_dim": 6}))

_add(Preset(
    "ldm-celebahq-256", "UNet2DModel",
    dict(sample_size=64, in_channels=3, out_channels=3, layers_per_block=2,
         block_out_channels=[224, 448, 672, 896],
         down_block_types=["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"],
         up_block_types=["AttnUpBlock2D", "AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"],
         attention_head_dim=32, norm_num_groups=32, flip_sin_to_cos=True, freq_shift=0,
         act_fn="silu", time_embedding_type="positional", downsample_padding=1),
    vae_scale_factor=4, resolution=256,
    description="LDM CelebA-HQ 256 UNet (unconditional, on 64x64x3 VQ latents, 274M)"))

_add(Preset(
    "audio-diffusion-256", "UNet2DModel",
    dict(sample_size=256, in_channels=1, out_channels=1, layers_per_block=2,
         block_out_channels=[128, 128, 256, 256, 512, 512],
         down_block_types=["DownBlock2D"] * 4 + ["AttnDownBlock2D", "DownBlock2D"],
         up_block_types=["UpBlock2D", "AttnUpBlock2D"] + ["UpBlock2D"] * 4,
         norm_num_groups=32, flip_sin_to_cos=True, freq_shift=0, act_fn="silu"),
    vae_scale_factor=1, resolution=256,
    description="AudioDiffusion-256 UNet (unconditional, 256x256 mel spectrograms, 1 channel)"))

# Tiny models: same block types as the real ones, small enough for CPU tests in seconds.
_add(Preset(
    "tiny-t2i", "UNet2DConditionModel",
    dict(sample_size=16, in_channels=4, out_channels=4, layers_per_block=2,
         block_out_channels=[32, 64], down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"],
         up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"], cross_attention_dim=32,
         attention_head_dim=4, norm_num_groups=8, flip_sin_to_cos=True, freq_shift=0, act_fn="silu"),
    vae_scale_factor=8, resolution=128, text_len=8,
    description="tiny text-to-image UNet2DConditionModel for CPU tests"))

_add(Preset(
    "tiny-uncond", "UNet2DModel",
    dict(sample_size=16, in_channels=3, out_channels=3, layers_per_block=2,
         block_out_channels=[32, 64], down_block_types=["DownBlock2D", "AttnDownBlock2D"],
         up_block_types=["AttnUpBlock2D", "UpBlock2D"], attention_head_dim=8, norm_num_groups=8,
         flip_sin_to_cos=True, freq_shift=0, act_fn="silu"),
    vae_scale_factor=1, resolution=16,
    description="tiny unconditional UNet2DModel for CPU tests"))
