"""Distillation stage on tiny models (CPU): loss, data, refusals, resume, CLI."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch
from _distill_helpers import make_student, write_latents

from ldprune_deploy.distillation import (DistillConfig, DistillData, distill, distill_loss, feature_term,
                                         prompt_term)
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.surgery import load_pruned
from ldprune_deploy.unet import model_plan


@pytest.fixture(scope="module")
def t2i_student(tmp_path_factory):
    return make_student("tiny-t2i", tmp_path_factory.mktemp("s") / "t2i")


@pytest.fixture(scope="module")
def uncond_student(tmp_path_factory):
    return make_student("tiny-uncond", tmp_path_factory.mktemp("s") / "uncond")


def _history(out):
    return json.loads((out / "losses.json").read_text())["history"]


def test_normalized_mode_balances_terms_of_1000x_different_magnitude():
    g = torch.Generator().manual_seed(0)
    small = torch.randn(4, 8, 6, 6, generator=g)
    big = 1000.0 * torch.randn(4, 16, 3, 3, generator=g)
    # the same 10 % relative error on both stages
    fs = {"a": small * (1 + 0.1 * torch.randn(small.shape, generator=g)),
          "b": big * (1 + 0.1 * torch.randn(big.shape, generator=g))}
    ft = {"a": small, "b": big}
    eps = torch.randn(4, 4, 8, 8, generator=g)
    _, norm = distill_loss(eps, eps, eps, fs, ft, mode="normalized")
    _, plain = distill_loss(eps, eps, eps, fs, ft, mode="plain")
    assert plain["feat/b"] / plain["feat/a"] > 1e5          # plain: the large stage dominates
    assert 0.5 < norm["feat/b"] / norm["feat/a"] < 2.0      # normalized: comparable
    assert norm["feat/a"] == pytest.approx(0.01, rel=0.2)   # = relative squared error
    assert norm["task"] == 0.0 and norm["out"] == 0.0
    assert norm["feat"] == pytest.approx(norm["feat/a"] + norm["feat/b"])
    # the gradient each stage sends back is balanced too
    fa, fb = fs["a"].clone().requires_grad_(), fs["b"].clone().requires_grad_()
    (feature_term(fa, ft["a"], "normalized") + feature_term(fb, ft["b"], "normalized")).backward()
    rel_a, rel_b = (fa.grad * small).norm() / fa.numel() ** 0.5, (fb.grad * big).norm() / fb.numel() ** 0.5
    assert 0.2 < float(rel_a / rel_b) < 5.0


def test_feature_shape_mismatch_is_a_clear_error():
    with pytest.raises(LdpruneError, match="feature shape"):
        feature_term(torch.zeros(1, 2, 3, 3), torch.zeros(1, 2, 4, 4), "plain")


def test_prompt_term_is_the_relative_error_of_the_caption_effect():
    g = torch.Generator().manual_seed(0)
    t_c, t_u = torch.randn(3, 4, 8, 8, generator=g), torch.randn(3, 4, 8, 8, generator=g)
    assert prompt_term(t_c, t_u, t_c, t_u) == 0.0
    s_c = t_c + 0.1 * torch.randn(t_c.shape, generator=g)
    assert prompt_term(s_c, t_u, t_c, t_u) > 0
    # a dropped caption (teacher effect exactly 0) contributes 0 however far off the student is there
    t_c[2] = t_u[2]
    s_far = s_c.clone()
    s_far[2] += 100.0
    rows = [float(prompt_term(s_c[i:i + 1], t_u[i:i + 1], t_c[i:i + 1], t_u[i:i + 1])) for i in range(2)]
    assert float(prompt_term(s_far, t_u, t_c, t_u)) == pytest.approx(sum(rows) / 3)
    # by hand: row 0 teacher effect [1, 2] (mean square 2.5), student effect [1, 1] -> 0.5 / 2.5;
    # row 1 has no teacher effect -> 0; the mean over both rows is 0.1
    tc, tu = torch.tensor([[1.0, 3.0], [2.0, 2.0]]), torch.tensor([[0.0, 1.0], [2.0, 2.0]])
    sc, su = torch.tensor([[1.0, 1.0], [5.0, 0.0]]).requires_grad_(), torch.zeros(2, 2)
    tc.requires_grad_()
    assert float(prompt_term(sc, su, tc, tu).detach()) == pytest.approx(0.1)
    # in distill_loss: weighted into the total, reported only when enabled, teacher side detached
    feats = {"a": torch.ones(2, 3)}
    total, terms = distill_loss(sc, sc.detach(), tc, feats, feats, uncond=(su, tu), lambda_prompt=2.0)
    assert terms["prompt"] == pytest.approx(0.1) and terms["feat"] == 0.0
    assert terms["total"] == pytest.approx(terms["out"] + 2.0 * 0.1)
    total.backward()
    assert sc.grad is not None and tc.grad is None
    assert "prompt" not in distill_loss(sc, sc, tc, feats, feats)[1]


def test_loss_decreases_over_20_steps(t2i_student, tmp_path):
    g = torch.Generator().manual_seed(1)
    data = DistillData(torch.randn(8, 4, 16, 16, generator=g), torch.randn(8, 8, 32, generator=g))
    out = tmp_path / "run"
    final = distill("tiny-t2i", t2i_student, DistillConfig(output=out, steps=20, batch_size=2, lr=1e-3, data=data,
                                                            progress=False))
    h = _history(out)
    assert [r["step"] for r in h] == list(range(1, 21))
    first, last = sum(r["total"] for r in h[:5]) / 5, sum(r["total"] for r in h[-5:]) / 5
    assert last < 0.8 * first, (first, last)
    for k in ("task", "out", "feat", "feat/down_blocks.0", "feat/mid_block", "feat/up_blocks.1"):
        assert k in h[0]
    student = load_pruned(final)
    assert model_plan(student).meta["distill"]["steps"] == 20
    assert (out / "losses.png").stat().st_size > 1000
    mem = json.loads((out / "memory.json").read_text())
    assert mem["activation_bytes"] > 0 and mem["optimizer_bytes"] == 8 * mem["student_params"]


def _t2i_beside_plain(student, out, seed: int, steps: int, batch: int, **variant):
    """The same short text-to-image run with ``variant`` (in OUT/v) and without it (OUT/plain): both histories
    and the run's config (``cfg``, for more runs on the same data)."""
    g = torch.Generator().manual_seed(seed)
    data = DistillData(torch.randn(4, 4, 16, 16, generator=g), torch.randn(4, 8, 32, generator=g))
    cfg = dict(steps=steps, batch_size=batch, lr=1e-3, data=data, progress=False, save_final=False)
    distill("tiny-t2i", student, DistillConfig(output=out / "v", **variant, **cfg))
    distill("tiny-t2i", student, DistillConfig(output=out / "plain", **cfg))
    return _history(out / "v"), _history(out / "plain"), cfg


