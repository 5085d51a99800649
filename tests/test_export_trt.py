"""TensorRT parts that need no TensorRT: profiles, layer-name mapping, device refusal, missing runtime."""

import pytest

from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.exporter.manifest import check_device_match
from ldprune_deploy.exporter.onnx_export import layer_operators, operator_of
from ldprune_deploy.exporter.tensorrt import gpu_slug, map_layers, profile_shapes, read_engine_manifest

OPS = {"down_blocks.0.resnets.0", "down_blocks.0.attentions.0", "down_blocks.0.attentions.0.transformer_blocks.0.attn1",
       "mid_block.attentions.0", "conv_out"}

MANIFEST = {
    "ranges": {"batch": [1, 2, 8], "resolution": [256, 512, 1024], "latent": [32, 64, 128], "text_len": 77},
    "io": {"inputs": [{"name": "sample", "shape": ["batch", 4, "height", "width"]},
                      {"name": "timestep", "shape": ["batch"]},
                      {"name": "encoder_hidden_states", "shape": ["batch", 77, 768]}]},
}


def test_profile_shapes_follow_export_ranges():
    p = profile_shapes(MANIFEST)
    assert p["sample"] == ((1, 4, 32, 32), (2, 4, 64, 64), (8, 4, 128, 128))
    assert p["timestep"] == ((1,), (2,), (8,))
    assert p["encoder_hidden_states"] == ((1, 77, 768), (2, 77, 768), (8, 77, 768))


def test_profile_shapes_sdxl_extra_inputs_and_symbolic_text_len():
    man = {"ranges": {"batch": [2, 2, 2], "latent": [128, 128, 128], "text_len": 77},
           "io": {"inputs": [{"name": "encoder_hidden_states", "shape": ["batch", "seq", 2048]},
                             {"name": "text_embeds", "shape": ["batch", 1280]},
                             {"name": "time_ids", "shape": ["batch", 6]}]}}
    p = profile_shapes(man)
    assert p["encoder_hidden_states"][1] == (2, 77, 2048)
    assert p["text_embeds"][0] == (2, 1280) and p["time_ids"][2] == (2, 6)


def test_profile_shapes_size_controlnet_residuals_by_block_in_a_dynamic_export():
    """SD1.5's 12 down residuals + mid in a 256..1024 px export: each at the latent side / 2**(block level),
    channels from the graph; the symbolic spatial axes are not mistaken for the text length."""
    cfg = {"down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"], "layers_per_block": 2,
           "block_out_channels": [320, 640, 1280, 1280]}
    levels = [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
    chans = [320] * 4 + [640] * 3 + [1280] * 5
    res = [{"name": f"down_block_res_{i}", "shape": ["batch", c, f"h{lv}", f"w{lv}"]}
           for i, (c, lv) in enumerate(zip(chans, levels))]
    man = {**MANIFEST, "unet_config": cfg,
           "io": {"inputs": MANIFEST["io"]["inputs"] + res
                  + [{"name": "mid_block_res", "shape": ["batch", 1280, "h3", "w3"]}]}}
    p = profile_shapes(man)
    assert p["down_block_res_0"] == ((1, 320, 32, 32), (2, 320, 64, 64), (8, 320, 128, 128))
    assert p["down_block_res_3"] == ((1, 320, 16, 16), (2, 320, 32, 32), (8, 320, 64, 64))   # first downsampler
    assert p["down_block_res_11"][2] == (8, 1280, 16, 16) and p["mid_block_res"][0] == (1, 1280, 4, 4)
    assert p["sample"] == profile_shapes(MANIFEST)["sample"]
    with pytest.raises(LdpruneError, match="11 down_block_res inputs.*make 12"):
        profile_shapes({**man, "io": {"inputs": [i for i in man["io"]["inputs"] if i["name"] != "down_block_res_11"]}})


def test_operator_of_longest_prefix():
    assert operator_of("down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q", OPS) == \
        "down_blocks.0.attentions.0.transformer_blocks.0.attn1"
    assert operator_of("down_blocks.0.attentions.0.proj_in", OPS) == "down_blocks.0.attentions.0"
    assert operator_of("down_blocks.0.attentions.00", OPS) is None      # no partial-segment match
    assert operator_of("time_embedding.linear_1", OPS) is None


def test_layer_names_map_back_to_operators():
    fused = "/down_blocks.0/resnets.0/conv1/Conv + /down_blocks.0/resnets.0/nonlinearity/Sigmoid"
    assert layer_operators(fused, OPS) == ["down_blocks.0.resnets.0"]
    mixed = "{ForeignNode[/mid_block/attentions.0/Transpose.../conv_out/Conv]}"
    assert layer_operators(mixed, OPS) == ["mid_block.attentions.0", "conv_out"]
    assert layer_operators("Reformatting CopyNode for Input Tensor 0", OPS) == []
    res = map_layers([{"Name": fused}, "/conv_out/Conv", {"Name": "copy"}], OPS)
    assert res["per_operator"] == {"down_blocks.0.resnets.0": 1, "conv_out": 1}
    assert res["unmapped_layers"] == 1


def test_engine_for_another_gpu_is_refused():
    built = {"gpu": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0", "tensorrt": "10.9"}
    check_device_match(built, dict(built), "engine x")
    with pytest.raises(LdpruneError) as e:
        check_device_match(built, {**built, "gpu": "NVIDIA L4", "compute_capability": "8.9"}, "engine x")
    assert "another device" in e.value.message and "H100" in e.value.message and "rebuild" in e.value.fix
    assert gpu_slug(built) == "nvidia-h100-80gb-hbm3-cc9-0"


def test_missing_runtime_names_the_extra():
    from ldprune_deploy.exporter.tensorrt import import_trt
    from ldprune_deploy.runners import available_runners, get_runner

    try:
        import_trt()
    except LdpruneError as e:
        assert "ldprune-deploy[tensorrt]" in e.fix and "tensorrt-rtx" in e.fix
        assert "ldprune-deploy[tensorrt]" in available_runners()["tensorrt"]
        with pytest.raises(LdpruneError, match="not available here"):
            get_runner("tensorrt")
    else:
        pytest.skip("a TensorRT runtime is installed here")


def test_engine_folder_without_manifest(tmp_path):
    with pytest.raises(LdpruneError, match="not an engine folder"):
        read_engine_manifest(tmp_path)


def test_build_engine_without_runtime_is_a_clear_error(tmp_path):
    from ldprune_deploy.exporter.tensorrt import build_engine

    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT installed")
    except ImportError:
        pass
    with pytest.raises(LdpruneError, match="no TensorRT runtime"):
        build_engine(tmp_path)


def test_wheel_only_tensorrt_rtx_is_found_under_its_bindings_name(monkeypatch):
    """tensorrt-rtx-cu13-bindings installs ``tensorrt_rtx_bindings`` (no ``tensorrt_rtx`` shim)."""
    import sys
    import types

    from ldprune_deploy.exporter.tensorrt import import_trt

    fake = types.ModuleType("tensorrt_rtx_bindings")
    fake.Builder = object
    stub = types.ModuleType("tensorrt")          # PyPI's bare stub: no Builder
    monkeypatch.setitem(sys.modules, "tensorrt", stub)
    monkeypatch.setitem(sys.modules, "tensorrt_rtx", None)   # None in sys.modules: import fails
    monkeypatch.setitem(sys.modules, "tensorrt_rtx_bindings", fake)
    mod, flavour = import_trt()
    assert mod is fake and flavour == "tensorrt_rtx"
