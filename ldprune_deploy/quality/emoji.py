"""Noto Color Emoji glyphs as a small captioned image data set (text-to-image and unconditional).

Which glyphs: every RGI emoji sequence of Unicode's ``emoji-test.txt`` (``fully-qualified``
and ``component``, from the Debian package ``unicode-data``) — the font covers all of them,
and each one is checked to shape to a single glyph (Pillow + libraqm applies the font's
GSUB ligatures for ZWJ, skin-tone, keycap and flag sequences). The font's own cmap also
holds Google private-use glyphs and bare tags/regional indicators; those are not emoji
and are left out.

Caption: the Unicode names of the sequence's code points (``unicodedata``; names of code
points newer than Python's database come from ``UnicodeData.txt`` of the same package —
Unicode names never change once assigned, so this is the same on every Python), without
the invisible ZWJ/VS16 joiners. Coarse label: the emoji-test *group* (10 classes).
"""

from __future__ import annotations

import hashlib
import logging
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import LdpruneError
from .common import cache_dir, held_out, require_file, save_npz_atomic

log = logging.getLogger(__name__)

FONT_PATH = "/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"
EMOJI_TEST = "/usr/share/unicode/emoji/emoji-test.txt"
UNICODE_DATA = "/usr/share/unicode/UnicodeData.txt"
FONT_SIZE = 109          # the only bitmap strike of the CBDT font
CANVAS = 136             # glyph bitmaps are 136x128 at 109 ppem; pad to a square
BACKGROUND = (255, 255, 255)   # emoji are designed for light backgrounds
SIZES = (64, 32)
SKIN_TONES = range(0x1F3FB, 0x1F400)
INVISIBLE = {0x200D, 0xFE0F}
FILENAME = "emoji.npz"


@dataclass(frozen=True)
class EmojiEntry:
    codepoints: tuple[int, ...]
    group: str
    subgroup: str
    cldr_name: str

    @property
    def text(self) -> str:
        return "".join(map(chr, self.codepoints))

    @property
    def key(self) -> str:
        return " ".join(f"{c:04X}" for c in self.codepoints)

    @property
    def split_key(self) -> str:
        # skin-tone variants share their base's side of the split: a held-out image is
        # then a new pictogram, not a recoloured training one
        return " ".join(f"{c:04X}" for c in self.codepoints if c not in SKIN_TONES and c not in INVISIBLE)


def read_emoji_test(path: str = EMOJI_TEST) -> list[EmojiEntry]:
    require_file(path, "unicode-data")
    entries, group, subgroup = [], "", ""
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("# group:"):
            group = line.split(":", 1)[1].strip()
        elif line.startswith("# subgroup:"):
            subgroup = line.split(":", 1)[1].strip()
        elif line and not line.startswith("#"):
            cps, rest = line.split(";", 1)
            status, _, comment = rest.partition("#")
            if status.strip() not in ("fully-qualified", "component"):
                continue
            # comment: "<emoji> E<version> <cldr name>"
            name = comment.strip().split(" ", 2)[2] if comment.strip().count(" ") >= 2 else ""
            entries.append(EmojiEntry(tuple(int(c, 16) for c in cps.split()), group, subgroup, name))
    if not entries:
        raise LdpruneError(f"{path} lists no emoji", "reinstall it: apt-get install --reinstall -y unicode-data")
    return entries


_NAMES: dict[int, str] | None = None


def codepoint_name(cp: int) -> str:
    name = unicodedata.name(chr(cp), "")
    if name:
        return name
    global _NAMES
    if _NAMES is None:
        _NAMES = {}
        for line in Path(require_file(UNICODE_DATA, "unicode-data")).read_text().splitlines():
            f = line.split(";")
            if len(f) > 1 and not f[1].startswith("<"):
                _NAMES[int(f[0], 16)] = f[1]
    return _NAMES.get(cp, f"U+{cp:04X}")


def caption(codepoints: tuple[int, ...]) -> str:
    return ", ".join(codepoint_name(c) for c in codepoints if c not in INVISIBLE)


def _font():
    from PIL import ImageFont, features

    require_file(FONT_PATH, "fonts-noto-color-emoji")
    if not features.check("raqm"):
        raise LdpruneError("Pillow has no libraqm, so emoji sequences (ZWJ, flags, skin tones) "
                           "would not shape into one glyph", "apt-get install -y libraqm0")
    return ImageFont.truetype(FONT_PATH, FONT_SIZE, layout_engine=ImageFont.Layout.RAQM)


def render(font, text: str) -> dict[int, np.ndarray]:
    """One glyph, centred on the fixed background, resized (Lanczos) to each of SIZES."""
    from PIL import Image, ImageDraw

    glyph = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    ImageDraw.Draw(glyph).text((CANVAS / 2, CANVAS / 2), text, font=font, embedded_color=True, anchor="mm")
    img = Image.new("RGB", (CANVAS, CANVAS), BACKGROUND)
    img.paste(glyph, (0, 0), glyph)
    return {s: np.asarray(img.resize((s, s), Image.Resampling.LANCZOS)) for s in SIZES}


def build_emoji(out: str | None = None, limit: int | None = None) -> tuple[Path, dict]:
    """Render the data set into ``<out>/emoji.npz`` (``emoji-<limit>.npz`` for a slice)."""
    t0 = time.perf_counter()
    entries = read_emoji_test()
    groups = sorted({e.group for e in entries})   # from the whole list: a slice keeps the label ids
    if limit is not None:
        entries = entries[:limit]
    font = _font()
    single = font.getlength("\U0001F600")
    images = {s: [] for s in SIZES}
    for e in entries:
        # a sequence the shaper could not ligate is several glyphs wide: a broken font
        # install or a font older than emoji-test.txt; refuse rather than train on it
        if font.getlength(e.text) > single * 1.05:
            raise LdpruneError(f"emoji {e.key} ({e.cldr_name}) does not shape to one glyph with {FONT_PATH}",
                               "install matching fonts-noto-color-emoji and unicode-data versions "
                               "(apt-get install -y fonts-noto-color-emoji unicode-data)")
        for s, a in render(font, e.text).items():
            images[s].append(a)
    arrays = {f"images{s}": np.stack(images[s]).astype(np.uint8) for s in SIZES}
    arrays.update(
        sequences=np.array([e.key for e in entries]),
        captions=np.array([caption(e.codepoints) for e in entries]),
        cldr_names=np.array([e.cldr_name for e in entries]),
        subgroups=np.array([e.subgroup for e in entries]),
        labels=np.array([groups.index(e.group) for e in entries], dtype=np.int64),
        label_names=np.array(groups),
        held_out=np.array([held_out(e.split_key) for e in entries]),
    )
    name = FILENAME if limit is None else f"emoji-{limit}.npz"
    path = save_npz_atomic(cache_dir(out) / name, **arrays)
    info = {"path": str(path), "n": len(entries), "held_out": int(arrays["held_out"].sum()),
            "classes": groups, "seconds": round(time.perf_counter() - t0, 2),
            "bytes": path.stat().st_size, "sha256_images64": _digest(arrays["images64"])}
    return path, info


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(a.tobytes()).hexdigest()[:16]
