"""On the GPU: sampling with the UNet call replayed from a CUDA graph gives the eager latents,
and scoring files record it."""

import json

import pytest
import torch

from ldprune_deploy.graph_call import GraphedCall
from ldprune_deploy.models import load_model
from ldprune_deploy.sampling import SamplerConfig, generate
from ldprune_deploy.scoring import ScoreConfig, score

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize("preset", ["tiny-t2i", "tiny-uncond"])
def test_graphed_sampling_equals_eager(preset):
    unet, info = load_model(preset, device="cuda", quiet=True)
    cond = torch.randn(6, 8, unet.config.cross_attention_dim) if info.conditional else None
    kw = dict(seeds=list(range(6)), latent_size=info.latent_size(None), cond=cond, batch_size=4,
              sampler=SamplerConfig(steps=6, guidance=3.0), vae_scale=info.vae_scale_factor)
    eager = generate(unet, **kw)
    graphed = generate(unet, cuda_graph=True, **kw)
    torch.testing.assert_close(graphed, eager, rtol=1e-4, atol=1e-5)


def test_graphed_call_captures_once_per_shape():
    unet, info = load_model("tiny-uncond", device="cuda", quiet=True)
    g = GraphedCall(lambda **kw: unet(**kw, return_dict=False)[0])
    s = unet.config.sample_size
    x = torch.randn(2, unet.config.in_channels, s, s, device="cuda")
    with torch.no_grad():
        ys = [g(sample=x * i, timestep=torch.tensor(10 * i, device="cuda")) for i in range(4)]
        ref = [unet(x * i, torch.tensor(10 * i, device="cuda")).sample for i in range(4)]
    assert g.failed is None and g.captures == 1 and g.replays == 3  # call 0 warms up, 1 captures and replays
    for y, r in zip(ys, ref):
        torch.testing.assert_close(y, r, rtol=1e-4, atol=1e-5)


def test_score_with_and_without_graph(tmp_path):
    base = dict(n_gen=4, steps=3, device="cuda", progress=False, include=r"^mid_block\.", mods=["remove", "shortcut"])
    on = score("tiny-t2i", ScoreConfig(output=tmp_path / "on.json", **base))
    off = score("tiny-t2i", ScoreConfig(output=tmp_path / "off.json", cuda_graph=False, **base))
    assert on["params"]["cuda_graph"] is True and "cuda_graph" not in off["params"]
    a = {(e["operator"], e["modification"]): e["score"] for e in on["scores"]}
    b = {(e["operator"], e["modification"]): e["score"] for e in off["scores"]}
    assert a.keys() == b.keys() and len(a) >= 2
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-3, abs=1e-5)
    assert json.loads((tmp_path / "on.json").read_text())["complete"] is True