def test_prompt_kd_run_records_the_term_and_keeps_the_conditional_terms(t2i_student, tmp_path):
    h, plain, _ = _t2i_beside_plain(t2i_student, tmp_path, seed=2, steps=3, batch=2, lambda_prompt=0.5)
    assert len(h) == 3 and "prompt" not in plain[0]
    for r in h:
        assert torch.isfinite(torch.tensor(r["prompt"])) and r["prompt"] > 0  # a pruned student is off
        assert r["total"] == pytest.approx(r["task"] + r["out"] + r["feat"] + 0.5 * r["prompt"], rel=1e-5)
    # step 1 (same initial student, same batch): the conditional half of the doubled batch gives
    # the terms of a plain run, so the slicing of outputs and features is right
    for k in ("task", "out", "feat", "feat/down_blocks.0", "feat/mid_block", "feat/up_blocks.1"):
        assert h[0][k] == pytest.approx(plain[0][k], rel=1e-4), k
    assert json.loads((tmp_path / "v" / "summary.json").read_text())["config"]["lambda_prompt"] == 0.5


def test_prompt_kd_on_an_unconditional_teacher_is_refused(uncond_student, tmp_path):
    data = write_latents(tmp_path / "lat.safetensors", 2, 3)
    with pytest.raises(LdpruneError, match="text-conditional teacher") as e:
        distill("tiny-uncond", uncond_student, DistillConfig(output=tmp_path / "o", steps=1, data=data,
                                                             lambda_prompt=1.0, progress=False))
    assert "--lambda-prompt" in str(e.value)


