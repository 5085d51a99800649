"""ControlNet after pruning: the compatibility check, a tiny StableDiffusionControlNetPipeline on a pruned
UNet, and the ONNX export with the residual inputs (all CPU, tiny components built here)."""

import numpy as np
import pytest
import torch
from torch import nn

from ldprune_deploy.artifacts import Modification, PrunePlan
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.models import load_model
from ldprune_deploy.surgery import apply_plan, swapped
from ldprune_deploy.surgery.controlnet import controlnet_compatibility, expected_residuals, unet_residuals
from ldprune_deploy.unet import model_plan, set_model_info, set_model_plan
from _tiny_sd import tiny_sd_components

pytestmark = pytest.mark.usefixtures("one_thread")   # tiny models: a 2nd OpenMP thread made traces ~80x slower

# remove a whole down-block attention (its residual is then the identity's), a mid-block resnet,
# narrow a down resnet and a cross-attention, shortcut an up resnet
MODS = [("down_blocks.0.attentions.1", "remove"), ("down_blocks.0.resnets.0", "width:0.5"),
        ("down_blocks.1.resnets.1", "remove"), ("mid_block.resnets.1", "remove"),
        ("mid_block.attentions.0.transformer_blocks.0.attn2", "width:0.5"), ("up_blocks.0.resnets.0", "shortcut")]


@pytest.fixture(scope="module")
def models():
    from diffusers import ControlNetModel

    unet, info = load_model("tiny-t2i", quiet=True)
    pruned = apply_plan(unet, PrunePlan(info.fingerprint, [Modification(o, m) for o, m in MODS]))
    set_model_info(pruned, info)
    torch.manual_seed(0)
    cn = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(8, 8, 16, 16))
    with torch.no_grad():   # diffusers zero-initialises the zero-convs: give the residuals some size
        for conv in [*cn.controlnet_down_blocks, cn.controlnet_mid_block, cn.controlnet_cond_embedding.conv_out]:
            nn.init.normal_(conv.weight, std=0.05)
    return unet, info, pruned, cn.eval()


@pytest.fixture(scope="module")
def components(tmp_path_factory, models):
    return tiny_sd_components(tmp_path_factory.mktemp("tok"))


def _run(pipe, **kw):
    out = pipe("a cat", num_inference_steps=2, height=64, width=64, output_type="np",
               generator=torch.Generator("cpu").manual_seed(0), **kw)
    return out.images


def test_check_passes_for_every_single_modification_and_the_plan(models):
    """No current modification changes a down/mid output shape: the check passes for each alone."""
    from ldprune_deploy.catalogue import build_catalogue

    unet, info, pruned, cn = models
    controlnet_compatibility(pruned, cn)
    controlnet_compatibility(pruned, cn.config)
    controlnet_compatibility(pruned, unet.config)
    cands = [Modification(o, m) for o, m in build_catalogue(unet, info).candidates()
             if o.startswith(("down_blocks", "mid_block"))]
    assert len(cands) > 30
    for m in cands:
        with swapped(unet, m):
            controlnet_compatibility(unet, cn)
    # a removed attention still emits its residual (the identity's output), same shape
    names = [n for n, _ in unet_residuals(pruned)[0]]
    assert "down_blocks.0.attentions.1" in names and len(names) == len(expected_residuals(cn)[0]) == 6


