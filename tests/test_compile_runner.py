"""CPU-checkable parts of the torch-compile runner: each bound's own code object, and the fused
QKV projections of the ``tuned`` mode undone when the bound closes."""

import torch

from ldprune_deploy.models import example_inputs
from ldprune_deploy.runners.torch_runners import _fuse_qkv, _own_code


def test_own_code_is_a_distinct_code_object_with_the_same_behaviour():
    def f():
        return 41 + 1

    a, b = _own_code(f, "unet_1"), _own_code(f, "unet_2")
    assert a() == b() == 42
    assert a.__code__ is not b.__code__ and a.__code__ is not f.__code__ and a.__name__ == "unet_1"


def test_fused_qkv_is_exact_enough_and_undone(tiny_t2i):
    unet, info = tiny_t2i
    x = example_inputs(unet, info, batch=2)
    procs = {k: type(v) for k, v in unet.attn_processors.items()}
    keys = set(unet.state_dict())
    with torch.no_grad():
        ref = unet(**x).sample
        undo = _fuse_qkv(unet)
        assert undo is not None
        fused_procs = {type(v).__name__ for v in unet.attn_processors.values()}
        assert any("Fused" in n for n in fused_procs)
        assert torch.allclose(unet(**x).sample, ref, atol=1e-5, rtol=1e-4)
        undo()
        assert {k: type(v) for k, v in unet.attn_processors.items()} == procs
        assert torch.equal(unet(**x).sample, ref) and set(unet.state_dict()) == keys
