"""Data builders in a child process with portable CPU numerics: errors come back as one, and the
notes spectrograms do not change with the code paths the parent process asks for."""

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
