"""What to plan for (each parameter declared once: CLI flag and recipe key)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..params import Params, at_least, param
from ..profiler.config import known_runner

STRATEGIES = ("latency-aware", "rank", "params")


def parse_cap(spec: str) -> tuple[str, int]:
    """``REGEX=N`` -> (REGEX, N); ValueError naming what is wrong."""
    pattern, sep, n = str(spec).rpartition("=")
    if not sep or not pattern:
        raise ValueError(f"{spec!r} is not REGEX=N (e.g. '(attn2|attentions\\.[0-9]+):remove=4')")
    try:
        limit = int(n)
    except ValueError:
        raise ValueError(f"{spec!r}: the limit after '=' must be a whole number, got {n!r}") from None
    if limit < 0:
        raise ValueError(f"{spec!r}: the limit must be at least 0")
    try:
        re.compile(pattern)
    except re.error as e:
        raise ValueError(f"{spec!r}: bad regular expression {pattern!r}: {e}") from None
    return pattern, limit


def check_caps(specs: list[str] | None) -> str | None:
    """What is wrong with the first malformed ``REGEX=N`` spec, or None."""
    for spec in specs or ():
        try:
            parse_cap(spec)
        except ValueError as e:
            return str(e)
    return None


@dataclass
class PlanConfig(Params):
    """What to plan for. At least one of budget / speedup / max_params / max_flops.

    With ``verify`` the plan is applied, measured with ``backend`` paired with the full model and
    re-solved with the measured gap until it meets the budget (one-sided: p90 + drift margin at or
    under it) or ``max_rounds`` plans were tried; the kept plan is the measured one that met the
    budget with the most importance.
    """

    budget: str | None = param(None, group="budget (at least one; size and latency budgets combine)", metavar="B",
                               help="latency: 8.5ms, 70% (of the full model) or 1.5x")
    speedup: str | None = param(None, group="budget (at least one; size and latency budgets combine)", metavar="X",
                                help="latency as a speed-up over the full model, e.g. 1.5x")
    max_params: str | None = param(None, group="budget (at least one; size and latency budgets combine)", metavar="N",
                                   help="parameters: 60% of the full model or a count (500M)")
    max_flops: str | None = param(None, group="budget (at least one; size and latency budgets combine)", metavar="N",
                                  help="FLOPs at the profile's shapes: 60% or a count (1.2T)")
    strategy: str = param("latency-aware", group="solver", choices=STRATEGIES,
                          help="latency-aware: exact MILP on measured savings; rank: LD-Pruner's order (lowest score "
                               "first); params: latency-blind, minimise importance under a size budget")
    method: str | None = param(None, group="solver", help="profile saving method (default: the profile's default_method)")
    mods: list[str] | None = param(None, group="solver", metavar="MOD",
                                   help="choose only these modifications (remove shortcut width width:0.5 fp8 ...; "
                                        "'width' matches every width:*), e.g. a pruning-only plan from scores that "
                                        "include fp8 (default: every scored and profiled one)")
    caps: list[str] | None = param(None, group="solver", flag="--cap", metavar="REGEX=N", repeat=True, check=check_caps,
                                   help="choose at most N modifications whose 'operator:modification' matches REGEX "
                                        "(repeatable), e.g. '(attn2|attentions\\.[0-9]+):remove=4' removes at most 4 "
                                        "cross-attentions; every strategy and the landing respect it")
    allow_missing: bool = param(False, group="solver",
                                help="skip scored modifications the profile has no saving for (default: error)")
    batch: int | None = param(None, group="solver", recipe=False, help="batch the plan is for; must match the profile for a ms budget")
    resolution: int | None = param(None, group="solver", recipe=False,
                                   help="resolution the plan is for; must match the profile for a ms budget")
    model: str | None = param(None, group="solver", metavar="M", recipe=False,
                              help="model (preset/folder); needed for --verify and size budgets when the profile's "
                                   "model name is not a preset")
    time_limit_s: float = param(60.0, group="solver", flag="--time-limit", check=at_least(0), help="MILP time limit in seconds")
    verify: bool | str = param("auto", group="verify", choices=(True, False, "auto"),
                               help="apply the plan, measure it against the full model, correct and re-solve "
                                    "(auto: where the backend runs on this machine; false: trust the profile)")
    backend: str | None = param(None, group="verify", check=known_runner,
                                help="runner for --verify (default: the profile's backend)")
    dtype: str | None = param(None, group="verify", recipe=False, choices=("fp32", "fp16", "bf16"),
                              help="dtype for --verify (default: the profile's)")
    tolerance: float = param(0.03, group="verify", check=at_least(0),
                             help="re-solve when a plan beats the budget by more than this fraction; the budget itself "
                                  "is one-sided")
    max_rounds: int = param(3, group="verify", check=at_least(1), help="verify rounds at most")
    correction: str = param("scale", group="verify", choices=("scale", "additive"),
                            help="how a measured gap corrects the predictor: scale the savings, or shift them")
    warmup: int = param(10, group="verify", check=at_least(0), help="warm-up calls per measurement")
    iters: int = param(30, group="verify", check=at_least(1), help="timed calls per measurement")
