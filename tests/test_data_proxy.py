"""Proxy feature extractors, the teachers' data transforms, and the teacher script's --smoke."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ldprune_deploy.quality import proxy as proxy_mod
from ldprune_deploy.quality.proxy import ProxyRecipe, _balanced_ce, balanced_accuracy, export_proxy, load_proxy, train_proxy
from ldprune_deploy.quality.teachers import TEACHERS, build_teacher
from ldprune_deploy.spaces import to_model_space, to_unit_images

ROOT = Path(__file__).resolve().parents[1]


def _toy(n=64, c=3, size=32, seed=0):
    # two classes a CNN separates at once: dark vs bright images
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    x = (rng.integers(0, 80, (n, c, size, size)) + 150 * y[:, None, None, None]).astype(np.uint8)
    return x, y, np.arange(n) % 5 == 0


def test_extractor_shape_and_safetensors_roundtrip(tmp_path):
    x, y, held = _toy()
    net, info = train_proxy(x, y, held, "image", ProxyRecipe(epochs=6, batch=16), log=lambda *_: None)
    assert info["held_out_accuracy"] >= 0.75 and info["n_held_out"] == 13
    path = export_proxy(net, tmp_path / "p.safetensors", {"modality": "emoji", "seed": 0, **info})
    mod, meta = load_proxy(path)
    assert meta["feature_dim"] == 128 and meta["kwargs"]["size"] == 32 and meta["data"] == "emoji"
    assert meta["held_out_accuracy"] == info["held_out_accuracy"]
    imgs = torch.from_numpy(x[:5]).float() / 255
    with torch.no_grad():
        ref = net.features(imgs)
        out = mod(imgs)
    assert out.shape == (5, 128) and mod.num_features == 128
    torch.testing.assert_close(out, ref)
    # uint8 input and another size are converted inside the module
    torch.testing.assert_close(mod(torch.from_numpy(x[:5])), ref)
    assert mod(torch.rand(2, 3, 64, 64)).shape == (2, 128)
    _check_fid(mod, torch.from_numpy(x).float() / 255, y)
    # the evaluator's --feature-extractor loads the same file to the same features, labelled proxy
    from ldprune_deploy.evaluation.features import load_feature_extractor

    fx = load_feature_extractor(str(path))
    assert fx.kind == "proxy" and fx.modality == "image"
    torch.testing.assert_close(fx(imgs), ref)


def test_weight_decay_reaches_the_optimiser_and_the_record():
    # same seed, same batches: only the decay differs, so a larger one leaves smaller weights
    x, y, held = _toy()
    nets = {}
    for wd in (0.0, 0.5):
        nets[wd], info = train_proxy(x, y, held, "image", ProxyRecipe(epochs=2, batch=16, weight_decay=wd), log=lambda *_: None)
        assert info["weight_decay"] == wd
    norm = {wd: float(torch.cat([p.detach().flatten() for n, p in net.named_parameters() if "weight" in n and p.dim() > 1]).norm())
            for wd, net in nets.items()}
    assert norm[0.5] < norm[0.0]


def test_label_smoothing_reaches_the_loss_and_the_record():
    # same seed, same batches: smoothed targets (0.75 / 0.25 at 0.5) keep the trained net less sure of the easy toy classes
    x, y, held = _toy()
    conf = {}
    for ls in (0.0, 0.5):
        net, info = train_proxy(x, y, held, "image", ProxyRecipe(epochs=6, batch=16, label_smoothing=ls), log=lambda *_: None)
        assert info["label_smoothing"] == ls
        with torch.no_grad():
            conf[ls] = float(net(torch.from_numpy(x)).softmax(-1).amax(-1).mean())
    assert conf[0.5] < conf[0.0]


def test_class_weights_are_inverse_frequency_or_none_and_the_record_says_which(monkeypatch):
    x, y, held = _toy()
    y = np.where(np.arange(len(y)) % 4 == 0, 1, 0)   # class 1 a quarter of the items
    seen = {}
    real = proxy_mod._balanced_ce

    def spy(logits, yb, weight, smoothing):
        seen.setdefault(flag, weight.detach().cpu().clone())
        return real(logits, yb, weight, smoothing)

    monkeypatch.setattr(proxy_mod, "_balanced_ce", spy)
    for flag in (True, False):
        _, info = train_proxy(x, y, held, "image", ProxyRecipe(epochs=1, batch=16, class_weights="balanced" if flag else "none"),
                              log=lambda *_: None)
        assert info["class_balanced"] is flag
        assert 0 <= info["heads"]["label0"]["held_out_balanced_accuracy"] <= 1
    tr = y[~held]
    n1 = (tr == 1).sum()
    expect = torch.tensor([len(tr) / (len(tr) - n1) / 2, len(tr) / n1 / 2], dtype=torch.float32)
    torch.testing.assert_close(seen[True], expect)
    torch.testing.assert_close(seen[False], torch.ones(2))


def test_balanced_accuracy_is_the_mean_recall_over_classes():
    y = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 2, 2])
    assert balanced_accuracy(torch.zeros(10, dtype=torch.long), y) == pytest.approx(1 / 3)   # majority answer
    assert balanced_accuracy(y.clone(), y) == 1.0
    pred = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1, 2, 0])   # recalls 3/6, 2/2, 1/2
    assert balanced_accuracy(pred, y) == pytest.approx((0.5 + 1.0 + 0.5) / 3)


def test_balanced_smoothing_keeps_the_class_weights_out_of_the_smoothed_target():
    g = torch.Generator().manual_seed(0)
    lg, y, w = torch.randn(32, 5, generator=g), torch.randint(0, 5, (32,), generator=g), torch.rand(5, generator=g) + 0.1
    torch.testing.assert_close(_balanced_ce(lg, y, w, 0.0), F.cross_entropy(lg, y, weight=w))
    # every sample of a common class (weight 0.1 against a rare one's 10): the best prediction is still the
    # smoothed target 1 - eps + eps / C, not one pulled toward the rare class
    logit = torch.zeros(1, 2, requires_grad=True)
    opt = torch.optim.SGD([logit], lr=1.0)
    for _ in range(500):
        opt.zero_grad()
        _balanced_ce(logit.expand(8, 2), torch.zeros(8, dtype=torch.long), torch.tensor([0.1, 10.0]), 0.1).backward()
        opt.step()
    assert abs(float(logit.detach().softmax(-1)[0, 0]) - 0.95) < 1e-3


def test_caption_head_learns_the_caption_embedding_and_survives_export(tmp_path):
    # the caption of a dark image points one way, of a bright one another: the head must learn it
    x, y, held = _toy()
    text = np.zeros((len(y), 8), np.float32)
    text[np.arange(len(y)), y] = 1.0
    net, info = train_proxy(x, y, held, "image", ProxyRecipe(epochs=6, batch=16), log=lambda *_: None, text=text)
    cap = info["caption_head"]
    assert cap["dim"] == 8 and cap["chance_top1"] == 0.5
    assert cap["held_out_cosine"] > 0.6 and cap["retrieval_top1"] >= 0.75
    mod, meta = load_proxy(export_proxy(net, tmp_path / "c.safetensors", {"modality": "emoji", **info}))
    assert meta["kwargs"]["text_dim"] == 8 and meta["caption_head"] == cap
    imgs = torch.from_numpy(x[:4]).float() / 255
    with torch.no_grad():
        torch.testing.assert_close(mod(imgs), net.features(imgs))
    # without text the net has no caption head and its file no text_dim
    plain, _ = train_proxy(x, y, held, "image", ProxyRecipe(epochs=1, batch=16), log=lambda *_: None)
    assert plain.text_head is None
    assert "text_dim" not in load_proxy(export_proxy(plain, tmp_path / "p.safetensors", {}))[1]["kwargs"]


def test_proxy_files_that_are_not_safe_or_complete_are_refused(tmp_path):
    from ldprune_deploy.errors import LdpruneError

    x, y, held = _toy()
    net, info = train_proxy(x, y, held, "image", ProxyRecipe(epochs=1, batch=16), log=lambda *_: None)
    with pytest.raises(LdpruneError, match="must end in .safetensors"):
        export_proxy(net, tmp_path / "p.pt", info)
    scripted = tmp_path / "p.pt"
    torch.jit.script(net).save(str(scripted))
    with pytest.raises(LdpruneError, match="not a .safetensors proxy"):
        load_proxy(scripted)
    path = export_proxy(net, tmp_path / "q.safetensors", info)
    path.with_suffix(".json").unlink()
    with pytest.raises(LdpruneError, match="not a ldprune.proxy/1 config"):
        load_proxy(path)


def _check_fid(mod, imgs, y):
    """The exported module plugs into torchmetrics' FID: same set ~0, a class-skewed set > 0."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=mod, normalize=True, reset_real_features=False)
    fid.update(imgs, real=True)
    fid.update(imgs, real=False)
    same = float(fid.compute())
    fid.reset()
    fid.update(imgs[torch.from_numpy(y == 0)], real=False)   # only dark images
    assert abs(same) < 1e-2 < float(fid.compute())


