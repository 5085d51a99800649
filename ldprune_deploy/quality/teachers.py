"""Teacher configs for the quality benchmarks (their data <-> model-space maps are ``spaces``).

T2I and UIG work on emoji 64x64x3 through a fixed invertible downsampler, pixel-unshuffle
by 2 (-> 12x32x32). It is exact (decode(encode(x)) == x, tested), so unlike a VAE it adds
no reconstruction error to the FID and needs no training; it plays the VAE's role of
cutting spatial positions 4x, so a 64x64 model costs what a 32x32 one does. (A larger
factor, 4 -> 48x16x16, leaves each latent pixel a 4x4 patch to model jointly; at these
model sizes that shows as blockiness, so 2 is the compromise.) UAG works on the 1x64x64
mel spectrogram directly (AudioDiffusion's set-up in miniature: pixel-space mel).

Sizes: 5.6 M + 2.7 M + 2.9 M params = 22.4 MB in fp16, under the 24 MB committed-weights cap.
All three use the toolchain's default noise schedule (``sampling.make_scheduler``), so
scoring and distillation sample them with the same scheduler they were trained with.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TeacherConfig:
    name: str
    cls: str
    config: dict[str, Any]
    data: str                   # "emoji" or "notes"
    space: str                  # "unshuffle2" (emoji 64x64 -> 12x32x32) or "mel" (1x64x64)
    conditional: bool
    steps: int                  # H100 training steps (~<= 2 min each at bf16)
    batch: int
    lr: float = 1e-3
    text_len: int = 32
    cond_drop: float = 0.1      # caption dropout (zero embedding) so guidance is possible later
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def latent_size(self) -> int:
        return self.config["sample_size"]


_COMMON = dict(layers_per_block=2, norm_num_groups=16, flip_sin_to_cos=True, freq_shift=0, act_fn="silu")

TEACHERS: dict[str, TeacherConfig] = {t.name: t for t in [
    TeacherConfig(
        "emoji-t2i", "UNet2DConditionModel",
        dict(sample_size=32, in_channels=12, out_channels=12, block_out_channels=[32, 64, 112],
             down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
             up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
             cross_attention_dim=384, attention_head_dim=8, **_COMMON),
        data="emoji", space="unshuffle2", conditional=True, steps=6000, batch=256),
    TeacherConfig(
        "emoji-uig", "UNet2DModel",
        dict(sample_size=32, in_channels=12, out_channels=12, block_out_channels=[32, 64, 96],
             down_block_types=["DownBlock2D", "AttnDownBlock2D", "AttnDownBlock2D"],
             up_block_types=["AttnUpBlock2D", "AttnUpBlock2D", "UpBlock2D"], attention_head_dim=32, **_COMMON),
        data="emoji", space="unshuffle2", conditional=False, steps=6000, batch=256),
    TeacherConfig(
        "notes-uag", "UNet2DModel",
        dict(sample_size=64, in_channels=1, out_channels=1, block_out_channels=[32, 48, 64, 96],
             down_block_types=["DownBlock2D", "DownBlock2D", "AttnDownBlock2D", "DownBlock2D"],
             up_block_types=["UpBlock2D", "AttnUpBlock2D", "UpBlock2D", "UpBlock2D"], attention_head_dim=32,
             **_COMMON),
        data="notes", space="mel", conditional=False, steps=6000, batch=256),
]}


def build_teacher(cfg: TeacherConfig, dropout: float = 0.0):
    """``cfg``'s UNet with seeded random weights; ``dropout`` > 0: its ResNet blocks' dropout
    (diffusers' ``dropout`` config key; a training-time regulariser, so it is left out at 0)."""
    from ..unet import build_unet

    return build_unet(cfg.cls, {**cfg.config, "dropout": dropout} if dropout else cfg.config)


@dataclass
class TeacherData:
    """A teacher's data in its model space, split: ``train`` (teacher training and distillation)
    and ``ref`` (held out: every proxy metric's reference), with caption embeddings for T2I."""

    x_train: Any
    x_ref: Any
    captions_train: list[str] | None = None
    cond_train: Any = None
    cond_ref: Any = None


def teacher_data(data: str, space: str, conditional: bool, data_dir=None, emb=None, limit: int | None = None) -> TeacherData:
    """Load ``data`` (``emoji`` / ``notes``) from the cache, map it to ``space`` and split it by the
    data set's fixed ``held_out`` flags; ``emb``: the caption EmbeddingFile (default
    ``<data_dir>/emoji[-<limit>]-emb.safetensors``)."""
    import torch

    from ..conditioning import open_embeddings
    from ..spaces import to_model_space
    from . import load_emoji, load_notes
    from .common import cache_dir

    d = load_emoji(data_dir, limit) if data == "emoji" else load_notes(data_dir, limit)
    x = to_model_space(d["images64"] if data == "emoji" else d["mels"], space)
    train = torch.from_numpy(~d["held_out"])
    out = TeacherData(x[train], x[~train])
    if conditional:
        enc = open_embeddings(emb or cache_dir(data_dir) / (
            "emoji-emb.safetensors" if limit is None else f"emoji-{limit}-emb.safetensors"))
        keep = train.tolist()
        out.captions_train = [str(c) for c, k in zip(d["captions"], keep) if k]
        out.cond_train = enc.encode(out.captions_train)
        out.cond_ref = enc.encode([str(c) for c, k in zip(d["captions"], keep) if not k])
    return out


RUN_KEYS = ("date", "device", "torch")


def merge_curves(committed: dict | None, new: dict) -> dict:
    """``curves.json`` of a run that trained some teachers merged into the committed one: the
    teachers it trained replace theirs, the others stay, and every teacher entry carries the
    ``trained`` date/device/torch of the run that last trained it (the file's header is the
    latest run's, which is not when an untouched teacher was trained)."""
    merged = {k: v for k, v in (committed or {}).items() if k != "teachers"}
    teachers = {}
    for name, entry in (committed or {}).get("teachers", {}).items():
        teachers[name] = {**entry, "trained": entry.get("trained") or {k: committed.get(k) for k in RUN_KEYS}}
    for name, entry in new.get("teachers", {}).items():
        teachers[name] = {**entry, "trained": {k: new.get(k) for k in RUN_KEYS}}
    merged.update({k: v for k, v in new.items() if k != "teachers"})
    merged["teachers"] = teachers
    return merged
