"""General-MIDI notes rendered by fluidsynth as log-mel spectrograms (the audio data set).

Grid: programs x pitches x velocities. One MIDI file per program holds all of its notes
spaced ``SPACING`` s apart (one fluidsynth start per program instead of per note: loading
the 140 MB sound font dominates otherwise), and "All Sound Off" ends each note's release
tail before the next onset. Reverb and chorus are off so a note is only its own sound.
Programs render in parallel (one fluidsynth process per worker).

Spectrogram: 16 kHz, the first ``CLIP_S`` s after the onset, 64 mel bands x 64 frames,
power in dB against a fixed reference (not the clip's maximum, so velocity stays
audible in the data), clipped to ``DB_RANGE`` and stored as uint8 — the AudioDiffusion
convention of mel spectrograms as 8-bit images. Label: GM instrument family (program // 8).
Notes the sound font has no sample for render as silence and are dropped.
"""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile
import time
import wave
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import LdpruneError
from .common import cache_dir, held_out, require_file, require_tool, save_npz_atomic
from .mel import SAMPLE_RATE, log_mel_uint8
from .portable import in_portable_child, run_portable

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
FAMILIES = ["Piano", "Chromatic Percussion", "Organ", "Guitar", "Bass", "Strings", "Ensemble", "Brass",
            "Reed", "Pipe", "Synth Lead", "Synth Pad", "Synth Effects", "Ethnic", "Percussive", "Sound Effects"]
PROGRAMS = tuple(range(128))
PITCHES = tuple(range(36, 97, 6))    # C2..C7 in half-octaves: 11 pitches
VELOCITIES = (60, 100, 127)
HOLD_S, SPACING_S, CLIP_S = 1.0, 2.5, 1.5
TPQ, TEMPO_US = 480, 500_000          # 120 bpm: 960 ticks per second
FILENAME = "notes.npz"


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    return bytes(reversed(out))


def midi_bytes(program: int, notes: list[tuple[int, int]]) -> bytes:
    """A format-0 MIDI file: ``notes`` (pitch, velocity) on channel 0, every SPACING_S s."""
    tps = TPQ * 1_000_000 // TEMPO_US
    hold, rest = int(HOLD_S * tps), int((SPACING_S - HOLD_S) * tps)
    ev = _vlq(0) + b"\xff\x51\x03" + TEMPO_US.to_bytes(3, "big") + _vlq(0) + bytes([0xC0, program])
    for i, (pitch, vel) in enumerate(notes):
        ev += _vlq(0 if i == 0 else 2) + bytes([0x90, pitch, vel]) + _vlq(hold) + bytes([0x80, pitch, 0])
        # All Sound Off just before the next onset: long release tails (pads) end here
        ev += _vlq(rest - 2) + bytes([0xB0, 120, 0])
    ev += _vlq(0) + b"\xff\x2f\x00"
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, TPQ) + b"MTrk" + struct.pack(">I", len(ev)) + ev


def grid(programs=PROGRAMS, pitches=PITCHES, velocities=VELOCITIES) -> list[tuple[int, int, int]]:
    return [(p, n, v) for p in programs for n in pitches for v in velocities]


