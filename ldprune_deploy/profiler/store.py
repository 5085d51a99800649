"""Partial results of a profiling run, persisted atomically so an interrupted run can resume."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable

from ..jsonio import read_json, write_json_atomic
from ..errors import LdpruneError

PARTIAL_SCHEMA = "ldprune.profile-partial/1"
log = logging.getLogger("ldprune")


def partial_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + ".partial")


class UnitStore:
    """``key -> measured value``; each unit is measured once, then kept across interruptions."""

    def __init__(self, output: str | Path | None, header: dict[str, Any], every: int = 10,
                 on_unit: Callable[[str], None] | None = None, bar=None):
        self.path = partial_path(output) if output else None
        self.header = header
        self.done: dict[str, Any] = {}
        self.every = max(1, every)
        self.on_unit = on_unit
        self.bar = bar
        self._unsaved = 0
        self.measured_now = 0

    def load(self) -> int:
        """Take over the units of an interrupted run with the same settings; return how many."""
        if self.path is None or not self.path.exists():
            return 0
        data = read_json(self.path, PARTIAL_SCHEMA, "partial profile")
        if data.get("header") != self.header:
            theirs, ours = data.get("header", {}), self.header
            diff = sorted(k for k in set(theirs) | set(ours) if theirs.get(k) != ours.get(k))
            raise LdpruneError(f"partial results {self.path} were measured with other settings ({', '.join(diff)})",
                               f"rerun with the same settings, or delete {self.path} to start afresh")
        self.done = dict(data.get("units", {}))
        return len(self.done)

    def unit(self, key: str, compute: Callable[[], Any]) -> Any:
        if key in self.done:
            return self.done[key]
        value = compute()
        self.done[key] = value
        self.measured_now += 1
        self._unsaved += 1
        if self._unsaved >= self.every:
            self.save()
        if self.bar is not None:
            self.bar.update(1)
        if self.on_unit is not None:
            self.on_unit(key)
        return value

    def save(self) -> None:
        if self.path is not None and self._unsaved:
            write_json_atomic(self.path, {"schema": PARTIAL_SCHEMA, "header": self.header, "units": self.done})
        self._unsaved = 0

    def discard(self) -> None:
        if self.path is not None and self.path.exists():
            self.path.unlink()
