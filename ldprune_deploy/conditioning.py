"""Text conditioning for conditional UNets: prompts -> encoder_hidden_states.

Presets have random weights and no text encoder, so by default prompts are mapped to
deterministic pseudo-embeddings (a hash of the prompt seeds a Gaussian). Real models
bring their own encoder (``EmbeddingFile`` with pre-computed embeddings, or any object
with ``encode(prompts) -> (B, L, D)``).
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Protocol

import torch

from .errors import LdpruneError
from .unet import model_info


class PromptEncoder(Protocol):
    dim: int
    text_len: int
    name: str

    def encode(self, prompts: list[str]) -> torch.Tensor: ...


class SyntheticEncoder:
    """Deterministic stand-in for a text encoder: same prompt, same embedding, anywhere."""

    name = "synthetic"

    def __init__(self, dim: int, text_len: int = 77):
        self.dim, self.text_len = dim, text_len

    def encode(self, prompts: list[str]) -> torch.Tensor:
        out = []
        for p in prompts:
            seed = int.from_bytes(hashlib.sha256(p.encode()).digest()[:8], "little") & (2**63 - 1)
            g = torch.Generator("cpu").manual_seed(seed)
            out.append(torch.randn(self.text_len, self.dim, generator=g))
        return torch.stack(out) if out else torch.empty(0, self.text_len, self.dim)


class EmbeddingFile:
    """Pre-computed embeddings: a safetensors file with ``embeddings`` (N, L, D) and the
    prompts as JSON in its metadata (``prompts``). Unknown prompts are an error."""

    def __init__(self, path: str | Path):
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise LdpruneError(f"embedding file not found: {path}", "check the path")
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            self._emb = f.get_tensor("embeddings").float()
        self._index = {p: i for i, p in enumerate(json.loads(meta.get("prompts", "[]")))}
        self.name = f"file:{path.name}"
        self.text_len, self.dim = self._emb.shape[1], self._emb.shape[2]

    @property
    def prompts(self) -> list[str]:
        """The prompts the file holds, in stored order."""
        return list(self._index)

    def encode(self, prompts: list[str]) -> torch.Tensor:
        missing = [p for p in prompts if p not in self._index]
        if missing:
            raise LdpruneError(f"{len(missing)} prompt(s) have no pre-computed embedding, e.g. {missing[0]!r}",
                               "re-encode the prompt list (`ldprune data embed`) or use prompts from the "
                               "embedding file")
        return self._emb[[self._index[p] for p in prompts]]


class CompactEmbeddingFile(EmbeddingFile):
    """The compact layout ``ldprune data embed`` writes (only real tokens, int8 with one fp32
    scale per feature dimension; see ``quality.text``); ``encode(prompts) -> (B, text_len, D)``
    float32, zero-padded (lookup and errors are the dense file's)."""

    def __init__(self, path: str | Path):   # not super().__init__: that one reads the dense layout
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            q, scale, lengths = f.get_tensor("tokens_q"), f.get_tensor("scale"), f.get_tensor("lengths")
        self.text_len, self.dim = int(meta["text_len"]), q.shape[1]
        self.name = f"file:{Path(path).name}"
        self._index = {p: i for i, p in enumerate(json.loads(meta["prompts"]))}
        real = q.float() * scale
        self._emb = torch.zeros(len(lengths), self.text_len, self.dim)
        offsets = torch.cumsum(lengths.long(), 0) - lengths.long()
        for i, (o, n) in enumerate(zip(offsets.tolist(), lengths.tolist())):
            self._emb[i, :n] = real[o:o + n]


def open_embeddings(path: str | Path) -> EmbeddingFile:
    """Pre-computed embeddings in either layout, by the file's tensors: dense
    (``EmbeddingFile``) or compact (``CompactEmbeddingFile``). The reader lives here, next to
    the encoders it stands in for; ``quality.text`` only writes the files."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise LdpruneError(f"embedding file not found: {path}", "make it with `ldprune data embed`")
    with safe_open(str(path), "pt") as f:
        compact = "tokens_q" in f.keys()
    return CompactEmbeddingFile(path) if compact else EmbeddingFile(path)


def file_prompts(encoder, n: int) -> list[str]:
    """``n`` prompts an embedding file holds, evenly spaced over its stored order (a caption
    file is often sorted, e.g. by Unicode block: its first ``n`` would all be alike)."""
    stored = [p for p in getattr(encoder, "prompts", []) if p]   # "" is the unconditional branch, not a caption
    if not stored:
        raise LdpruneError(f"{encoder.name} holds no prompts", "pass a prompt file with --prompts")
    if n >= len(stored):
        return stored
    return [stored[(i * len(stored)) // n] for i in range(n)]


def builtin_prompts() -> list[str]:
    text = resources.files("ldprune_deploy").joinpath("data_files/prompts.txt").read_text()
    return [l.strip() for l in text.splitlines() if l.strip() and not l.startswith("#")]


def load_prompts(path: str | Path | None) -> tuple[list[str], str]:
    """Prompts from a file (one per line) or the built-in list; returns (prompts, source)."""
    if path is None:
        return builtin_prompts(), "builtin"
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise LdpruneError(f"cannot read prompt file {path}: {e}", "pass a UTF-8 text file, one prompt per line") from None
    prompts = [l.strip() for l in lines if l.strip() and not l.startswith("#")]
    if not prompts:
        raise LdpruneError(f"prompt file {path} is empty", "put one prompt per line in it")
    return prompts, str(path)


def default_encoder(unet) -> SyntheticEncoder:
    info = model_info(unet)
    return SyntheticEncoder(unet.config.cross_attention_dim, info.text_len if info else 77)
