"""Export on CPU: tiny models -> ONNX, numeric check with ORT-CPU, manifest, ort-cpu runner, bad input."""

import numpy as np
import onnx
import pytest

from ldprune_deploy.cli import main
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.exporter import ExportConfig, export, read_manifest
from ldprune_deploy.models import load_model
from ldprune_deploy.runners import RunSpec, get_runner
from ldprune_deploy.unet import set_model_info


@pytest.fixture(scope="module")
def t2i_fp32(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "t2i-fp32"
    return export("tiny-t2i", ExportConfig(output=str(out), precision="fp32", batch="1:2:4", resolution="64:128:128"))


@pytest.fixture(scope="module")
def uncond_fp16(tmp_path_factory):
    out = tmp_path_factory.mktemp("exp") / "uncond-fp16"
    return export("tiny-uncond", ExportConfig(output=str(out), precision="fp16", batch="2"))


def test_t2i_fp32_export_matches_torch_and_manifest_is_complete(t2i_fp32):
    man = read_manifest(t2i_fp32)
    assert man["schema"] == "ldprune.export/1"
    assert man["precision"] == "fp32" and man["exporter"] == "torchscript" and man["opset"] >= 17
    c = man["check"]
    assert c["passed"] and c["provider"] == "CPUExecutionProvider" and c["nonfinite"] == 0
    assert c["rel_l2"] < 1e-4 and c["cosine"] > 0.99999 and c["max_abs"] < 1e-3
    assert man["ranges"]["batch"] == [1, 2, 4] and man["ranges"]["resolution"] == [64, 128, 128]
    assert man["ranges"]["latent"] == [8, 16, 16]
    names = [i["name"] for i in man["io"]["inputs"]]
    assert names == ["sample", "timestep", "encoder_hidden_states"]
    assert man["io"]["outputs"][0]["name"] == "out_sample"
    sample = man["io"]["inputs"][0]["shape"]
    assert isinstance(sample[0], str) and isinstance(sample[2], str)      # dynamic batch and spatial axes
    assert man["model"]["fingerprint"] and man["model"]["plan_fingerprint"] is None
    assert man["device"]["kind"] == "cpu"
    assert man["files"]["unet.onnx"] > 0 and not man["external_data"]
    assert man["unet_config"]["_class_name"] == "UNet2DConditionModel"


def test_nodes_carry_operator_ids(t2i_fp32):
    man = read_manifest(t2i_fp32)
    assert "down_blocks.0.attentions.0" in man["operators"] or any(
        k.startswith("down_blocks.0.attentions.0") for k in man["operators"])
    m = onnx.load(str(t2i_fp32 / "unet.onnx"))
    tagged = [n for n in m.graph.node if any(p.key == "ldprune.operator" for p in n.metadata_props)]
    assert len(tagged) > len(m.graph.node) // 2
    conv = next(n for n in m.graph.node if n.name.startswith("/down_blocks.0/resnets.0/conv1/"))
    meta = {p.key: p.value for p in conv.metadata_props}
    assert meta["ldprune.module"] == "down_blocks.0.resnets.0.conv1"
    assert meta["ldprune.operator"].startswith("down_blocks.0.resnets.0")


def test_onnx_runs_at_other_shapes_in_range(t2i_fp32):
    import numpy as np
    import onnxruntime as ort

    sess = ort.InferenceSession(str(t2i_fp32 / "unet.onnx"), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"sample": np.zeros((3, 4, 8, 8), np.float32), "timestep": np.array([1, 2, 3]),
                          "encoder_hidden_states": np.zeros((3, 8, 32), np.float32)})[0]
    assert out.shape == (3, 4, 8, 8)


def test_uncond_fp16_export_checked(uncond_fp16):
    man = read_manifest(uncond_fp16)
    assert [i["name"] for i in man["io"]["inputs"]] == ["sample", "timestep"]
    assert man["io"]["inputs"][0]["dtype"] == "float16" and man["io"]["inputs"][1]["dtype"] == "int64"
    assert man["check"]["passed"] and man["check"]["cosine"] > 0.999
    assert man["check"]["overflow"]["n_out_of_range"] == 0
    assert man["ranges"]["batch"] == [2, 2, 2]


