"""fp16 overflow (the 'black image' bug) on planted overflows: detected, the node named, the fix works."""

import numpy as np
import onnx
import onnx.external_data_helper
import pytest
import torch

from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.exporter import ExportConfig, export, read_manifest
from ldprune_deploy.models import load_model

ATTN = "/down_blocks.1/attentions.0"


def _overflowing_attention():
    """tiny-uncond whose first attention has q == k with |q| ~ 300: scores reach ~1e6 (> 65504)."""
    unet, info = load_model("tiny-uncond", quiet=True)
    a = unet.down_blocks[1].attentions[0]
    with torch.no_grad():
        w = torch.randn(a.to_q.weight.shape, generator=torch.Generator().manual_seed(0)) * 40
        a.to_q.weight.copy_(w)
        a.to_k.weight.copy_(w)
    return unet


def test_planted_attention_overflow_is_detected_and_named(tmp_path):
    unet = _overflowing_attention()
    with pytest.raises(LdpruneError) as e:
        export(unet, ExportConfig(output=str(tmp_path / "x"), precision="fp16", batch="1"))
    msg, fix = e.value.message, e.value.fix
    assert "overflows" in msg and f"{ATTN}/MatMul" in msg
    assert f"--keep-fp32 {ATTN}/MatMul,{ATTN}/Softmax" in fix
    assert not (tmp_path / "x").exists()          # nothing written on failure


def test_keep_fp32_fixes_it_and_keeps_those_nodes_in_fp32(tmp_path):
    unet = _overflowing_attention()
    keep = [f"{ATTN}/MatMul", f"{ATTN}/Softmax"]
    out = export(unet, ExportConfig(output=str(tmp_path / "k"), precision="fp16", batch="1", keep_fp32=keep,
                                    tolerance={"rel_l2": 0.05}))
    man = read_manifest(out)
    assert man["keep_fp32"] == keep and man["check"]["passed"] and man["check"]["nonfinite"] == 0
    m = onnx.load(str(out / "unet.onnx"))
    types = {v.name: v.type.tensor_type.elem_type for v in m.graph.value_info}
    matmul = next(n for n in m.graph.node if n.name == f"{ATTN}/MatMul")
    softmax = next(n for n in m.graph.node if n.name == f"{ATTN}/Softmax")
    assert types[matmul.output[0]] == onnx.TensorProto.FLOAT
    assert softmax.input[0] == matmul.output[0]      # no fp16 hop between the two kept nodes
    conv = next(n for n in m.graph.node if n.op_type == "Conv")
    assert types.get(conv.output[0]) == onnx.TensorProto.FLOAT16   # the rest is fp16


def test_keep_fp32_auto(tmp_path):
    out = export(_overflowing_attention(), ExportConfig(output=str(tmp_path / "a"), precision="fp16", batch="1",
                                                       keep_fp32=["auto"], tolerance={"rel_l2": 0.05}))
    man = read_manifest(out)
    assert man["check"]["overflow"]["auto_keep_fp32"] == [f"{ATTN}/MatMul", f"{ATTN}/Softmax"]
    assert set(man["keep_fp32"]) == {f"{ATTN}/MatMul", f"{ATTN}/Softmax"}


def test_nan_output_names_the_first_offending_node(tmp_path):
    unet, _ = load_model("tiny-uncond", quiet=True)
    with torch.no_grad():
        unet.conv_out.weight.mul_(1e6)          # the output itself leaves fp16's range
    with pytest.raises(LdpruneError) as e:
        export(unet, ExportConfig(output=str(tmp_path / "n"), precision="fp16", batch="1", range_scan=False))
    assert "NaN/Inf" in e.value.message and "/conv_out/Conv" in e.value.message
    assert "operator conv_out" in e.value.message
    with pytest.raises(LdpruneError, match="model output itself exceeds fp16"):
        export(unet, ExportConfig(output=str(tmp_path / "n"), precision="fp16", batch="1"))


def test_keep_fp32_unknown_entry_is_refused(tmp_path):
    with pytest.raises(LdpruneError, match="matches no node name"):
        export("tiny-uncond", ExportConfig(output=str(tmp_path / "u"), precision="fp16", batch="1",
                                           keep_fp32=["/nope/Conv"]))


def test_keep_fp32_by_op_type_and_operator_id():
    from ldprune_deploy.exporter.fp16 import resolve_keep

    g = onnx.helper.make_graph(
        [onnx.helper.make_node("Softmax", ["x"], ["y"], name="/up_blocks.0/attentions.1/Softmax"),
         onnx.helper.make_node("Relu", ["y"], ["z"], name="/up_blocks.0/resnets.0/Relu")],
        "g", [onnx.helper.make_tensor_value_info("x", 1, [1])], [onnx.helper.make_tensor_value_info("z", 1, [1])])
    m = onnx.helper.make_model(g)
    assert resolve_keep(m, ["Softmax"]) == ([], ["Softmax"])
    assert resolve_keep(m, ["up_blocks.0.attentions.1"]) == (["/up_blocks.0/attentions.1/Softmax"], [])


