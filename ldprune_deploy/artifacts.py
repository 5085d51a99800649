"""The typed artefacts stages hand each other: ``Profile``, ``Scores``, ``PrunePlan``, ``Modification``.

Each has its schema constant, ``load`` (schema family and required keys checked, one clear error
otherwise) and ``save`` (atomic JSON); every reader goes through them. ``Profile`` and ``Scores``
are dicts with their keys validated (the stages read and write many fields; see docs/artefacts.md
for all of them); ``PrunePlan`` is a dataclass, hand-editable as JSON.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import LdpruneError
from .jsonio import check_schema, read_json, write_json_atomic

PROFILE_SCHEMA = "ldprune.profile/1"
SCORES_SCHEMA = "ldprune.scores/1"
PLAN_SCHEMA = "ldprune.plan/1"
log = logging.getLogger("ldprune")


class _Document(dict):
    """A JSON artefact held as a dict: ``SCHEMA`` and the keys it must have."""

    SCHEMA = ""
    WHAT = ""
    REQUIRED: tuple[str, ...] = ()
    FIX = ""

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str | None = None):
        where = where or cls.WHAT
        check_schema(data, cls.SCHEMA, where)
        for key in cls.REQUIRED:
            if key not in data:
                raise LdpruneError(f"{where} lacks '{key}'", cls.FIX)
        return cls(data)

    @classmethod
    def read(cls, path: str | Path):
        """The file at ``path`` after the schema check only (partial files of an interrupted run)."""
        return cls(read_json(path, cls.SCHEMA, cls.WHAT))

    def save(self, path: str | Path) -> Path:
        return write_json_atomic(path, {"schema": self.SCHEMA, **self})

    @property
    def model_fingerprint(self) -> str | None:
        return self.get("model_fingerprint")


class Profile(_Document):
    """What each candidate modification saves on one device (``ldprune profile``)."""

    SCHEMA, WHAT = PROFILE_SCHEMA, "profile"
    REQUIRED = ("model_fingerprint", "full_latency_ms", "operators", "backend")
    FIX = "regenerate it with `ldprune profile`"

    @classmethod
    def load(cls, path: str | Path, *, model_fingerprint: str | None = None, check_device: bool = False) -> "Profile":
        """A different model is an error; a different GPU/driver/backend (``check_device``) a loud warning."""
        from .device import device_fingerprint, same_device

        prof = cls.from_json(read_json(path, cls.SCHEMA, cls.WHAT), f"profile {path}")
        if model_fingerprint is not None and prof["model_fingerprint"] != model_fingerprint:
            raise LdpruneError(f"profile {path} is for model {prof['model_fingerprint']} ({prof.get('model', '?')}), "
                               f"not for this model ({model_fingerprint})",
                               "profile this model with `ldprune profile --model ...`")
        if check_device:
            here = device_fingerprint()
            diff = same_device(prof.get("device", {}), here)
            if diff:
                theirs = {k: prof.get("device", {}).get(k) for k in diff}
                ours = {k: here.get(k) for k in diff}
                log.warning("PROFILE FROM ANOTHER DEVICE: %s was measured on %s, this machine is %s; "
                            "latencies may not transfer", path, theirs, ours)
        return prof

    @property
    def full_ms(self) -> float:
        return float(self["full_latency_ms"]["median_ms"])


class Scores(_Document):
    """How much each candidate modification changes the model's output (``ldprune score``)."""

    SCHEMA, WHAT = SCORES_SCHEMA, "scores file"
    REQUIRED = ("model_fingerprint", "scores")
    FIX = "regenerate it with `ldprune score`"

    @classmethod
    def from_json(cls, data: dict[str, Any], where: str | None = None) -> "Scores":
        doc = super().from_json(data, where)
        where = where or cls.WHAT
        if not isinstance(doc["scores"], list):
            raise LdpruneError(f"{where} has no 'scores' list", cls.FIX)
        for e in doc["scores"]:
            if not isinstance(e, dict) or not {"operator", "modification", "score"} <= set(e):
                raise LdpruneError(f"{where} has a malformed entry: {e}", cls.FIX)
        return doc

    @classmethod
    def load(cls, path: str | Path, model_fingerprint: str | None = None) -> "Scores":
        """A finished scores file; refused if incomplete or made for another model fingerprint."""
        data = cls.from_json(read_json(path, cls.SCHEMA, cls.WHAT), f"scores file {path}")
        if data.get("complete") is False:
            raise LdpruneError(f"scores file {path} is from an unfinished run "
                               f"({len(data['scores'])}/{data.get('n_candidates', '?')} candidates)",
                               "finish it with `ldprune score ... --resume`")
        if model_fingerprint is not None and data.get("model_fingerprint") != model_fingerprint:
            raise LdpruneError(f"scores file {path} is for model fingerprint {data.get('model_fingerprint')} "
                               f"({data.get('model', '?')}), this model is {model_fingerprint}",
                               "score this model with `ldprune score --model ...`")
        return data


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