def test_unshuffle_space_is_exact_and_sizes_fit_budget():
    x = np.random.default_rng(0).integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    z = to_model_space(x, "unshuffle2")
    assert z.shape == (3, 12, 32, 32) and z.min() >= -1 and z.max() <= 1
    back = (to_unit_images(z, "unshuffle2") * 255).round().byte().permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(back, x)
    total = sum(sum(p.numel() for p in build_teacher(c).parameters()) for c in TEACHERS.values())
    assert total * 2 <= 24e6   # fp16 bytes of all three teachers


@pytest.mark.slow
def test_train_teachers_smoke(tmp_path):
    """The GPU script's --smoke runs end to end on CPU on a data slice."""
    from safetensors.torch import save_file

    from ldprune_deploy.quality.emoji import EMOJI_TEST, FONT_PATH, build_emoji
    from ldprune_deploy.quality.notes import SOUNDFONT, build_notes

    if not (Path(FONT_PATH).is_file() and Path(EMOJI_TEST).is_file() and Path(SOUNDFONT).is_file()):
        pytest.skip("needs apt packages fonts-noto-color-emoji unicode-data fluidsynth fluid-soundfont-gm")
    data = tmp_path / "data"
    pe, _ = build_emoji(str(data), limit=24)
    build_notes(str(data), limit=16)
    caps = [str(c) for c in np.load(pe)["captions"]]
    # an EmbeddingFile of the right format; its values do not matter for a smoke run
    emb = data / "emb.safetensors"
    save_file({"embeddings": torch.randn(len(caps), 32, 384).half()}, str(emb), {"prompts": json.dumps(caps)})
    assets = tmp_path / "assets"
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "2"}
    subprocess.run([sys.executable, "benchmarks/train_proxies.py", "--data", str(data), "--limit", "24",
                    "--only", "emoji", "align", "--emb", str(emb), "--epochs", "1", "--caption-head", "--out", str(assets),
                    "--results", str(tmp_path / "r.json")],
                   cwd=ROOT, check=True, env=env)
    emoji_meta = json.loads((assets / "proxy-emoji.json").read_text())   # the caption head, as trained
    assert emoji_meta["kwargs"]["text_dim"] == 384 and 0 <= emoji_meta["caption_head"]["retrieval_top1"] <= 1
    subprocess.run([sys.executable, "benchmarks/train_proxies.py", "--data", str(data), "--limit", "16",
                    "--only", "mel", "--epochs", "1", "--out", str(assets), "--results", str(tmp_path / "r2.json")],
                   cwd=ROOT, check=True, env=env)
    out = tmp_path / "teachers"
    # emoji slice 24 and notes slice 16 differ: one teacher at a time with its own --limit
    # emoji-t2i with the regularisers (dropout, a shorter EMA) and 4 final seeds, notes-uag with the defaults
    # (and its curve measured a second time as a shadow: on the CPU both precisions are fp32, so the two agree)
    for only, limit, extra in (["emoji-t2i", 24, ["--dropout", "0.1", "--ema-decay", "0.995", "--final-seeds", "4",
                                                  "--shadow-precision", "bf16"]],
                               ["notes-uag", 16, []]):
        subprocess.run([sys.executable, "benchmarks/train_teachers.py", "--smoke", "--data", str(data),
                        "--limit", str(limit), "--emb", str(emb), "--proxies", str(assets), "--out", str(out / only),
                        "--only", only, *extra], cwd=ROOT, check=True, env=env, timeout=300)
        curves = json.loads((out / only / "curves.json").read_text())["teachers"][only]
        assert (curves["dropout"], curves["ema_decay"]) == ((0.1, 0.995) if extra else (0.0, 0.999))
        assert ("dropout" in curves["segments"][-1]) == bool(extra)
        assert curves["steps_done"] == 2 and curves["proxy_fid_step"] == [1, 2]
        assert all(np.isfinite(curves["proxy_fid"]))
        # the end-of-training evidence: --final-seeds sampling seeds (default 3), a plateau verdict on them, the ladder
        n_seeds = 4 if extra else 3
        assert len(curves["final_seeds"]) == n_seeds and isinstance(curves["plateau"]["plateau"], bool)
        assert curves["plateau"]["seed_spread"]["n"] == n_seeds and f"over {n_seeds} sampling seeds" in curves["plateau"]["rule"]
        assert curves["plateau_trend"]["points_in_window"] == 1   # the smoke run's 2 steps: one point in the window
        assert list(curves["ladder"]["rungs"]) == ["real training split", "teacher", "uniform noise"]
        assert "held-out" in curves["fid_reference"]
        assert curves["eval_precision"] == "fp32" and ("shadow" in curves) == bool(extra)   # the default
        if extra:   # the same checkpoints and seeds, the same numerics on the CPU: the same values
            sh = curves["shadow"]
            assert sh["eval_precision"] == "bf16" and sh["proxy_fid_step"] == curves["proxy_fid_step"]
            assert sh["proxy_fid"] == curves["proxy_fid"] and sh["final_seeds"] == curves["final_seeds"]
            assert sh["proxy_alignment"] == curves["proxy_alignment"] and isinstance(sh["plateau"]["plateau"], bool)
        if only == "emoji-t2i":   # the alignment proxy trained above scores the T2I teacher's samples
            assert len(curves["proxy_alignment"]) == 2 and len(curves["final_alignment_seeds"]) == n_seeds
            assert curves["alignment_ladder"]["order"][0] == "real held-out, own captions"
        else:
            assert "proxy_alignment" not in curves
        unet_dir = out / only / only / "unet"
        cfg = json.loads((unet_dir / "config.json").read_text())
        assert cfg["_ldprune_teacher"]["name"] == only
        assert cfg.get("dropout", 0.0) == 0.0   # saved for inference: students distil without the teacher's dropout
        from ldprune_deploy.models import load_model

        unet, _ = load_model(str(out / only / only), quiet=True)
        from safetensors import safe_open

        with safe_open(str(unet_dir / "diffusion_pytorch_model.safetensors"), "pt") as f:
            assert all(f.get_tensor(k).dtype == torch.float16 for k in list(f.keys())[:5])
        if only == "notes-uag":
            # resume: 2 more steps from the saved EMA weights; the curve goes on at global steps
            more = out / "resumed"
            subprocess.run([sys.executable, "benchmarks/train_teachers.py", "--smoke", "--data", str(data),
                            "--limit", str(limit), "--proxies", str(assets), "--out", str(more), "--only", only,
                            "--resume-from", str(out / only)], cwd=ROOT, check=True, env=env, timeout=300)
            c2 = json.loads((more / "curves.json").read_text())["teachers"][only]
            assert c2["steps_done"] == 4 and c2["proxy_fid_step"] == [1, 2, 3, 4]
            assert c2["proxy_fid"][:2] == curves["proxy_fid"] and [s["resumed"] for s in c2["segments"]] == [False, True]
            assert c2["train_seconds_total"] >= curves["train_seconds_total"]
            assert c2["segments"][-1]["device"] == "cpu"   # each segment names its machine
            # a curve measured against another reference is not continued
            bad = json.loads((out / only / "curves.json").read_text())
            bad["teachers"][only]["fid_reference"] = "3 training-split items"
            (out / only / "curves.json").write_text(json.dumps(bad))
            r = subprocess.run([sys.executable, "benchmarks/train_teachers.py", "--smoke", "--data", str(data),
                                "--limit", str(limit), "--proxies", str(assets), "--out", str(tmp_path / "x"),
                                "--only", only, "--resume-from", str(out / only)], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=300)
            assert r.returncode != 0 and "another reference" in r.stderr
            # a curve measured with another proxy: refused, or (--new-curve) kept as history while a
            # new curve starts at the resume step
            bad["teachers"][only]["fid_reference"] = curves["fid_reference"]
            bad["teachers"][only]["proxy_accuracy"] = 0.123
            (out / only / "curves.json").write_text(json.dumps(bad))
            base = [sys.executable, "benchmarks/train_teachers.py", "--smoke", "--data", str(data), "--limit",
                    str(limit), "--proxies", str(assets), "--only", only, "--resume-from", str(out / only)]
            r = subprocess.run([*base, "--out", str(tmp_path / "y")], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=300)
            assert r.returncode != 0 and "--new-curve" in r.stderr
            subprocess.run([*base, "--out", str(tmp_path / "z"), "--new-curve", "--lr-scale", "0.5"], cwd=ROOT,
                           check=True, env=env, timeout=300)
            c3 = json.loads((tmp_path / "z" / "curves.json").read_text())["teachers"][only]
            assert c3["steps_done"] == 4 and c3["proxy_fid_step"] == [2, 3, 4]
            assert c3["earlier_curves"][0]["proxy_fid_step"] == [1, 2]
            assert c3["earlier_curves"][0]["proxy_accuracy"] == 0.123 and c3["earlier_curves"][0]["until_step"] == 2
            assert c3["segments"][-1]["new_curve_from_step"] == 2 and c3["segments"][-1]["lr_scale"] == 0.5
            assert c3["plateau"]["window_covered"]   # the new curve starts at step 2 of 4: before the window
            # a curve evaluated in bf16 (one from before the flag: no eval_precision) is not continued in fp32
            # (the default) without --new-curve
            legacy = {k: v for k, v in curves.items() if k != "eval_precision"}
            (out / only / "curves.json").write_text(json.dumps({**bad, "teachers": {only: legacy}}))   # its own proxy
            r = subprocess.run([*base, "--out", str(tmp_path / "p")], cwd=ROOT, env=env, capture_output=True,
                               text=True, timeout=300)
            assert r.returncode != 0 and "evaluated in bf16; pass --eval-precision bf16" in r.stderr
            assert not (tmp_path / "p" / "curves.json").exists()
            subprocess.run([*base, "--out", str(tmp_path / "q"), "--new-curve"], cwd=ROOT, check=True, env=env, timeout=300)
            c4 = json.loads((tmp_path / "q" / "curves.json").read_text())["teachers"][only]
            assert c4["eval_precision"] == "fp32" and c4["earlier_curves"][0]["eval_precision"] == "bf16"
            assert c4["segments"][-1]["eval_precision"] == "fp32" and c4["proxy_fid_step"] == [2, 3, 4]


