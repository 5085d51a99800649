"""The project's data spaces (``ModelInfo.space``): exact, invertible maps between uint8 data
and a UNet's model space, so a teacher needs no VAE.

Core, not ``quality``: ``models`` reads a folder's space hint (``SPACE_SCALE``) and the
evaluator decodes a tagged UNet's samples with ``to_unit_images``; the quality data
builders and teachers use the same maps to encode.

``unshuffle2``: emoji (N, 64, 64, 3) -> pixel-unshuffle by 2 -> (N, 12, 32, 32), the VAE's
role of cutting spatial positions 4x at no reconstruction error. ``mel``: a (N, 1, 64, 64)
log-mel spectrogram as is. ``pixel``: images as is.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

UNSHUFFLE = 2
SPACE_SCALE = {"unshuffle2": UNSHUFFLE, "mel": 1, "pixel": 1}   # data pixels per model-space pixel


def to_model_space(x: np.ndarray | torch.Tensor, space: str) -> torch.Tensor:
    """uint8 data -> float model space in [-1, 1]. Emoji: (N, 64, 64, 3); mel: (N, 1, 64, 64)."""
    x = torch.as_tensor(np.asarray(x)).float() / 127.5 - 1.0
    if space == "unshuffle2":
        return F.pixel_unshuffle(x.permute(0, 3, 1, 2), UNSHUFFLE)
    if space == "mel":
        return x
    raise ValueError(f"unknown space {space!r}")


def to_unit_images(z: torch.Tensor, space: str) -> torch.Tensor:
    """Model space -> (N, C, H, W) in [0, 1]: what the proxy extractors take."""
    if space == "unshuffle2":
        z = F.pixel_shuffle(z, UNSHUFFLE)
    elif space != "mel":
        raise ValueError(f"unknown space {space!r}")
    return ((z.float() + 1.0) / 2.0).clamp(0, 1)
