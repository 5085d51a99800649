"""`ldprune run` orchestration on a minimal CPU recipe: skip when unchanged, rerun what changed,
resume after an interruption, --from-stage / --until-stage."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from ldprune_deploy.cli import main
from ldprune_deploy.errors import LdpruneError
from ldprune_deploy.pipeline import STAGES, run_pipeline

# every stage, each as small as it can be; a size budget keeps the plan independent of CPU noise
FAST = {
    "model": "tiny-uncond",
    "target": {"profile": "now", "backend": "cpu", "batch": 1, "dtype": "fp32", "include": ["^mid_block.*:remove$",
               "^up_blocks.1.resnets.2:shortcut$"], "warmup": 1, "iters": 2, "op_warmup": 1, "op_iters": 2},
    "score": {"n_gen": 2, "steps": 1, "mods": ["remove", "shortcut"], "include": "^(mid_block|up_blocks.1.resnets.2)",
              "device": "cpu"},
    "plan": {"max_params": "97%", "verify": False},
    "distill": {"data_free": True, "steps": 1, "batch_size": 2, "n_samples": 2, "gen_steps": 1, "cpu": True},
    "export": {"precisions": ["fp32"], "batch": "1:1:2"},
    "evaluate": {"metrics": ["clip"], "n_samples": 2, "steps": 1, "batch_size": 2, "runner": "none",
                 "e2e_repeats": 1},
}


def _recipe(folder: Path, **changes) -> Path:
    data = json.loads(json.dumps(FAST))
    for path, v in changes.items():
        sec, key = path.split(".")
        data[sec][key] = v
    p = folder / "fast.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def _status(res) -> dict:
    return {s.name: s.status for s in res.stages}


def _run(recipe, out, **kw):
    lines = []
    res = run_pipeline(recipe, out, say=lines.append, **kw)
    return res, lines


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("base")
    res, lines = _run(_recipe(d), d / "run")
    assert _status(res) == {s: "done" for s in STAGES}, lines
    assert res.exit_code == 0
    return d / "run"


def _copy(base_run, tmp_path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(base_run, out)
    return out


def test_second_run_skips_every_stage(base_run, tmp_path):
    out = _copy(base_run, tmp_path)
    res, lines = _run(_recipe(tmp_path), out)
    assert _status(res) == {s: "skipped" for s in STAGES}, lines
    assert sum("skipped (unchanged" in line for line in lines) == 7
    rec = json.loads((out / "plan" / "stage.json").read_text())
    assert rec["complete"] and set(rec["inputs"]) == {"scores", "profile"}


def test_changed_parameter_reruns_that_stage_and_later(base_run, tmp_path):
    out = _copy(base_run, tmp_path)
    before = (out / "export" / "fp32" / "export.json").read_text()
    res, lines = _run(_recipe(tmp_path, **{"distill.steps": 2}), out)
    assert _status(res) == {"profile": "skipped", "score": "skipped", "plan": "skipped", "prune": "skipped",
                            "distill": "done", "export": "done", "evaluate": "done"}, lines
    assert json.loads((out / "distill" / "summary.json").read_text())["steps"] == 2
    assert (out / "export" / "fp32" / "export.json").read_text() != before


def test_hand_edited_plan_reruns_prune_and_after(base_run, tmp_path):
    out = _copy(base_run, tmp_path)
    plan = json.loads((out / "plan" / "plan.json").read_text())
    plan["modifications"] = plan["modifications"][:0]   # the user drops every modification
    (out / "plan" / "plan.json").write_text(json.dumps(plan))
    res, lines = _run(_recipe(tmp_path), out)
    st = _status(res)
    assert st["plan"] == "skipped" and st["prune"] == "done" and st["evaluate"] == "done", lines


def test_resume_after_interruption(base_run, tmp_path):
    out = _copy(base_run, tmp_path)
    recipe = _recipe(tmp_path, **{"export.opset": 18})   # export and evaluate must rerun

    def crash():
        raise RuntimeError("simulated crash inside export")

    with pytest.raises(RuntimeError, match="simulated crash"):
        _run(recipe, out, hooks={"export": crash})
    rec = json.loads((out / "export" / "stage.json").read_text())
    assert rec["complete"] is False and rec["attempts"] == 1
    res, lines = _run(recipe, out)
    st = _status(res)
    assert [st[s] for s in STAGES] == ["skipped"] * 5 + ["done", "done"], lines
    assert any("export" in line and "resuming an interrupted run" in line for line in lines)
    rec = json.loads((out / "export" / "stage.json").read_text())
    assert rec["complete"] is True and rec["attempts"] == 2


def test_until_then_from_stage(tmp_path):
    recipe = _recipe(tmp_path)
    out = tmp_path / "run"
    with pytest.raises(LdpruneError, match="no complete output"):
        run_pipeline(recipe, out, from_stage="prune", say=lambda m: None)
    res, _ = _run(recipe, out, until_stage="plan")
    assert _status(res) == {"profile": "done", "score": "done", "plan": "done", "prune": "not-run",
                            "distill": "not-run", "export": "not-run", "evaluate": "not-run"}
    assert not (out / "prune").exists() and res.report is None and res.exit_code == 0
    res, lines = _run(recipe, out, from_stage="plan", until_stage="prune")
    st = _status(res)
    assert (st["profile"], st["score"], st["plan"], st["prune"], st["distill"]) == \
        ("skipped", "skipped", "done", "done", "not-run"), lines   # the from-stage itself always reruns


def test_cli_run_check_and_bad_stage(tmp_path, capsys):
    recipe = _recipe(tmp_path)
    assert main(["run", str(recipe), "--check"]) == 0
    assert "OK" in capsys.readouterr().out
    assert main(["run", str(recipe), "-o", str(tmp_path / "x"), "--from-stage", "compile"]) == 2
    err = capsys.readouterr().err
    assert "'compile' is not a stage" in err and "profile, score, plan" in err
    assert not (tmp_path / "x").exists()


def test_ort_evaluator_times_this_runs_export(base_run, tmp_path):
    out = _copy(base_run, tmp_path)
    res, lines = _run(_recipe(tmp_path, **{"evaluate.runner": "ort-cpu", "evaluate.latency_batch": 1,
                                           "evaluate.iters": 2, "evaluate.warmup": 1}), out)
    st = _status(res)
    assert st["export"] == "skipped" and st["evaluate"] == "done", lines
    report = json.loads((out / "evaluate" / "report" / "report.json").read_text())
    used = Path(report["latency"]["candidate"]["extra"]["export_dir"])
    assert used.is_symlink() and used.resolve() == (out / "export" / "fp32").resolve()