def test_ort_cpu_runner_on_export_folder(uncond_fp16):
    stats = get_runner("ort-cpu").measure(str(uncond_fp16), None, RunSpec(batch=2, dtype="fp16", warmup=1, iters=3))
    assert stats.n == 3 and stats.runner == "ort-cpu" and stats.median_ms > 0
    assert stats.extra["provider"] == "CPUExecutionProvider" and stats.extra["precision"] == "fp16"


def test_runner_refuses_export_of_another_model(uncond_fp16):
    unet, info = load_model("tiny-t2i", quiet=True)
    with pytest.raises(LdpruneError, match="exported from model"):
        get_runner("ort-cpu").measure(unet, info, RunSpec(batch=2, dtype="fp16",
                                                          options={"export_dir": str(uncond_fp16)}))


def test_runner_refuses_shape_outside_range_and_wrong_precision(uncond_fp16):
    r = get_runner("ort-cpu")
    with pytest.raises(LdpruneError, match="outside the export's range"):
        r.measure(str(uncond_fp16), None, RunSpec(batch=4, dtype="fp16"))
    with pytest.raises(LdpruneError, match="is fp16"):
        r.measure(str(uncond_fp16), None, RunSpec(batch=2, dtype="fp32"))


def test_runner_exports_on_the_fly_into_cache_and_reuses_it(tmp_path):
    unet, info = load_model("tiny-uncond", quiet=True)
    spec = RunSpec(batch=1, dtype="fp32", warmup=1, iters=2, options={"cache_dir": str(tmp_path)})
    s1 = get_runner("ort-cpu").measure(unet, info, spec)
    folders = list(tmp_path.iterdir())
    assert len(folders) == 1 and (folders[0] / "export.json").is_file()
    s2 = get_runner("ort-cpu").measure(unet, info, spec)
    assert s1.extra["export_dir"] == s2.extra["export_dir"] and len(list(tmp_path.iterdir())) == 1


def test_pruned_model_export_records_plan_fingerprint(tmp_path):
    from ldprune_deploy.catalogue import build_catalogue
    from ldprune_deploy.artifacts import Modification, PrunePlan
    from ldprune_deploy.surgery import apply_plan

    unet, info = load_model("tiny-uncond", quiet=True)
    op, mod = next((o, m) for o, m in build_catalogue(unet, info).candidates() if m == "remove")
    pruned = apply_plan(unet, PrunePlan(info.fingerprint, [Modification(op, mod)]))
    set_model_info(pruned, info)
    out = export(pruned, ExportConfig(output=str(tmp_path / "p"), precision="fp32", batch="1"))
    man = read_manifest(out)
    assert man["model"]["plan_fingerprint"] and man["check"]["passed"]
    with pytest.raises(LdpruneError, match="unpruned"):   # the base model must not use the pruned export
        get_runner("ort-cpu").measure(unet, info, RunSpec(batch=1, dtype="fp32", options={"export_dir": str(out)}))


