"""On the GPU: SD1.5-sized surgery in fp16 keeps shapes and round-trips exactly."""

import pytest
import torch

from ldprune_deploy.catalogue import build_catalogue
from ldprune_deploy.demo import flops_plan
from ldprune_deploy.models import example_inputs, load_model
from ldprune_deploy.surgery import apply_plan, load_pruned, save_pruned

pytestmark = pytest.mark.gpu


def test_sd15_fp16_plan_round_trip(tmp_path):
    unet, info = load_model("sd15", device="cuda", dtype=torch.float16, quiet=True)
    cat = build_catalogue(unet, info, batch=2, flops=True)
    plan = flops_plan(cat, info, target=0.3)
    pruned = apply_plan(unet, plan)
    x = example_inputs(unet, info, batch=2)
    with torch.no_grad():
        y = pruned(**x).sample
        assert y.shape == unet(**x).sample.shape and torch.isfinite(y).all()
        again = load_pruned(save_pruned(pruned, tmp_path / "p"), device="cuda", dtype=torch.float16)
        assert torch.equal(again(**x).sample, y)
