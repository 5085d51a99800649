"""Emoji data set: a small slice, determinism, fixed split, captions, CLI."""

from pathlib import Path

import numpy as np
import pytest

from ldprune_deploy.quality import emoji as E

pytestmark = pytest.mark.skipif(not (Path(E.FONT_PATH).is_file() and Path(E.EMOJI_TEST).is_file()),
                                reason="needs apt packages fonts-noto-color-emoji and unicode-data")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    a = tmp_path_factory.mktemp("a")
    b = tmp_path_factory.mktemp("b")
    pa, ia = E.build_emoji(str(a), limit=24)
    pb, _ = E.build_emoji(str(b), limit=24)
    return np.load(pa), np.load(pb), ia


def test_slice_shapes_and_labels(built):
    z, _, info = built
    assert z["images64"].shape == (24, 64, 64, 3) and z["images64"].dtype == np.uint8
    assert z["images32"].shape == (24, 32, 32, 3)
    assert info["n"] == 24
    # label ids come from the whole group list, so a slice's ids match the full set's
    assert list(z["label_names"]).index("Smileys & Emotion") == int(z["labels"][0])
    assert len(z["label_names"]) == 10
    # the glyph is drawn: not all background, and the corners are the fixed background
    img = z["images64"][0].astype(int)
    assert (img != 255).any(axis=-1).mean() > 0.3
    assert tuple(img[0, 0]) == E.BACKGROUND


def test_deterministic(built):
    a, b, _ = built
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_caption_of_known_emoji(built):
    z, _, _ = built
    i = list(z["sequences"]).index("1F600")
    assert z["captions"][i] == "GRINNING FACE"
    assert z["cldr_names"][i] == "grinning face"


def test_caption_rules():
    # ZWJ and VS16 are invisible joiners, not words; skin tone is kept
    assert E.caption((0x1F468, 0x1F3FD, 0x200D, 0x1F4BB)) == \
        "MAN, EMOJI MODIFIER FITZPATRICK TYPE-4, PERSONAL COMPUTER"
    assert E.caption((0x2764, 0xFE0F)) == "HEAVY BLACK HEART"
    # newer than Python 3.11's Unicode 14 database: the name comes from UnicodeData.txt
    assert E.codepoint_name(0x1FAE8) == "SHAKING FACE"


def test_split_fixed_and_shared_by_skin_tones():
    assert E.held_out("1F600") == E.held_out("1F600")
    entries = E.read_emoji_test()
    by_key = {e.key: e for e in entries}
    base, toned = by_key["1F44B"], by_key["1F44B 1F3FD"]
    assert E.held_out(base.split_key) == E.held_out(toned.split_key)
    frac = np.mean([E.held_out(e.split_key) for e in entries])
    assert 0.18 < frac < 0.32


def test_every_entry_is_one_glyph():
    entries = E.read_emoji_test()
    font = E._font()
    single = font.getlength("\U0001F600")
    assert len(entries) > 3600
    assert all(font.getlength(e.text) <= single * 1.05 for e in entries)


def test_cli_missing_font_is_actionable(monkeypatch, tmp_path, capsys):
    from ldprune_deploy.cli import main

    monkeypatch.setattr(E, "FONT_PATH", str(tmp_path / "nope.ttf"))
    assert main(["data", "emoji", "--out", str(tmp_path), "--limit", "2"]) == 2
    assert "apt-get install -y fonts-noto-color-emoji" in capsys.readouterr().err
