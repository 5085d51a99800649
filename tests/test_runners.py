"""Runners on CPU: the registry, the cpu runner end to end, dtype checks, out-of-memory handling."""

import pytest
import torch

from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.runners import RunSpec, available_runners, get_runner
from ldprune_deploy.runners.torch_runners import CpuRunner, time_callable

FAST = dict(batch=1, resolution=32, dtype="fp32", warmup=1, iters=4)


def test_registry_lists_torch_runners_and_explains_unavailable():
    avail = available_runners()
    assert {"cpu", "torch-eager", "torch-graph", "torch-compile"} <= set(avail)
    assert avail["cpu"] == ""
    if not torch.cuda.is_available():
        for name in ("torch-eager", "torch-graph", "torch-compile"):
            assert "no CUDA device" in avail[name]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_runner_without_cuda_is_a_clear_error():
    with pytest.raises(LdpruneError) as e:
        get_runner("torch-graph")
    assert "no CUDA device" in e.value.message and "cpu" in e.value.fix


def test_unknown_runner_lists_the_known_ones():
    with pytest.raises(LdpruneError) as e:
        get_runner("tensorrt-9000")
    assert "cpu" in e.value.fix and "torch-graph" in e.value.fix


@pytest.mark.parametrize("fixture", ["tiny_t2i", "tiny_uncond"])
def test_cpu_runner_end_to_end(fixture, request):
    unet, info = request.getfixturevalue(fixture)
    stats = get_runner("cpu").measure(unet, info, RunSpec(**FAST))
    assert stats.n == 4 and stats.runner == "cpu"
    assert 0 < stats.p10_ms <= stats.median_ms <= stats.p90_ms
    assert stats.peak_memory_mb > 0 and stats.extra["batch"] == 1
    assert set(stats.to_json()) >= {"median_ms", "p10_ms", "p90_ms", "n", "peak_memory_mb"}


def test_bf16_runs_on_cpu_but_fp16_is_refused(tiny_uncond):
    unet, info = tiny_uncond
    runner = get_runner("cpu")
    with pytest.raises(LdpruneError) as e:
        runner.measure(unet, info, RunSpec(**{**FAST, "dtype": "fp16"}))
    assert "fp16" in e.value.message and "fp32" in e.value.fix
    assert next(unet.parameters()).dtype == torch.float32  # refused before touching the model
    with pytest.raises(LdpruneError):
        runner.measure(unet, info, RunSpec(**{**FAST, "dtype": "int4"}))


def test_time_callable_counts_iterations():
    calls = []
    samples = time_callable(lambda: calls.append(1), "cpu", warmup=2, iters=5)
    assert len(samples) == 5 and len(calls) == 7 and all(s >= 0 for s in samples)


class _FitsUpTo(CpuRunner):
    """A runner whose calls run out of (pretend) GPU memory above a batch size."""

    limit = 2

    def _measure(self, model, info, spec, batch, dtype):
        if batch > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return super()._measure(model, info, spec, batch, dtype)


def test_out_of_memory_names_the_largest_batch_that_fits(tiny_uncond):
    unet, info = tiny_uncond
    with pytest.raises(LdpruneError) as e:
        _FitsUpTo().measure(unet, info, RunSpec(**{**FAST, "batch": 16}))
    assert "out of memory" in e.value.message and "batch 16" in e.value.message
    assert "largest batch that fits is 2" in e.value.message and e.value.fix == "use --batch 2"


def test_out_of_memory_at_batch_one(tiny_uncond):
    unet, info = tiny_uncond
    runner = _FitsUpTo()
    runner.limit = 0
    with pytest.raises(LdpruneError) as e:
        runner.measure(unet, info, RunSpec(**{**FAST, "batch": 4}))
    assert "does not fit even at batch 1" in e.value.message
