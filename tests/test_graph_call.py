"""GraphedCall's dispatch (warm-up, capture once per signature, static buffers, fallback) on the
CPU, with the CUDA-specific warm-up stream and capture replaced by plain calls. The real capture
is checked on the GPU (tests/gpu/test_graph_call_gpu.py)."""

from __future__ import annotations

import pytest
import torch
from _fake_graph import FakeGraphed

from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.graph_call import use_cuda_graph
from ldprune_deploy.scoring import ScoreConfig


def model(sample, timestep, extra):
    return sample * timestep + extra["bias"]


def test_replays_read_this_calls_inputs_and_return_fresh_outputs():
    g = FakeGraphed(model)
    bias = {"bias": torch.tensor(0.5)}
    outs = []
    for step in range(4):
        x = torch.full((2, 3), float(step))
        outs.append(g(sample=x, timestep=torch.tensor(step + 1.0), extra=bias))
    assert g.captures == 1 and g.replays == 3 and g.failed is None
    for step, y in enumerate(outs):  # every result belongs to its own step, none overwritten by a later replay
        assert torch.equal(y, torch.full((2, 3), step * (step + 1.0) + 0.5))


def test_new_signature_gets_its_own_warm_up_and_capture():
    g = FakeGraphed(model)
    b = {"bias": torch.tensor(0.0)}
    for shape in [(2, 3), (2, 3), (2, 3), (1, 3), (1, 3)]:
        y = g(sample=torch.ones(shape), timestep=torch.tensor(2.0), extra=b)
        assert torch.equal(y, torch.full(shape, 2.0))
    assert g.captures == 2 and g.replays == 3


def test_capture_failure_falls_back_to_eager_for_good(caplog):
    class Broken(FakeGraphed):
        def _capture(self, leaves, spec):
            raise RuntimeError("operation not permitted when stream is capturing\nmore")

    g = Broken(model, name="tiny")
    b = {"bias": torch.tensor(1.0)}
    ys = [g(sample=torch.ones(2), timestep=torch.tensor(3.0), extra=b) for _ in range(3)]
    assert all(torch.equal(y, torch.full((2,), 4.0)) for y in ys)
    assert g.failed == "RuntimeError: operation not permitted when stream is capturing"
    assert g.captures == 0 and "running eagerly" in caplog.text


def test_environment_turns_auto_off_but_not_an_explicit_request(monkeypatch):
    monkeypatch.setenv("LDPRUNE_CUDA_GRAPH", "0")
    assert use_cuda_graph(None, "cuda") is False
    assert use_cuda_graph(True, "cuda") is True
    monkeypatch.setenv("LDPRUNE_CUDA_GRAPH", "1")
    assert use_cuda_graph(None, "cuda") is True


def test_auto_on_only_for_cuda_and_explicit_misuse_is_refused(monkeypatch):
    monkeypatch.delenv("LDPRUNE_CUDA_GRAPH", raising=False)
    assert use_cuda_graph(None, "cpu") is False
    assert use_cuda_graph(None, "cuda") is True
    assert use_cuda_graph(None, "cuda:1", "--compile-blocks") is False
    assert use_cuda_graph(False, "cuda") is False
    with pytest.raises(LdpruneError, match="need a CUDA device"):
        ScoreConfig(cuda_graph=True, device="cpu").validate()
    with pytest.raises(LdpruneError, match="compile-blocks"):
        ScoreConfig(cuda_graph=True, device="cuda", compile_blocks=True).validate()