def test_fast_fp16_cast_matches_the_converters_clamping():
    """np_to_float16 (swapped into ORT's converter during export) gives bit-identical results
    to the converter's own convert_np_to_float16, edge values included."""
    import numpy as np

    float16 = pytest.importorskip("onnxruntime.transformers.float16")
    from ldprune_deploy.exporter.fp16 import np_to_float16

    rng = np.random.default_rng(0)
    a = (rng.standard_normal(200_000) * rng.choice([1e-9, 3e-8, 0.02, 1.0, 6.6e4, 1e6], 200_000)).astype(np.float32)
    edges = np.float32([0, -0.0, np.nan, np.inf, -np.inf, 5.96e-08, -5.96e-08, 2.98e-08, 2.9802326e-08, 1e-45,
                        -1e-45, 65504.0, 65519.99, 65520.0, -65520.0, 3.4e38, -3.4e38])
    for x in (a, edges, a.reshape(400, 500)):
        ref, got = float16.convert_np_to_float16(x), np_to_float16(x)
        assert got.dtype == np.float16 and got.shape == x.shape
        np.testing.assert_array_equal(got.view(np.uint16), ref.view(np.uint16))
    assert float16.convert_np_to_float16 is not np_to_float16   # only swapped in for the call


@pytest.fixture(scope="module")
def fp32_external(tmp_path_factory):
    """tiny-uncond's fp32 export (value_info inferred, as stage converts it) re-saved with its
    weights in an external file, the way an SD1.5 fp32 export is laid out."""
    out = export("tiny-uncond", ExportConfig(output=str(tmp_path_factory.mktemp("f") / "x"), precision="fp32",
                                             batch="1", check=False))
    path = tmp_path_factory.mktemp("ext") / "unet.fp32.onnx"
    onnx.save_model(onnx.load(str(out / "unet.onnx")), str(path), save_as_external_data=True,
                    all_tensors_to_one_file=True, location=path.name + ".data", size_threshold=1024)
    assert any(onnx.external_data_helper.uses_external_data(t) for t in onnx.load(str(path), load_external_data=False)
               .graph.initializer)
    return path


@pytest.mark.parametrize("keep", [[], [f"{ATTN}/MatMul", f"{ATTN}/Softmax"], ["Conv"], ["down_blocks.1.attentions.0"]])
def test_fp16_from_file_is_the_in_memory_conversion(fp32_external, keep):
    """convert_fp16_file (weights read and cast as the converter reaches them, on worker threads)
    gives byte for byte the proto of loading everything then converting (the reference path)."""
    from ldprune_deploy.exporter.fp16 import convert_fp16, convert_fp16_file

    ref, ref_kept = convert_fp16(onnx.load(str(fp32_external)), keep, inplace=True)
    got, kept = convert_fp16_file(fp32_external, keep)
    assert kept == ref_kept and bool(kept) == bool(keep)
    assert [n.name for n in got.graph.node] == [n.name for n in ref.graph.node]
    assert got.SerializeToString() == ref.SerializeToString()
    tensors = list(onnx.external_data_helper._get_all_tensors(got))
    assert not any(onnx.external_data_helper.uses_external_data(t) for t in tensors)
    types = {t.data_type for t in got.graph.initializer}
    assert onnx.TensorProto.FLOAT16 in types
    if keep == ["Conv"]:   # kept nodes' weights stay fp32: read by the loading pass, not the converter
        conv = next(n for n in got.graph.node if n.op_type == "Conv")
        w = next(t for t in got.graph.initializer if t.name == conv.input[1])
        assert w.data_type == onnx.TensorProto.FLOAT and len(w.raw_data) == 4 * np.prod(w.dims)


def test_fp16_from_file_joins_fp32_islands(fp32_external):
    from ldprune_deploy.exporter.fp16 import convert_fp16_file

    m, _ = convert_fp16_file(fp32_external, [f"{ATTN}/MatMul", f"{ATTN}/Softmax"])
    matmul = next(n for n in m.graph.node if n.name == f"{ATTN}/MatMul")
    softmax = next(n for n in m.graph.node if n.name == f"{ATTN}/Softmax")
    assert softmax.input[0] == matmul.output[0]          # no Cast pair between the kept nodes
    produced = {i.name for i in m.graph.input} | {t.name for t in m.graph.initializer} | {""}
    for n in m.graph.node:                                # sorted again after the converter's appends
        assert all(i in produced for i in n.input), n.name
        produced.update(n.output)
    casts = {n.name for n in m.graph.node if n.op_type == "Cast"}
    assert matmul.output[0].endswith("_cast_to_fp16")
    assert matmul.output[0] + "_node" not in casts        # its Cast-down lost its only reader and went
    assert softmax.output[0] + "_node" in casts          # the island's exit is still cast down


def test_fp16_from_file_refuses_a_truncated_data_file(fp32_external, tmp_path):
    import shutil

    from ldprune_deploy.exporter.fp16 import convert_fp16_file

    path = tmp_path / fp32_external.name
    shutil.copy(fp32_external, path)
    data = fp32_external.with_name(fp32_external.name + ".data").read_bytes()
    path.with_name(path.name + ".data").write_bytes(data[: len(data) // 2])
    with pytest.raises((LdpruneError, ValueError)):
        convert_fp16_file(path, [])


def test_save_onnx_writes_what_onnx_save_model_writes(fp32_external, tmp_path):
    """save_onnx encodes once (ByteSize() would encode as well) and writes those bytes itself."""
    from ldprune_deploy.exporter.fp16 import convert_fp16_file
    from ldprune_deploy.exporter.onnx_export import save_onnx

    m, _ = convert_fp16_file(fp32_external, [])
    onnx.save_model(m, str(tmp_path / "ref.onnx"))
    assert save_onnx(m, tmp_path / "got.onnx") == [tmp_path / "got.onnx"]
    assert (tmp_path / "got.onnx").read_bytes() == (tmp_path / "ref.onnx").read_bytes()
    assert not (tmp_path / "got.onnx.data").exists()