def test_check_refuses_a_mismatched_controlnet_naming_block_and_fix(models):
    unet, _, pruned, cn = models
    cfg = {**cn.config, "block_out_channels": [32, 48]}
    with pytest.raises(LdpruneError, match=r"down_blocks\.1\.resnets\.0.*48 channels.*64 channels") as e:
        controlnet_compatibility(pruned, cfg)
    assert "ControlNetModel.from_unet" in e.value.fix
    with pytest.raises(LdpruneError, match="emits 4 down-block residuals.*has 6 outputs.*silently drop 2"):
        controlnet_compatibility(pruned, {**cn.config, "layers_per_block": 1})
    import copy

    bad = copy.deepcopy(cn)
    bad.controlnet_mid_block = nn.Conv2d(64, 48, 1)
    with pytest.raises(LdpruneError, match="at mid_block: the mid residual has 48 channels"):
        controlnet_compatibility(pruned, bad)
    # a hand-edited UNet whose block output changed channels: named, with the plan's edits of that block
    broken = copy.deepcopy(pruned)
    set_model_plan(broken, model_plan(pruned))
    broken.down_blocks[0].attentions[0] = _Half()
    broken.down_blocks[0].resnets[1] = _Widen(16, 32)
    with pytest.raises(LdpruneError, match=r"at down_blocks\.0\.attentions\.0: residual 1 .* has 32 channels.* has "
                                           r"16 channels.*modifications in down_blocks\.0: "
                                           r"down_blocks\.0\.attentions\.1 remove"):
        controlnet_compatibility(broken, cn)
    uncond, _ = load_model("tiny-uncond", quiet=True)
    with pytest.raises(LdpruneError, match="takes no ControlNet residuals"):
        controlnet_compatibility(uncond, cn)


class _Half(nn.Module):
    """An attention layer emitting half its channels: stands in for a (future) modification that changes a
    layer's output, so its residual no longer fits (``_Widen`` restores the channels for the next layer)."""

    def forward(self, hidden_states, *args, **kwargs):
        return (hidden_states[:, :16],)


class _Widen(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x, temb=None, *args, **kwargs):
        return self.conv(x)


def test_pipeline_on_pruned_unet(models, components):
    from diffusers import StableDiffusionControlNetPipeline, StableDiffusionPipeline

    _, _, pruned, cn = models
    controlnet_compatibility(pruned, cn)   # before any sampling
    pipe = StableDiffusionControlNetPipeline(unet=pruned, controlnet=cn, **components)
    pipe.set_progress_bar_config(disable=True)
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with_cn = _run(pipe, image=image, controlnet_conditioning_scale=1.0)
    assert with_cn.shape == (1, 64, 64, 3) and np.isfinite(with_cn).all()
    off = _run(pipe, image=image, controlnet_conditioning_scale=0.0)
    plain = StableDiffusionPipeline(unet=pruned, **components)
    plain.set_progress_bar_config(disable=True)
    np.testing.assert_allclose(off, _run(plain), atol=1e-6)
    assert np.abs(with_cn - off).max() > 1e-4   # the residuals really reach the pruned UNet


def test_pruned_class_checks_the_residuals_at_the_first_unet_call(models, components):
    """PrunedUNet2DConditionModel refuses residuals that do not fit before any denoising step, without
    the user calling controlnet_compatibility; residuals that fit give the plain class's image."""
    import copy

    from diffusers import StableDiffusionControlNetPipeline

    from ldprune_deploy.pruned import PrunedUNet2DConditionModel, as_pruned

    _, _, pruned, cn = models
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    ok = as_pruned(copy.deepcopy(pruned))
    assert isinstance(ok, PrunedUNet2DConditionModel)
    pipe = StableDiffusionControlNetPipeline(unet=ok, controlnet=cn, **components)
    pipe.set_progress_bar_config(disable=True)
    plain = StableDiffusionControlNetPipeline(unet=pruned, controlnet=cn, **components)
    plain.set_progress_bar_config(disable=True)
    np.testing.assert_allclose(_run(pipe, image=image), _run(plain, image=image), atol=1e-6)
    broken = copy.deepcopy(pruned)
    set_model_plan(broken, model_plan(pruned))
    broken.down_blocks[0].attentions[0] = _Half()
    broken.down_blocks[0].resnets[1] = _Widen(16, 32)
    calls = []
    # the check's own trace stops before the up blocks: an up block running means a denoising step ran
    broken.up_blocks[0].register_forward_hook(lambda *_: calls.append(1))
    as_pruned(broken)
    bad = StableDiffusionControlNetPipeline(unet=broken, controlnet=cn, **components)
    bad.set_progress_bar_config(disable=True)
    with pytest.raises(LdpruneError, match=r"at down_blocks\.0\.attentions\.0: residual 1 has 32 channels.*16 channels"):
        _run(bad, image=image)
    assert calls == []   # refused before the UNet completed a single call


