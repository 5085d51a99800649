import json
import os

import pytest
import torch

from ldprune_deploy.jsonio import atomic_output_dir
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.models import example_inputs
from ldprune_deploy.artifacts import Modification, PrunePlan
from ldprune_deploy.surgery import apply_plan, load_pruned, save_pruned
from ldprune_deploy.surgery.mods import _ff_layers
from ldprune_deploy.unet import model_plan

T2I_MODS = [
    ("down_blocks.0.attentions.0", "remove"),
    ("down_blocks.0.attentions.1.transformer_blocks.0.attn1", "width:0.5"),
    ("down_blocks.0.attentions.1.transformer_blocks.0.attn2", "remove"),
    ("down_blocks.0.attentions.1.transformer_blocks.0.ff", "width:0.25"),
    ("down_blocks.0.resnets.1", "width:0.5"),
    ("down_blocks.1.resnets.0", "shortcut"),
    ("mid_block.resnets.0", "remove"),
    ("mid_block.attentions.0.transformer_blocks.0.ff", "remove"),
    ("up_blocks.1.attentions.0.transformer_blocks.0.attn1", "remove"),
    ("up_blocks.1.resnets.2", "width:0.75"),
]


def _plan(info, mods=T2I_MODS, **kw):
    return PrunePlan(info.fingerprint, [Modification(o, m) for o, m in mods], model=info.name, **kw)


def _index(t, idx, dim):
    return t.index_select(dim, torch.tensor(idx))


def test_apply_plan_preserves_every_surviving_weight_and_never_mutates(tiny_t2i):
    unet, info = tiny_t2i
    before = {k: v.clone() for k, v in unet.state_dict().items()}
    pruned = apply_plan(unet, _plan(info))
    assert all(torch.equal(v, before[k]) for k, v in unet.state_dict().items())  # original untouched
    orig = unet.state_dict()
    keep = {m.operator: m.keep for m in model_plan(pruned).modifications}
    checked = 0
    for k, v in pruned.state_dict().items():
        assert k in orig, f"new parameter {k} appeared"
        if v.shape == orig[k].shape:
            assert torch.equal(v, orig[k]), k
            checked += 1
    # narrowed operators: the kept rows/columns are bit-identical slices of the original
    res = "down_blocks.0.resnets.1"
    per = unet.get_submodule(res).conv1.out_channels // unet.get_submodule(res).norm2.num_groups
    ch = [g * per + i for g in keep[res] for i in range(per)]
    assert torch.equal(pruned.state_dict()[f"{res}.conv1.weight"], _index(orig[f"{res}.conv1.weight"], ch, 0))
    assert torch.equal(pruned.state_dict()[f"{res}.conv2.weight"], _index(orig[f"{res}.conv2.weight"], ch, 1))
    assert torch.equal(pruned.state_dict()[f"{res}.norm2.weight"], _index(orig[f"{res}.norm2.weight"], ch, 0))
    att = "down_blocks.0.attentions.1.transformer_blocks.0.attn1"
    dh = unet.get_submodule(att).to_q.out_features // unet.get_submodule(att).heads
    rows = [h * dh + j for h in keep[att] for j in range(dh)]
    assert torch.equal(pruned.state_dict()[f"{att}.to_q.weight"], _index(orig[f"{att}.to_q.weight"], rows, 0))
    assert torch.equal(pruned.state_dict()[f"{att}.to_out.0.weight"], _index(orig[f"{att}.to_out.0.weight"], rows, 1))
    ff = "down_blocks.0.attentions.1.transformer_blocks.0.ff"
    inner = _ff_layers(unet.get_submodule(ff))[1].in_features
    gated_rows = keep[ff] + [i + inner for i in keep[ff]]
    assert torch.equal(pruned.state_dict()[f"{ff}.net.0.proj.weight"], _index(orig[f"{ff}.net.0.proj.weight"], gated_rows, 0))
    assert checked > 50


def test_width_keeps_largest_magnitude_heads(tiny_t2i):
    import copy

    unet, info = tiny_t2i
    unet = copy.deepcopy(unet)
    op = "mid_block.attentions.0.transformer_blocks.0.attn1"
    attn = unet.get_submodule(op)
    dh = attn.to_q.out_features // attn.heads
    with torch.no_grad():  # make head 3 by far the strongest, head 0 the weakest
        for lin in (attn.to_q, attn.to_k, attn.to_v):
            lin.weight[3 * dh:4 * dh] *= 10
            lin.weight[0:dh] *= 0.01
        attn.to_out[0].weight[:, 3 * dh:4 * dh] *= 10
    pruned = apply_plan(unet, _plan(info, [(op, "width:0.5")]))
    kept = model_plan(pruned).modifications[0].keep
    assert pruned.get_submodule(op).heads == 2
    assert 3 in kept and 0 not in kept and kept == sorted(kept)


def test_save_load_round_trip_is_exact(tmp_path, tiny_model):
    unet, info = tiny_model
    from ldprune_deploy.catalogue import build_catalogue

    cands = build_catalogue(unet, info, flops=False).candidates()
    chosen, seen = [], []
    for op, mod in cands:
        if not any(op == s or op.startswith(s + ".") or s.startswith(op + ".") for s in seen) and len(chosen) < 8:
            chosen.append((op, mod))
            seen.append(op)
    pruned = apply_plan(unet, _plan(info, chosen))
    out = save_pruned(pruned, tmp_path / "pruned")
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "diffusion_pytorch_model.safetensors", "prune_plan.json"]
    loaded = load_pruned(out)
    x = example_inputs(unet, info, batch=2)
    with torch.no_grad():
        assert torch.equal(loaded(**x).sample, pruned(**x).sample)
    assert all(torch.equal(v, pruned.state_dict()[k]) for k, v in loaded.state_dict().items())
    # the loader of every stage accepts the pruned folder as a model
    from ldprune_deploy.models import load_model

    again, info2 = load_model(str(out))
    assert info2.source == "pruned" and info2.fingerprint == info.fingerprint