def test_caption_mix_keeps_the_old_stream_and_blends_only_kd_rows():
    from ldprune_deploy.distillation.stage import BatchPlan, mix_captions

    plain = BatchPlan(10, (4, 8, 8), DistillConfig(output="x", batch_size=6), 1, 0, 1000)
    mixed = BatchPlan(10, (4, 8, 8), DistillConfig(output="x", batch_size=6, caption_mix=0.5, cond_dropout=0.3), 1, 0,
                      1000)
    a, b = plain(3, 0), mixed(3, 0)
    for k in ("idx", "noise", "t", "flip"):   # the draws a run without mixing made are unchanged
        assert torch.equal(a[k], b[k]), k
    assert not a["mix"].any()
    emb = torch.randn(10, 5, 7)
    b = {"mix": torch.tensor([True, True, False, False]), "partner": torch.tensor([3, 4, 5, 6]),
         "lam": torch.tensor([0.25, 0.5, 0.9, 0.9]), "idx": torch.tensor([0, 1, 2, 7])}
    drop = torch.tensor([False, True, False, True])
    ctx, w = mix_captions(emb[b["idx"]], emb, b, drop, share=0.5)
    assert torch.allclose(ctx[0], 0.25 * emb[0] + 0.75 * emb[3])
    for i, own in ((1, 1), (2, 2), (3, 7)):   # a dropped caption is not blended (it is emptied later)
        assert torch.equal(ctx[i], emb[own]), i
    assert w.tolist() == [0.0, 2.0, 2.0, 2.0]   # no task on the blend; the others keep the expected weight


def test_task_weight_removes_a_rows_task_gradient_but_not_its_kd():
    eps_s = torch.randn(2, 4, 8, 8, requires_grad=True)
    target, eps_t = torch.randn(2, 4, 8, 8), torch.randn(2, 4, 8, 8)
    w = torch.tensor([0.0, 2.0])
    total, terms = distill_loss(eps_s, target, eps_t, {}, {}, lambda_out=0.0, task_weight=w)
    rows = (eps_s - target).pow(2).flatten(1).mean(1).detach()
    assert terms["task"] == pytest.approx(float(rows[1]), rel=1e-5)   # (0 * row0 + 2 * row1) / 2
    total.backward()
    assert eps_s.grad[0].abs().max() == 0 and eps_s.grad[1].abs().max() > 0
    eps_s.grad = None
    distill_loss(eps_s, target, eps_t, {}, {}, lambda_task=0.0, task_weight=w)[0].backward()
    assert eps_s.grad[0].abs().max() > 0   # output KD still trains the blended row


def test_caption_mix_run_and_refusals(t2i_student, uncond_student, tmp_path):
    m, plain, cfg = _t2i_beside_plain(t2i_student, tmp_path, seed=3, steps=2, batch=4, caption_mix=0.5)
    # step 1 sees the same images, noise and timesteps: blended captions change the KD terms
    assert m[0]["out"] != pytest.approx(plain[0]["out"], rel=1e-6)
    assert all(torch.isfinite(torch.tensor(r["total"])) for r in m)
    assert json.loads((tmp_path / "v" / "summary.json").read_text())["config"]["caption_mix"] == 0.5
    with pytest.raises(LdpruneError, match="text-conditional teacher") as e:
        distill("tiny-uncond", uncond_student, DistillConfig(output=tmp_path / "u", steps=1, progress=False,
                                                             data=write_latents(tmp_path / "l.safetensors", 2, 3),
                                                             caption_mix=0.5))
    assert "--caption-mix" in str(e.value)
    with pytest.raises(LdpruneError, match=r"\[0, 1\)"):
        distill("tiny-t2i", t2i_student, DistillConfig(output=tmp_path / "one", caption_mix=1.0, **cfg))
    assert not (tmp_path / "one").exists()


@pytest.mark.parametrize("pred", ["epsilon", "v_prediction", "sample"])
def test_snr_weights_are_the_min_snr_recipe(pred):
    """diffusers' train_text_to_image --snr_gamma: min(SNR, gamma) / SNR for epsilon, / (SNR + 1) for v;
    min(SNR, gamma) for x0 targets (an epsilon loss is SNR times the x0 loss)."""
    from ldprune_deploy.distillation.setup import noise_scheduler, snr_weights

    sched, _ = noise_scheduler(SimpleNamespace(vae_scale_factor=8), DistillConfig(output="x", prediction_type=pred))
    t = torch.tensor([0, 50, 150, 500, 999])
    ac = sched.alphas_cumprod[t].double()
    snr = ac / (1 - ac)
    cap = snr.clamp(max=5.0)
    want = {"epsilon": cap / snr, "v_prediction": cap / (snr + 1), "sample": cap}[pred]
    w = snr_weights(sched, t, 5.0, pred)
    assert torch.allclose(w.double(), want, rtol=1e-4)
    if pred == "epsilon":   # low noise capped, high noise untouched
        assert w[0] < 0.01 and w[-1] == pytest.approx(1.0) and bool((w <= 1.0 + 1e-6).all())


