"""Opt-in regional compilation of the scoring sweep (``compile_blocks``), on tiny models (CPU).

Most tests use dynamo with the ``aot_eager`` backend (``LDPRUNE_COMPILE_BACKEND``): the same
graph capture, guards, recompiles and module inlining as inductor without its C++ compile,
which costs ~30 s per run on this machine; one ``slow`` test runs inductor itself.
"""

from __future__ import annotations

import pytest
import torch

from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.models import example_inputs, load_model
from ldprune_deploy.scoring import ScoreConfig, score
from ldprune_deploy.scoring.compile import (
    BLOCK_CLASSES,
    compiled_blocks,
    copy_keeps_compiled_call,
)
from ldprune_deploy.artifacts import Modification
from ldprune_deploy.surgery import swapped
from ldprune_deploy.surgery.apply import resolve
from ldprune_deploy.surgery.families import build_replacement
from ldprune_deploy.surgery.mods import _shallow_copy

pytestmark = pytest.mark.usefixtures("one_thread")

# t2i: a whole transformer removed, attn2 inside a compiled BasicTransformerBlock removed and
# narrowed (the block recompiles), a resnet shortcut and narrowed (copy.copy of a compiled block)
FEW = (r"^(down_blocks\.0\.attentions\.0|down_blocks\.0\.attentions\.0\.transformer_blocks\.0\.attn2"
       r"|up_blocks\.0\.resnets\.0):(remove|shortcut|width:0\.5)$")


@pytest.fixture(autouse=True)
def aot_eager(monkeypatch):
    monkeypatch.setenv("LDPRUNE_COMPILE_BACKEND", "aot_eager")


@pytest.fixture(scope="module")
def t2i():
    return load_model("tiny-t2i", quiet=True)


def _out(unet, inp):
    with torch.no_grad():
        return unet(**inp).sample


def _cfg(tmp_path, name, **kw):
    return ScoreConfig(n_gen=3, steps=2, output=tmp_path / name, progress=False, include=FEW, **kw)


def test_compiled_scores_equal_eager_and_model_is_restored(t2i, tmp_path):
    unet, info = t2i
    inp = example_inputs(unet, info, batch=2)
    before = _out(unet, inp)
    eager = score(unet, _cfg(tmp_path, "eager.json"))
    comp = score(unet, _cfg(tmp_path, "comp.json", compile_blocks=True))
    pairs = [(e["operator"], e["modification"]) for e in eager["scores"]]
    assert pairs == [(e["operator"], e["modification"]) for e in comp["scores"]]
    assert len(pairs) == 5 and ("up_blocks.0.resnets.0", "width:0.5") in pairs
    for a, b in zip(eager["scores"], comp["scores"]):
        assert a["score"] > 0
        assert b["score"] == pytest.approx(a["score"], rel=1e-4, abs=1e-6), (a, b)
    # the option is recorded and separates the runs; the default file does not mention it
    assert comp["params"]["compile_blocks"] == {"backend": "aot_eager", "modified_blocks": "eager",
                                                "regions": "wide", "inductor": {}}
    assert "compile_blocks" not in eager["params"]
    assert comp["signature"] != eager["signature"]
    # restored: no compiled call left on the user's model, same outputs as before
    assert not [n for n, m in unet.named_modules() if m.__dict__.get("_compiled_call_impl") is not None]
    assert torch.equal(_out(unet, inp), before)


