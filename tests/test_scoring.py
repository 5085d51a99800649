"""Importance scoring on tiny models (CPU): formula, no-op, determinism, resume, sharding."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys

import pytest
import torch

from ldprune_deploy.artifacts import Scores
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.models import load_model
from ldprune_deploy.scoring import METHODS, ScoreConfig, latent_stats, ld_pruner_distance, score
from ldprune_deploy.scoring.methods import LDPruner
from ldprune_deploy.unet import model_info

FEW = r"^(down_blocks\.0\.attentions\.0|mid_block\.resnets\.0|up_blocks\.0\.resnets\.0):"  # 3 t2i candidates


@pytest.fixture(autouse=True)
def one_thread():
    # 2 shared cores: one intra-op thread is much faster under contention, and it makes
    # the single-process run numerically identical to the one-thread-per-rank gloo run
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def t2i():
    return load_model("tiny-t2i", quiet=True)[0]


@pytest.fixture(scope="module")
def uncond():
    return load_model("tiny-uncond", quiet=True)[0]


def cfg(tmp_path, name="s.json", **kw):
    base = dict(n_gen=3, steps=2, output=tmp_path / name, progress=False, include=FEW,
                mods=["remove", "shortcut"])
    base.update(kw)
    return ScoreConfig(**base)


def test_formula_on_hand_computed_2x3_example():
    orig = torch.tensor([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])   # mean (2,2,2), sample std (√2,0,√2)
    mod = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]])    # mean (1,1,1), std 0
    s, avg, std = ld_pruner_distance(latent_stats(orig), latent_stats(mod))
    assert avg == pytest.approx(math.sqrt(3))                  # ‖(1,1,1)‖
    assert std == pytest.approx(2.0)                           # ‖(√2,0,√2)‖
    assert s == pytest.approx(math.sqrt(3) + 2.0)


@pytest.mark.parametrize("method", ["ld-pruner", "ld-pruner-prompt", "laptop"])
def test_noop_modification_scores_zero(t2i, tmp_path, method, monkeypatch):
    from ldprune_deploy.catalogue import build_catalogue
    from ldprune_deploy.scoring.context import build_context
    from ldprune_deploy.artifacts import Modification

    info = model_info(t2i)
    c = cfg(tmp_path, method=method)
    ctx, _ = build_context(t2i, info, build_catalogue(t2i, info, flops=False), c, True)
    m = METHODS[method]()
    m.prepare(ctx)
    assert m.score(ctx, [])[0] == 0.0  # the original compared with itself
    # a modification that changes nothing: swap an operator for itself
    import contextlib

    import ldprune_deploy.scoring.methods as methods_mod
    monkeypatch.setattr(methods_mod, "swapped", lambda model, mods: contextlib.nullcontext(model))
    s, parts = m.score(ctx, [Modification("mid_block.resnets.0", "remove")])
    assert s == 0.0 and all(v == 0.0 for v in parts.values())


def test_ld_pruner_scores_file_and_determinism(t2i, tmp_path):
    a = score(t2i, cfg(tmp_path, "a.json"))
    b = score(t2i, cfg(tmp_path, "b.json"))
    c = score(t2i, cfg(tmp_path, "c.json", seed=5))
    assert a["scores"] == b["scores"] and a["baseline"] == b["baseline"]
    assert c["baseline"] != a["baseline"]
    assert len(a["scores"]) == 3 and all(e["score"] > 0 for e in a["scores"])
    for e in a["scores"]:
        assert e["score"] == pytest.approx(e["parts"]["avg_dist"] + e["parts"]["std_dist"])
    p = a["params"]
    assert (p["n_gen"], p["steps"], p["scheduler"], p["guidance"], p["seeds"]) == (3, 2, "ddim", 7.5, [0, 2])
    assert p["prompt_source"] == "builtin"
    on_disk = Scores.load(tmp_path / "a.json", model_info(t2i).fingerprint)
    assert on_disk["scores"] == a["scores"] and on_disk["schema"] == "ldprune.scores/1"


def test_resume_after_interruption_equals_uninterrupted_run(t2i, tmp_path, monkeypatch):
    score(t2i, cfg(tmp_path, "full.json", check_additivity=3))
    calls = {"n": 0}
    real = LDPruner.score

    def flaky(self, ctx, mods):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # killed mid-run
        return real(self, ctx, mods)

    monkeypatch.setattr(LDPruner, "score", flaky)
    with pytest.raises(KeyboardInterrupt):
        score(t2i, cfg(tmp_path, "cut.json", check_additivity=3))
    partial = json.loads((tmp_path / "cut.json").read_text())
    assert partial["complete"] is False and len(partial["scores"]) == 2
    with pytest.raises(LdpruneError, match="unfinished run"):
        Scores.load(tmp_path / "cut.json")
    with pytest.raises(LdpruneError, match="already exists"):
        score(t2i, cfg(tmp_path, "cut.json", check_additivity=3))
    monkeypatch.setattr(LDPruner, "score", real)
    score(t2i, cfg(tmp_path, "cut.json", check_additivity=3, resume=True))
    assert (tmp_path / "cut.json").read_text() == (tmp_path / "full.json").read_text()
    add = json.loads((tmp_path / "full.json").read_text())["additivity"]
    assert add["k"] == 3 and len(add["sets"]) == 3 and add["pearson"] is not None
    with pytest.raises(LdpruneError, match="other settings"):
        score(t2i, cfg(tmp_path, "cut.json", check_additivity=3, resume=True, steps=1))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_env(rank: int, world: int, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RANK", "WORLD_SIZE", "LOCAL_", "MASTER_"))}
    # one intra-op thread per rank: two ranks share the two cores, and it matches the single-process run
    env.update(OMP_NUM_THREADS="1", MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world),
               RANK=str(rank), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world))
    return env


def test_two_gloo_processes_equal_one_process(t2i, tmp_path):
    # the ranks are launched as torchrun would (environment variables, one CLI process each) rather than
    # with mp.spawn, which re-imports this test module and pytest in every child
    single = score(t2i, cfg(tmp_path, "one.json", check_additivity=3))
    cmd = [sys.executable, "-m", "ldprune_deploy.cli", "score", "--model", "tiny-t2i", "--n-gen", "3", "--steps",
           "2", "--include", FEW, "--mods", "remove", "shortcut", "--check-additivity", "3", "--no-progress",
           "-o", str(tmp_path / "two.json")]
    port = _free_port()
    procs = [subprocess.Popen(cmd, env=_rank_env(r, 2, port), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) for r in range(2)]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n".join(log[-3000:] for log in logs)
    two = json.loads((tmp_path / "two.json").read_text())
    assert two == json.loads(json.dumps(single))
    assert not list(tmp_path.glob(".two.json.rank*"))  # partial shard files cleaned up


def test_ld_pruner_prompt_sees_a_model_that_ignores_its_prompt(t2i, tmp_path):
    """With every cross-attention removed the samples no longer depend on the prompt: the prompt
    effect of the modified model is exactly zero, so the paired term equals the original effect's norm."""
    from ldprune_deploy.artifacts import Modification
    from ldprune_deploy.catalogue import build_catalogue
    from ldprune_deploy.scoring.context import build_context

    info = model_info(t2i)
    ctx, _ = build_context(t2i, info, build_catalogue(t2i, info, flops=False), cfg(tmp_path, method="ld-pruner-prompt",
                                                                                    n_gen=4, guidance=1.0), True)
    m = METHODS["ld-pruner-prompt"]()
    base = m.prepare(ctx)
    assert base["prompt_effect_norm"] > 0   # the prompt changes the samples
    xattn = [Modification(n, "remove") for n, _ in t2i.named_modules() if n.endswith(".attn2")]
    s, parts = m.score(ctx, xattn)
    # no cross-attention: d' = 0, so the paired term is the mean norm of the original effect
    assert xattn and parts["prompt_dist"] == pytest.approx(base["prompt_effect_norm"], rel=1e-6)
    assert s == pytest.approx(sum(parts.values()))
    # LD-Pruner alone sees only the marginal terms of the same samples
    ld = METHODS["ld-pruner"]()
    ld.prepare(ctx)
    assert ld.score(ctx, xattn)[0] == pytest.approx(parts["avg_dist"] + parts["std_dist"], rel=1e-6)


