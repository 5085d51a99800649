"""Read a recipe file: structure and values (``recipe``), then files and this machine (``checks``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..errors import LdpruneError
from .checks import check_environment
from .recipe import Recipe, check_values, parse_recipe


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
    check_values(recipe)
    if check_files:
        check_environment(recipe, check_machine)
    return recipe
