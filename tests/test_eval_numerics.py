"""quality.numerics: the precision a proxy metric is evaluated in (the GPU figures are in
benchmarks/results/quality/h100-2026-12-05-fp32-trials; here the switching logic, on the CPU)."""

import pytest
import torch

from ldprune_deploy.quality.numerics import EVAL_PRECISIONS, eval_numerics, feature_numerics


@pytest.fixture
def tf32_on():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_fp32_turns_tf32_off_inside_and_restores_it_after_an_error(tf32_on):
    with pytest.raises(RuntimeError, match="inside"):
        with eval_numerics("cuda", "fp32"):
            assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
            raise RuntimeError("inside")
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32


def test_features_follow_fp32_but_stay_as_before_for_bf16(tf32_on):
    with feature_numerics("cuda", "fp32"):
        assert not torch.backends.cuda.matmul.allow_tf32
    with feature_numerics("cuda", "bf16"):   # outside autocast, TF32 as the run set it: the pre-flag curves' way
        assert torch.backends.cuda.matmul.allow_tf32 and not torch.is_autocast_enabled("cuda")


def test_the_cpu_evaluates_in_fp32_whatever_is_asked(tf32_on):
    for p in EVAL_PRECISIONS:
        with eval_numerics("cpu", p):
            assert not torch.is_autocast_enabled("cpu") and torch.backends.cuda.matmul.allow_tf32
            assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_an_unknown_precision_is_refused_by_name():
    with pytest.raises(ValueError, match="'fp16'.*bf16, fp32"):
        with eval_numerics("cuda", "fp16"):
            pass
