"""Versioned JSON files and output folders, written atomically (the typed artefacts are in ``artifacts``).

Every artefact carries a ``schema`` string such as ``ldprune.plan/1``. Readers check
the schema family and refuse files of a newer major version or of another kind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import LdpruneError


def write_json_atomic(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as JSON to ``path`` via a temp file in the same folder + rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=False, default=_json_default)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` for any writer (same suffix, so writers that pick the
    format from it still work); renamed onto ``path`` when the block succeeds, removed if it fails,
    so an interrupted write never leaves a half file under the real name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):  # numpy / torch scalars
        return o.item()
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_json(path: str | os.PathLike, schema: str | None = None, what: str = "file") -> dict:
    """Read a JSON artefact; check its ``schema`` family (``name/major``) when given."""
    path = Path(path)
    if not path.exists():
        raise LdpruneError(f"{what} not found: {path}", "check the path")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise LdpruneError(
            f"{what} {path} is not valid JSON ({e}); it may be truncated or hand-edited wrongly",
            f"regenerate it or repair the JSON near line {getattr(e, 'lineno', '?')}",
        ) from None
    if not isinstance(data, dict):
        raise LdpruneError(f"{what} {path} must hold a JSON object", "regenerate it")
    if schema is not None:
        check_schema(data, schema, f"{what} {path}")
    return data


def check_schema(data: dict, schema: str, where: str) -> None:
    name, _, major = schema.partition("/")
    got = data.get("schema")
    if not isinstance(got, str) or "/" not in got:
        raise LdpruneError(f"{where} has no 'schema' field (expected {schema})",
                           "pass a file written by ldprune, or add the schema field")
    got_name, _, got_major = got.partition("/")
    if got_name != name:
        raise LdpruneError(f"{where} is a '{got_name}' file, expected '{name}'",
                           "pass the right kind of file")
    if got_major != major:
        raise LdpruneError(f"{where} has schema {got}, this version reads {schema}",
                           "regenerate it with this version of ldprune-deploy")


def ensure_output_dir_free(path: str | os.PathLike, overwrite: bool) -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise LdpruneError(f"output path {path} exists and is not a folder", "choose another -o path")
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise LdpruneError(f"output folder {path} exists and is not empty",
                           "choose another -o path or pass --overwrite")
    return path


@contextlib.contextmanager
def atomic_output_dir(path: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp folder beside ``path``; on success it replaces ``path`` in one rename.

    On failure nothing at ``path`` is touched, so the user's files are never half-written.
    """
    path = ensure_output_dir_free(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
