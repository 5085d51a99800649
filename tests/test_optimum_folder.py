"""`ldprune export --pipeline` folder vs the layout optimum-onnx's ORT diffusion pipeline loads.

optimum-onnx is not installed (0.1.0 would downgrade transformers/huggingface_hub/tokenizers), so this
checks what `ORTDiffusionPipeline.from_pretrained` in optimum/onnxruntime/modeling_diffusion.py reads:
`<component>/model.onnx` + a `config.json` beside it (`ORTModelMixin`), and what `ORTUnet.forward`
feeds and reads: inputs among sample/timestep/encoder_hidden_states/timestep_cond/text_embeds/time_ids,
output `out_sample`. Text encoder and VAE are not written yet (see exporter/README.md).
"""

import json

import numpy as np

from ldprune_deploy.exporter import ExportConfig, export
from ldprune_deploy.exporter.pipeline import write_pipeline

ORT_UNET_INPUTS = {"sample", "timestep", "encoder_hidden_states", "timestep_cond", "text_embeds", "time_ids"}


def test_unet_part_matches_optimum_ort_unet(tmp_path):
    import onnxruntime as ort

    exp = export("tiny-t2i", ExportConfig(output=str(tmp_path / "e"), precision="fp32", batch="2"))
    out = write_pipeline(exp, tmp_path / "pipe")
    onnx_file, cfg_file = out / "unet" / "model.onnx", out / "unet" / "config.json"
    assert onnx_file.is_file() and cfg_file.is_file()
    cfg = json.loads(cfg_file.read_text())
    assert {"in_channels", "sample_size", "cross_attention_dim"} <= set(cfg)
    sess = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    ins = {i.name: i for i in sess.get_inputs()}
    assert set(ins) <= ORT_UNET_INPUTS and {"sample", "timestep", "encoder_hidden_states"} <= set(ins)
    assert [o.name for o in sess.get_outputs()] == ["out_sample"]
    size = cfg["sample_size"] if isinstance(cfg["sample_size"], int) else cfg["sample_size"][0]
    sample = np.random.rand(2, cfg["in_channels"], size, size).astype(np.float32)
    ts = ins["timestep"].shape
    feed = {"sample": sample,
            "timestep": np.full([d if isinstance(d, int) else 2 for d in ts], 10, dtype=np.int64
                                if "int64" in ins["timestep"].type else np.float32),
            "encoder_hidden_states": np.random.rand(2, 8, cfg["cross_attention_dim"]).astype(np.float32)}
    (res,) = sess.run(None, feed)
    assert res.shape == sample.shape