def test_conflicting_modifications_rejected(tiny_t2i):
    unet, info = tiny_t2i
    plan = _plan(info, [("down_blocks.0.attentions.0", "remove"),
                        ("down_blocks.0.attentions.0.transformer_blocks.0.ff", "width:0.5")])
    with pytest.raises(LdpruneError, match="inside it"):
        apply_plan(unet, plan)
    with pytest.raises(LdpruneError, match="inside it"):
        apply_plan(unet, _plan(info, [("mid_block.resnets.0", "remove"), ("mid_block.resnets.0", "width:0.5")]))


def test_unknown_operator_and_illegal_modification(tiny_t2i):
    unet, info = tiny_t2i
    with pytest.raises(LdpruneError, match="no operator 'down_blocks.9.resnets.0'"):
        apply_plan(unet, _plan(info, [("down_blocks.9.resnets.0", "remove")]))
    with pytest.raises(LdpruneError, match="not legal") as e:
        apply_plan(unet, _plan(info, [("down_blocks.1.resnets.0", "remove")]))  # channels change
    assert "shortcut" in e.value.fix
    with pytest.raises(LdpruneError, match="not legal"):
        apply_plan(unet, _plan(info, [("conv_in", "remove")]))
    bad_keep = PrunePlan(info.fingerprint, [Modification("mid_block.resnets.0", "width:0.5", keep=[0, 0])])
    with pytest.raises(LdpruneError, match="distinct units"):
        apply_plan(unet, bad_keep)


def test_plan_for_another_model_refused_unless_forced(tiny_t2i, tiny_uncond):
    unet, info = tiny_t2i
    plan = PrunePlan(tiny_uncond[1].fingerprint, [Modification("mid_block.resnets.0", "remove")], model="tiny-uncond")
    with pytest.raises(LdpruneError, match="fingerprint") as e:
        apply_plan(unet, plan)
    assert "--force" in e.value.fix
    assert apply_plan(unet, plan, force=True) is not None


def test_malformed_and_truncated_plan_json(tmp_path, tiny_t2i):
    _, info = tiny_t2i
    p = tmp_path / "plan.json"
    _plan(info).save(p)
    text = p.read_text()
    p.write_text(text[: len(text) // 2])
    with pytest.raises(LdpruneError, match="not valid JSON"):
        PrunePlan.load(p)
    p.write_text(json.dumps({"schema": "ldprune.plan/1", "model_fingerprint": "x", "modifications": [{"op": 1}]}))
    with pytest.raises(LdpruneError, match="malformed"):
        PrunePlan.load(p)
    p.write_text(json.dumps({"schema": "ldprune.scores/1"}))
    with pytest.raises(LdpruneError, match="expected 'ldprune.plan'"):
        PrunePlan.load(p)
    p.write_text(json.dumps({"modifications": []}))
    with pytest.raises(LdpruneError, match="no 'schema'"):
        PrunePlan.load(p)


def test_output_dir_not_overwritten_and_never_partial(tmp_path, tiny_t2i):
    unet, info = tiny_t2i
    pruned = apply_plan(unet, _plan(info))
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("user data")
    with pytest.raises(LdpruneError, match="not empty"):
        save_pruned(pruned, out)
    assert (out / "mine.txt").read_text() == "user data"
    # a failure half-way leaves neither a partial folder nor temp files behind
    target = tmp_path / "fresh"
    with pytest.raises(RuntimeError):
        with atomic_output_dir(target) as tmp:
            (tmp / "half.bin").write_bytes(b"x")
            raise RuntimeError("disk full")
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    save_pruned(pruned, out, overwrite=True)
    assert not (out / "mine.txt").exists() and (out / "prune_plan.json").exists()
    assert not os.listdir(tmp_path) or all(not n.endswith(".tmp") for n in os.listdir(tmp_path))


def test_pruned_unet_drops_into_diffusers_pipelines(tmp_path, tiny_t2i, tiny_uncond):
    from diffusers import AutoencoderKL, DDIMScheduler, DDPMPipeline, DDPMScheduler, StableDiffusionPipeline

    unet, info = tiny_uncond
    pruned = load_pruned(save_pruned(apply_plan(unet, _plan(info, [("mid_block.attentions.0", "remove"),
                                                                    ("down_blocks.0.resnets.1", "width:0.5")])),
                                     tmp_path / "u"))
    pipe = DDPMPipeline(unet=pruned, scheduler=DDPMScheduler(num_train_timesteps=50))
    img = pipe(batch_size=2, num_inference_steps=3, generator=torch.Generator().manual_seed(0), output_type="np").images
    assert img.shape == (2, 16, 16, 3)

    unet, info = tiny_t2i
    pruned = load_pruned(save_pruned(apply_plan(unet, _plan(info)), tmp_path / "c"))
    torch.manual_seed(0)
    vae = AutoencoderKL(block_out_channels=[8, 8, 8, 8], norm_num_groups=4, latent_channels=4, sample_size=128,
                        down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4)
    sd = StableDiffusionPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=pruned, scheduler=DDIMScheduler(),
                                 safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    emb = torch.randn(1, 8, 32)
    out = sd(prompt_embeds=emb, negative_prompt_embeds=torch.zeros_like(emb), num_inference_steps=2,
             height=128, width=128, output_type="np").images
    assert out.shape == (1, 128, 128, 3)
