"""Load and validate a deployment recipe (YAML) before any stage starts.

Every problem a recipe can have — unknown or mistyped keys, missing files, a profile made
for another model or shape, an unreadable or infeasible budget, a runner this machine does
not have — is one ``LdpruneError`` raised here, so a long run never dies halfway on input.

Relative paths are looked up in the current folder first, then in the project the recipe
belongs to (the nearest folder above the recipe holding ``pyproject.toml``), so the shipped
recipes work from the repository root and from ``ldprune demo`` alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import LdpruneError
from ..params import recipe_specs, section_values
from .sections import SECTIONS, TOP


@dataclass
class Recipe:
    path: Path
    model: str
    preset: str | None
    name: str
    sections: dict[str, dict[str, Any]]
    given: dict[str, set[str]] = field(default_factory=dict)   # keys the recipe wrote (the rest are defaults)
    notes: list[str] = field(default_factory=list)   # decisions made while validating (shown by run)

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections[section]

    @property
    def distill_enabled(self) -> bool:
        return bool(self.sections["distill"].get("enabled"))

    @property
    def profile_now(self) -> bool:
        return self.sections["target"]["profile"] == "now"


def fail(where: str, msg: str, fix: str) -> None:
    """Raise the recipe's one error: where in the file, what is wrong, how to fix it."""
    raise LdpruneError(f"recipe: {where}: {msg}", fix)


def _project_root(recipe: Path) -> Path | None:
    for d in recipe.resolve().parents:
        if (d / "pyproject.toml").is_file():
            return d
    return None


def resolve_path(value: str, recipe: Path) -> Path | None:
    p = Path(value).expanduser()
    if p.is_absolute():
        return p if p.exists() else None
    for base in (Path.cwd(), _project_root(recipe)):
        if base is not None and (base / p).exists():
            return (base / p).resolve()
    return None


def parse_recipe(data: Any, path: Path) -> Recipe:
    """Structure, types, choices and each parameter's own checks (no files, no models): raises on
    the first problem."""
    if not isinstance(data, dict):
        fail(str(path), "the top level must be a mapping", "start the file with keys such as model: and target:")
    top_keys = [k for cls in TOP for k in recipe_specs(cls)]
    valid = top_keys + list(SECTIONS)
    unknown = sorted(set(map(str, data)) - set(valid))
    if unknown:
        fail("top level", f"unknown key(s) {', '.join(unknown)}", f"valid keys: {', '.join(valid)}")
    if "target" not in data:
        fail("top level", "'target' is required", "add target: {profile: now} or target: {profile: FILE.json}")
    top, _ = section_values(TOP, {k: data[k] for k in top_keys if k in data}, "top level")
    sections, given = {}, {}
    for name, classes in SECTIONS.items():
        sections[name], given[name] = section_values(classes, data.get(name), name)
    if data.get("distill") is None:   # no distill section: the pruned model goes straight to export
        sections["distill"]["enabled"] = False
    return Recipe(path=path, model=top["model"], preset=top["preset"], name=top["name"] or path.stem,
                  sections=sections, given=given)


def check_values(r: Recipe) -> None:
    """What involves more than one key (each key's own checks ran in ``parse_recipe``)."""
    from ..budget import Budget

    p, d = r["plan"], r["distill"]
    if p["budget"] is None and p["speedup"] is None and not (p["max_params"] or p["max_flops"]):
        fail("plan", "no budget", "set plan.budget: 70% (of the full latency), 8.5ms, or plan.speedup: 1.5x")
    if p["budget"] is not None and p["speedup"] is not None:
        fail("plan", "both budget and speedup are set", "keep one of them")
    if p["budget"] is not None:
        Budget.parse(p["budget"])   # syntax only; the value is checked against the profile
    if p["speedup"] is not None:
        Budget.parse(p["speedup"], "speedup")
    if r.distill_enabled:
        if d["data"] is None and not d["data_free"]:
            fail("distill", "no training data", "set distill.data: FOLDER, or distill.data_free: true "
                 "(or distill.enabled: false)")
        if d["data"] is not None and d["data_free"]:
            fail("distill", "both data and data_free are set", "keep one of them")
