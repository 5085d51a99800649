"""Fréchet distance (FID / FAD) through torchmetrics, and CLIP score.

Features are extracted once per sample set and fed to torchmetrics'
``FrechetInceptionDistance`` through a pass-through "network", so the accumulation
(float64 sums) and the matrix square root are torchmetrics' own code, and one reference
set is reused for teacher and candidate.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from ..errors import LdpruneError
from .features import FeatureExtractor


class _Precomputed(nn.Module):
    """Identity 'feature network': the inputs given to FID.update are already features."""

    def __init__(self, dim: int):
        super().__init__()
        self.num_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def extract(extractor: FeatureExtractor, samples: torch.Tensor, batch: int = 64) -> torch.Tensor:
    return torch.cat([extractor(samples[i:i + batch]) for i in range(0, len(samples), batch)])


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between the Gaussians fitted to two (N, D) feature sets."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    if real.dim() != 2 or fake.dim() != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with equal D, got {tuple(real.shape)} and {tuple(fake.shape)}")
    if min(len(real), len(fake)) < 2:
        raise LdpruneError("a Fréchet distance needs at least 2 samples per set", "raise --n-samples")
    fid = FrechetInceptionDistance(feature=_Precomputed(real.shape[1]), reset_real_features=True)
    fid.update(real.double(), real=True)
    fid.update(fake.double(), real=False)
    return float(fid.compute())


def clip_score(images: torch.Tensor, prompts: Sequence[str], weights: str | Path | None) -> float:
    """Mean CLIP score (100 * cosine, floored at 0) of images (N, C, H, W) in [0, 1] vs prompts.

    ``weights`` is a local folder loadable by ``transformers.CLIPModel``; nothing is downloaded.
    """
    if not weights:
        raise LdpruneError("the CLIP score needs CLIP weights", "pass --clip-weights FOLDER (a local "
                           "transformers CLIPModel folder), or drop --metric clip")
    folder = Path(weights)
    if not (folder / "config.json").is_file():
        raise LdpruneError(f"--clip-weights {folder} is not a CLIPModel folder (no config.json)",
                           "pass a folder saved with CLIPModel.save_pretrained (nothing is downloaded)")
    try:
        import transformers  # noqa: F401
    except ImportError:
        raise LdpruneError("the CLIP score needs the 'transformers' package", "pip install transformers") from None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from torchmetrics.functional.multimodal import clip_score as tm_clip_score

    imgs = (images.clamp(0, 1) * 255).round().to(torch.uint8)
    if imgs.shape[1] == 1:
        imgs = imgs.expand(-1, 3, -1, -1)
    scores = []
    for i in range(0, len(imgs), 32):
        chunk = imgs[i:i + 32]
        s = tm_clip_score(list(chunk), list(prompts[i:i + 32]), model_name_or_path=str(folder))
        scores.append(float(s) * len(chunk))
    return sum(scores) / len(imgs)
