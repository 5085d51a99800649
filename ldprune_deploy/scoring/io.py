"""Reading scores files: finished ones (``load_scores``) and in-progress ones (resume)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..artifacts import read_json
from ..errors import LdpruneError
from .config import SCORES_SCHEMA


def load_scores(path: str | Path, model_fingerprint: str | None = None) -> dict[str, Any]:
    """A finished scores file; refused if incomplete or made for another model fingerprint."""
    data = read_json(path, SCORES_SCHEMA, "scores file")
    if data.get("complete") is False:
        raise LdpruneError(f"scores file {path} is from an unfinished run "
                           f"({len(data.get('scores', []))}/{data.get('n_candidates', '?')} candidates)",
                           "finish it with `ldprune score ... --resume`")
    if model_fingerprint is not None and data.get("model_fingerprint") != model_fingerprint:
        raise LdpruneError(f"scores file {path} is for model fingerprint {data.get('model_fingerprint')} "
                           f"({data.get('model', '?')}), this model is {model_fingerprint}",
                           "score this model with `ldprune score --model ...`")
    for e in data.get("scores", []):
        if not {"operator", "modification", "score"} <= set(e):
            raise LdpruneError(f"scores file {path} has a malformed entry: {e}", "regenerate it")
    return data


def read_progress(files: list[Path], signature: str) -> tuple[dict[str, dict], dict[int, dict], dict | None]:
    """Finished singles, finished joint sets and the baseline from earlier (partial) files."""
    done: dict[str, dict] = {}
    joint: dict[int, dict] = {}
    baseline = None
    for f in files:
        if not f.exists():
            continue
        data = read_json(f, SCORES_SCHEMA, "scores file")
        if data.get("signature") != signature:
            raise LdpruneError(f"{f} was written by a run with other settings (model, method, parameters "
                               "or candidates), so it cannot be resumed",
                               "rerun with the same arguments, or pass --overwrite to start again")
        for e in data.get("scores", []):
            done[f"{e['operator']}|{e['modification']}"] = e
        for j, v in (data.get("additivity_progress") or {}).items():
            joint[int(j)] = v
        if data.get("complete") and data.get("additivity"):
            for j, row in enumerate(data["additivity"]["sets"]):
                joint[j] = {"score": row["joint"], "parts": row["joint_parts"]}
        baseline = baseline or data.get("baseline")
    return done, joint, baseline
