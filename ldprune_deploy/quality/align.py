"""A CLIP-like prompt-alignment proxy for the emoji text-to-image teacher, trained here.

Image tower: the proxy CNN's body (``ProxyCNN``) and a linear projection; text tower: a small MLP
on the pooled all-MiniLM-L6-v2 caption embedding (the masked mean of the token embeddings the
UNet cross-attends to, so no second text file is needed). Both map to a shared unit sphere and
are trained with CLIP's symmetric contrastive loss on the training split.

The score of a generated image is the cosine between its embedding and its caption's, times 100
(the "CLIP score" convention), averaged over the samples. It is a *proxy*: validated by held-out
retrieval accuracy (an image of a pictogram never trained on, among all held-out captions) and by a
sanity ladder (real images with their own captions >> with shuffled captions >> noise), never
called CLIP in a report.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import LdpruneError
from ..jsonio import write_json_atomic
from ..tensorfile import save_tensors
from .proxy import ProxyCNN, _augment, fit

SCHEMA = "ldprune.align-proxy/1"


def pooled(tokens: torch.Tensor) -> torch.Tensor:
    """(N, L, D) token embeddings with zero padding -> (N, D) masked mean, L2-normalised."""
    tokens = tokens.float()
    mask = (tokens.abs().sum(-1, keepdim=True) > 0).float()
    return F.normalize((tokens * mask).sum(1) / mask.sum(1).clamp_min(1), dim=-1)


class AlignProxy(nn.Module):
    def __init__(self, size: int = 32, text_dim: int = 384, dim: int = 128, width: int = 24):
        super().__init__()
        self.image = ProxyCNN(3, size, 1, width=width, feat_dim=dim)   # its 1-class head is unused
        self.image_proj = nn.Linear(dim, dim)
        self.text = nn.Sequential(nn.Linear(text_dim, 256), nn.SiLU(), nn.Linear(256, dim))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.kwargs = {"size": size, "text_dim": text_dim, "dim": dim, "width": width}

    def embed_images(self, x: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] (or uint8), any size -> unit vectors."""
        return F.normalize(self.image_proj(self.image.features(x)), dim=-1)

    def embed_text(self, text: torch.Tensor) -> torch.Tensor:
        """Pooled caption embeddings (N, text_dim), or token embeddings (N, L, text_dim)."""
        if text.dim() == 3:
            text = pooled(text)
        return F.normalize(self.text(text.float()), dim=-1)

    @torch.no_grad()
    def score(self, images: torch.Tensor, text: torch.Tensor, batch: int = 500) -> torch.Tensor:
        """Per-sample alignment: 100 x cosine(image, its caption)."""
        self.eval()
        dev = self.logit_scale.device
        out = [100 * (self.embed_images(images[i:i + batch].to(dev)) * self.embed_text(text[i:i + batch].to(dev))).sum(-1)
               for i in range(0, len(images), batch)]
        return torch.cat(out).cpu()


def train_align(images: np.ndarray, text: torch.Tensor, captions: list[str], held: np.ndarray, epochs: int,
                seed: int = 0, batch: int = 256, device: str = "cpu", log=print) -> tuple[AlignProxy, dict]:
    """images (N, 3, H, W) uint8, text (N, D) pooled caption embeddings. Returns the model and its
    held-out retrieval accuracy (image -> caption and caption -> image, among the held-out set)."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    tr, te = np.flatnonzero(~held), np.flatnonzero(held)
    if len(tr) < 2 or len(te) < 2:
        raise LdpruneError("the alignment proxy needs at least 2 training and 2 held-out items", "build a larger data set")
    xs, ts = torch.from_numpy(images), text.float()
    batch = min(batch, len(tr))
    model = AlignProxy(size=images.shape[-1], text_dim=ts.shape[1]).to(device)
    t0 = time.perf_counter()

    def step_loss(idx: torch.Tensor) -> torch.Tensor:
        im = model.embed_images(_augment(xs[idx], g, "image").to(device))
        tx = model.embed_text(ts[idx].to(device))
        logits = model.logit_scale.exp().clamp(max=100) * im @ tx.T
        # rows may have several true captions (identical strings): soft targets over them
        target = _same_caption(captions, idx.tolist()).to(device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target.T))

    step = fit(model, tr, epochs, batch, g, step_loss, log)
    info = retrieval(model, xs[te], ts[te], [captions[i] for i in te])
    info.update(n_train=len(tr), n_held_out=len(te), epochs=epochs, steps=step, seconds=round(time.perf_counter() - t0, 1))
    return model.cpu().eval(), info


def _same_caption(captions: list[str], idx: list[int]) -> torch.Tensor:
    c = [captions[i] for i in idx]
    m = torch.tensor([[a == b for b in c] for a in c], dtype=torch.float32)
    return m / m.sum(1, keepdim=True)


@torch.no_grad()
def retrieval(model: AlignProxy, images: torch.Tensor, text: torch.Tensor, captions: list[str]) -> dict:
    """Top-1 / top-5 accuracy of finding each image's caption among all ``captions`` (and the
    reverse); a hit is any caption string equal to the true one. Chance = 1 / distinct captions."""
    model.eval()
    dev = model.logit_scale.device
    im = torch.cat([model.embed_images(images[i:i + 500].to(dev)) for i in range(0, len(images), 500)])
    tx = model.embed_text(text.to(dev))
    sim = (im @ tx.T).cpu()
    same = torch.tensor([[a == b for b in captions] for a in captions])

    def topk(s: torch.Tensor, k: int) -> float:
        hits = same.gather(1, s.topk(min(k, s.shape[1]), dim=1).indices)
        return float(hits.any(1).float().mean())
    return {"image_to_text_top1": topk(sim, 1), "image_to_text_top5": topk(sim, 5),
            "text_to_image_top1": topk(sim.T, 1), "text_to_image_top5": topk(sim.T, 5),
            "chance_top1": 1 / len(set(captions)), "n_candidates": len(captions)}


def export_align(model: AlignProxy, path: str | Path, meta: dict) -> Path:
    path = Path(path)
    if path.suffix != ".safetensors":
        raise LdpruneError(f"alignment proxy file {path} must end in .safetensors", "name it e.g. align-emoji.safetensors")
    save_tensors({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}, path)
    write_json_atomic(path.with_suffix(".json"), {"schema": SCHEMA, "name": path.stem, "kwargs": model.kwargs,
                                                  "metric_name": "proxy alignment", **meta})
    return path


def load_align(path: str | Path, device: str = "cpu") -> tuple[AlignProxy, dict]:
    from safetensors.torch import load_file

    path, side = Path(path), Path(path).with_suffix(".json")
    if not path.is_file() or not side.is_file():
        raise LdpruneError(f"alignment proxy not found: {path} (+ {side.name})",
                           "train it with `python benchmarks/train_proxies.py --only align`")
    meta = json.loads(side.read_text())
    if meta.get("schema") != SCHEMA:
        raise LdpruneError(f"{side} is not a {SCHEMA} config", "retrain with benchmarks/train_proxies.py --only align")
    try:
        model = AlignProxy(**meta["kwargs"])
        model.load_state_dict(load_file(str(path)))
    except (TypeError, RuntimeError, KeyError) as e:
        raise LdpruneError(f"{path} does not match its config {side.name}: {str(e)[:200]}",
                           "retrain with benchmarks/train_proxies.py --only align") from None
    return model.to(device).eval(), meta