def render_program(program: int, notes: list[tuple[int, int]], workdir: Path, fluidsynth: str) -> np.ndarray:
    """Mono float32 clips (len(notes), CLIP_S * SAMPLE_RATE) of one program's notes."""
    mid, wav = workdir / f"p{program:03d}.mid", workdir / f"p{program:03d}.wav"
    mid.write_bytes(midi_bytes(program, notes))
    cmd = [fluidsynth, "-ni", "-q", "-R", "0", "-C", "0", "-g", "1.0", "-r", str(SAMPLE_RATE),
           "-O", "s16", "-T", "wav", "-F", str(wav), SOUNDFONT, str(mid)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0 or not wav.is_file():
        raise LdpruneError(f"fluidsynth failed on program {program}: {r.stderr.strip()[:300]}",
                           "check that `fluidsynth` and fluid-soundfont-gm work: "
                           "apt-get install --reinstall -y fluidsynth fluid-soundfont-gm")
    with wave.open(str(wav)) as w:
        ch, rate = w.getnchannels(), w.getframerate()
        audio = np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0
    audio = audio.reshape(-1, ch).mean(1)
    if rate != SAMPLE_RATE:
        raise LdpruneError(f"fluidsynth wrote {rate} Hz, asked for {SAMPLE_RATE}", "update fluidsynth")
    step, clip = int(SPACING_S * SAMPLE_RATE), int(CLIP_S * SAMPLE_RATE)
    audio = np.pad(audio, (0, max(0, step * (len(notes) - 1) + clip - len(audio))))
    return np.stack([audio[i * step:i * step + clip] for i in range(len(notes))])


def build_notes(out: str | None = None, limit: int | None = None, workers: int | None = None,
                programs=PROGRAMS, pitches=PITCHES, velocities=VELOCITIES) -> tuple[Path, dict]:
    """Render the grid into ``<out>/notes.npz`` (``notes-<limit>.npz`` for a slice of the grid)."""
    t0 = time.perf_counter()
    fluidsynth = require_tool("fluidsynth", "fluidsynth")
    require_file(SOUNDFONT, "fluid-soundfont-gm")
    items = grid(programs, pitches, velocities)
    if limit is not None:
        # a slice takes every k-th note so it still spans the instrument families
        items = items[:: max(1, len(items) // limit)][:limit]
    by_prog: dict[int, list[tuple[int, int]]] = {}
    for p, n, v in items:
        by_prog.setdefault(p, []).append((n, v))
    workers = workers or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="ldprune-notes-") as tmp, ThreadPoolExecutor(workers) as pool:
        # threads suffice: the work is in fluidsynth processes and in torch's stft (GIL released)
        futs = {p: pool.submit(_render_mel, p, notes, Path(tmp), fluidsynth) for p, notes in by_prog.items()}
        mels = {p: f.result() for p, f in futs.items()}
    mel = np.concatenate([mels[p] for p in by_prog])
    meta = np.array([(p, n, v) for p, notes in by_prog.items() for n, v in notes], dtype=np.int64)
    # FluidR3 has no sample for some (program, key) pairs (e.g. high notes of contrabass):
    # those render as silence, which is not a note; drop them
    audible = mel.reshape(len(mel), -1).max(1) > 0
    silent = int((~audible).sum())
    mel, meta = mel[audible], meta[audible]
    arrays = dict(
        mels=mel[:, None],                       # (N, 1, n_mels, frames) uint8
        programs=meta[:, 0], pitches=meta[:, 1], velocities=meta[:, 2],
        labels=meta[:, 0] // 8, label_names=np.array(FAMILIES),
        # held out by (program, pitch): a held-out note is unseen at every velocity
        held_out=np.array([held_out(f"{p}:{n}") for p, n, _ in meta]),
    )
    name = FILENAME if limit is None else f"notes-{limit}.npz"
    path = save_npz_atomic(cache_dir(out) / name, **arrays)
    info = {"path": str(path), "n": len(mel), "held_out": int(arrays["held_out"].sum()), "dropped_silent": silent,
            "programs": len(by_prog), "workers": workers, "seconds": round(time.perf_counter() - t0, 2),
            "bytes": path.stat().st_size}
    return path, info


def write_notes(out: str | None = None, limit: int | None = None, workers: int | None = None,
                portable: bool = True) -> dict:
    """``build_notes``'s info. ``portable`` builds in a child process with portable numerics
    (portable.py): the spectrograms' bytes then should not depend on the CPU, as they did."""
    if portable and not in_portable_child():
        return run_portable(f"{__name__}:write_notes", "ldprune data notes --native-numerics",
                            out=out, limit=limit, workers=workers)
    return build_notes(out, limit, workers)[1] | {"numerics": "portable" if portable else "native"}


def _render_mel(program, notes, workdir, fluidsynth) -> np.ndarray:
    return log_mel_uint8(render_program(program, notes, workdir, fluidsynth))
