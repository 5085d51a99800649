"""PrunePlan: which operators to modify and how; versioned, hand-editable JSON."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..artifacts import read_json, write_json_atomic
from ..errors import LdpruneError

PLAN_SCHEMA = "ldprune.plan/1"


@dataclass
class Modification:
    operator: str
    modification: str
    keep: list[int] | None = None      # resolved units for width:* (filled by apply_plan)

    def to_json(self) -> dict[str, Any]:
        d = {"operator": self.operator, "modification": self.modification}
        if self.keep is not None:
            d["keep"] = list(self.keep)
        return d


@dataclass
class PrunePlan:
    """A list of (operator id, modification) for one base model (by config fingerprint).

    ``budget``, ``predicted`` and ``measured`` are filled by the planner and verify loop;
    ``meta`` carries free-form provenance (strategy, solver status, input fingerprints).
    """

    model_fingerprint: str
    modifications: list[Modification] = field(default_factory=list)
    model: str = ""
    budget: dict[str, Any] | None = None
    predicted: dict[str, Any] | None = None
    measured: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))

    @property
    def operators(self) -> list[str]:
        return [m.operator for m in self.modifications]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["modifications"] = [m.to_json() for m in self.modifications]
        return {"schema": PLAN_SCHEMA, **d}

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str = "plan") -> "PrunePlan":
        from ..artifacts import check_schema

        check_schema(data, PLAN_SCHEMA, where)
        try:
            mods = [Modification(m["operator"], m["modification"], m.get("keep"))
                    for m in data.get("modifications", [])]
            known = {f for f in cls.__dataclass_fields__} - {"modifications"}
            extra = {k: v for k, v in data.items() if k in known}
            return cls(modifications=mods, **extra)
        except (KeyError, TypeError) as e:
            raise LdpruneError(f"{where} is malformed: {e!r}",
                               "each modification needs 'operator' and 'modification' keys") from None

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(path, self.to_json())

    @classmethod
    def load(cls, path: str | Path) -> "PrunePlan":
        return cls.from_json(read_json(path, PLAN_SCHEMA, "plan"), f"plan {path}")


def find_conflicts(mods: list[Modification]) -> list[tuple[str, str]]:
    """Pairs of modified operators where one contains the other (or the same one twice)."""
    ids = sorted(m.operator for m in mods)
    out = []
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            if b == a or b.startswith(a + "."):
                out.append((a, b))
            elif not b.startswith(a):
                break
    return out
