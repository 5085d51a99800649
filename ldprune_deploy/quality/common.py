"""Shared plumbing of the offline data sets: cache folder, fixed split, atomic .npz, tools.

The data sets are rebuilt from Debian packages, so everything here is deterministic: the
split is a hash of a stable key (never a random draw), and arrays are written in a fixed
order so two builds produce identical arrays.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np

from ..jsonio import atomic_path
from ..errors import LdpruneError

DEFAULT_CACHE = Path("data_cache")
# a quarter is held out: the split is the Frechet reference of every proxy metric (never seen by a
# teacher, a distillation or a proxy's training) and the proxies' accuracy test, and a Frechet
# distance on 128 features needs several hundred reference items (10 % left 309 emoji)
HELD_OUT_PERCENT = 25


def cache_dir(out: str | os.PathLike | None) -> Path:
    return Path(out) if out else Path(os.environ.get("LDPRUNE_DATA_CACHE", DEFAULT_CACHE))


def held_out(key: str, percent: int = HELD_OUT_PERCENT) -> bool:
    """Fixed split: the same key is held out on every machine and every Python version
    (``hash()`` is salted per process, sha1 is not)."""
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:4], "little") % 100 < percent


def require_file(path: str | os.PathLike, apt_package: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise LdpruneError(f"{path} not found (it comes with the Debian package {apt_package})",
                           f"apt-get install -y {apt_package}")
    return path


def require_tool(name: str, apt_package: str) -> str:
    exe = shutil.which(name)
    if exe is None:
        raise LdpruneError(f"'{name}' is not on PATH", f"apt-get install -y {apt_package}")
    return exe


def save_npz_atomic(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Compressed .npz via temp file + rename, so an interrupted build leaves no half file."""
    with atomic_path(path) as tmp:
        np.savez_compressed(tmp, **arrays)
    return Path(path)


def load_npz(path: str | os.PathLike, builder: str) -> dict[str, np.ndarray]:
    path = Path(path)
    if not path.is_file():
        raise LdpruneError(f"data set not found: {path}", f"build it with `ldprune data {builder}` "
                           "(or pass the folder it was written to)")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