def test_cli_export_and_bad_inputs(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["export", "--model", "tiny-uncond", "--precision", "fp32", "--batch", "1", "-o", str(out)]) == 0
    assert "numeric check" in capsys.readouterr().out
    assert read_manifest(out)["check"]["passed"]
    # output exists: refused without --overwrite
    assert main(["export", "--model", "tiny-uncond", "--batch", "1", "-o", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    # unsupported shape ranges name the limit
    assert main(["export", "--model", "tiny-uncond", "--batch", "1:2:512", "-o", str(tmp_path / "b")]) == 2
    assert "1..64" in capsys.readouterr().err
    assert main(["export", "--model", "tiny-t2i", "--resolution", "100", "-o", str(tmp_path / "r")]) == 2
    assert "multiple of 16" in capsys.readouterr().err
    assert main(["export", "--model", "tiny-t2i", "--batch", "4:2:8", "-o", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "b").exists() and not (tmp_path / "r").exists()


def test_check_device_cpu_recorded_and_cuda_refused_without_it(tmp_path, capsys, t2i_fp32):
    import torch

    from ldprune_deploy.exporter.check import CUDA_CHECK_OPTIONS, check_providers

    assert read_manifest(t2i_fp32)["check"]["reference_device"] == "cpu"   # auto on this machine
    assert check_providers("CPUExecutionProvider") == ["CPUExecutionProvider"]
    (name, opts), fallback = check_providers("CUDAExecutionProvider")
    assert name == "CUDAExecutionProvider" and opts["use_tf32"] == "0" and opts == CUDA_CHECK_OPTIONS
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the refusal is for machines without it")
    out = tmp_path / "cuda-check"
    assert main(["export", "--model", "tiny-uncond", "--batch", "1", "--check-device", "cuda", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--check-device cuda" in err and "--check-device cpu" in err and not out.exists()
    with pytest.raises(LdpruneError, match="'gpu' is not one of auto, cpu, cuda"):
        export("tiny-uncond", ExportConfig(output=str(tmp_path / "x"), check_device="gpu"))


def test_missing_external_data_is_named(tmp_path, uncond_fp16):
    from ldprune_deploy.exporter.onnx_export import check_model_file

    m = onnx.load(str(uncond_fp16 / "unet.onnx"))
    onnx.save_model(m, str(tmp_path / "unet.onnx"), save_as_external_data=True, location="unet.onnx.data",
                    size_threshold=1024)
    (tmp_path / "unet.onnx.data").unlink()
    with pytest.raises(LdpruneError, match="external data unet.onnx.data"):
        check_model_file(tmp_path / "unet.onnx")
    folder = tmp_path / "exp"
    folder.mkdir()
    m = onnx.load(str(uncond_fp16 / "unet.onnx"))   # save_model moved the first copy's weights out
    onnx.save_model(m, str(folder / "unet.onnx"), save_as_external_data=True, location="unet.onnx.data",
                    size_threshold=1024)
    (folder / "unet.onnx.data").unlink()
    (folder / "export.json").write_text((uncond_fp16 / "export.json").read_text())
    with pytest.raises(LdpruneError, match="external data"):
        get_runner("ort-cpu").measure(str(folder), None, RunSpec(batch=2, dtype="fp16"))


def test_pipeline_folder_refused_for_an_unconditional_unet(tmp_path, uncond_fp16):
    """optimum-onnx has no ORT pipeline for a UNet2DModel: --pipeline says so instead of writing a folder."""
    from ldprune_deploy.exporter.pipeline import write_pipeline

    with pytest.raises(LdpruneError, match="needs a text-conditioned UNet.*UNet2DModel") as e:
        write_pipeline(uncond_fp16, tmp_path / "pipe")
    assert "unet.onnx directly" in e.value.fix and not (tmp_path / "pipe").exists()


def test_sdxl_shaped_unet_exports_text_embeds_and_time_ids(tmp_path):
    """SDXL's extra conditioning inputs, on a tiny text_time UNet (the real one is 2.6B)."""
    from ldprune_deploy.presets import PRESETS
    from ldprune_deploy.unet import build_unet

    cfg = {**PRESETS["tiny-t2i"].config, "addition_embed_type": "text_time", "addition_time_embed_dim": 8,
           "projection_class_embeddings_input_dim": 16 + 6 * 8}
    unet = build_unet("UNet2DConditionModel", cfg)
    unet, info = load_model(unet)
    man = read_manifest(export(unet, ExportConfig(output=str(tmp_path / "xl"), precision="fp16", batch="2")))
    assert [i["name"] for i in man["io"]["inputs"]] == ["sample", "timestep", "encoder_hidden_states",
                                                          "text_embeds", "time_ids"]
    assert man["io"]["inputs"][3]["shape"][1] == 16 and man["io"]["inputs"][4]["shape"][1] == 6
    assert man["check"]["passed"]
    # the --pipeline copy: optimum's ORTUnet names (it passes added_cond_kwargs by these), scalar float timestep
    import onnxruntime as ort

    from ldprune_deploy.exporter.pipeline import write_pipeline

    out = write_pipeline(tmp_path / "xl", tmp_path / "pipe")
    sess = ort.InferenceSession(str(out / "unet" / "model.onnx"), providers=["CPUExecutionProvider"])
    ins = {i.name: i for i in sess.get_inputs()}
    assert list(ins) == ["sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids"]
    assert ins["timestep"].shape == [] and ins["timestep"].type == "tensor(float)"
    rng = np.random.default_rng(0)
    feed = {n: rng.standard_normal([2 if isinstance(d, str) else d for d in i.shape]).astype(np.float16)
            for n, i in ins.items() if n != "timestep"}
    (res,) = sess.run(None, {**feed, "timestep": np.asarray(400.5, np.float32)})
    assert res.shape == feed["sample"].shape and np.isfinite(res).all()
