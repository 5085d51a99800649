"""The offline data sets as the distillation stage's pre-encoded training file.

``ldprune distill --data FILE.safetensors`` (and a recipe's ``distill.data``) reads
``latents`` (N, C, H, W) and, for text-conditional UNets, ``embeddings`` (N, L, D)
(``distill.data.DistillData``). This writes both from the cached arrays of ``ldprune data
emoji|notes``: the *training split only* (the held-out split stays unseen, as for the
teachers), mapped to the teachers' model space with ``teachers.to_model_space`` (emoji:
pixel-unshuffled 12x32x32; notes: the 1x64x64 mel), and the caption embeddings made dense
(the compact int8 layout of ``ldprune data embed`` is expanded; padding positions are zero).

Both tensors are stored as fp16: the latents are uint8 values mapped to k/127.5 - 1, and fp16's
spacing in [-1, 1] (at most 2^-11) is below half of that 1/127.5 grid, so the images are
recovered exactly (tested); the embeddings were fp16 or int8 to begin with. The file is large
(the full emoji training split is ~80 MB of latents and ~80 MB of embeddings), so build it on
the machine that trains rather than carrying it: it takes seconds from the carried cache.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..tensorfile import save_tensors
from ..errors import LdpruneError
from ..spaces import to_model_space
from . import load_emoji, load_notes

# the data set -> (its array, the teachers' model space for it)
SOURCES = {"emoji": ("images64", "unshuffle2"), "notes": ("mels", "mel")}


def export_distill_set(data: str, output: str | os.PathLike, *, embeddings: str | os.PathLike | None = None,
                       cache: str | os.PathLike | None = None, limit: int | None = None) -> dict[str, Any]:
    """Write ``output`` (.safetensors) for ``DistillData.load``; returns a summary dict."""
    from ..conditioning import open_embeddings

    if data not in SOURCES:
        raise LdpruneError(f"unknown data set '{data}'", f"use one of {', '.join(SOURCES)}")
    output = Path(output)
    if output.suffix != ".safetensors":
        raise LdpruneError(f"output {output} must end in .safetensors (the distill stage reads that format)",
                           "pass -o FILE.safetensors")
    if embeddings is not None and data != "emoji":
        raise LdpruneError(f"the {data} data set has no captions, so --embeddings does not apply",
                           "drop --embeddings (the notes teacher is unconditional)")
    arrays = load_emoji(cache, limit) if data == "emoji" else load_notes(cache, limit)
    key, space = SOURCES[data]
    train = ~arrays["held_out"].astype(bool)
    if not train.any():
        raise LdpruneError(f"the {data} data set has no training-split items", "build a larger slice (--limit)")
    latents = to_model_space(arrays[key][train], space).half().contiguous()
    tensors = {"latents": latents}
    meta: dict[str, Any] = {"data": data, "space": space, "split": "train", "n": int(train.sum()),
                            "n_held_out": int((~train).sum()), "limit": limit,
                            "source_sha256": hashlib.sha256(np.ascontiguousarray(arrays[key]).tobytes()).hexdigest()[:16]}
    if embeddings is not None:
        enc = open_embeddings(embeddings)
        captions = [str(c) for c in arrays["captions"][train]]
        emb = enc.encode(captions)
        tensors["embeddings"] = emb.half().contiguous()
        meta.update(embeddings=Path(embeddings).name, encoder=getattr(enc, "name", None),
                    text_len=int(emb.shape[1]))
    save_tensors(tensors, output, metadata={"source": f"ldprune data distill-set {data}", "meta": json.dumps(meta)})
    return {"path": str(output), **meta, "latents": list(latents.shape),
            "embeddings_shape": list(tensors["embeddings"].shape) if "embeddings" in tensors else None,
            "bytes": output.stat().st_size}
