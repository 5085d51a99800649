"""GM notes data set (fluidsynth) and the log-mel front end."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from ldprune_deploy.quality import mel as M
from ldprune_deploy.quality import notes as N

needs_fluidsynth = pytest.mark.skipif(
    shutil.which("fluidsynth") is None or not Path(N.SOUNDFONT).is_file(),
    reason="needs apt packages fluidsynth and fluid-soundfont-gm")


def test_mel_of_a_sine():
    t = np.arange(int(N.CLIP_S * M.SAMPLE_RATE)) / M.SAMPLE_RATE
    db = M.log_mel_db(np.stack([np.sin(2 * np.pi * 440 * t), np.zeros_like(t)]))
    assert db.shape == (2, M.N_MELS, M.FRAMES) and torch.isfinite(db).all()
    # a 440 Hz tone peaks in the band whose centre is nearest 440 Hz, and silence is the floor
    centres = M._mel_to_hz(np.linspace(M._hz_to_mel(M.F_MIN), M._hz_to_mel(M.F_MAX), M.N_MELS + 2))[1:-1]
    assert abs(int(db[0].mean(1).argmax()) - int(np.abs(centres - 440).argmin())) <= 1
    assert db[1].max() < M.DB_RANGE[0]


def test_midi_bytes_structure():
    b = N.midi_bytes(5, [(60, 100), (64, 80)])
    assert b[:4] == b"MThd" and b[14:18] == b"MTrk"
    assert b.endswith(b"\xff\x2f\x00")
    assert bytes([0xC0, 5]) in b and bytes([0x90, 60, 100]) in b and bytes([0x90, 64, 80]) in b


@needs_fluidsynth
def test_notes_slice_deterministic(tmp_path):
    pa, info = N.build_notes(str(tmp_path / "a"), limit=12, workers=2)
    pb, _ = N.build_notes(str(tmp_path / "b"), limit=12, workers=2)
    a, b = np.load(pa), np.load(pb)
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    n = info["n"]
    assert n + info["dropped_silent"] == 12 and n >= 8
    assert a["mels"].shape == (n, 1, M.N_MELS, M.FRAMES) and a["mels"].dtype == np.uint8
    assert (a["mels"].reshape(n, -1).max(1) > 0).all()
    # a slice spans the instrument families (every k-th note of the grid)
    assert len(set(a["labels"].tolist())) >= 8
    np.testing.assert_array_equal(a["labels"], a["programs"] // 8)
    held = [N.held_out(f"{p}:{q}") for p, q in zip(a["programs"], a["pitches"])]
    np.testing.assert_array_equal(a["held_out"], held)


def test_missing_fluidsynth_is_actionable(monkeypatch, tmp_path):
    from ldprune_deploy.errors import LdpruneError

    monkeypatch.setattr("ldprune_deploy.quality.common.shutil.which", lambda name: None)
    with pytest.raises(LdpruneError, match="not on PATH") as e:
        N.build_notes(str(tmp_path), limit=2)
    assert "apt-get install -y fluidsynth" in e.value.fix
