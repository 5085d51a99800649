"""Distillation on a CUDA GPU: bf16 student, bf16 teacher, peak memory recorded (tiny model, seconds)."""

import json

import pytest
import torch

from ldprune_deploy.distillation import DistillConfig, DistillData, distill
from ldprune_deploy.models import load_model
from ldprune_deploy.artifacts import Modification, PrunePlan
from ldprune_deploy.surgery import apply_plan, load_pruned
from ldprune_deploy.unet import model_fingerprint

pytestmark = pytest.mark.gpu


def test_bf16_distillation_on_cuda(tmp_path):
    teacher, _ = load_model("tiny-t2i", quiet=True)
    student = apply_plan(teacher, PrunePlan(model_fingerprint(teacher),
                                            [Modification("down_blocks.0.resnets.1", "remove")]))
    g = torch.Generator().manual_seed(0)
    data = DistillData(torch.randn(8, 4, 16, 16, generator=g), torch.randn(8, 8, 32, generator=g))
    out = tmp_path / "run"
    final = distill(teacher, student, DistillConfig(output=out, steps=10, batch_size=4, lr=1e-3, data=data,
                                                     mixed_precision="bf16", teacher_dtype="bf16", ema_decay=0.9,
                                                     progress=False))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["peak_memory_bytes"] > 0
    h = json.loads((out / "losses.json").read_text())["history"]
    assert len(h) == 10 and all(torch.isfinite(torch.tensor(r["total"])) for r in h)
    assert load_pruned(final).conv_in.weight.dtype == torch.float32
