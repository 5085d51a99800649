"""Safetensors files with the same bytes for the same tensors and metadata.

``safetensors.torch.save_file`` serialises the metadata from a Rust ``HashMap``, whose key order
changes from one call to the next, so two writes of one data set differ in their header and in
their sha256. This project identifies data by sha256 (the quality rows' fingerprints, the device
sessions' ``EXPECT`` check), so a rebuilt data file must hash as before: the header is rewritten
with its metadata keys sorted. The header keeps its length, so it is rewritten in place and the
tensor bytes are never copied.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch

from .jsonio import atomic_path


def save_tensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike,
                 metadata: dict[str, str] | None = None) -> Path:
    """Write ``tensors`` (and string ``metadata``) to ``path`` atomically, byte-for-byte reproducible."""
    from safetensors.torch import save_file

    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
        if metadata and len(metadata) > 1:
            _sort_metadata(tmp)
    return path


def _sort_metadata(path: Path) -> None:
    with open(path, "r+b") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        # the tensors' entries keep safetensors' own order (by alignment, then name: already stable)
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        if len(text) > n:   # same keys and values, so never longer; refuse rather than corrupt
            raise RuntimeError(f"{path}: canonical safetensors header is longer than the written one")
        f.seek(8)
        f.write(text.ljust(n, b" "))   # safetensors pads its header with spaces
