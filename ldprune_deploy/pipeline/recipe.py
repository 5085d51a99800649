"""Load and validate a deployment recipe (YAML) before any stage starts.

Every problem a recipe can have — unknown or mistyped keys, missing files, a profile made
for another model or shape, an unreadable or infeasible budget, a runner this machine does
not have — is one ``LdpruneError`` raised here, so a long run never dies halfway on input.

Relative paths are looked up in the current folder first, then in the project the recipe
belongs to (the nearest folder above the recipe holding ``pyproject.toml``), so the shipped
recipes work from the repository root and from ``ldprune demo`` alike.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import LdpruneError
from .schema import OPTIONAL_SECTIONS, REQUIRED, SECTIONS, TOP


@dataclass
class Recipe:
    path: Path
    model: str
    preset: str | None
    name: str
    sections: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)   # decisions made while validating (shown by run)

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.sections[section]

    @property
    def distill_enabled(self) -> bool:
        return bool(self.sections["distill"].get("enabled"))

    @property
    def profile_now(self) -> bool:
        return self.sections["target"]["profile"] == "now"


def _fail(where: str, msg: str, fix: str) -> None:
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


def _check_type(where: str, kind: str, v: Any) -> Any:
    def bad(expected: str):
        _fail(where, f"expected {expected}, got {type(v).__name__} {v!r}", f"write {where} as {expected}")

    if kind == "int":
        if isinstance(v, bool) or not isinstance(v, int):
            bad("an integer")
    elif kind == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            bad("a number")
        v = float(v)
    elif kind in ("str", "path"):
        if not isinstance(v, str) or not v.strip():
            bad("a non-empty string")
    elif kind == "bool":
        if not isinstance(v, bool):
            bad("true or false")
    elif kind == "verify":
        if not (isinstance(v, bool) or v == "auto"):
            bad("true, false or auto")
    elif kind == "strs":
        v = [v] if isinstance(v, str) else v
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            bad("a list of strings")
    elif kind == "range":
        if isinstance(v, bool) or not isinstance(v, (int, str)):
            bad('an integer or "MIN:OPT:MAX"')
        from ..export import parse_range

        parse_range(v, where)
    elif kind == "dict":
        if not isinstance(v, dict):
            bad("a mapping")
    return v


def _section(where: str, given: Any, spec: dict[str, tuple[str, Any]]) -> dict[str, Any]:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        _fail(where, f"expected a mapping of keys, got {type(given).__name__}", f"write {where}: followed by keys")
    unknown = sorted(set(given) - set(spec))
    if unknown:
        _fail(where, f"unknown key(s) {', '.join(map(str, unknown))}",
              f"valid keys in {where}: {', '.join(spec)}")
    out = {}
    for key, (kind, default) in spec.items():
        if key in given and given[key] is not None:
            out[key] = _check_type(f"{where}.{key}" if where != "recipe" else key, kind, given[key])
        elif default is REQUIRED:
            _fail(where, f"'{key}' is required", f"add {key}: to {where}")
        else:
            out[key] = copy.deepcopy(default)
    return out


def parse_recipe(data: Any, path: Path) -> Recipe:
    """Structure and types only (no files, no models): raises on the first problem."""
    if not isinstance(data, dict):
        _fail(str(path), "the top level must be a mapping", "start the file with keys such as model: and target:")
    valid = list(TOP) + list(SECTIONS)
    unknown = sorted(set(map(str, data)) - set(valid))
    if unknown:
        _fail("top level", f"unknown key(s) {', '.join(unknown)}", f"valid keys: {', '.join(valid)}")
    top = _section("recipe", {k: data[k] for k in TOP if k in data}, TOP)
    if "target" not in data:
        _fail("top level", "'target' is required", "add target: {profile: now} or target: {profile: FILE.json}")
    sections = {name: _section(name, data.get(name), spec) for name, spec in SECTIONS.items()}
    if data.get("distill") is None:   # no distill section: the pruned model goes straight to export
        sections["distill"]["enabled"] = False
    return Recipe(path=path, model=top["model"], preset=top["preset"], name=top["name"] or path.stem,
                  sections=sections)


def load_recipe(path: str | Path, check_files: bool = True, check_machine: bool = True) -> Recipe:
    """Read, type-check and cross-check ``path``; ``check_files=False`` stops after the structure,
    ``check_machine=False`` skips whether this machine has the recipe's runners (CI on CPU)."""
    path = Path(path)
    if not path.is_file():
        raise LdpruneError(f"recipe not found: {path}", "pass a YAML file, e.g. export/recipes/tiny-cpu.yaml")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise LdpruneError(f"recipe {path} is not valid YAML{where}: {getattr(e, 'problem', e)}",
                           "fix the YAML syntax") from None
    return recipe_from_data(data, path, check_files, check_machine)