def test_ld_pruner_prompt_refuses_an_unconditional_model(uncond, tmp_path):
    with pytest.raises(LdpruneError, match="takes no prompt") as e:
        score(uncond, cfg(tmp_path, method="ld-pruner-prompt", include=r"^mid_block\.", mods=None))
    assert "--method ld-pruner" in str(e.value.fix if hasattr(e.value, "fix") else e.value)


def test_unconditional_model_ld_pruner_and_laptop(uncond, tmp_path):
    kw = dict(include=r"^(mid_block\.attentions\.0|up_blocks\.1\.resnets\.0):", mods=None)
    ld = score(uncond, cfg(tmp_path, "ld.json", **kw))
    lp = score(uncond, cfg(tmp_path, "lp.json", method="laptop", **kw))
    assert ld["params"]["guidance"] is None and "prompt_source" not in ld["params"]
    for doc in (ld, lp):
        assert len(doc["scores"]) >= 2 and all(e["score"] > 0 and math.isfinite(e["score"]) for e in doc["scores"])
    assert set(lp["scores"][0]["parts"]) == {"output_loss"}


def test_baselines(t2i, tmp_path):
    kw = dict(include=r"^mid_block\.", mods=None)
    r1 = score(t2i, cfg(tmp_path, "r1.json", method="random", **kw))
    r2 = score(t2i, cfg(tmp_path, "r2.json", method="random", **kw))
    assert r1["scores"] == r2["scores"] and all(0 <= e["score"] < 1 for e in r1["scores"])
    mag = {(e["operator"], e["modification"]): e for e in score(t2i, cfg(tmp_path, "m.json", method="magnitude", **kw))["scores"]}
    resnet = t2i.get_submodule("mid_block.resnets.0")
    n = sum(p.numel() for p in resnet.parameters())
    l1 = sum(float(p.abs().sum(dtype=torch.float64)) for p in resnet.parameters())
    assert mag[("mid_block.resnets.0", "remove")]["score"] == pytest.approx(l1 / n)
    assert 0 < mag[("mid_block.resnets.0", "width:0.5")]["parts"]["params_removed"] < n
    size = {(e["operator"], e["modification"]): e for e in score(t2i, cfg(tmp_path, "z.json", method="size", **kw))["scores"]}
    assert size[("mid_block.resnets.0", "remove")]["score"] == n
    assert size[("mid_block.resnets.0", "width:0.25")]["score"] > size[("mid_block.resnets.0", "width:0.75")]["score"]