def test_compiled_copy_runs_its_own_forward_and_restore_is_exact(t2i):
    unet, info = t2i
    inp = example_inputs(unet, info, batch=2)
    op = Modification("up_blocks.0.resnets.0", "width:0.5")
    before = _out(unet, inp)
    with swapped(unet, op):
        want = _out(unet, inp)
    assert not torch.allclose(want, before)
    with compiled_blocks(unet, BLOCK_CLASSES) as n:
        assert n == 12 + 6  # every ResnetBlock2D and BasicTransformerBlock of tiny-t2i
        block = unet.get_submodule("up_blocks.0.resnets.0")
        # width:* candidates are shallow copies; they must not run the original's compiled call
        leaked = _shallow_copy(block).__dict__.get("_compiled_call_impl")
        assert (leaked is block._compiled_call_impl) == copy_keeps_compiled_call()
        assert torch.allclose(_out(unet, inp), before, rtol=1e-4, atol=1e-5)
        with swapped(unet, op):
            got = _out(unet, inp)
        assert torch.allclose(_out(unet, inp), before, rtol=1e-4, atol=1e-5)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(got, before)
    assert torch.equal(_out(unet, inp), before)
    assert "_compiled_call_impl" not in block.__dict__


def test_guard_runs_a_copy_that_carries_the_originals_compiled_call_eagerly(t2i):
    # older torch: copy.copy keeps _compiled_call_impl; simulate that copy and check the guard
    unet, info = t2i
    inp = example_inputs(unet, info, batch=2)
    with swapped(unet, Modification("up_blocks.0.resnets.0", "width:0.5")):
        want = _out(unet, inp)
    module, parent, leaf, kind = resolve(unet, "up_blocks.0.resnets.0")
    with compiled_blocks(unet, guard_copies=True):
        narrowed, _ = build_replacement(kind, module, "width:0.5")
        narrowed.__dict__["_compiled_call_impl"] = module._compiled_call_impl  # what old torch's copy did
        setattr(parent, leaf, narrowed)
        try:
            got = _out(unet, inp)
        finally:
            setattr(parent, leaf, module)
        assert narrowed.__dict__["_compiled_call_impl"] is None
        assert unet._forward_pre_hooks
    assert not unet._forward_pre_hooks
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5)


def test_compiled_run_cannot_resume_an_eager_one(t2i, tmp_path):
    unet, _ = t2i
    score(unet, _cfg(tmp_path, "s.json"))
    with pytest.raises(LdpruneError, match="other settings"):
        score(unet, _cfg(tmp_path, "s.json", compile_blocks=True, resume=True))


def test_cli_flag(tmp_path):
    import argparse

    from ldprune_deploy.commands import score as cmd

    p = argparse.ArgumentParser()
    cmd.register(p.add_subparsers())
    args = p.parse_args(["score", "--model", "tiny-uncond", "--compile-blocks"])
    assert args.compile_blocks is True
    assert p.parse_args(["score", "--model", "tiny-uncond"]).compile_blocks is False


@pytest.mark.slow
def test_inductor_scores_equal_eager(tmp_path, monkeypatch):
    monkeypatch.setenv("LDPRUNE_COMPILE_BACKEND", "inductor")
    unet, _ = load_model("tiny-uncond", quiet=True)
    kw = dict(n_gen=3, steps=2, progress=False, include=r"^(mid_block\.resnets\.0|up_blocks\.0\.resnets\.0):",
              mods=["remove", "shortcut", "width:0.5"])
    eager = score(unet, ScoreConfig(output=tmp_path / "e.json", **kw))
    comp = score(unet, ScoreConfig(output=tmp_path / "c.json", compile_blocks=True, **kw))
    assert len(eager["scores"]) == 4
    assert comp["params"]["compile_blocks"] == {"backend": "inductor", "modified_blocks": "eager", "regions": "wide",
                                                "inductor": {}}
    for a, b in zip(eager["scores"], comp["scores"]):
        assert (a["operator"], a["modification"]) == (b["operator"], b["modification"])
        assert b["score"] == pytest.approx(a["score"], rel=1e-4, abs=1e-6), (a, b)


