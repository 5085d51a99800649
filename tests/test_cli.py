import json
import subprocess
import sys

import pytest

from ldprune_deploy.cli import main
from ldprune_deploy.artifacts import Modification, PrunePlan


def _run(capsys, *argv):
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_help_lists_stage_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for cmd in ("catalogue", "prune", "demo"):
        assert cmd in out


def test_every_subcommand_help_shows_an_example(capsys):
    from ldprune_deploy.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    for name, p in sub.choices.items():
        text = p.format_help()
        assert "example" in text and f"ldprune {name}" in text, name


def test_catalogue_json_for_sd15(capsys):
    rc, out, _ = _run(capsys, "catalogue", "--model", "sd15", "--json")
    assert rc == 0
    data = json.loads(out)
    assert data["schema"] == "ldprune.catalogue/1"
    assert data["counts"]["resnet"] == 22 and data["counts"]["transformer"] == 16
    assert data["counts"]["attn1"] + data["counts"]["attn2"] + data["counts"]["ff"] == 48


def test_catalogue_table(capsys):
    rc, out, _ = _run(capsys, "catalogue", "--model", "tiny-uncond")
    assert rc == 0 and "mid_block.attentions.0" in out and "width:0.5" in out


def _plan_file(tmp_path, fingerprint, mods=(("mid_block.resnets.0", "remove"),)):
    p = tmp_path / "plan.json"
    PrunePlan(fingerprint, [Modification(o, m) for o, m in mods]).save(p)
    return p


def test_prune_writes_folder_and_refuses_overwrite(tmp_path, capsys, tiny_uncond):
    plan = _plan_file(tmp_path, tiny_uncond[1].fingerprint)
    out = tmp_path / "pruned"
    rc, stdout, _ = _run(capsys, "prune", "--model", "tiny-uncond", "--plan", str(plan), "-o", str(out))
    assert rc == 0 and (out / "prune_plan.json").exists()
    rc, _, err = _run(capsys, "prune", "--model", "tiny-uncond", "--plan", str(plan), "-o", str(out))
    assert rc == 2 and "not empty" in err and "--overwrite" in err and "Traceback" not in err
    rc, _, _ = _run(capsys, "prune", "--model", "tiny-uncond", "--plan", str(plan), "-o", str(out), "--overwrite")
    assert rc == 0


def test_prune_errors_are_one_clear_line(tmp_path, capsys, tiny_uncond, tiny_t2i):
    rc, _, err = _run(capsys, "prune", "--model", "tiny-uncond", "--plan", "x.json", "-o", str(tmp_path / "o"))
    assert rc == 2 and "plan not found: x.json" in err and "Traceback" not in err
    other = _plan_file(tmp_path, tiny_t2i[1].fingerprint)
    rc, _, err = _run(capsys, "prune", "--model", "nope", "--plan", str(other), "-o", str(tmp_path / "o"))
    assert rc == 2 and "unknown model 'nope'" in err and "tiny-t2i" in err and "Traceback" not in err
    rc, _, err = _run(capsys, "prune", "--model", "tiny-uncond", "--plan", str(other), "-o", str(tmp_path / "o"))
    assert rc == 2 and "fingerprint" in err and "--force" in err
    assert not (tmp_path / "o").exists()
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "ldprune.plan/1", "modif')
    rc, _, err = _run(capsys, "prune", "--model", "tiny-uncond", "--plan", str(bad), "-o", str(tmp_path / "o"))
    assert rc == 2 and "not valid JSON" in err
    illegal = _plan_file(tmp_path, tiny_uncond[1].fingerprint, [("up_blocks.0.resnets.0", "remove")])
    rc, _, err = _run(capsys, "prune", "--model", "tiny-uncond", "--plan", str(illegal), "-o", str(tmp_path / "o"))
    assert rc == 2 and "not legal" in err and "shortcut" in err


def test_debug_flag_shows_traceback(capsys):
    with pytest.raises(Exception, match="unknown model"):
        main(["--debug", "catalogue", "--model", "nope"])


def test_console_script_entry_point():
    r = subprocess.run([sys.executable, "-m", "ldprune_deploy.cli", "catalogue", "--model", "nope"],
                       capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr
    assert "unknown model 'nope'" in lines[0] and "(fix: use one of:" in lines[0]


def test_tiny_demo_runs_end_to_end(tmp_path, capsys):
    """`ldprune demo --tiny` = `ldprune run` on tiny-cpu.yaml: every stage runs, the summary table is printed,
    and a second demo into the same folder skips every stage."""
    rc, out, _ = _run(capsys, "demo", "--tiny", "-o", str(tmp_path / "demo"))
    assert rc == 0, out
    for stage in ("profile", "score", "plan", "prune", "distill", "export", "evaluate"):
        assert f"] {stage:<8} done in" in out
        assert json.loads((tmp_path / "demo" / stage / "stage.json").read_text())["complete"] is True
    assert "operators modified" in out and "predicted" in out and "not verified" in out
    assert "teacher" in out and "-> candidate" in out and "(reported, not enforced on a shared CPU)" in out
    # the quality row names its extractor (the project's proxy), never a bare number
    assert "proxy-FID [proxy:proxy-emoji]" in out
    report = tmp_path / "demo" / "evaluate" / "report" / "report.json"
    assert str(report.parent / "report.html") in out and report.exists()
    assert json.loads(report.read_text())["quality"]["fid"]["label"] == "proxy-FID"
    assert (tmp_path / "demo" / "export" / "fp32" / "unet.onnx").exists()
    rc, out, _ = _run(capsys, "demo", "--tiny", "-o", str(tmp_path / "demo"))
    assert rc == 0 and out.count("skipped (unchanged") == 7


def test_demo_runs_on_the_trained_emoji_teacher(tmp_path, capsys):
    """`ldprune demo` prunes and distills the committed emoji teacher; the report shows teacher and
    candidate samples from the same seeds side by side, and the summary says where."""
    rc, out, _ = _run(capsys, "demo", "-o", str(tmp_path / "demo"))
    assert rc == 0, out
    assert "benchmarks/assets/teachers/emoji-uig" in out and "random weights" not in out
    for stage in ("profile", "score", "plan", "prune", "distill", "export", "evaluate"):
        assert f"] {stage:<8} done in" in out
    samples = tmp_path / "demo" / "evaluate" / "report" / "plots" / "samples.png"
    assert samples.stat().st_size > 10_000 and f"side by side: {samples}" in out
    report = json.loads((tmp_path / "demo" / "evaluate" / "report" / "report.json").read_text())
    lat = report["latency"]
    assert lat["teacher_ms"] > 0 and lat["candidate_ms"] > 0
    assert report["quality"]["fid"]["label"] == "proxy-FID"
    assert json.loads((tmp_path / "demo" / "plan" / "plan.json").read_text())["modifications"]
