"""Every single-operator modification of the tiny models runs and keeps the output shape."""

import pytest
import torch

from ldprune_deploy.catalogue import build_catalogue
from ldprune_deploy.models import example_inputs, load_model
from ldprune_deploy.artifacts import Modification, PrunePlan
from ldprune_deploy.surgery import apply_plan, swapped

_MODELS = {name: load_model(name, quiet=True) for name in ("tiny-t2i", "tiny-uncond")}
_CASES = [(name, op, mod) for name, (u, i) in _MODELS.items()
          for op, mod in build_catalogue(u, i, flops=False).candidates()]


@pytest.fixture(scope="module")
def refs():
    out = {}
    for name, (u, i) in _MODELS.items():
        x = example_inputs(u, i, batch=2)
        with torch.no_grad():
            out[name] = (x, u(**x).sample)
    return out


@pytest.mark.parametrize("name,op,mod", _CASES, ids=[f"{n}:{o}:{m}" for n, o, m in _CASES])
def test_single_modification_forward_keeps_shape(name, op, mod, refs):
    unet, info = _MODELS[name]
    x, ref = refs[name]
    pruned = apply_plan(unet, PrunePlan(info.fingerprint, [Modification(op, mod)]))
    with torch.no_grad():
        out = pruned(**x).sample
    assert out.shape == ref.shape
    assert torch.isfinite(out).all()
    n_before = sum(p.numel() for p in unet.parameters())
    assert sum(p.numel() for p in pruned.parameters()) < n_before  # every modification removes weights


@pytest.mark.parametrize("name", list(_MODELS))
def test_swapped_restores_the_model_exactly(name, refs):
    unet, info = _MODELS[name]
    x, ref = refs[name]
    state = {k: v.clone() for k, v in unet.state_dict().items()}
    cands = build_catalogue(unet, info, flops=False).candidates()
    for op, mod in cands[:: max(1, len(cands) // 12)]:
        with swapped(unet, Modification(op, mod)), torch.no_grad():
            assert not torch.equal(unet(**x).sample, ref)
    with torch.no_grad():
        assert torch.equal(unet(**x).sample, ref)
    assert all(torch.equal(v, state[k]) for k, v in unet.state_dict().items())


def test_catalogue_flops_of_modifications_are_lower(tiny_t2i):
    unet, info = tiny_t2i
    cat = build_catalogue(unet, info, batch=2)
    for o in cat.prunable:
        assert o.flops > 0
        for m in o.modifications:
            if m.name == "fp8":   # the same arithmetic and parameter count, in 8 bits
                assert (m.flops, m.params) == (o.flops, o.params), o.id
                continue
            assert m.flops < o.flops and m.params < o.params, (o.id, m.name)
