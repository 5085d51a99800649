"""benchmarks/_quality.RowStore without data or training: which stored rows a train phase reuses
(the smoke test in test_quality_smoke.py covers it end to end where data_cache exists)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
Q = pytest.importorskip("_quality")


def _plan(measured_ms: float = 1.2, ops=(("mid_block.attentions.0", "remove"),)):
    return SimpleNamespace(measured={"latency_ms": measured_ms, "full_latency_ms": 2.0},
                           predicted={"latency_ms": 1.1, "importance_lost": 0.2},
                           modifications=[SimpleNamespace(operator=o, modification=m) for o, m in ops],
                           meta={"verify": {"met": True}, "landing": {"landed": True}})


@pytest.fixture
def setup(tmp_path):
    unet = tmp_path / "teacher" / "unet"
    unet.mkdir(parents=True)
    (unet / "config.json").write_text("{}")
    (unet / "diffusion_pytorch_model.safetensors").write_bytes(b"weights-1")
    data, proxies = tmp_path / "data", tmp_path / "assets"
    data.mkdir()
    proxies.mkdir()
    (data / "emoji.npz").write_bytes(b"data")
    (proxies / "proxy-emoji.safetensors").write_bytes(b"proxy")
    t = SimpleNamespace(folder=tmp_path / "teacher", hint={"data": "emoji"}, cond_train=None)
    a = SimpleNamespace(data=str(data), proxies=str(proxies), emb=None, resume=True, steps=200, batch=128, lr=5e-4,
                        ema=None, lambda_prompt=0.0, fid_n=500, sample_steps=25, eval_precision="fp32", ref_n=None)
    return t, a, tmp_path / "work", unet


class Maker:
    def __init__(self):
        self.calls = 0

    def __call__(self):
        self.calls += 1
        return {"fid_distilled": 100.0 + self.calls}


def test_rows_reused_only_with_the_same_fingerprint(setup):
    t, a, work, unet = setup
    make = Maker()
    first = Q.RowStore(t, a, work).row("k-s0", _plan(), make)
    assert make.calls == 1 and first["fid_distilled"] == 101.0 and first["measured_on"]["device"]
    stored = json.loads((work / "rows" / "row-k-s0.json").read_text())
    assert stored["schema"] == Q.RowStore.SCHEMA and stored["fingerprint"]["settings"]["steps"] == 200

    again = Q.RowStore(t, a, work)
    assert again.row("k-s0", _plan(), make) == first and make.calls == 1
    assert again.counts() == {"resumed": 1, "measured": 0, "resumed_keys": ["k-s0"]}
    assert "1 of 1 resumed" in again.note([first])

    # each change, against the row stored by the unchanged run, is measured again and the file replaced
    changes = [({}, _plan(measured_ms=1.25)), ({"steps": 400}, _plan()), ({"eval_precision": "bf16"}, _plan()),
               ({"lambda_prompt": 0.1}, _plan()), ({"fid_n": 1000}, _plan()), ({"lambda_out": 2.0}, _plan()),
               ({"cond_dropout": 0.0}, _plan()), ({"caption_mix": 0.5}, _plan()),
               ({"snr_gamma": 5.0}, _plan()), ({"lambda_feat": 0.1}, _plan()),
               ({}, _plan(ops=(("mid_block.resnets.0", "remove"),)))]
    for settings, plan in changes:
        shutil.rmtree(work / "rows")
        Q.RowStore(t, a, work).row("k-s0", _plan(), make)
        before = make.calls
        Q.RowStore(t, SimpleNamespace(**{**vars(a), **settings}), work).row("k-s0", plan, make)
        assert make.calls == before + 1, (settings, plan)
        assert Q.RowStore(t, SimpleNamespace(**{**vars(a), **settings}), work).row("k-s0", plan, make)["fid_distilled"] \
            == 100.0 + make.calls   # the replaced file is the one reused next
    (unet / "diffusion_pytorch_model.safetensors").write_bytes(b"weights-2")   # other teacher weights
    before = make.calls
    Q.RowStore(t, a, work).row("k-s0", _plan(ops=(("mid_block.resnets.0", "remove"),)), make)
    assert make.calls == before + 1

def test_rows_stored_before_later_settings_still_resume(setup):
    """A row stored by a run that had no --lambda-out/--cond-dropout (``a`` lacks them) is the row of their
    defaults: the committed work folders resume rather than measure every row again."""
    t, a, work, _ = setup
    make = Maker()
    Q.RowStore(t, a, work).row("k-s0", _plan(), make)
    now = SimpleNamespace(**vars(a), **Q.LATER_SETTINGS)
    assert Q.RowStore(t, now, work).row("k-s0", _plan(), make)["fid_distilled"] == 101.0 and make.calls == 1
    stored = json.loads((work / "rows" / "row-k-s0.json").read_text())["fingerprint"]["settings"]
    assert not set(Q.LATER_SETTINGS) & set(stored)


def test_the_unrecorded_settings_are_the_library_defaults():
    """A result leaves out a later setting at its benchmark default and readers fill in UNRECORDED_DISTILL: both
    must be what the library distils and trains with, or a committed result would be read with the wrong value."""
    from ldprune_deploy.distillation.config import DistillConfig
    from ldprune_deploy.quality.teachers import TeacherConfig

    d = DistillConfig()
    assert Q.LATER_SETTINGS == {"lambda_out": d.lambda_out, "lambda_feat": d.lambda_feat, "snr_gamma": d.snr_gamma,
                                "cond_dropout": TeacherConfig.cond_drop, "caption_mix": 0.0}
    assert Q.WF.DISTILL_DEFAULTS == {**Q.LATER_SETTINGS, "lambda_prompt": d.lambda_prompt}


def test_no_resume_and_unreadable_rows_measure_again(setup, capsys):
    t, a, work, _ = setup
    make = Maker()
    Q.RowStore(t, a, work).row("k-s0", _plan(), make)
    store = Q.RowStore(t, SimpleNamespace(**{**vars(a), "resume": False}), work)
    store.row("k-s0", _plan(), make)
    assert make.calls == 2 and store.counts()["measured"] == 1
    (work / "rows" / "row-k-s0.json").write_text("{ cut off")
    Q.RowStore(t, a, work).row("k-s0", _plan(), make)
    assert make.calls == 3 and "unreadable" in capsys.readouterr().out
    assert json.loads((work / "rows" / "row-k-s0.json").read_text())["row"]["fid_distilled"] == 103.0


@pytest.mark.parametrize("bad,message", [({"cond_dropout": 1.0}, "--cond-dropout takes a share of captions in [0, 1)"),
                                         ({"lambda_out": -1.0}, "--lambda-out takes a weight >= 0"),
                                         ({"caption_mix": 1.0}, "--caption-mix takes a share of rows in [0, 1)"),
                                         ({"snr_gamma": 0.0}, "--snr-gamma takes a positive SNR cap"),
                                         ({"lambda_feat": -0.1}, "--lambda-feat takes a weight >= 0")])
def test_loss_settings_out_of_range_stop_with_the_flag_named(bad, message):
    a = SimpleNamespace(seeds="0", backend="cpu", smoke=False, **{**Q.LATER_SETTINGS, **bad})
    with pytest.raises(SystemExit, match=re.escape(message)):
        Q.finish_args(a, "emoji-uig")
