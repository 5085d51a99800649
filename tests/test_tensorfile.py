"""Data files are identified by sha256 (quality rows' fingerprints, the device sessions' EXPECT),
so writing the same tensors and metadata twice must give the same bytes."""

import hashlib
import json
import struct

import pytest
import torch
from safetensors import safe_open

from ldprune_deploy.tensorfile import save_tensors


def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_same_content_same_bytes(tmp_path):
    tensors = {"b": torch.arange(12, dtype=torch.int8).reshape(3, 4), "a": torch.ones(5, dtype=torch.float16)}
    meta = {f"key{i}": json.dumps({"v": i, "text": "ü"}) for i in range(8)}
    shas = set()
    for i in range(6):
        # insertion order varies too; save_file's own HashMap order varies between calls regardless
        order = list(meta.items())[i:] + list(meta.items())[:i]
        shas.add(_sha(save_tensors(tensors, tmp_path / f"f{i}.safetensors", dict(order))))
    assert len(shas) == 1
    with safe_open(str(tmp_path / "f0.safetensors"), "pt") as f:
        assert f.metadata() == meta
        assert torch.equal(f.get_tensor("b"), tensors["b"]) and torch.equal(f.get_tensor("a"), tensors["a"])
    raw = (tmp_path / "f0.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert list(json.loads(raw[8:8 + n])["__metadata__"]) == sorted(meta)
    assert not [p for p in tmp_path.iterdir() if "tmp" in p.name]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "x.safetensors"
    save_tensors({"a": torch.zeros(2)}, path, {"k": "v"})
    before = path.read_bytes()
    with pytest.raises(Exception):
        save_tensors({"a": torch.zeros(2, 2)[:, 0]}, path, {"k": "w"})   # non-contiguous: safetensors refuses
    assert path.read_bytes() == before
