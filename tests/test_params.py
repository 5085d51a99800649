"""Each stage parameter is declared once: CLI flags, recipe keys and config fields are one set with
one default each, and adding a field adds the flag and the recipe key with no other edit."""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass

import pytest

from ldprune_deploy.cli import build_parser
from ldprune_deploy.distillation.config import DistillConfig
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.evaluation.config import EvaluateConfig
from ldprune_deploy.exporter.config import ExportConfig
from ldprune_deploy.params import Params, add_arguments, at_least, from_args, param, recipe_specs, section_values, specs
from ldprune_deploy.pipeline.sections import SECTIONS
from ldprune_deploy.planner.config import PlanConfig
from ldprune_deploy.profiler.config import ProfileConfig
from ldprune_deploy.scoring.config import ScoreConfig
from ldprune_deploy.surgery.config import PruneConfig

# stage -> (config, what the command needs beyond the config (inputs, not parameters), a minimal argv)
STAGES = {
    "profile": (ProfileConfig, {"model"}, ["--model", "tiny-t2i", "-o", "p.json"]),
    "score": (ScoreConfig, {"model"}, ["--model", "tiny-t2i", "-o", "s.json"]),
    "plan": (PlanConfig, {"scores", "profile", "output", "overwrite", "pareto", "pareto_points", "explain"}, []),
    "prune": (PruneConfig, {"model"}, ["--model", "tiny-t2i", "--plan", "x.json", "-o", "out"]),
    "distill": (DistillConfig, {"teacher", "student"}, ["--teacher", "t", "--student", "s", "-o", "out"]),
    "export": (ExportConfig, {"model", "pipeline", "pipeline_from", "json"}, ["--model", "tiny-t2i", "-o", "out"]),
    "evaluate": (EvaluateConfig, {"teacher", "candidate"}, ["--teacher", "t", "--candidate", "c", "-o", "r"]),
}
SECTION_OF = {"profile": "target", "score": "score", "plan": "plan", "distill": "distill", "export": "export",
              "evaluate": "evaluate"}
# set by the command or the pipeline, never defaulted from the config
GIVEN = {"output", "plan", "model"}


def _subparser(stage: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[stage]


def _plain(v):
    return list(v) if isinstance(v, tuple) else dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v


@pytest.mark.parametrize("stage", list(STAGES))
def test_every_field_is_declared_with_help(stage):
    cls = STAGES[stage][0]
    declared = {s.name for s in specs(cls)}
    assert {f.name for f in dataclasses.fields(cls)} == declared
    assert all(s.meta["help"].strip() for s in specs(cls))


@pytest.mark.parametrize("stage", list(STAGES))
def test_cli_flags_are_the_config_fields(stage):
    cls, inputs, _ = STAGES[stage]
    parser = _subparser(stage)
    dests = {a.dest for a in parser._actions if a.dest != "help"}
    cli_fields = {s.name for s in specs(cls) if s.meta["cli"]}
    assert cli_fields <= dests, f"fields without a flag: {cli_fields - dests}"
    assert dests - cli_fields <= inputs, f"flags that are not config fields: {dests - cli_fields - inputs}"


@pytest.mark.parametrize("stage", list(STAGES))
def test_cli_defaults_are_the_config_defaults(stage):
    """Parsing only the required inputs gives the config's own defaults, field by field."""
    cls, _, argv = STAGES[stage]
    args = _subparser(stage).parse_args(argv)
    if stage == "plan":
        args.budget = "70%"
    cfg = from_args(cls, args)
    default = cls(**{n: getattr(cfg, n) for n in GIVEN | ({"budget"} if stage == "plan" else set())
                     if hasattr(cfg, n)})
    for s in specs(cls):
        if s.meta["cli"]:
            assert _plain(getattr(cfg, s.name)) == _plain(getattr(default, s.name)), s.name


@pytest.mark.parametrize("stage", [s for s in STAGES if s in SECTION_OF])
def test_recipe_keys_are_the_config_fields_with_the_same_defaults(stage):
    cls = STAGES[stage][0]
    section = SECTION_OF[stage]
    classes = SECTIONS[section]
    assert cls in classes
    given = {"profile": "now"} if section == "target" else {}
    values, keys = section_values(classes, given, section)
    assert keys == set(given)
    extra = {k for c in classes if c is not cls for k in recipe_specs(c)}
    assert set(values) == set(recipe_specs(cls)) | extra
    built = cls(**{k: v for k, v in values.items() if k in recipe_specs(cls)})
    for name in recipe_specs(cls):
        assert _plain(getattr(built, name)) == _plain(getattr(cls(), name)), name
    # nothing is recipe-only: every recipe key of the config is a CLI flag too
    assert all(s.meta["cli"] for s in recipe_specs(cls).values())


def test_prune_has_no_recipe_keys():
    assert recipe_specs(PruneConfig) == {}


@dataclass
class _Demo(Params):
    n_gen: int = param(64, help="samples per set", check=at_least(2))
    kinds: list[str] = param(factory=lambda: ["remove"], choices=("remove", "shortcut"), help="modifications")
    fast: bool = param(True, help="skip the slow path")
    verify: bool | str = param("auto", choices=(True, False, "auto"), help="measure")


def test_one_declaration_gives_flag_recipe_key_and_check():
    p = argparse.ArgumentParser()
    add_arguments(p, _Demo)
    cfg = from_args(_Demo, p.parse_args(["--n-gen", "8", "--kinds", "shortcut", "--no-fast", "--verify"]))
    assert (cfg.n_gen, cfg.kinds, cfg.fast, cfg.verify) == (8, ["shortcut"], False, True)
    with pytest.raises(LdpruneError, match=r"n_gen \(--n-gen\) must be at least 2"):
        from_args(_Demo, p.parse_args(["--n-gen", "1"]))
    with pytest.raises(LdpruneError, match=r"'width' is not one of remove, shortcut"):
        _Demo(kinds=["width"])
    values, keys = section_values((_Demo,), {"n_gen": 4, "kinds": "shortcut"}, "demo")
    assert values == {"n_gen": 4, "kinds": ["shortcut"], "fast": True, "verify": "auto"} and keys == {"n_gen", "kinds"}
    with pytest.raises(LdpruneError, match=r"demo.n_gen: expected an integer"):
        section_values((_Demo,), {"n_gen": "four"}, "demo")
    with pytest.raises(LdpruneError, match=r"n_gen \(--n-gen; recipe demo.n_gen\) must be at least 2"):
        section_values((_Demo,), {"n_gen": 1}, "demo")
    with pytest.raises(LdpruneError, match=r"unknown key\(s\) n_gens"):
        section_values((_Demo,), {"n_gens": 1}, "demo")


def test_docs_keys_table_is_generated_from_the_declarations():
    from pathlib import Path

    from ldprune_deploy.pipeline.sections import keys_table

    doc = (Path(__file__).resolve().parents[1] / "docs" / "recipes.md").read_text()
    block = doc.split("<!-- keys:begin -->\n", 1)[1].split("\n<!-- keys:end -->", 1)[0]
    assert block == keys_table()