def test_residual_check_follows_the_unets_rounding_on_odd_latent_sides(models):
    """A latent side that is not a multiple of the downsampling (diffusers rounds each halving up) is
    accepted when the residuals are the ControlNet's own, and the result equals the unchecked call."""
    import copy

    from ldprune_deploy.pruned import as_pruned

    _, _, pruned, cn = models
    checked = as_pruned(copy.deepcopy(pruned))
    g = torch.Generator().manual_seed(3)
    sample = torch.randn(1, pruned.config.in_channels, 11, 13, generator=g)
    text = torch.randn(1, 4, pruned.config.cross_attention_dim, generator=g)
    cond = torch.rand(1, 3, 88, 104, generator=g)
    with torch.no_grad():
        down, mid = cn(sample, 5, encoder_hidden_states=text, controlnet_cond=cond, return_dict=False)
        want = pruned(sample, 5, text, down_block_additional_residuals=down, mid_block_additional_residual=mid).sample
        got = checked(sample, 5, text, down_block_additional_residuals=down, mid_block_additional_residual=mid).sample
        torch.testing.assert_close(got, want)
        with pytest.raises(LdpruneError, match="mid residual has"):
            checked(sample, 5, text, down_block_additional_residuals=down, mid_block_additional_residual=mid[..., :-1])


@pytest.fixture(scope="module")
def dynamic_export(models, tmp_path_factory):
    """The pruned UNet exported with residual inputs and a dynamic resolution (64..128 px: latent 8..16)."""
    from ldprune_deploy.exporter import ExportConfig, export

    _, _, pruned, _ = models
    return export(pruned, ExportConfig(output=str(tmp_path_factory.mktemp("cn") / "cn"), precision="fp32",
                                       batch="1:1:2", resolution="64:128:128", controlnet=True))


def test_onnx_export_with_residual_inputs_matches_torch(models, dynamic_export):
    import onnxruntime as ort

    from ldprune_deploy.exporter import read_manifest

    _, _, pruned, _ = models
    out = dynamic_export
    man = read_manifest(out)
    assert man["check"]["passed"] and man["check"]["rel_l2"] < 1e-4 and man["config"]["controlnet"]
    names = [i["name"] for i in man["io"]["inputs"]]
    assert names == ["sample", "timestep", "encoder_hidden_states",
                     *[f"down_block_res_{i}" for i in range(6)], "mid_block_res"]
    shapes = {i["name"]: i["shape"] for i in man["io"]["inputs"]}
    assert isinstance(shapes["down_block_res_0"][2], str) and isinstance(shapes["mid_block_res"][3], str)
    # our own random residuals at another resolution in range (64 px -> latent 8)
    g = torch.Generator().manual_seed(3)
    sample, ehs = torch.randn(1, 4, 8, 8, generator=g), torch.randn(1, 8, 32, generator=g)
    t = torch.tensor([300])
    produced, mid = unet_residuals(pruned, 8)
    down = tuple(torch.randn(s, generator=g) for _, s in produced)
    mid_res = torch.randn(mid, generator=g)
    with torch.no_grad():
        ref = pruned(sample, t, ehs, down_block_additional_residuals=down, mid_block_additional_residual=mid_res,
                     return_dict=False)[0].numpy()
        base = pruned(sample, t, ehs, return_dict=False)[0].numpy()
    sess = ort.InferenceSession(str(out / "unet.onnx"), providers=["CPUExecutionProvider"])
    feeds = {"sample": sample.numpy(), "timestep": t.numpy(), "encoder_hidden_states": ehs.numpy(),
             **{f"down_block_res_{i}": d.numpy() for i, d in enumerate(down)}, "mid_block_res": mid_res.numpy()}
    got = sess.run(["out_sample"], feeds)[0]
    rel = np.linalg.norm(got - ref) / np.linalg.norm(ref)
    assert got.shape == (1, 4, 8, 8) and rel < 1e-4 and np.abs(got - ref).max() < 1e-3
    assert np.abs(ref - base).max() > 1e-3   # the residual inputs are used