def test_bad_inputs(t2i, uncond, tmp_path, caplog):
    with pytest.raises(LdpruneError, match="at least 2"):
        score(t2i, cfg(tmp_path, n_gen=1))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n# only a comment\n")
    with pytest.raises(LdpruneError, match="empty"):
        score(t2i, cfg(tmp_path, prompts=empty))
    with pytest.raises(LdpruneError, match="cannot read prompt file"):
        score(t2i, cfg(tmp_path, prompts=tmp_path))  # a folder: unreadable as text
    prompts = tmp_path / "p.txt"
    prompts.write_text("a cat\n")
    with pytest.raises(LdpruneError, match="unconditional"):
        score(uncond, cfg(tmp_path, prompts=prompts))
    with pytest.raises(LdpruneError, match="leave no candidate"):
        score(t2i, cfg(tmp_path, include="no-such-operator"))
    with pytest.raises(LdpruneError, match="no prunable operator of kind"):
        score(uncond, cfg(tmp_path, kinds=["ff"]))
    with pytest.raises(LdpruneError, match="at least 3 sets"):
        score(t2i, cfg(tmp_path, check_additivity=2))
    with pytest.raises(LdpruneError, match="'oracle' is not one of ld-pruner"):
        score(t2i, cfg(tmp_path, method="oracle"))
    caplog.set_level("INFO", logger="ldprune")
    doc = score(t2i, cfg(tmp_path, "builtin.json", steps=1, include=r"^mid_block\.resnets\.0:remove"))
    assert "built-in prompts" in caplog.text and doc["params"]["prompt_source"] == "builtin"
    with pytest.raises(LdpruneError, match="fingerprint"):
        Scores.load(tmp_path / "builtin.json", model_fingerprint=model_info(uncond).fingerprint)


def test_cli_score(tmp_path, capsys):
    from ldprune_deploy.cli import main

    out = tmp_path / "cli.json"
    assert main(["score", "--model", "tiny-uncond", "--method", "magnitude", "--kinds", "attention",
                 "-o", str(out), "--no-progress"]) == 0
    assert "scored" in capsys.readouterr().out
    assert Scores.load(out)["method"] == "magnitude"
    assert main(["score", "--model", "tiny-uncond", "--n-gen", "1", "-o", str(tmp_path / "x.json")]) == 2
    assert "at least 2" in capsys.readouterr().err


def test_embedding_file_prompts_are_the_default(t2i, tmp_path):
    """With --embeddings and no prompts, scoring conditions on the file's own captions
    (evenly spaced over its stored order), not on the built-in list the file cannot encode."""
    import hashlib

    from safetensors.torch import save_file

    from ldprune_deploy.conditioning import EmbeddingFile, file_prompts

    caps = [f"CAPTION {i}" for i in range(10)]
    dim = t2i.config.cross_attention_dim
    emb = torch.randn(len(caps), 4, dim, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "emb.safetensors"
    save_file({"embeddings": emb}, str(path), metadata={"prompts": json.dumps(caps)})
    enc = EmbeddingFile(path)
    assert file_prompts(enc, 5) == ["CAPTION 0", "CAPTION 2", "CAPTION 4", "CAPTION 6", "CAPTION 8"]
    assert file_prompts(enc, 50) == caps
    doc = score(t2i, cfg(tmp_path, n_gen=5, embeddings=str(path)))
    p = doc["params"]
    assert p["prompt_source"] == "embeddings:file:emb.safetensors" and p["n_prompts"] == 5
    assert p["prompts_sha"] == hashlib.sha256("\n".join(caps[0:10:2]).encode()).hexdigest()[:16]
    with pytest.raises(LdpruneError, match="no pre-computed embedding"):
        score(t2i, cfg(tmp_path, "b.json", n_gen=5, embeddings=str(path), prompts=None,
                       prompt_list=["a prompt the file lacks"]))
