"""The names of a quality run's work files (OUT/work/plans/plan-KEY.json, OUT/work/rows/row-KEY.json) and
which of a result's rows a plan is distilled into unchanged (and the distillation settings a result leaves out at their
defaults), in one place for the scripts that write them
(``_quality``) and those that read committed runs without torch (``quality_screen``, ``quality_summary``,
``diagnostics/landing_pairs``, ``diagnostics/plan_features``, ``diagnostics/ratio_repeat``)."""

from __future__ import annotations

import json
import re
from pathlib import Path


BASE_ROW = ("latency-aware", "preserved", "normalized")   # planner, init, feature KD of a plan's own row
# distillation settings added after the first runs: a result (and a row's fingerprint) names one only when it differs
# from this value, so a committed file without it was distilled with it; fixed for good for that reason (the caption
# dropout is the one the text-to-image teachers trained with)
UNRECORDED_DISTILL = {"lambda_out": 1.0, "cond_dropout": 0.1, "caption_mix": 0.0, "snr_gamma": None, "lambda_feat": 1.0}


def base_rows(result: dict, criterion: str) -> dict[int, dict]:
    """A quality_strategies result's per-seed rows of ``criterion`` distilled from its plan unchanged."""
    return {r["seed"]: r for r in result["rows"]
            if (r["method"], r["strategy"], r["init"], r["feature_kd"]) == (criterion, *BASE_ROW)}


# the prompt-effect KD weight: a result names it only when not 0, and one written before it was a key names it only
# in its loss description ("... + 0.1 x prompt-effect KD")
DISTILL_DEFAULTS = {**UNRECORDED_DISTILL, "lambda_prompt": 0.0}
_PROMPT_KD = re.compile(r"([0-9.e+-]+) x prompt-effect KD")


def distill_settings(result: dict) -> dict:
    """A quality_strategies result's distillation settings with the unrecorded ones filled in, without the loss
    description (free text)."""
    d = result["distill"]
    named = {"lambda_prompt": float(m[1])} if (m := _PROMPT_KD.search(d.get("losses", ""))) else {}
    return {k: v for k, v in {**DISTILL_DEFAULTS, **named, **d}.items() if k != "losses"}


def plan_key(criterion: str, planner: str, seed: int) -> str:
    return f"{criterion}-{planner}-s{seed}"


def row_key(criterion: str, planner: str, init: str, feature_kd: str, seed: int) -> str:
    return _row_key(f"{criterion}-{planner}", init, feature_kd, seed)


def _row_key(plan_prefix: str, init: str, feature_kd: str, seed: int) -> str:
    return f"{plan_prefix}-{init}-{feature_kd}-s{seed}"


def plan_path(work: str | Path, key: str) -> Path:
    return Path(work) / "plans" / f"plan-{key}.json"


def row_path(work: str | Path, key: str) -> Path:
    return Path(work) / "rows" / f"row-{key}.json"


def row_inputs(work: str | Path, criterion: str, seed: int) -> dict[str, str] | None:
    """The input files' hashes (teacher weights, data, proxies, caption embeddings) a work folder's base row of
    ``criterion`` and ``seed`` was fingerprinted with; None where the row file or its fingerprint is not there."""
    f = row_path(work, row_key(criterion, *BASE_ROW, seed))
    if not f.is_file():
        return None
    return json.loads(f.read_text()).get("fingerprint", {}).get("inputs")


def inputs_differ(a: dict[str, dict | None], b: dict[str, dict | None]) -> list[str]:
    """The input files whose hashes differ between two sides' rows of the same seeds (``{seed: inputs}``), read where
    both rows name them."""
    keys = set()
    for seed, x in a.items():
        y = b.get(seed)
        if x and y:
            keys |= {k for k in set(x) & set(y) if x[k] != y[k]}
    return sorted(keys)


def plan_file(work: str | Path, criterion: str, planner: str, seed: int) -> Path:
    return plan_path(work, plan_key(criterion, planner, seed))


def row_beside_plan(path: str | Path, init: str = "preserved", feature_kd: str = "normalized") -> Path | None:
    """The row a plan file's own run distilled it into (…/plans/plan-<criterion>-<planner>-s<seed>.json ->
    …/rows/row-<criterion>-<planner>-<init>-<feature_kd>-s<seed>.json); None for a file not named so.
    Criterion and planner names hold dashes, so the name is not split between them."""
    m = re.fullmatch(r"plan-(.+)-s(\d+)\.json", Path(path).name)
    return row_path(Path(path).parent.parent, _row_key(m.group(1), init, feature_kd, int(m.group(2)))) if m else None