@pytest.mark.parametrize("modified", ["eager", "recompile"])
def test_a_block_with_swapped_children_runs_eagerly_instead_of_recompiling(t2i, modified):
    unet, info = t2i
    inp = example_inputs(unet, info, batch=2)
    op = Modification("down_blocks.0.attentions.0.transformer_blocks.0.attn2", "remove")
    with swapped(unet, op):
        want = _out(unet, inp)
    graphs = []

    def counting(gm, example_inputs):   # a dynamo backend that records every graph it compiles
        graphs.append(gm)
        return gm.forward

    torch._dynamo.reset()
    with compiled_blocks(unet, BLOCK_CLASSES, backend=counting, modified=modified):
        _out(unet, inp)
        first = len(graphs)
        block = unet.get_submodule("down_blocks.0.attentions.0.transformer_blocks.0")
        fn = block._compiled_call_impl
        with swapped(unet, op):
            got = _out(unet, inp)
            assert (block._compiled_call_impl is None) == (modified == "eager")
        _out(unet, inp)   # the original structure again: compiled again, no new graph
        assert block._compiled_call_impl is fn
    assert first > 0
    # eager: the modified block ran eagerly, nothing compiled; recompile: its new structure was compiled
    assert (len(graphs) == first) == (modified == "eager"), (first, len(graphs))
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-5)
    assert not unet._forward_pre_hooks and "_compiled_call_impl" not in block.__dict__
    with pytest.raises(ValueError, match="modified"):
        with compiled_blocks(unet, modified="sometimes"):
            pass


def test_wide_regions_compile_the_outermost_modules_and_score_like_eager(t2i, tmp_path):
    from ldprune_deploy.scoring.compile import REGIONS, region_modules

    unet, info = t2i
    names = {id(m): n for n, m in unet.named_modules()}
    wide = [names[id(m)] for m in region_modules(unet, REGIONS["wide"])]
    assert len(wide) == len(set(wide))
    # nothing compiled inside something compiled: whole Transformer2DModels, no block or Attention of theirs
    assert not [a for a in wide for b in wide if a.startswith(b + ".")]
    kinds = {type(unet.get_submodule(n)).__name__ for n in wide}
    assert kinds == {"ResnetBlock2D", "Transformer2DModel", "Downsample2D", "Upsample2D", "GroupNorm"}, kinds
    assert "conv_norm_out" in wide and "down_blocks.0.attentions.0" in wide
    inp = example_inputs(unet, info, batch=2)
    before = _out(unet, inp)
    eager = score(unet, _cfg(tmp_path, "eager.json"))
    comp = score(unet, _cfg(tmp_path, "wide.json", compile_blocks=True))   # wide is the default
    assert comp["params"]["compile_blocks"]["regions"] == "wide"
    blocks = score(unet, _cfg(tmp_path, "blocks.json", compile_blocks=True, compile_regions="blocks"))
    assert blocks["params"]["compile_blocks"]["regions"] == "blocks" and comp["signature"] != blocks["signature"]
    for a, b in zip(eager["scores"], comp["scores"], strict=True):
        assert (a["operator"], a["modification"]) == (b["operator"], b["modification"])
        assert b["score"] == pytest.approx(a["score"], rel=1e-4, abs=1e-6), (a, b)
    assert not [n for n, m in unet.named_modules() if m.__dict__.get("_compiled_call_impl") is not None]
    assert torch.equal(_out(unet, inp), before)


def test_inductor_settings_reach_inductor_compiles_only(t2i, monkeypatch):
    unet, _ = t2i
    seen = []

    def fake_compile(self, *args, **kw):   # records what compiled_blocks asks for, compiles nothing
        seen.append(kw)
        self.__dict__["_compiled_call_impl"] = self._call_impl

    monkeypatch.setattr(torch.nn.Module, "compile", fake_compile)
    for backend, want in (("inductor", {"conv_1x1_as_mm": True}), ("aot_eager", None)):
        seen.clear()
        with compiled_blocks(unet, backend=backend, inductor={"conv_1x1_as_mm": True}) as n:
            assert n == len(seen) > 0
        assert {repr(kw.get("options")) for kw in seen} == {repr(want)}
    with pytest.raises(LdpruneError, match="no_such_knob"):
        with compiled_blocks(unet, inductor={"no_such_knob": 1}):
            pass
    assert not [m for m in unet.modules() if m.__dict__.get("_compiled_call_impl") is not None]