def recipe_from_data(data: Any, path: str | Path, check_files: bool = True, check_machine: bool = True) -> Recipe:
    """Validate already-loaded recipe data; ``path`` anchors its relative paths."""
    recipe = parse_recipe(data, Path(path))
    _check_values(recipe)
    if check_files:
        from .checks import check_environment

        check_environment(recipe, check_machine)
    return recipe


def _one_of(where: str, value: Any, allowed) -> None:
    if value is not None and value not in allowed:
        _fail(where, f"'{value}' is not one of {', '.join(map(str, allowed))}", f"use one of {', '.join(map(str, allowed))}")


def _check_values(r: Recipe) -> None:
    """Values that can be checked without touching files or the machine."""
    from ..evaluate import METRICS
    from ..evaluate.gate import parse_budget, parse_tolerances
    from ..models import DTYPES
    from ..planner import STRATEGIES
    from ..planner.budget import parse_latency_budget
    from ..profiler import METHODS as PROFILE_METHODS
    from ..runners import runner_names
    from ..scoring import METHODS as SCORE_METHODS

    t, s, p, d, e, ev = (r[k] for k in ("target", "score", "plan", "distill", "export", "evaluate"))
    runners = runner_names()
    _one_of("target.backend", t["backend"], runners)
    _one_of("plan.backend", p["backend"], runners)
    _one_of("evaluate.runner", ev["runner"], runners + ["none"])
    for where, v in (("target.dtype", t["dtype"]), ("score.dtype", s["dtype"]), ("evaluate.dtype", ev["dtype"])):
        _one_of(where, v, list(DTYPES))
    for m in t["methods"]:
        _one_of("target.methods", m, PROFILE_METHODS)
    _one_of("score.method", s["method"], list(SCORE_METHODS))
    _one_of("plan.strategy", p["strategy"], STRATEGIES)
    _one_of("plan.correction", p["correction"], ("scale", "additive"))
    for m in ev["metrics"]:
        _one_of("evaluate.metrics", m, METRICS)
    for f in e["formats"]:
        if f != "onnx":
            _fail("export.formats", f"'{f}' cannot be exported directly",
                  "use [onnx]; TensorRT engines are built from the ONNX by the tensorrt runner "
                  "(set evaluate.runner: tensorrt)")
    for prec in e["precisions"]:
        _one_of("export.precisions", prec, ("fp32", "fp16"))
    if not e["precisions"]:
        _fail("export.precisions", "empty", "list at least one of fp16, fp32")
    for k in ("n_gen", "steps"):
        if s[k] < (2 if k == "n_gen" else 1):
            _fail(f"score.{k}", f"{s[k]} is too small", "n_gen needs at least 2, steps at least 1")
    for k in ("batch", "warmup", "iters"):
        if t[k] is not None and t[k] < 1:
            _fail(f"target.{k}", f"{t[k]} must be at least 1", f"set target.{k} to 1 or more")
    lat = p["budget"] if p["budget"] is not None else (f"{p['speedup']}" if p["speedup"] else None)
    if lat is None and not (p["max_params"] or p["max_flops"]):
        _fail("plan", "no budget", "set plan.budget: 70% (of the full latency), 8.5ms, or plan.speedup: 1.5x")
    if p["budget"] is not None and p["speedup"] is not None:
        _fail("plan", "both budget and speedup are set", "keep one of them")
    if p["budget"] is not None:
        parse_latency_budget(p["budget"], 1.0)   # syntax only; the value is checked against the profile
    if p["speedup"] is not None:
        from ..planner.budget import parse_speedup

        parse_speedup(str(p["speedup"]))
    parse_budget(ev["budget"])
    parse_tolerances(ev["max_quality_drop"])
    if r.distill_enabled:
        if d["data"] is None and not d["data_free"]:
            _fail("distill", "no training data", "set distill.data: FOLDER, or distill.data_free: true "
                  "(or distill.enabled: false)")
        if d["data"] is not None and d["data_free"]:
            _fail("distill", "both data and data_free are set", "keep one of them")
        if d["steps"] < 1:
            _fail("distill.steps", f"{d['steps']}", "set at least 1 step")
