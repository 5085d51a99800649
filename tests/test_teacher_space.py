"""The quality teachers' data spaces through the toolchain: ModelInfo.space from the
``_ldprune_teacher`` hint and through a pruned folder, the evaluator decoding unshuffle2
samples exactly to 64x64 RGB, and ``ldprune data distill-set`` feeding the distill loader."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ldprune_deploy.cli import main
from ldprune_deploy.spaces import to_model_space, to_unit_images
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.models import load_model
from ldprune_deploy.unet import build_unet

TINY = dict(sample_size=32, in_channels=12, out_channels=12, block_out_channels=[8, 16], layers_per_block=1,
            down_block_types=["DownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "UpBlock2D"],
            norm_num_groups=4)

# a feature extractor that refuses anything but the decoded 64x64 RGB images
FEATS = """import torch
def feats(x):
    if tuple(x.shape[1:]) != (3, 64, 64) or x.min() < 0 or x.max() > 1:
        raise ValueError(f"expected decoded (N, 3, 64, 64) images in [0, 1], got {tuple(x.shape)}")
    pooled = torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)
    return torch.cat([pooled, x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)
"""


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def _teacher_folder(root: Path, space: str | None = "unshuffle2") -> Path:
    unet = build_unet("UNet2DModel", TINY, seed=0)
    unet.save_pretrained(str(root / "unet"), safe_serialization=True)
    if space is not None:
        cfg_file = root / "unet" / "config.json"
        cfg = json.loads(cfg_file.read_text())
        cfg["_ldprune_teacher"] = {"name": "tiny-uig", "data": "emoji", "space": space, "conditional": False,
                                   "text_len": 32}
        cfg_file.write_text(json.dumps(cfg))
    return root


def _pruned_folder(teacher: Path, out: Path) -> Path:
    from ldprune_deploy.catalogue import build_catalogue
    from ldprune_deploy.artifacts import Modification, PrunePlan
    from ldprune_deploy.surgery import apply_plan, save_pruned

    unet, info = load_model(str(teacher))
    cands = build_catalogue(unet, info, flops=False).candidates()
    op, mod = next((o, m) for o, m in cands if m.startswith("width:"))
    pruned = apply_plan(unet, PrunePlan(info.fingerprint, [Modification(op, mod)], model=info.name))
    return save_pruned(pruned, out)


def test_space_from_hint_and_through_a_pruned_folder(tmp_path):
    teacher = _teacher_folder(tmp_path / "teacher")
    _, info = load_model(str(teacher))
    assert (info.space, info.vae_scale_factor, info.resolution, info.text_len) == ("unshuffle2", 2, 64, 32)

    pruned = _pruned_folder(teacher, tmp_path / "pruned")
    assert json.loads((pruned / "prune_plan.json").read_text())["meta"]["model_info"]["space"] == "unshuffle2"
    unet, p_info = load_model(str(pruned))
    assert p_info.source == "pruned"
    assert (p_info.space, p_info.vae_scale_factor, p_info.resolution) == ("unshuffle2", 2, 64)

    plain = _teacher_folder(tmp_path / "plain", space=None)   # no hint: no space, the old defaults
    _, plain_info = load_model(str(plain))
    assert (plain_info.space, plain_info.vae_scale_factor) == (None, 1)


def test_decoder_is_the_exact_inverse_of_the_teacher_encoding():
    from ldprune_deploy.evaluation.samples import Decoder

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 64, 64, 3), dtype=np.uint8)
    z = to_model_space(images, "unshuffle2")
    dec = Decoder(2, None, False, "cpu", torch.float32, space="unshuffle2")
    assert dec.mode == "unshuffle2 (exact pixel shuffle)"
    out = dec(z)
    assert out.shape == (3, 3, 64, 64)
    back = (out * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    assert np.array_equal(back, images)
    # an explicit --latent-space still means metrics on the raw model space
    assert Decoder(2, None, True, "cpu", torch.float32, space="unshuffle2").mode == "latent-space"
    with pytest.raises(LdpruneError, match="decoded exactly without a VAE") as e:
        Decoder(2, "some-vae", False, "cpu", torch.float32, space="unshuffle2")
    assert "--vae" in e.value.fix
    with pytest.raises(LdpruneError, match="need a VAE"):   # unhinted latent UNets: unchanged
        Decoder(2, None, False, "cpu", torch.float32)


def test_evaluator_decodes_unshuffle2_samples_to_rgb(tmp_path):
    from ldprune_deploy.evaluation import EvaluateConfig, evaluate

    teacher = _teacher_folder(tmp_path / "teacher")
    pruned = _pruned_folder(teacher, tmp_path / "pruned")
    (tmp_path / "f.py").write_text(FEATS)
    rep = evaluate(str(teacher), str(pruned), EvaluateConfig(
        output=str(tmp_path / "report"), metrics=["fid"], feature_extractor=f"{tmp_path / 'f.py'}:feats",
        n_samples=8, steps=2, batch_size=8, guidance=1.0, runner="none", e2e_repeats=1, gate=False))
    s = rep["sampling"]
    assert (s["decoding"], s["space"], s["resolution"]) == ("unshuffle2 (exact pixel shuffle)", "unshuffle2", 64)
    fid = rep["quality"]["fid"]
    assert "latent-space" not in fid["label"] and fid["input"] == "image"
    assert np.isfinite(fid["teacher"]) and np.isfinite(fid["candidate"]) and fid["feature_dim"] == 54
    md = (tmp_path / "report" / "report.md").read_text()
    assert "decoded: unshuffle2 (exact pixel shuffle)" in md


# ---------------------------------------------------------------------------- distill-set

def _emoji_slice(tmp_path: Path, n: int = 24) -> dict:
    from ldprune_deploy.quality import emoji as E

    if not (Path(E.FONT_PATH).is_file() and Path(E.EMOJI_TEST).is_file()):
        pytest.skip("needs apt packages fonts-noto-color-emoji and unicode-data")
    path, _ = E.build_emoji(str(tmp_path), limit=n)
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def _compact_embeddings(path: Path, captions: list[str], text_len: int = 8, dim: int = 384) -> None:
    """The compact layout of ``ldprune data embed`` (int8 tokens, per-dim scale, lengths), made
    by hand so the test needs no text encoder."""
    from safetensors.torch import save_file

    g = torch.Generator().manual_seed(0)
    lengths = torch.tensor([3 + i % (text_len - 2) for i in range(len(captions))], dtype=torch.int32)
    q = torch.randint(-127, 128, (int(lengths.sum()), dim), generator=g, dtype=torch.int8)
    scale = torch.rand(dim, generator=g) * 0.02 + 0.001
    save_file({"tokens_q": q, "scale": scale, "lengths": lengths, "pooled": torch.zeros(len(captions), dim).half()},
              str(path), {"prompts": json.dumps(captions), "text_len": str(text_len), "encoder": "test"})


def test_distill_set_round_trips_into_the_distill_loader(tmp_path):
    from ldprune_deploy.conditioning import open_embeddings
    from ldprune_deploy.distillation.data import load_data

    arrays = _emoji_slice(tmp_path)
    train = ~arrays["held_out"]
    assert train.any() and (~train).any(), "a 24-item slice should hold both splits"
    captions = list(dict.fromkeys(str(c) for c in arrays["captions"]))
    emb_file = tmp_path / "emb.safetensors"
    _compact_embeddings(emb_file, captions)
    out = tmp_path / "train.safetensors"
    assert main(["data", "distill-set", "--data", "emoji", "--cache", str(tmp_path), "--limit", "24",
                 "--embeddings", str(emb_file), "-o", str(out)]) == 0

    data = load_data(SimpleNamespace(data=str(out), data_free=False), None, None, "cpu", "scaled_linear")
    n = int(train.sum())
    assert data.latents.shape == (n, 12, 32, 32) and data.embeddings.shape == (n, 8, 384)
    assert data.meta["space"] == "unshuffle2" and data.meta["split"] == "train"
    # the latents are the training images, exactly (fp16 storage loses nothing on the uint8 grid)
    back = (F.pixel_shuffle(data.latents, 2).permute(0, 2, 3, 1) + 1) * 127.5
    assert np.array_equal(back.round().to(torch.uint8).numpy(), arrays["images64"][train])
    err = to_unit_images(data.latents, "unshuffle2") - to_unit_images(
        to_model_space(arrays["images64"][train], "unshuffle2"), "unshuffle2")
    assert err.abs().max() < 0.5 / 255
    # dense embeddings of each item's own caption, zero-padded like the compact file's reader
    want = open_embeddings(emb_file).encode([str(c) for c in arrays["captions"][train]])
    assert torch.allclose(data.embeddings, want, atol=2e-3, rtol=1e-3)
    first = captions.index(str(arrays["captions"][train][0]))
    n_tok = 3 + first % (8 - 2)   # _compact_embeddings' length of that caption (text_len 8)
    assert (data.embeddings[0, n_tok:] == 0).all() and (data.embeddings[0, :n_tok] != 0).any()
    # and the distill stage accepts it for a 12-channel text-conditional UNet
    student = build_unet("UNet2DConditionModel", dict(
        sample_size=32, in_channels=12, out_channels=12, block_out_channels=[8, 16], layers_per_block=1,
        down_block_types=["CrossAttnDownBlock2D", "DownBlock2D"], up_block_types=["UpBlock2D", "CrossAttnUpBlock2D"],
        cross_attention_dim=384, attention_head_dim=4, norm_num_groups=4))
    data.check(student, conditional=True)


def test_distill_set_errors_are_actionable(tmp_path, capsys):
    assert main(["data", "distill-set", "--data", "notes", "--embeddings", "x.safetensors",
                 "-o", str(tmp_path / "o.safetensors")]) == 2
    assert "--embeddings" in capsys.readouterr().err
    assert main(["data", "distill-set", "--data", "emoji", "--cache", str(tmp_path), "-o",
                 str(tmp_path / "o.npz")]) == 2
    assert ".safetensors" in capsys.readouterr().err
    assert main(["data", "distill-set", "--data", "emoji", "--cache", str(tmp_path), "-o",
                 str(tmp_path / "o.safetensors")]) == 2
    assert "ldprune data emoji" in capsys.readouterr().err


def test_score_and_evaluate_read_compact_embedding_files(tmp_path, tiny_t2i):
    """`ldprune data embed` writes the compact int8 layout; the stages that take --embeddings read it."""
    from ldprune_deploy.conditioning import CompactEmbeddingFile, open_embeddings
    from ldprune_deploy.scoring import ScoreConfig, score

    captions = [f"caption {i}" for i in range(4)]
    emb = tmp_path / "emb.safetensors"
    _compact_embeddings(emb, captions, text_len=8, dim=32)
    enc = open_embeddings(emb)
    assert isinstance(enc, CompactEmbeddingFile) and enc.encode(captions[:2]).shape == (2, 8, 32)
    unet, _ = tiny_t2i
    out = score(unet, ScoreConfig(method="ld-pruner", n_gen=4, steps=2, embeddings=str(emb), prompt_list=captions,
                                  kinds=["attn2"], output=str(tmp_path / "scores.json")))
    assert len(out["scores"]) > 0 and all(s["score"] >= 0 for s in out["scores"])