def test_dynamic_resolution_export_sizes_each_residual_from_its_block(models, dynamic_export):
    """The ort-* runners' input shapes and TensorRT's profile give every residual the shape the pruned down path
    produces at that latent size (its block's downsampling; symbolic in the graph), at each resolution in range."""
    from ldprune_deploy.exporter import read_manifest
    from ldprune_deploy.exporter.tensorrt import profile_shapes
    from ldprune_deploy.runners.ort_static import input_shapes

    _, _, pruned, _ = models
    man = read_manifest(dynamic_export)
    io = [(i["name"], i["shape"]) for i in man["io"]["inputs"]]

    def produced(latent: int, batch: int) -> dict:
        down, mid = unet_residuals(pruned, latent, batch=batch)
        return {**{f"down_block_res_{i}": list(s) for i, (_, s) in enumerate(down)}, "mid_block_res": list(mid)}

    for res in (64, 96, 128):
        want = produced(res // 8, 2)
        shapes = input_shapes(io, man, batch=2, res=res)
        assert {k: shapes[k] for k in want} == want, res
    assert want["down_block_res_5"][2:] == [8, 8] and want["down_block_res_0"][2:] == [16, 16]
    prof = profile_shapes(man)
    for k, (lat, batch) in enumerate(zip(man["ranges"]["latent"], man["ranges"]["batch"])):
        want = produced(lat, batch)
        assert {n: list(prof[n][k]) for n in want} == want, k


def test_dynamic_resolution_controlnet_export_runs_in_the_ort_runner(dynamic_export):
    from ldprune_deploy.runners import RunSpec, get_runner

    runner = get_runner("ort-cpu")
    for res, opts in ((64, {}), (128, {}), (64, {"fold_shapes": True})):
        stats = runner.measure(str(dynamic_export), None, RunSpec(batch=1, dtype="fp32", resolution=res, warmup=1,
                                                                   iters=2, options=opts))
        assert stats.n == 2 and stats.extra["resolution"] == res


def test_controlnet_export_refused_for_unconditional_unet(tmp_path):
    from ldprune_deploy.exporter import ExportConfig, export

    with pytest.raises(LdpruneError, match="takes no ControlNet residuals"):
        export("tiny-uncond", ExportConfig(output=str(tmp_path / "u"), precision="fp32", batch="1",
                                           controlnet=True))
    assert not (tmp_path / "u").exists()


def test_fixed_resolution_controlnet_export_runs_in_the_ort_runner(tmp_path):
    """At a fixed resolution the residual inputs have static spatial axes, so the runners can feed them."""
    from ldprune_deploy.exporter import ExportConfig, export, read_manifest
    from ldprune_deploy.runners import RunSpec, get_runner

    out = export("tiny-t2i", ExportConfig(output=str(tmp_path / "fixed"), precision="fp32", batch="1",
                                          controlnet=True))
    shapes = {i["name"]: i["shape"] for i in read_manifest(out)["io"]["inputs"]}
    assert shapes["down_block_res_3"][1:] == [32, 8, 8] and shapes["mid_block_res"][1:] == [64, 8, 8]
    stats = get_runner("ort-cpu").measure(str(out), None, RunSpec(batch=1, dtype="fp32", warmup=1, iters=2))
    assert stats.n == 2 and stats.median_ms > 0
