"""``run_pipeline(recipe, out)``: the stages in order, skipping what is unchanged, resuming the rest.

A stage's key is the hash of its parameters (its recipe section after defaults) and of the
*content* of its input artefacts (files and folders, byte for byte). ``DIR/<stage>/stage.json``
holds the key; ``complete: true`` is written last, after the stage's artefacts. A stage is
skipped when its recorded key equals the current one and it is complete. A stage found with
``complete: false`` and the same key was interrupted: it reruns with its own resume; with
another key its folder is cleared first. Hashing content (not timestamps) means a hand-edited
``plan.json`` reruns prune and everything after it, and a rerun stage whose output comes out
byte-identical does not force the stages after it to rerun.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..jsonio import read_json, write_json_atomic
from ..errors import GateFailed, LdpruneError
from .load import load_recipe
from .recipe import Recipe
from .stages import REGISTRY, STAGES

STAGE_SCHEMA = "ldprune.stage/1"
_SKIP_NAMES = {"stage.json"}


def content_hash(path: Path) -> str:
    """sha256 over a file, or over every file of a folder (relative name + bytes), sorted."""
    h = hashlib.sha256()
    path = Path(path)
    if path.is_file():
        files = [(path.name, path)]
    elif path.is_dir():
        files = sorted((str(f.relative_to(path)), f) for f in path.rglob("*")
                       if f.is_file() and f.name not in _SKIP_NAMES and not f.name.startswith("."))
    else:
        return "missing"
    for rel, f in files:
        h.update(rel.encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                h.update(chunk)
        h.update(b"\1")
    return h.hexdigest()[:20]


def _digest(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:20]


@dataclass
class StageResult:
    name: str
    status: str                 # done | skipped | disabled | not-run
    seconds: float = 0.0
    outputs: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    out: Path
    stages: list[StageResult]
    exit_code: int
    report: str | None
    gate: dict[str, Any] | None
    wall_s: float

    def stage(self, name: str) -> StageResult | None:
        return next((s for s in self.stages if s.name == name), None)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _record(folder: Path) -> dict[str, Any] | None:
    f = folder / "stage.json"
    if not f.is_file():
        return None
    try:
        return read_json(f, STAGE_SCHEMA, "stage record")
    except LdpruneError:
        return None   # a damaged record is an incomplete stage


def _stage_index(name: str | None, flag: str) -> int | None:
    if name is None:
        return None
    if name not in STAGES:
        raise LdpruneError(f"{flag} '{name}' is not a stage", f"use one of: {', '.join(STAGES)}")
    return STAGES.index(name)


def run_pipeline(recipe: str | Path | Recipe, out: str | Path, *, from_stage: str | None = None,
                 until_stage: str | None = None, force: bool = False, say: Callable[[str], None] = _say,
                 hooks: dict[str, Callable[[], None]] | None = None) -> PipelineResult:
    """Run ``recipe`` into ``out``. Returns the result; the evaluator's failed gate is exit code 3.

    ``hooks[stage]`` is called just before a stage runs (tests interrupt a run there).
    """
    t0 = time.perf_counter()
    r = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    first, last = _stage_index(from_stage, "--from-stage"), _stage_index(until_stage, "--until-stage")
    if first is not None and last is not None and first > last:
        raise LdpruneError(f"--from-stage {from_stage} comes after --until-stage {until_stage}",
                           "pick a from-stage at or before the until-stage")
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise LdpruneError(f"output {root} exists and is not a folder", "choose another -o")
    root.mkdir(parents=True, exist_ok=True)
    for note in r.notes:
        say(f"note: {note}")
    results: list[StageResult] = []
    n = len(STAGES)
    for i, name in enumerate(STAGES):
        st = REGISTRY[name]
        tag = f"[{i + 1}/{n}] {name:<8}"
        if (last is not None and i > last) or not st.enabled(r):
            why = "disabled in the recipe" if not st.enabled(r) else f"after --until-stage {until_stage}"
            results.append(StageResult(name, "disabled" if not st.enabled(r) else "not-run"))
            say(f"{tag} not run ({why})")
            continue
        folder = root / name
        rec = _record(folder)
        if first is not None and i < first:
            if not (rec and rec.get("complete")):
                raise LdpruneError(f"--from-stage {from_stage}: the earlier stage '{name}' has no complete output "
                                   f"in {folder}", "run without --from-stage first (or start from an earlier stage)")
            results.append(StageResult(name, "skipped", outputs=rec.get("outputs", {})))
            say(f"{tag} kept (before --from-stage)")
            continue
        params = st.params(r)
        inputs = {k: (content_hash(v) if isinstance(v, Path) else str(v)) for k, v in st.inputs(r, root).items()}
        missing = [k for k, v in inputs.items() if v == "missing"]
        if missing:
            raise LdpruneError(f"stage {name}: input(s) {', '.join(missing)} not found in {root}",
                               "run the earlier stages (drop --from-stage)")
        key = _digest({"stage": name, "params": params, "inputs": inputs})
        forced = force or (first is not None and i == first)
        if rec and rec.get("complete") and rec.get("key") == key and not forced:
            results.append(StageResult(name, "skipped", outputs=rec.get("outputs", {})))
            say(f"{tag} skipped (unchanged, key {key[:8]})")
            continue
        resume = bool(rec) and not rec.get("complete") and rec.get("key") == key and not forced
        if folder.exists() and not resume:
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        record = {"schema": STAGE_SCHEMA, "stage": name, "key": key, "params": params, "inputs": inputs,
                  "complete": False, "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                  "attempts": (rec.get("attempts", 0) if resume else 0) + 1}
        write_json_atomic(folder / "stage.json", record)
        say(f"{tag} started" + (" (resuming an interrupted run)" if resume else ""))
        ts = time.perf_counter()
        if hooks and name in hooks:
            hooks[name]()
        outputs = st.run(r, root, resume)
        secs = time.perf_counter() - ts
        write_json_atomic(folder / "stage.json", {**record, "complete": True, "outputs": outputs,
                                                  "seconds": round(secs, 2),
                                                  "finished": time.strftime("%Y-%m-%dT%H:%M:%S")})
        results.append(StageResult(name, "done", secs, outputs))
        say(f"{tag} done in {secs:.1f} s")
    return _finish(r, root, results, t0, say)


def _finish(r: Recipe, root: Path, results: list[StageResult], t0: float, say) -> PipelineResult:
    ev = next((s for s in results if s.name == "evaluate" and s.status in ("done", "skipped")), None)
    gate = report = None
    code = 0
    if ev is not None:
        gate, report = ev.outputs.get("gate"), ev.outputs.get("report")
        if gate is not None and not gate.get("passed") and ev.outputs.get("gate_enforced", True):
            code = GateFailed.exit_code
        say(f"gate: {'PASSED' if gate and gate.get('passed') else 'FAILED: ' + '; '.join((gate or {}).get('reasons', []))}")
        say(f"report: {report}")
    return PipelineResult(root, results, code, report, gate, time.perf_counter() - t0)
