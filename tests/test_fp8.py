"""fp8 as a modification family: a close approximation of the linear layers it replaces, opt-in as
a candidate, carried through apply / save / load, refused where it cannot run."""

import pytest
import torch
from torch import nn

from ldprune_deploy.catalogue import build_catalogue
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.models import example_inputs
from ldprune_deploy.artifacts import Modification, PrunePlan
from ldprune_deploy.surgery import apply_plan, load_pruned, save_pruned
from ldprune_deploy.surgery.fp8 import Fp8Linear, fp8_runs_fast_here, has_fp8


def _rel(a, b):
    return float((a.float() - b.float()).norm() / b.float().norm())


def test_fp8_linear_is_close_and_survives_dtype_casts():
    torch.manual_seed(0)
    lin = nn.Linear(64, 48)
    f = Fp8Linear(lin)
    x = torch.randn(2, 7, 64)
    with torch.no_grad():
        ref = lin(x)
        assert _rel(f(x), ref) < 0.08            # e4m3: 3 mantissa bits
        assert _rel(f(x), ref) > 0               # it is quantized, not the same layer
        half = Fp8Linear(lin).to(torch.bfloat16)  # .to(dtype) must not widen the 8-bit weight
        assert half.weight_u8.dtype == torch.uint8 and half.scale_i32.dtype == torch.int32
        assert _rel(half(x.bfloat16()), ref) < 0.08
    assert sum(p.numel() for p in f.parameters()) == sum(p.numel() for p in lin.parameters())


def test_fp8_is_listed_but_opt_in(tiny_t2i):
    unet, info = tiny_t2i
    cat = build_catalogue(unet, info, flops=False)
    fp8 = [c for o in cat.prunable for c in [(o.id, m.name) for m in o.modifications] if c[1] == "fp8"]
    assert fp8 and {cat.get(op).kind for op, _ in fp8} <= {"attn1", "attn2", "ff", "attention"}
    assert not any(m == "fp8" for _, m in cat.candidates())
    assert cat.candidates(["fp8"]) == fp8
    both = cat.candidates(["remove", "fp8"])
    assert {m for _, m in both} == {"remove", "fp8"}


def test_fp8_plan_applies_saves_and_loads(tmp_path, tiny_t2i):
    unet, info = tiny_t2i
    cat = build_catalogue(unet, info, flops=False)
    ops = [op for op, _ in cat.candidates(["fp8"])]
    plan = PrunePlan(info.fingerprint, [Modification(op, "fp8") for op in ops], model=info.name)
    pruned = apply_plan(unet, plan)
    assert has_fp8(pruned) and not has_fp8(unet)
    x = example_inputs(unet, info, batch=2)
    with torch.no_grad():
        ref, out = unet(**x).sample, pruned(**x).sample
    assert 0 < _rel(out, ref) < 0.1
    loaded = load_pruned(save_pruned(pruned, tmp_path / "p"))
    with torch.no_grad():
        assert torch.equal(loaded(**x).sample, out)


def test_fp8_refused_for_onnx_export(tmp_path, tiny_t2i):
    from ldprune_deploy.exporter import ExportConfig, export

    unet, info = tiny_t2i
    op = build_catalogue(unet, info, flops=False).candidates(["fp8"])[0][0]
    pruned = apply_plan(unet, PrunePlan(info.fingerprint, [Modification(op, "fp8")], model=info.name))
    with pytest.raises(LdpruneError, match="fp8"):
        export(pruned, ExportConfig(output=str(tmp_path / "x"), precision="fp32", batch="1"))
    assert not (tmp_path / "x").exists()


def test_fp8_speed_needs_an_fp8_gpu():
    ok, why = fp8_runs_fast_here("cpu")
    assert not ok and "compute capability" in why


def test_fp8_profile_and_timing_refused_on_cpu(tmp_path):
    from ldprune_deploy.profiler import ProfileConfig, profile

    with pytest.raises(LdpruneError, match="fp8 savings cannot be profiled with cpu"):
        profile("tiny-t2i", ProfileConfig(backend="cpu", mods=["fp8"], output=tmp_path / "p.json", progress=False))
    assert not (tmp_path / "p.json").exists()


def test_fp8_model_refused_by_the_cpu_runner(tiny_t2i):
    from ldprune_deploy.runners import RunSpec, get_runner

    unet, info = tiny_t2i
    op = build_catalogue(unet, info, flops=False).candidates(["fp8"])[0][0]
    pruned = apply_plan(unet, PrunePlan(info.fingerprint, [Modification(op, "fp8")], model=info.name))
    with pytest.raises(LdpruneError, match="will not time an fp8 model here"):
        get_runner("cpu").open(pruned, info, RunSpec(batch=1, dtype="fp32", warmup=0, iters=1))
