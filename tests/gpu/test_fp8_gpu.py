"""fp8 on an FP8 GPU (compute capability >= 8.9): the layer runs on tensor cores close to fp16, and an
fp8 plan is timed by the torch runners. Whether it is faster is a benchmark's question, not a test's:
on the H200 (2026-12-04) dynamic per-tensor scaling made it slower (benchmarks/results/runners/)."""

import pytest
import torch
from torch import nn

from ldprune_deploy.catalogue import build_catalogue
from ldprune_deploy.models import load_model
from ldprune_deploy.runners import RunSpec, get_runner
from ldprune_deploy.artifacts import Modification, PrunePlan
from ldprune_deploy.surgery import apply_plan
from ldprune_deploy.surgery.fp8 import Fp8Linear, fp8_runs_fast_here

pytestmark = pytest.mark.gpu


@pytest.fixture(autouse=True)
def _fp8_gpu():
    ok, why = fp8_runs_fast_here("cuda")
    if not ok:
        pytest.skip(why)


@torch.no_grad()
def test_fp8_linear_close_at_sd_shapes_on_tensor_cores():
    torch.manual_seed(0)
    lin = nn.Linear(1280, 5120, device="cuda", dtype=torch.float16)   # SD1.5 mid-block feed-forward
    f = Fp8Linear(lin)
    x = torch.randn(2 * 64, 1280, device="cuda", dtype=torch.float16).repeat(8, 1)
    ref, out = lin(x), f(x)
    assert out.dtype == torch.float16 and f.weight_u8.is_cuda
    assert float((out.float() - ref.float()).norm() / ref.float().norm()) < 0.08


def test_fp8_plan_timed_by_torch_graph():
    unet, info = load_model("tiny-t2i", device="cuda", dtype=torch.float16, quiet=True)
    ops = [op for op, _ in build_catalogue(unet, info, flops=False).candidates(["fp8"])]
    pruned = apply_plan(unet, PrunePlan(info.fingerprint, [Modification(op, "fp8") for op in ops], model=info.name))
    stats = get_runner("torch-graph").measure(pruned, info, RunSpec(batch=2, dtype="fp16", iters=10, settle_s=0.1))
    assert stats.median_ms > 0