def test_row_weight_scales_task_and_output_kd_but_not_features():
    g = torch.Generator().manual_seed(0)
    eps_s, target, eps_t = (torch.randn(3, 4, 8, 8, generator=g) for _ in range(3))
    fs, ft = {"mid": torch.randn(3, 6, 4, 4, generator=g)}, {"mid": torch.randn(3, 6, 4, 4, generator=g)}
    w, tw = torch.tensor([0.5, 1.0, 0.0]), torch.tensor([2.0, 0.0, 1.0])
    _, plain = distill_loss(eps_s, target, eps_t, fs, ft)
    _, weighted = distill_loss(eps_s, target, eps_t, fs, ft, row_weight=w, task_weight=tw)
    rows = lambda a, b: (a - b).pow(2).flatten(1).mean(1)  # noqa: E731
    assert weighted["task"] == pytest.approx(float((rows(eps_s, target) * w * tw).mean()), rel=1e-5)
    assert weighted["out"] == pytest.approx(float((rows(eps_s, eps_t) * w).mean()), rel=1e-5)
    assert weighted["feat"] == pytest.approx(plain["feat"], rel=1e-6)


def test_snr_gamma_run_weights_step_one_and_refuses_a_bad_cap(t2i_student, tmp_path):
    h, plain, cfg = _t2i_beside_plain(t2i_student, tmp_path, seed=4, steps=2, batch=4, snr_gamma=5.0)
    # step 1: same student, images, noise and timesteps; epsilon weights are <= 1 and feature KD is unweighted
    assert h[0]["task"] <= plain[0]["task"] and h[0]["out"] <= plain[0]["out"]
    assert (h[0]["task"], h[0]["out"]) != pytest.approx((plain[0]["task"], plain[0]["out"]), rel=1e-6)
    assert h[0]["feat"] == pytest.approx(plain[0]["feat"], rel=1e-5)
    assert json.loads((tmp_path / "v" / "summary.json").read_text())["config"]["snr_gamma"] == 5.0
    for bad in (0.0, -1.0):
        with pytest.raises(LdpruneError, match="--snr-gamma"):
            distill("tiny-t2i", t2i_student, DistillConfig(output=tmp_path / "bad", snr_gamma=bad, **cfg))
    assert not (tmp_path / "bad").exists()


def _uncond_cfg(out, data, **kw):
    base = dict(output=out, steps=6, batch_size=2, grad_accum=2, lr=2e-3, data=data, ema_decay=0.9,
                checkpoint_every=3, warmup_steps=2, lr_schedule="cosine", random_flip=True, progress=False)
    return DistillConfig(**{**base, **kw})


def test_resume_equals_uninterrupted_run(uncond_student, tmp_path):
    data = write_latents(tmp_path / "lat.safetensors", 6, 3)
    full = tmp_path / "full"
    distill("tiny-uncond", uncond_student, _uncond_cfg(full, data))

    class Crash(Exception):
        pass

    def crash(step, model):
        if step == 4:  # step 3 is checkpointed, step 4 done but lost, crash inside step 5
            raise Crash()

    part = tmp_path / "part"
    with pytest.raises(Crash):
        distill("tiny-uncond", uncond_student, _uncond_cfg(part, data), on_grads=crash)
    assert [p.name for p in (part / "checkpoints").iterdir()] == ["step-00000003"]
    distill("tiny-uncond", uncond_student, _uncond_cfg(part, data, resume=True))
    keys = ("total", "task", "out", "feat", "lr", "grad_norm")
    assert [[r[k] for k in keys] for r in _history(part)] == [[r[k] for k in keys] for r in _history(full)]
    for folder in ("model", "model-raw"):
        a, b = load_pruned(full / folder).state_dict(), load_pruned(part / folder).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), folder
    # EMA and raw weights differ (the EMA really is an average)
    raw, ema = load_pruned(full / "model-raw").state_dict(), load_pruned(full / "model").state_dict()
    assert any(not torch.equal(raw[k], ema[k]) for k in raw)
    # a resume with other loss settings is refused rather than silently diverging
    with pytest.raises(LdpruneError, match="cannot resume exactly"):
        distill("tiny-uncond", uncond_student, _uncond_cfg(part, data, resume=True, lr=1e-2))
    # a checkpoint written before lambda_prompt existed resumes as lambda_prompt=0
    state = part / "checkpoints" / "step-00000006" / "state.json"
    st = json.loads(state.read_text())
    del st["config"]["lambda_prompt"]
    state.write_text(json.dumps(st))
    distill("tiny-uncond", uncond_student, _uncond_cfg(part, data, resume=True))
    assert len(_history(part)) == 6