def test_compile_settings_are_checked_before_loading(tmp_path):
    ok = dict(output=tmp_path / "s.json")
    with pytest.raises(LdpruneError, match="'everything' is not one of blocks, wide"):
        ScoreConfig(compile_blocks=True, compile_regions="everything", **ok).validate()
    for regions in ("wide", "blocks"):
        with pytest.raises(LdpruneError, match="without compiling"):
            ScoreConfig(compile_regions=regions, **ok).validate()
    with pytest.raises(LdpruneError, match="without compiling"):
        ScoreConfig(inductor={"conv_1x1_as_mm": True}, **ok).validate()
    with pytest.raises(LdpruneError, match="unknown torch._inductor.config setting.*conv_as_mm"):
        ScoreConfig(compile_blocks=True, inductor={"conv_as_mm": True}, **ok).validate()
    ScoreConfig(compile_blocks=True, compile_regions="wide", inductor={"conv_1x1_as_mm": True}, **ok).validate()


def test_cli_compile_options(tmp_path, capsys):
    from ldprune_deploy.cli import main

    out = tmp_path / "s.json"
    base = ["score", "--model", "tiny-uncond", "--n-gen", "2", "--steps", "1", "--no-progress", "-o", str(out),
            "--include", r"^mid_block\.resnets\.0:remove$"]
    assert main(base + ["--compile-blocks", "--compile-regions", "wide", "--inductor", "conv_1x1_as_mm=true",
                        "--inductor", "epilogue_fusion=false"]) == 0
    import json

    doc = json.loads(out.read_text())
    assert doc["params"]["compile_blocks"]["regions"] == "wide"
    assert doc["params"]["compile_blocks"]["inductor"] == {"conv_1x1_as_mm": True, "epilogue_fusion": False}
    before = out.read_bytes()
    for extra, msg in ((["--inductor", "conv_1x1_as_mm"], "not NAME=VALUE"),
                       (["--compile-regions", "wide"], "without compiling"),
                       (["--compile-blocks", "--inductor", "bogus=1"], "bogus")):
        assert main(base + ["--overwrite", *extra]) != 0
        assert msg in capsys.readouterr().err
    assert out.read_bytes() == before


def test_cudnn_benchmark_is_cuda_only_scoped_and_recorded(tmp_path, monkeypatch):
    from ldprune_deploy.scoring import stage as score_run

    with pytest.raises(LdpruneError, match="applies to CUDA devices"):
        ScoreConfig(cudnn_benchmark=True, output=tmp_path / "s.json").validate()
    old = torch.backends.cudnn.benchmark
    try:
        torch.backends.cudnn.benchmark = False
        with score_run.cudnn_benchmark(True):
            assert torch.backends.cudnn.benchmark is True
        assert torch.backends.cudnn.benchmark is False
        with pytest.raises(RuntimeError):   # restored on the way out of a failing sweep too
            with score_run.cudnn_benchmark(True):
                raise RuntimeError("sweep died")
        assert torch.backends.cudnn.benchmark is False
        torch.backends.cudnn.benchmark = True
        with score_run.cudnn_benchmark(False):   # off leaves the user's own setting alone
            assert torch.backends.cudnn.benchmark is True
    finally:
        torch.backends.cudnn.benchmark = old


def test_cli_cudnn_benchmark_flag_reaches_the_config(monkeypatch, tmp_path):
    from ldprune_deploy.cli import main

    seen = {}

    def fake_score(model, cfg):
        seen["cfg"] = cfg
        return {"scores": [], "model": "m", "method": cfg.method}

    monkeypatch.setattr("ldprune_deploy.scoring.score", fake_score)
    assert main(["score", "--model", "tiny-uncond", "--device", "cuda", "--cudnn-benchmark", "-o",
                 str(tmp_path / "s.json")]) == 0
    assert seen["cfg"].cudnn_benchmark is True and seen["cfg"].device == "cuda"
