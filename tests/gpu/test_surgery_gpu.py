"""On the GPU: SD1.5-sized surgery in fp16 keeps shapes and round-trips exactly."""

import pytest
import torch

from ldprune_deploy.catalogue import build_catalogue
from ldprune_deploy.models import example_inputs, load_model
from ldprune_deploy.artifacts import Modification, PrunePlan, find_conflicts
from ldprune_deploy.surgery import apply_plan, load_pruned, save_pruned

pytestmark = pytest.mark.gpu


def flops_plan(cat, info, target):
    """Biggest FLOP saving per operator first, until ``target`` of the FLOPs is removed."""
    best = sorted(((o.flops - min(m.flops for m in o.modifications), o.id,
                    min(o.modifications, key=lambda m: m.flops).name) for o in cat.prunable), reverse=True)
    chosen, saved = [], 0
    for gain, op, mod in best:
        if saved >= target * cat.total_flops:
            break
        if not find_conflicts(chosen + [Modification(op, mod)]):
            chosen.append(Modification(op, mod))
            saved += gain
    return PrunePlan(info.fingerprint, chosen, model=info.name)


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