def test_train_teachers_refuses_a_shadow_in_its_own_precision(tmp_path):
    r = subprocess.run([sys.executable, "benchmarks/train_teachers.py", "--out", str(tmp_path / "t"),
                        "--eval-precision", "fp32", "--shadow-precision", "fp32"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "--shadow-precision fp32 is the --eval-precision already" in r.stderr
    assert not (tmp_path / "t").exists()


def test_train_teachers_refuses_one_final_seed(tmp_path):
    """One final seed has no range, so the plateau rule would have no noise to compare with."""
    r = subprocess.run([sys.executable, "benchmarks/train_teachers.py", "--out", str(tmp_path / "t"), "--final-seeds", "1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 2 and "--final-seeds needs at least 2 seeds" in r.stderr
    assert not (tmp_path / "t").exists()


def test_ema_leaves_the_moving_average_of_the_weights_the_plain_run_took():
    # the same seed and batches with and without EMA: the plain run's weights after each step, averaged at the
    # decay (the first step copied), are what the EMA run ends with
    from ldprune_deploy.quality.proxy import fit

    def run(ema):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        data = torch.randn(32, 3, generator=torch.Generator().manual_seed(1))
        seen = []

        def step_loss(idx):
            seen.append([p.detach().clone() for p in model.parameters()])
            return model(data[idx]).pow(2).mean()

        fit(model, np.arange(32), 3, 8, torch.Generator().manual_seed(2), step_loss, log=lambda *_: None, ema=ema)
        return [p.detach().clone() for p in model.parameters()], seen

    last, seen = run(0.0)
    after = seen[1:] + [last]   # the weights after each of the 12 steps
    expect = after[0]
    for w in after[1:]:
        expect = [0.75 * e + 0.25 * x for e, x in zip(expect, w)]
    got, _ = run(0.75)
    for g, e, w in zip(got, expect, last):
        torch.testing.assert_close(g, e)
        assert not torch.allclose(g, w)


def test_mixup_blends_each_batch_with_a_shuffle_of_itself_and_scores_both_labels(monkeypatch):
    x, y, held = _toy()
    calls, inputs = [], []
    real_ce, real_features = proxy_mod._balanced_ce, proxy_mod.ProxyCNN.features

    def ce(logits, yb, weight, smoothing):
        calls.append(yb.clone())
        return real_ce(logits, yb, weight, smoothing)

    def features(self, xb):
        if self.training:
            inputs.append(xb.detach().clone())
        return real_features(self, xb)

    monkeypatch.setattr(proxy_mod, "_balanced_ce", ce)
    monkeypatch.setattr(proxy_mod.ProxyCNN, "features", features)
    for mixup in (0.0, 0.4):
        calls.clear(), inputs.clear()
        _, info = train_proxy(x, y, held, "image", ProxyRecipe(epochs=1, batch=16, mixup=mixup), log=lambda *_: None)
        assert info["mixup"] == mixup and info["steps"] == len(inputs) == 3
        if not mixup:   # one loss per step on the items' own labels, uint8 images as they are
            assert len(calls) == 3 and all(t.dtype == torch.uint8 for t in inputs)
            continue
        assert len(calls) == 6   # per step: the labels, then the same labels shuffled
        pairs = list(zip(calls[::2], calls[1::2]))
        assert all(sorted(a.tolist()) == sorted(b.tolist()) for a, b in pairs)
        assert any(not torch.equal(a, b) for a, b in pairs)
        # blends of two images are off the 1/255 grid of a single uint8 image
        assert all(t.is_floating_point() and not torch.allclose(t * 255, (t * 255).round()) for t in inputs)


def test_proxy_recipe_refuses_values_that_cannot_train():
    from ldprune_deploy.errors import LdpruneError

    with pytest.raises(LdpruneError, match="--ema"):
        ProxyRecipe(ema=1.0)
    with pytest.raises(LdpruneError, match="--mixup"):
        ProxyRecipe(mixup=-0.1)
    with pytest.raises(LdpruneError, match="--class-weights"):
        ProxyRecipe(class_weights="inverse")
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "train_proxies.py"), "--ema", "1.5", "--only", "emoji"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--ema" in r.stderr and "Traceback" not in r.stderr
