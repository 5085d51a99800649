"""``torch._inductor.config`` settings given by the user: checked by name before any compile."""

from __future__ import annotations

from typing import Any

import torch

from .errors import LdpruneError


def check_inductor_knobs(knobs: dict[str, Any] | None) -> dict[str, Any]:
    """``knobs`` as a dict, after checking that every name is a ``torch._inductor.config`` setting."""
    import torch._inductor.config as inductor_config

    knobs = dict(knobs or {})
    unknown = sorted(k for k in knobs if not hasattr(inductor_config, k))
    if unknown:
        raise LdpruneError(f"unknown torch._inductor.config setting(s): {', '.join(unknown)}",
                           f"check the names against torch {torch.__version__}'s torch/_inductor/config.py")
    return knobs


def parse_knob(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` from the command line; VALUE is read as YAML (true, 3, 0.5, text)."""
    import yaml

    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise LdpruneError(f"--inductor {text!r} is not NAME=VALUE", "write e.g. --inductor conv_1x1_as_mm=true")
    try:
        return name.strip(), yaml.safe_load(value)
    except yaml.YAMLError as e:
        raise LdpruneError(f"--inductor {text!r}: the value is not readable ({e})",
                           "write a plain value, e.g. true, 3 or 0.5") from None
