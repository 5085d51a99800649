"""Reading in-progress scores files (resume); finished ones are read by ``artifacts.Scores.load``."""

from __future__ import annotations

from pathlib import Path

from ..jsonio import read_json
from ..errors import LdpruneError
from ..artifacts import SCORES_SCHEMA


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
