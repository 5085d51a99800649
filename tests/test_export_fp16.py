"""fp16 overflow (the 'black image' bug) on planted overflows: detected, the node named, the fix works."""

import onnx
import pytest
import torch

from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.export import ExportConfig, export, read_manifest
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
        export(unet, ExportConfig(out_dir=str(tmp_path / "x"), precision="fp16", batch="1"))
    msg, fix = e.value.message, e.value.fix
    assert "overflows" in msg and f"{ATTN}/MatMul" in msg
    assert f"--keep-fp32 {ATTN}/MatMul,{ATTN}/Softmax" in fix
    assert not (tmp_path / "x").exists()          # nothing written on failure


def test_keep_fp32_fixes_it_and_keeps_those_nodes_in_fp32(tmp_path):
    unet = _overflowing_attention()
    keep = [f"{ATTN}/MatMul", f"{ATTN}/Softmax"]
    out = export(unet, ExportConfig(out_dir=str(tmp_path / "k"), precision="fp16", batch="1", keep_fp32=keep,
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
    out = export(_overflowing_attention(), ExportConfig(out_dir=str(tmp_path / "a"), precision="fp16", batch="1",
                                                       keep_fp32=["auto"], tolerance={"rel_l2": 0.05}))
    man = read_manifest(out)
    assert man["check"]["overflow"]["auto_keep_fp32"] == [f"{ATTN}/MatMul", f"{ATTN}/Softmax"]
    assert set(man["keep_fp32"]) == {f"{ATTN}/MatMul", f"{ATTN}/Softmax"}


def test_nan_output_names_the_first_offending_node(tmp_path):
    unet, _ = load_model("tiny-uncond", quiet=True)
    with torch.no_grad():
        unet.conv_out.weight.mul_(1e6)          # the output itself leaves fp16's range
    with pytest.raises(LdpruneError) as e:
        export(unet, ExportConfig(out_dir=str(tmp_path / "n"), precision="fp16", batch="1", range_scan=False))
    assert "NaN/Inf" in e.value.message and "/conv_out/Conv" in e.value.message
    assert "operator conv_out" in e.value.message
    with pytest.raises(LdpruneError, match="model output itself exceeds fp16"):
        export(unet, ExportConfig(out_dir=str(tmp_path / "n"), precision="fp16", batch="1"))


def test_keep_fp32_unknown_entry_is_refused(tmp_path):
    with pytest.raises(LdpruneError, match="matches no node name"):
        export("tiny-uncond", ExportConfig(out_dir=str(tmp_path / "u"), precision="fp16", batch="1",
                                           keep_fp32=["/nope/Conv"]))


def test_keep_fp32_by_op_type_and_operator_id():
    from ldprune_deploy.export.fp16 import resolve_keep

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
    from ldprune_deploy.export.fp16 import np_to_float16

    rng = np.random.default_rng(0)
    a = (rng.standard_normal(200_000) * rng.choice([1e-9, 3e-8, 0.02, 1.0, 6.6e4, 1e6], 200_000)).astype(np.float32)
    edges = np.float32([0, -0.0, np.nan, np.inf, -np.inf, 5.96e-08, -5.96e-08, 2.98e-08, 2.9802326e-08, 1e-45,
                        -1e-45, 65504.0, 65519.99, 65520.0, -65520.0, 3.4e38, -3.4e38])
    for x in (a, edges, a.reshape(400, 500)):
        ref, got = float16.convert_np_to_float16(x), np_to_float16(x)
        assert got.dtype == np.float16 and got.shape == x.shape
        np.testing.assert_array_equal(got.view(np.uint16), ref.view(np.uint16))
    assert float16.convert_np_to_float16 is not np_to_float16   # only swapped in for the call
