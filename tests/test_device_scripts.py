"""benchmarks/device/quality_session.sh's local helpers (the device side needs a GPU machine)."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "device" / "quality_session.sh"
SLIMMED = ["benchmarks/assets/teachers/emoji-t2i/unet/diffusion_pytorch_model.safetensors",
           "benchmarks/assets/teachers/emoji-uig/unet/diffusion_pytorch_model.safetensors",
           "benchmarks/assets/teachers/notes-uag/unet/diffusion_pytorch_model.safetensors",
           "benchmarks/assets/proxy-mel.safetensors"]


def test_slim_sets_the_unread_weights_aside_and_back_without_touching_the_rest(tmp_path):
    kept = tmp_path / "benchmarks/assets/proxy-emoji.safetensors"
    for i, rel in enumerate(SLIMMED + [str(kept.relative_to(tmp_path))]):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(bytes([i]) * 16)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["bash", str(SCRIPT), "slim"], cwd=tmp_path, check=True, capture_output=True)
    assert not any((tmp_path / rel).exists() for rel in SLIMMED) and kept.is_file()
    assert all((tmp_path / ".stage/slim" / rel).read_bytes() == bytes([i]) * 16 for i, rel in enumerate(SLIMMED))
    subprocess.run(["bash", str(SCRIPT), "slim", "back"], cwd=tmp_path, check=True, capture_output=True)
    assert all((tmp_path / rel).read_bytes() == bytes([i]) * 16 for i, rel in enumerate(SLIMMED))
    assert not any((tmp_path / ".stage/slim" / rel).exists() for rel in SLIMMED)


def _script(cwd, *args, **env):
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=cwd, check=True, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", **env}).stdout


def test_parts_are_joined_only_when_complete_and_never_over_a_file_already_there(tmp_path):
    src, dev = tmp_path / "src", tmp_path / "dev"
    data = bytes(range(256)) * 9000   # 2.3 MB: three parts of 1 MB
    (src / "data_cache").mkdir(parents=True)
    (src / "data_cache/x.bin").write_bytes(data)
    _script(src, "split", "data_cache/x.bin", PART_MB="1")
    parts = sorted((src / ".stage/parts").iterdir())
    assert [p.name for p in parts] == ["data_cache__x.bin.part-00", "data_cache__x.bin.part-01",
                                       "data_cache__x.bin.part-02", "data_cache__x.bin.parts"]
    staged = dev / ".stage/parts"
    staged.mkdir(parents=True)
    target = dev / "data_cache/x.bin"
    for p in parts[:2] + parts[3:]:   # a put call that brought two of the three parts and the manifest
        (staged / p.name).write_bytes(p.read_bytes())
    assert "waiting: data_cache/x.bin has 2 of its 3 parts" in _script(dev, "join") and not target.exists()
    (staged / parts[2].name).write_bytes(parts[2].read_bytes())
    target.parent.mkdir()
    target.write_bytes(b"the user's own file")   # a file already in place is kept, whatever the parts say
    assert "kept data_cache/x.bin" in _script(dev, "join") and target.read_bytes() == b"the user's own file"
    target.unlink()
    assert "joined data_cache/x.bin" in _script(dev, "join") and target.read_bytes() == data
    assert _script(dev, "join").strip() == "" and target.read_bytes() == data   # joined once, then left alone
    target.unlink()
    (staged / parts[1].name).write_bytes(b"damaged")   # parts that do not add up to the file's sha256
    assert "do not add up" in _script(dev, "join") and not target.exists()
    assert not list(target.parent.glob("*.joining"))
    (staged / "data_cache__x.bin.parts").unlink()   # parts without their manifest are not joined
    assert "no data_cache__x.bin.parts" in _script(dev, "join") and not target.exists()


def test_trials_that_read_the_set_aside_weights_are_recognised():
    def reads(trials: str) -> str:
        return subprocess.run(["bash", str(SCRIPT), "trials-read-committed", trials], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    assert reads("t2i-de-r2:emoji-t2i:250:5:3600:--lr-scale,0.1") == "no"
    assert reads("t2i:emoji-t2i:250:5:3600 noise") == "yes"   # the committed teachers' metric noise
    assert reads("proxy:--width,96") == "yes"                 # a proxy candidate copies proxy-mel
    assert reads("noise:--teachers,resume/t2i-de-r2,--only,emoji-t2i") == "no"
    assert reads("noise:--teachers,resume/x noise") == "yes"


def test_headline_specs_plan_new_plans_first_and_give_each_spec_its_seeds_and_flags(tmp_path):
    work, results = tmp_path / "work", tmp_path / "results"
    committed = work / "committed/work/plans"
    committed.mkdir(parents=True)
    (committed / "plan-a.json").write_text("{}")
    (committed.parent / "profile-torch-graph.json").write_text("{}")
    (results / "logs").mkdir(parents=True)
    specs = ("x:new:ld-pruner-prompt/latency-aware:2800:xattn:3,4,5:--cond-dropout,0 "
             r"v:+@x:ld-pruner-prompt/latency-aware:2800:-:3,4,5:--cap,(attn2|attentions\.[0-9]+):remove=4 "
             "u:+committed/work:ld-pruner-prompt/latency-aware:2800:-:3:--replan,--cond-dropout,0 "
             "y:@z:ld-pruner/latency-aware:2800:-:0:--lr,1e-3 "
             "z:committed/work:ld-pruner/latency-aware:2800 "
             r"c:+committed/work:ld-pruner/latency-aware:2800:-:0,1:--cap,(attn2|attentions\.[0-9]+):remove=4 "
             "d:@c:ld-pruner/latency-aware:2800:-:1")
    env = {"PATH": "/usr/bin:/bin", "W": str(work), "R": str(results), "DRY_RUN": "1", "SEEDS_APART": "1",
           "HEADLINES": specs}
    log = subprocess.run(["bash", str(SCRIPT), "headline"], cwd=work, env=env, check=True, capture_output=True,
                         text=True).stdout
    cmds = [line.split(": ", 1) for line in log.splitlines() if line.startswith("DRY ")]
    names = [n[len("DRY "):] for n, _ in cmds]
    assert names[0] == "plan-x" and "--phase plan" in cmds[0][1]
    assert cmds[0][1].endswith(r"--seeds 3,4,5 --exclude attn2|attentions\.[0-9]+:remove --cond-dropout 0")
    assert sorted(n for n in names if n.startswith("train-")) == [
        "train-c-s0", "train-c-s1", "train-d-s1", "train-u-s3", "train-v-s3", "train-v-s4", "train-v-s5",
        "train-x-s3", "train-x-s4", "train-x-s5", "train-y-s0", "train-z-s0", "train-z-s1", "train-z-s2"]
    # +FOLDER, +@NAME: re-landed with the spec's flags after every plan is planned and before any distillation
    assert names[1:4] == ["reland-v", "reland-u", "reland-c"]
    # --replan reaches the re-landing only (the train phase refuses it)
    assert by_name(cmds, "reland-u").endswith("--seeds 3 --replan --cond-dropout 0")
    assert by_name(cmds, "train-u-s3").endswith("--seeds 3 --cond-dropout 0") and "--replan" not in by_name(cmds, "table-u")
    assert names.index("reland-c") < min(i for i, n in enumerate(names) if n.startswith("train-"))
    assert f"--out {results}/quality/v " in by_name(cmds, "reland-v")
    assert "--phase reland" in by_name(cmds, "reland-c") and f"--out {results}/quality/c " in by_name(cmds, "reland-c")
    assert by_name(cmds, "reland-c").endswith(r"--seeds 0,1 --cap (attn2|attentions\.[0-9]+):remove=4")
    assert (results / "quality/c/work/plans/plan-a.json").is_file() and (results / "quality/d/work/plans/plan-a.json").is_file()
    by = dict((n[len("DRY "):], c) for n, c in cmds)
    assert by["train-y-s0"].endswith("--seeds 0 --lr 1e-3") and "--exclude" not in by["train-y-s0"]
    assert f"--out {results}/quality/y " in by["train-y-s0"]
    assert by["table-y"].endswith("--seeds 0 --lr 1e-3") and by["table-x"].split("--seeds")[-1].startswith(" 3,4,5")
    assert names[-7:] == ["table-x", "table-v", "table-u", "table-y", "table-z", "table-c", "table-d"]
    # @z: spec y distils z's plans, copied from the committed folder before any distillation
    assert (results / "quality/y/work/plans/plan-a.json").is_file()
    assert (results / "quality/z/work/plans/plan-a.json").is_file() and (results / "DONE").is_file()


def by_name(cmds, name):
    return next(c for n, c in cmds if n == f"DRY {name}")


def _start(tmp_path, results):
    src = tmp_path / "src"
    src.mkdir(exist_ok=True)
    env = {"PATH": "/usr/bin:/bin", "W": str(tmp_path / "work"), "R": str(results), "START_WAIT": "0",
           "OUT": str(tmp_path / "out")}
    return subprocess.run(["bash", str(SCRIPT), "start", "headline"], cwd=src, env=env, capture_output=True, text=True)


def test_a_headline_spec_without_its_profile_or_plans_stops_the_session_before_anything_runs(tmp_path):
    """A committed folder distilled as it is needs the profile --phase train reads; a re-landed one (+FOLDER) only
    its plans; the check runs before the data wait, so a bad spec fails in the start call."""
    work, results = tmp_path / "work", tmp_path / "results"
    for name, files in {"full": ("plans/plan-a.json", "profile-torch-graph.json"), "noprof": ("plans/plan-a.json",),
                        "empty": ()}.items():
        (work / name / "plans").mkdir(parents=True)
        for f in files:
            (work / name / f).write_text("{}")

    def run(specs):
        (results / "logs").mkdir(parents=True)
        env = {"PATH": "/usr/bin:/bin", "W": str(work), "R": str(results), "DRY_RUN": "1", "HEADLINES": specs}
        return subprocess.run(["bash", str(SCRIPT), "headline"], cwd=work, env=env, check=True, capture_output=True,
                              text=True).stdout

    ok = run("a:full:ld-pruner/latency-aware:2800 b:+noprof:ld-pruner/latency-aware:2800")
    assert "FAIL" not in ok and "DRY train-a" in ok and "DRY reland-b" in ok
    results = tmp_path / "results-bad"
    bad = run("a:full:ld-pruner/latency-aware:2800 c:noprof:ld-pruner/latency-aware:2800 "
              "d:empty:ld-pruner/latency-aware:2800 e:+gone:ld-pruner/latency-aware:2800 f:+empty:ld-pruner/latency-aware:2800")
    assert "### FAIL headline spec c: noprof has no profile-torch-graph.json" in bad
    assert "### FAIL headline spec d: empty has no saved plans" in bad and "### FAIL headline spec e: no folder gone" in bad
    assert "spec f" not in bad   # a re-landing may plan every seed afresh
    assert "DRY " not in bad and (results / "DONE").exists() and not (results / "quality").exists()


def test_a_second_start_on_a_warm_machine_clears_the_finished_sessions_done_and_keeps_its_log(tmp_path):
    results = tmp_path / "results"
    (results / "logs").mkdir(parents=True)
    (results / "logs/session.log").write_text("### DONE 04:47:06\n")
    (results / "DONE").touch()
    assert _start(tmp_path, results).returncode == 0
    assert not (results / "DONE").exists()   # the next `collect` waits for this session
    kept = list((results / "logs").glob("session-*.log"))
    assert [f.read_text() for f in kept] == ["### DONE 04:47:06\n"]
    assert (results / "session.pid").read_text().strip().isdigit()


def test_start_refuses_while_a_session_still_runs_and_touches_nothing(tmp_path):
    results = tmp_path / "results"
    (results / "logs").mkdir(parents=True)
    (results / "logs/session.log").write_text("=== START train-x-s0\n")
    live = subprocess.Popen(["sleep", "30"])
    try:
        (results / "session.pid").write_text(f"{live.pid}\n")
        run = _start(tmp_path, results)
    finally:
        live.kill()
        live.wait()
    assert run.returncode != 0 and "still running" in run.stdout
    assert (results / "logs/session.log").read_text() == "=== START train-x-s0\n"
    assert not (tmp_path / "work").exists()


def test_jobs_pass_a_cap_regex_to_python_as_one_argument_unparsed(tmp_path):
    # the 2026-12-06 09:15 session lost every job to `bash -c` re-parsing the ( | ) of a --cap regex
    work, results, fake = tmp_path / "work", tmp_path / "results", tmp_path / "bin"
    (work / "committed/work/plans").mkdir(parents=True)
    (results / "logs").mkdir(parents=True)
    fake.mkdir()
    (fake / "python3").write_text('#!/bin/bash\nprintf "%s\\n" "$@" > "$R/argv-$$"\n')
    (fake / "python3").chmod(0o755)
    cap = r"(attn2|attentions\.[0-9]+):remove=4"
    env = {"PATH": f"{fake}:/usr/bin:/bin", "W": str(work), "R": str(results), "DATA_WAIT": "1",
           "HEADLINES": f"c:+committed/work:ld-pruner/latency-aware:2800:-:0:--cap,{cap}"}
    subprocess.run(["bash", str(SCRIPT), "headline"], cwd=work, env=env, check=True, capture_output=True, text=True)
    runs = [f.read_text().splitlines() for f in results.glob("argv-*")]
    assert len(runs) == 2   # reland, then train (seeds together without SEEDS_APART)
    assert all(argv[argv.index("--cap") + 1] == cap for argv in runs)
    assert {argv[argv.index("--phase") + 1] for argv in runs} == {"reland", "train"}


def test_screen_entries_run_side_by_side_then_one_table_pass_per_name_with_every_group(tmp_path):
    work, results = tmp_path / "work", tmp_path / "results"
    work.mkdir()
    (results / "logs").mkdir(parents=True)
    env = {"PATH": "/usr/bin:/bin", "W": str(work), "R": str(results), "DRY_RUN": "1", "SCREEN_FLAGS": "--known",
           "SCREENS": "r@0=a.json,b.json,c.json r@3=d.json,e.json,f.json@--k,3 p@0=g.json+1=h.json@--no-final,--k,3",
           "SCREEN_TABLES": "pool@0=a.json,g.json@--no-final,--k,3,ROWS:r,ROWS:p"}
    log = subprocess.run(["bash", str(SCRIPT), "screen"], cwd=work, env=env, check=True, capture_output=True,
                         text=True).stdout
    cmds = [line.split(": ", 1) for line in log.splitlines() if line.startswith("DRY ")]
    names = [n[len("DRY "):] for n, _ in cmds]
    assert sorted(names[:3]) == ["screen-p-3", "screen-r-1", "screen-r-2"]   # side by side: in any order
    assert names[3:] == ["table-p", "table-pool", "table-r"]
    assert by_name(cmds, "screen-r-1").endswith(f"--out {results}/quality/r --group 0=a.json,b.json,c.json --known")
    assert by_name(cmds, "screen-p-3").endswith("--group 0=g.json --group 1=h.json --known --no-final --k 3")
    assert by_name(cmds, "table-r").endswith("--group 0=a.json,b.json,c.json --group 3=d.json,e.json,f.json --known --k 3")
    assert by_name(cmds, "table-pool").endswith(
        f"--group 0=a.json,g.json --known --no-final --k 3 --rows-from {results}/quality/r/work/rows "
        f"--rows-from {results}/quality/p/work/rows")
    assert (results / "DONE").is_file()


def test_evidence_takes_committed_plans_and_passes_the_rows_of_a_cut_off_run(tmp_path):
    work, results = tmp_path / "work", tmp_path / "results"
    plans = work / "committed/strategies-emoji-t2i/work/plans"
    plans.mkdir(parents=True)
    (plans / "plan-a.json").write_text("{}")
    (results / "logs").mkdir(parents=True)
    env = {"PATH": "/usr/bin:/bin", "W": str(work), "R": str(results), "DRY_RUN": "1", "PLANS_FROM": "committed",
           "TEACHERS": "none", "TASKS": "emoji-t2i", "T2I_NO_ABLATIONS": "1"}

    def train_cmd(extra: dict) -> str:
        log = subprocess.run(["bash", str(SCRIPT), "evidence"], cwd=work, env={**env, **extra}, check=True,
                             capture_output=True, text=True).stdout
        assert "DRY plan-emoji-t2i" not in log   # the committed plans, not planned again
        return next(line for line in log.splitlines() if line.startswith("DRY train-emoji-t2i: "))

    plain = train_cmd({})
    assert (results / "quality/strategies-emoji-t2i/work/plans/plan-a.json").is_file()
    assert "--rows-from" not in plain and "--no-ablations" in plain
    rows = "committed/strategies-emoji-t2i/work/rows"
    cmd = train_cmd({"STRAT_ROWS_FROM": rows})
    assert cmd.endswith(f"--no-ablations --rows-from {rows}") and cmd.startswith(plain.removesuffix("--no-ablations"))
