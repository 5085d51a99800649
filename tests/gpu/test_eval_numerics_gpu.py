"""quality.numerics on a CUDA GPU: bf16 evaluations compute in bf16, fp32 ones in full fp32, and a
linear layer's output under bf16 autocast moves with its weights' bf16 rounding while fp32's does not."""

import pytest
import torch

from ldprune_deploy.quality.numerics import eval_numerics

pytestmark = pytest.mark.gpu


def test_bf16_autocast_rounds_the_weights_and_fp32_does_not():
    g = torch.Generator().manual_seed(0)
    w, x = torch.randn(256, 256, generator=g).cuda(), torch.randn(64, 256, generator=g).cuda()
    exact = (x.double() @ w.double().T)
    with eval_numerics("cuda", "bf16"):
        y16 = torch.nn.functional.linear(x, w)
    with eval_numerics("cuda", "fp32"):
        y32 = torch.nn.functional.linear(x, w)
    assert y16.dtype == torch.bfloat16 and y32.dtype == torch.float32
    err16 = ((y16.double() - exact).norm() / exact.norm()).item()
    err32 = ((y32.double() - exact).norm() / exact.norm()).item()
    assert err32 < 1e-5 < 1e-3 < err16   # TF32 off: fp32 accuracy; bf16: ~2**-9 relative rounding
