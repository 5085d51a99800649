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

    def _open(self, model, info, spec, batch, dtype):
        if batch > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return super()._open(model, info, spec, batch, dtype)


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


# -- ort-cuda cuda_graph: the static graph with folded shape subgraphs (checked on CPU) ----------
# operands that ORT's CUDA kernels read from host memory; anything computed there lands on the
# CPU provider (with Memcpy nodes), and ORT then refuses CUDA graph capture
_HOST_OPERANDS = {"Reshape": (1,), "Expand": (1,), "Tile": (1,), "Unsqueeze": (1,), "Squeeze": (1,),
                  "Slice": (1, 2, 3, 4), "Resize": (1, 2, 3), "Pad": (1, 2, 3), "ConstantOfShape": (0,),
                  "Range": (0, 1, 2)}


def _computed_host_operands(graph) -> list[str]:
    consts = {t.name for t in graph.initializer} | {o for n in graph.node if n.op_type == "Constant" for o in n.output}
    return [f"{n.op_type}:{n.name}[{i}]" for n in graph.node for i in _HOST_OPERANDS.get(n.op_type, ())
            if i < len(n.input) and n.input[i] and n.input[i] not in consts]


@pytest.fixture(scope="module")
def t2i_fp16_export(tmp_path_factory):
    from ldprune_deploy.exporter import ExportConfig, export

    # symbolic batch and spatial axes, like a user's export folder (the runner's own cache is
    # static except the batch axis, a subset of this)
    return export("tiny-t2i", ExportConfig(output=str(tmp_path_factory.mktemp("ort") / "t2i"), precision="fp16",
                                           batch="1:2:2", resolution="64:128:128"))


def test_cuda_graph_static_graph_has_no_shape_subgraphs_and_same_output(t2i_fp16_export):
    import numpy as np
    import onnx
    import onnxruntime as ort

    from ldprune_deploy.exporter import read_manifest
    from ldprune_deploy.runners.ort_static import static_graph

    folder = t2i_fp16_export
    man = read_manifest(folder)
    src = onnx.load(str(folder / man["onnx_file"]))
    ops_src = {n.op_type for n in src.graph.node}
    assert {"Shape", "ConstantOfShape"} <= ops_src and _computed_host_operands(src.graph)   # the check can fail

    # what OrtCudaRunner.measure(cuda_graph=True) loads; the fold run is on the CPU provider here
    path, meta = static_graph(folder, man, batch=2, res=64)
    assert path.parent == folder and path.name == "unet.static-2x4x8x8_2_2x8x32.onnx"
    m = onnx.load(str(path))
    ops = {n.op_type for n in m.graph.node}
    assert not ops & {"Shape", "Size", "ConstantOfShape", "Range"}, ops
    assert _computed_host_operands(m.graph) == []
    assert {n.domain for n in m.graph.node} <= {"", "ai.onnx"}
    dims = {v.name: [d.dim_value if d.HasField("dim_value") else d.dim_param for d in v.type.tensor_type.shape.dim]
            for v in [*m.graph.input, *m.graph.output]}
    assert dims == {"sample": [2, 4, 8, 8], "timestep": [2], "encoder_hidden_states": [2, 8, 32],
                    "out_sample": [2, 4, 8, 8]}
    assert meta["folded_nodes"] > 100 and meta["nodes_after"] < meta["nodes_before"] == len(src.graph.node)
    assert meta["shapes"]["sample"] == [2, 4, 8, 8]

    # same output as the unfolded graph, on the runner's session options; timesteps differ per
    # sample so a wrong batch broadcast shows
    rng = np.random.default_rng(0)
    feeds = {"sample": rng.standard_normal((2, 4, 8, 8)).astype(np.float16), "timestep": np.array([500, 20]),
             "encoder_hidden_states": rng.standard_normal((2, 8, 32)).astype(np.float16)}
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    ref, out = (ort.InferenceSession(str(p), so, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
                for p in (folder / man["onnx_file"], path))
    assert out.shape == ref.shape == (2, 4, 8, 8) and np.isfinite(out).all()
    # fp16 graph on the CPU provider: ORT removes some fp16 round trips of the unfolded shape
    # arithmetic (attention scale), so a few 1-ulp differences remain (fp32 graphs come out equal)
    np.testing.assert_allclose(out.astype(np.float32), ref.astype(np.float32), rtol=5e-3, atol=5e-3)

    # made once: a second call (and the runner) reuse the file; other shapes get their own file
    mtime = path.stat().st_mtime_ns
    assert static_graph(folder, man, batch=2, res=64) == (path, meta) and path.stat().st_mtime_ns == mtime
    stats = get_runner("ort-cpu").measure(str(folder), None, RunSpec(batch=2, resolution=64, dtype="fp16", warmup=1,
                                                                     iters=2, options={"fold_shapes": True}))
    assert stats.extra["static_graph"]["file"] == path.name and path.stat().st_mtime_ns == mtime
    other, _ = static_graph(folder, man, batch=1, res=128)
    assert other.name == "unet.static-1x4x16x16_1_1x8x32.onnx" and other != path


def test_ort_cuda_provider_options_merge_over_the_defaults():
    from ldprune_deploy.runners.ort_runners import OrtCpuRunner, OrtCudaRunner

    (name, opts), fallback = OrtCudaRunner().providers(True, {"prefer_nhwc": 1, "cudnn_conv_algo_search": "HEURISTIC"})
    assert name == "CUDAExecutionProvider" and fallback == "CPUExecutionProvider"
    assert opts == {"enable_cuda_graph": "1", "cudnn_conv_algo_search": "HEURISTIC",
                    "cudnn_conv_use_max_workspace": "1", "prefer_nhwc": "1"}
    assert OrtCudaRunner().providers(False)[0][1]["enable_cuda_graph"] == "0"
    assert OrtCpuRunner().providers(False) == ["CPUExecutionProvider"]
    assert OrtCpuRunner().providers(False, {"x": 2}) == [("CPUExecutionProvider", {"x": "2"})]


def test_ort_provider_options_are_recorded_and_checked(t2i_fp16_export):
    spec = dict(batch=2, resolution=64, dtype="fp16", warmup=1, iters=2)
    stats = get_runner("ort-cpu").measure(str(t2i_fp16_export), None,
                                          RunSpec(**spec, options={"provider_options": {"arena_extend_strategy": "kSameAsRequested"}}))
    assert stats.extra["provider_options"] == {"arena_extend_strategy": "kSameAsRequested"}
    # the CPU provider reports no options back: recorded as None rather than assumed applied
    assert stats.extra["provider_options_effective"] == {"arena_extend_strategy": None}
    with pytest.raises(LdpruneError, match="provider_options must be a mapping"):
        get_runner("ort-cpu").measure(str(t2i_fp16_export), None, RunSpec(**spec, options={"provider_options": "prefer_nhwc"}))


def test_compile_runner_names_an_unknown_inductor_setting(tiny_uncond):
    from ldprune_deploy.runners.torch_runners import CompileRunner

    with pytest.raises(LdpruneError, match="no_such_knob") as e:
        CompileRunner().prepare(tiny_uncond, {}, RunSpec(**{**FAST, "options": {"inductor": {"no_such_knob": True,
                                                                                           "conv_1x1_as_mm": True}}}))
    assert "conv_1x1_as_mm" not in str(e.value)   # a real setting is not reported
