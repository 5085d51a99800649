"""On the GPU: the scoring execution options that only mean something there -- wide compiled
regions in channels_last, and --cudnn-benchmark -- keep the scores of the plain run and are
recorded in the file."""

import pytest
import torch

from ldprune_deploy.models import load_model
from ldprune_deploy.scoring import ScoreConfig, score

pytestmark = pytest.mark.gpu

FEW = r"^(down_blocks\.0\.attentions\.0|down_blocks\.0\.attentions\.0\.transformer_blocks\.0\.attn2|up_blocks\.0\.resnets\.0):"


def test_wide_compile_and_cudnn_benchmark_keep_the_scores(tmp_path):
    unet, _ = load_model("tiny-t2i", device="cuda", quiet=True)
    kw = dict(n_gen=4, steps=3, device="cuda", progress=False, include=FEW, mods=["remove", "shortcut", "width:0.5"])
    before = torch.backends.cudnn.benchmark
    plain = score(unet, ScoreConfig(output=tmp_path / "plain.json", **kw))
    fast = score(unet, ScoreConfig(output=tmp_path / "fast.json", channels_last=True, compile_blocks=True,
                                   compile_regions="wide", cudnn_benchmark=True, **kw))
    assert fast["params"]["cudnn_benchmark"] is True and "cudnn_benchmark" not in plain["params"]
    assert fast["params"]["compile_blocks"]["regions"] == "wide"
    assert torch.backends.cudnn.benchmark is before   # the sweep's setting did not leak out
    assert len(plain["scores"]) == len(fast["scores"]) >= 4
    for a, b in zip(plain["scores"], fast["scores"], strict=True):
        assert (a["operator"], a["modification"]) == (b["operator"], b["modification"])
        assert b["score"] == pytest.approx(a["score"], rel=1e-2, abs=1e-5), (a, b)  # TF32 convs, other kernels
