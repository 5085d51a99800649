"""Argument helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..presets import PRESETS


def add_parser(sub, name: str, help: str, example: str, description: str | None = None) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=description or help,
                          epilog=f"example:\n  {example}", formatter_class=argparse.RawDescriptionHelpFormatter)


def add_model_arg(p: argparse.ArgumentParser, required: bool = True) -> None:
    """``--model``: the one input every model stage takes beside its config (whose ``--preset`` says
    how to read a bare .safetensors file)."""
    p.add_argument("--model", required=required, metavar="M",
                   help=f"preset ({', '.join(PRESETS)}), diffusers folder, or .safetensors file")


def print_json(obj: Any) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
