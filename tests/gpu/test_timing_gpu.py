"""The one timing path on a CUDA GPU: paired ablation, channels_last under torch.compile, settling."""

import pytest
import torch

from ldprune_deploy.models import load_model
from ldprune_deploy.runners import RunSpec, get_runner
from ldprune_deploy.runners.timing import open_variant, paired
from ldprune_deploy.artifacts import Modification
from ldprune_deploy.surgery import swapped

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module")
def tiny():
    return load_model("tiny-t2i", device="cuda", dtype=torch.float16, quiet=True)


def test_compile_then_channels_last_then_contiguous_again(tiny, tmp_path):
    """The sequence that failed on the H200 (benchmarks/runners.py --compile-channels-last): the same
    UNet compiled contiguous, then channels_last, then contiguous again."""
    runner = get_runner("torch-compile")
    for cl in (False, True, False):
        stats = runner.measure(*tiny, RunSpec(batch=2, dtype="fp16", iters=10, settle_s=0.2,
                                              options={"channels_last": cl, "cache_dir": str(tmp_path)}))
        assert stats.median_ms > 0
        assert stats.extra["conditions"]["memory_format"] == ("channels_last" if cl else "contiguous")
        w = tiny[0].conv_in.weight
        assert w.is_contiguous()          # the runner put the model back as it found it


def test_paired_graph_ablation_keeps_the_swapped_graph_valid(tiny):
    unet, info = tiny
    spec = RunSpec(batch=2, dtype="fp16", iters=20, rounds=4, settle_s=0.2)
    runner = get_runner("torch-graph")
    ref = open_variant(runner, unet, info, spec)
    op = Modification("down_blocks.0.attentions.0", "remove")
    cand = open_variant(runner, unet, info, spec, lambda: swapped(unet, op))
    try:
        pr = paired([ref, cand], spec)
    finally:
        cand.close()
        ref.close()
    assert pr.candidates[0].median_ms < pr.reference.median_ms
    assert pr.delta[0]["p10"] <= pr.delta[0]["median"] <= pr.delta[0]["p90"] < 0
    assert type(unet.get_submodule(op.operator)).__name__ == "Transformer2DModel"   # restored on close