def test_student_not_derived_from_teacher_is_refused(uncond_student, tmp_path):
    data = write_latents(tmp_path / "lat.safetensors", 2, 4, emb=(8, 32))
    with pytest.raises(LdpruneError, match="pruned from model"):
        distill("tiny-t2i", uncond_student, DistillConfig(output=tmp_path / "o", steps=1, data=data))
    from ldprune_deploy.models import load_model

    plain, _ = load_model("tiny-t2i", quiet=True)
    with pytest.raises(LdpruneError, match="not a pruned model"):
        distill("tiny-t2i", plain, DistillConfig(output=tmp_path / "o", steps=1, data=data))


def test_empty_or_missing_data_folder(t2i_student, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(LdpruneError, match="holds no images"):
        distill("tiny-t2i", t2i_student, DistillConfig(output=tmp_path / "o1", steps=1, data=tmp_path / "empty"))
    with pytest.raises(LdpruneError, match="not found"):
        distill("tiny-t2i", t2i_student, DistillConfig(output=tmp_path / "o2", steps=1, data=tmp_path / "nope"))
    with pytest.raises(LdpruneError, match="no training data"):
        distill("tiny-t2i", t2i_student, DistillConfig(output=tmp_path / "o3", steps=1))


def test_cli_data_free_run_and_refusals(uncond_student, tmp_path, capsys):
    from ldprune_deploy.cli import main

    out = tmp_path / "cli"
    args = ["distill", "--teacher", "tiny-uncond", "--student", str(uncond_student), "--data-free",
            "--n-samples", "4", "--gen-steps", "2", "--steps", "3", "--batch-size", "2", "--ema", "0.9",
            "--no-progress", "-o", str(out)]
    assert main(args) == 0
    h = _history(out)
    assert len(h) == 3 and all(r["total"] > 0 for r in h)
    assert json.loads((out / "summary.json").read_text())["data"] == "data-free"
    assert model_plan(load_pruned(out / "model")).meta["distill"]["data"] == "data-free"
    assert main(args) == 2  # OUT is not empty: refused without --resume/--overwrite
    assert "--resume" in capsys.readouterr().err
    assert main(args[:-2] + ["--prompts", "x.txt", "-o", str(tmp_path / "c2")]) == 2  # prompts, uncond UNet


def test_bf16_student_and_teacher_and_lazy_stage_name(uncond_student, tmp_path):
    import ldprune_deploy

    data = write_latents(tmp_path / "lat.safetensors", 4, 3)
    cfg = DistillConfig(output=tmp_path / "bf16", steps=2, batch_size=2, data=data, mixed_precision="bf16",
                        teacher_dtype="bf16", cpu=True, progress=False)
    # the stage is reachable as ldprune_deploy.distill(...) even after the package was imported
    final = ldprune_deploy.distill("tiny-uncond", uncond_student, cfg)
    h = _history(tmp_path / "bf16")
    assert len(h) == 2 and all(torch.isfinite(torch.tensor(r["total"])) for r in h)
    assert next(iter(load_pruned(final).state_dict().values())).dtype == torch.float32  # master weights fp32


def test_feature_taps_match_through_ddp_style_wrappers(tiny_uncond):
    from torch import nn

    from ldprune_deploy.distillation import FeatureTaps, default_stages
    from ldprune_deploy.distillation.losses import strip_wrapper_prefix, unwrap
    from ldprune_deploy.models import example_inputs

    unet, info = tiny_uncond

    class Wrapper(nn.Module):  # what DDP / torch.compile put around the UNet
        def __init__(self, m):
            super().__init__()
            self.module = m

        def forward(self, *a, **k):
            return self.module(*a, **k)

    wrapped = Wrapper(Wrapper(unet))
    assert unwrap(wrapped) is unet and strip_wrapper_prefix("module._orig_mod.mid_block") == "mid_block"
    stages = default_stages(wrapped)
    taps = FeatureTaps(wrapped, [f"module.module.{s}" for s in stages])  # prefixed ids match too
    with torch.no_grad():
        wrapped(**example_inputs(unet, info, batch=1))
    assert list(taps.pop()) == stages
    taps.remove()
    with pytest.raises(LdpruneError, match="no stage"):
        FeatureTaps(unet, ["down_blocks.9"])
