"""Each stage parameter is declared once, on its config dataclass; CLI flags and recipe keys derive from it.

    @dataclass
    class ScoreConfig(Params):
        n_gen: int = param(64, help="samples per set", check=at_least(2))

gives ``ldprune score --n-gen N`` (help text with its default), the recipe key ``score.n_gen``
(type-checked against the annotation), and ``ScoreConfig(n_gen=1)`` raising the one error that
names the parameter, its flag and its recipe key. As diffusers derives a model's config from its
``__init__``, nothing else lists the parameter: ``add_arguments`` builds the argparse options,
``from_args`` the config from a parsed namespace, ``from_section`` the config from a recipe
section, and ``Params.__post_init__`` runs choices and checks for every construction path.

Metadata (all optional but ``help``): ``choices`` (values or a zero-argument callable, for
registries filled at import time), ``check`` (value -> problem text or None), ``flag``/``short``
(the CLI spelling when it is not ``--<name-with-dashes>``), ``metavar``, ``repeat`` (a list given
by repeating the flag), ``cli``/``recipe`` (False: not on that surface, e.g. an output path the
pipeline chooses), ``path`` (a recipe value naming a file or folder that must exist).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import MISSING, dataclass, field
from functools import cache
from typing import Any, Callable

from .errors import LdpruneError

_META = "ldprune"


def param(default: Any = MISSING, *, help: str, factory: Callable[[], Any] | None = None, choices=None,
          check: Callable[[Any], str | None] | None = None, flag: str | None = None, short: str | None = None,
          metavar: str | None = None, repeat: bool = False, cli: bool = True, recipe: bool = True,
          path: bool = False, group: str | None = None, required: bool = False) -> Any:
    """A dataclass field carrying its help text, choices, check and CLI/recipe spelling
    (``required``: the CLI insists on the flag, e.g. an output path with no sensible default)."""
    meta = {_META: dict(help=help, choices=choices, check=check, flag=flag, short=short, metavar=metavar,
                        repeat=repeat, cli=cli, recipe=recipe, path=path, group=group, required=required)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def at_least(n: float) -> Callable[[Any], str | None]:
    return lambda v: None if v is None or v >= n else f"must be at least {n} (got {v})"


def between(lo: float, hi: float) -> Callable[[Any], str | None]:
    return lambda v: None if v is None or lo < v < hi else f"must be between {lo} and {hi} (got {v})"


@dataclass(frozen=True)
class Spec:
    """One declared parameter, as the CLI and the recipe see it."""

    name: str
    kind: str            # bool | optbool | verify | int | float | str | strs | floats | dict | any
    optional: bool
    field: dataclasses.Field
    meta: dict[str, Any]

    @property
    def default(self) -> Any:
        f = self.field
        if f.default is not MISSING:
            return f.default
        return f.default_factory() if f.default_factory is not MISSING else MISSING

    @property
    def flag(self) -> str:
        if self.meta["flag"]:
            return self.meta["flag"]
        dashed = self.name.replace("_", "-")
        return f"--no-{dashed}" if self.kind == "bool" and self.default is True else f"--{dashed}"

    def choices(self) -> list | None:
        c = self.meta["choices"]
        return list(c() if callable(c) else c) if c is not None else None

    def where(self, section: str | None = None) -> str:
        recipe = f"; recipe {section}.{self.name}" if section and self.meta["recipe"] else ""
        return f"{self.name} ({self.flag}{recipe})" if self.meta["cli"] else f"{self.name}{recipe}"


def _kind(tp: Any) -> tuple[str, bool]:
    """Normalise an annotation to (kind, optional)."""
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    optional = origin in (typing.Union, types.UnionType) and type(None) in typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        names = {getattr(a, "__name__", str(a)) for a in args}
        if names == {"bool", "str"}:
            return "verify", optional
        if len(args) == 1:
            return _kind(args[0])[0], optional
        if "str" in names and names <= {"str", "Path"}:
            return "str", optional
        return "any", optional
    if origin in (list, tuple):
        return ("floats" if float in typing.get_args(tp) else "strs"), False
    if origin is dict or tp is dict:
        return "dict", False
    name = getattr(tp, "__name__", str(tp))
    return {"bool": "bool", "int": "int", "float": "float", "str": "str", "Path": "str"}.get(name, "any"), False


@cache
def specs(cls: type) -> tuple[Spec, ...]:
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if _META not in f.metadata:
            continue
        kind, optional = _kind(hints[f.name])
        if kind == "bool" and optional:
            kind = "optbool"
        out.append(Spec(f.name, kind, optional, f, f.metadata[_META]))
    return tuple(out)


class Params:
    """Base of the stage configs: choices and checks run whichever way a config is built."""

    def __post_init__(self) -> None:
        check_params(self)


def check_params(obj: Any, section: str | None = None) -> None:
    for s in specs(type(obj)):
        check_value(s, getattr(obj, s.name), section)


def check_value(s: Spec, v: Any, section: str | None = None) -> None:
    """Raise the one error naming ``s`` (its flag, and its recipe key when ``section`` is given)."""
    choices = s.choices()
    values = v if s.kind == "strs" and isinstance(v, (list, tuple)) else [v]
    if choices is not None and v is not None:
        bad = [x for x in values if x not in choices]
        if bad:
            raise LdpruneError(f"{s.where(section)}: '{bad[0]}' is not one of {', '.join(map(str, choices))}",
                               f"use one of {', '.join(map(str, choices))}")
    try:
        problem = s.meta["check"](v) if s.meta["check"] else None
    except LdpruneError as e:   # a parser used as the check: keep its words, say which parameter
        if section is None:
            raise
        raise LdpruneError(f"{s.where(section)}: {e.message}", e.fix) from None
    if problem:
        raise LdpruneError(f"{s.where(section)} {problem}", f"give {s.name} a valid value ({s.meta['help']})")


# -- CLI ---------------------------------------------------------------------------------------
def _help(s: Spec) -> str:
    d = s.default
    shown = (d not in (None, False, MISSING, "", (), [], {}) and not (s.kind == "bool" and d is True)
             and not s.meta["required"])
    if shown and "default" not in s.meta["help"]:
        d = ",".join(map(str, d)) if isinstance(d, (list, tuple)) else d
        return f"{s.meta['help']} (default {d})".replace("%", "%%")
    return s.meta["help"].replace("%", "%%")


def _parse_item(s: Spec, text: str) -> tuple[str, Any]:
    import yaml

    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise LdpruneError(f"{s.flag} '{text}' is not NAME=VALUE", f"write e.g. {s.flag} name=value")
    return name.strip(), yaml.safe_load(value)


def add_arguments(parser: argparse.ArgumentParser, cls: type, *, skip: tuple[str, ...] = (),
                  groups: dict[str, Any] | None = None) -> None:
    """Add one option per CLI parameter of ``cls`` (grouped by each parameter's ``group``)."""
    groups = {} if groups is None else groups
    for s in specs(cls):
        if not s.meta["cli"] or s.name in skip:
            continue
        g = s.meta["group"]
        target = parser if g is None else groups.setdefault(g, parser.add_argument_group(g))
        names = [s.flag] + ([s.meta["short"]] if s.meta["short"] else [])
        kw: dict[str, Any] = {"dest": s.name, "help": _help(s)}
        if s.meta["required"]:
            kw["required"] = True
        if s.meta["metavar"]:
            kw["metavar"] = s.meta["metavar"]
        if s.kind == "bool":
            kw["action"] = "store_false" if s.default is True else "store_true"
        elif s.kind == "optbool":
            names[0] = f"--{s.name.replace('_', '-')}"
            kw.update(action=argparse.BooleanOptionalAction, default=s.default)
        elif s.kind == "verify":
            kw.setdefault("metavar", "true|false|auto")
            kw.update(nargs="?", const=True, default=s.default, type=lambda t: t if t == "auto" else
                      {"true": True, "false": False}.get(t.lower(), t))
        elif s.kind == "dict":
            kw.update(action="append", default=None)
            kw.setdefault("metavar", "NAME=VALUE")
        elif s.kind == "strs":
            kw.update({"action": "append"} if s.meta["repeat"] else {"nargs": "+"}, default=None)
        elif s.kind == "floats":
            kw.update(nargs="+", type=float, default=None)
        else:
            kw.update(type={"int": int, "float": float}.get(s.kind, str), default=s.default)
        choices = s.choices()
        if choices is not None and s.kind in ("str", "int", "float"):
            kw["choices"] = choices
        target.add_argument(*names, **kw)


def from_args(cls: type, args: argparse.Namespace, **overrides: Any) -> Any:
    """The config ``cls`` from a namespace made by a parser ``add_arguments`` filled."""
    values: dict[str, Any] = {}
    for s in specs(cls):
        if not s.meta["cli"] or not hasattr(args, s.name):
            continue
        v = getattr(args, s.name)
        if s.kind == "dict":
            v = dict(_parse_item(s, t) for t in v) if v else s.default
        elif s.kind in ("strs", "floats"):
            v = type(s.default)(v) if v is not None and isinstance(s.default, (list, tuple)) else (
                list(v) if v is not None else s.default)
        values[s.name] = v
    values.update(overrides)
    return cls(**values)


# -- recipe ------------------------------------------------------------------------------------
def recipe_specs(cls: type) -> dict[str, Spec]:
    return {s.name: s for s in specs(cls) if s.meta["recipe"]}


def _typed(where: str, s: Spec, v: Any) -> Any:
    def bad(expected: str):
        raise LdpruneError(f"recipe: {where}: expected {expected}, got {type(v).__name__} {v!r}",
                           f"write {where} as {expected}")

    k = s.kind
    if k == "int" and (isinstance(v, bool) or not isinstance(v, int)):
        bad("an integer")
    if k == "float":
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            bad("a number")
        v = float(v)
    if k == "str" and (not isinstance(v, str) or not v.strip()):
        bad("a non-empty string")
    if k in ("bool", "optbool") and not isinstance(v, bool):
        bad("true or false")
    if k == "verify" and not (isinstance(v, bool) or v == "auto"):
        bad("true, false or auto")
    if k == "strs":
        v = [v] if isinstance(v, str) else v
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            bad("a list of strings")
    if k == "floats":
        if not isinstance(v, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            bad("a list of numbers")
        v = [float(x) for x in v]
    if k == "dict" and not isinstance(v, dict):
        bad("a mapping")
    return v


def section_values(classes: tuple[type, ...], given: Any, where: str) -> tuple[dict[str, Any], set[str]]:
    """A recipe section's values for the parameters of ``classes``: given keys type-checked (unknown
    keys refused), the rest at their declared defaults, every value through its choices and check.
    Returns (values, the keys the recipe gave)."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise LdpruneError(f"recipe: {where}: expected a mapping of keys, got {type(given).__name__}",
                           f"write {where}: followed by keys")
    known: dict[str, Spec] = {}
    for cls in classes:
        known.update(recipe_specs(cls))
    unknown = sorted(set(map(str, given)) - set(known))
    if unknown:
        raise LdpruneError(f"recipe: {where}: unknown key(s) {', '.join(unknown)}",
                           f"valid keys in {where}: {', '.join(known)}")
    values, keys = {}, set()
    for name, s in known.items():
        if given.get(name) is not None:
            values[name] = _typed(f"{where}.{name}", s, given[name])
            keys.add(name)
        elif s.default is MISSING or s.meta["required"]:
            raise LdpruneError(f"recipe: {where}: '{name}' is required", f"add {name}: to {where} ({s.meta['help']})")
        else:
            d = s.default   # a section holds plain values: it is hashed and written with the run's records
            values[name] = dataclasses.asdict(d) if dataclasses.is_dataclass(d) else d
        check_value(s, values[name], where)
    return values, keys


def from_section(cls: type, values: dict[str, Any], **overrides: Any) -> Any:
    """The config ``cls`` from a recipe section's values (keys of other classes ignored) and the
    values the pipeline decides (``overrides``: output folders, resume, ...)."""
    kept = {k: v for k, v in values.items() if k in recipe_specs(cls)}
    return cls(**{**kept, **overrides})
