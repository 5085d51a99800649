"""CPU smoke of benchmarks/quality_*.py: each --smoke run (throwaway 2-step teacher, tiny N)
writes its JSON with the expected rows and finite numbers. The figures mean nothing."""

from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data_cache"
PROXIES = ROOT / "benchmarks" / "assets"
sys.path.insert(0, str(ROOT / "benchmarks"))

pytestmark = pytest.mark.skipif(
    not ((DATA / "emoji.npz").is_file() and (DATA / "notes.npz").is_file() and (PROXIES / "proxy-emoji.safetensors").is_file()
         and (PROXIES / "proxy-mel.safetensors").is_file()),
    reason="needs data_cache/{emoji,notes}.npz (ldprune data emoji|notes) and benchmarks/assets/proxy-*.safetensors")


def _run(script: str, tmp_path: Path, *extra: str) -> dict:
    mod = importlib.import_module(script)
    out = tmp_path / script
    assert mod.main(["--smoke", "--data", str(DATA), "--proxies", str(PROXIES), "--out", str(out), *extra]) == 0
    res = json.loads((out / f"{script}.json").read_text())
    assert res["smoke"] is True and res["device"]["kind"] == "cpu"
    assert (out / f"{script}.md").read_text().strip() == res["table_md"].strip()
    return res


def _finite(*xs):
    for x in xs:
        assert isinstance(x, (int, float)) and math.isfinite(x), x


@pytest.mark.parametrize("teacher", ["emoji-uig", "emoji-t2i"])
def test_strategies_smoke(tmp_path, teacher):
    res = _run("quality_strategies", tmp_path, "--smoke-teacher", teacher)
    pairs = {(r["method"], r["strategy"]) for r in res["rows"]}
    assert pairs == {("ld-pruner", "latency-aware"), ("ld-pruner", "rank"), ("laptop", "latency-aware"),
                     ("magnitude", "latency-aware"), ("random", "latency-aware")} | (
        {("ld-pruner-prompt", "latency-aware")} if teacher == "emoji-t2i" else set())
    for r in res["rows"]:
        _finite(r["fid_pruned"], r["fid_distilled"], r["measured_ms"], r["measured_full_ms"])
        assert r["n_modifications"] >= 1 and r["student_params"] < res["teacher"]["params"]
    # 5 plans + the two ablations of the first (plain feature KD, random init)
    keys = [(c["criterion"], c["planner"], c["init"], c["feature_kd"]) for c in res["comparisons"]]
    assert keys[:3] == [("ld-pruner", "latency-aware", "preserved", "normalized"),
                        ("ld-pruner", "latency-aware", "preserved", "plain"),
                        ("ld-pruner", "latency-aware", "scratch", "normalized")] and len(keys) == len(pairs) + 2
    for c in res["comparisons"]:
        assert c["task"] == teacher and c["seeds"] == [0] and c["metric"] == "proxy-FID"
        _finite(c["cut_mean"], c["metric_mean"])
        assert isinstance(c["vs_ld_pruner_latency_aware"]["exceeds_spread"], bool)
    assert res["metric"]["reference"] == "held-out split"
    if teacher == "emoji-t2i" and (PROXIES / "align-emoji.safetensors").is_file():
        _finite(res["teacher_alignment"], *(c["alignment_mean"] for c in res["comparisons"]))
    assert len(res["summary"]) == len(pairs) + 2 and (tmp_path / "quality_strategies" / "quality_strategies.png").is_file()


@pytest.mark.parametrize("criterion,ema,losses,caps", [
    ("ld-pruner", None, (), ["resnets=1"]),
    ("ld-pruner-prompt", 0.9, ("--lambda-out", "2", "--cond-dropout", "0", "--caption-mix", "0.5", "--snr-gamma", "5",
                                  "--lambda-feat", "0.1", "--lambda-prompt", "0.2"),
     None)])
def test_strategies_only_and_exclude(tmp_path, criterion, ema, losses, caps):
    """--only runs just the named plan; --exclude keeps matching candidates out of it (here every
    cross-attention: the text-to-image headline's alignment experiment, with either criterion);
    --cap reaches the planner; --ema, --lambda-out, --cond-dropout, --caption-mix, --snr-gamma, --lambda-feat and
    --lambda-prompt reach the distillation, and the result says so (a run without --caption-mix, --snr-gamma,
    --lambda-feat or --lambda-prompt records no key: it reads as every run before it)."""
    res = _run("quality_strategies", tmp_path, "--smoke-teacher", "emoji-t2i", "--only", f"{criterion}/latency-aware",
               "--no-ablations", "--exclude", r"attn2|attentions\.[0-9]+:remove", *(["--ema", str(ema)] if ema else []),
               *losses, *[f"--cap={c}" for c in caps or ()])
    assert res["caps"] == caps
    assert [(r["method"], r["strategy"], r["init"]) for r in res["rows"]] == [(criterion, "latency-aware", "preserved")]
    assert res["distill"]["ema"] == ema
    assert (res["distill"]["lambda_out"], res["distill"]["cond_dropout"]) == ((2.0, 0.0) if losses else (1.0, 0.1))
    assert ("2 x output KD" in res["distill"]["losses"]) == bool(losses)
    assert res["distill"].get("caption_mix") == (0.5 if losses else None)
    assert ("blended captions (0.5 of the rows)" in res["distill"]["losses"]) == bool(losses)
    assert res["distill"].get("snr_gamma") == (5.0 if losses else None)
    assert ("min-SNR-5" in res["distill"]["losses"]) == bool(losses)
    assert res["distill"].get("lambda_feat") == (0.1 if losses else None)
    assert ("0.1 x feature KD" in res["distill"]["losses"]) == bool(losses)
    assert res["distill"].get("lambda_prompt") == (0.2 if losses else None)
    assert ("0.2 x prompt-effect KD" in res["distill"]["losses"]) == bool(losses)
    assert res["exclude"] == r"attn2|attentions\.[0-9]+:remove"
    plan = json.loads((tmp_path / "quality_strategies" / "work" / "plans" / f"plan-{criterion}-latency-aware-s0.json").read_text())
    ops = [m["operator"] for m in plan["modifications"]]
    assert ops and not any(o.endswith("attn2") or o.split(".")[-2:-1] == ["attentions"] for o in ops), ops
    assert plan["meta"]["config"].get("caps") == caps
    assert sum(".resnets." in o for o in ops) <= (1 if caps else len(ops))
    scores = json.loads((tmp_path / "quality_strategies" / "work" / f"scores-{criterion}-s0.json").read_text())
    assert scores["filters"]["exclude"] == res["exclude"]


def test_recovery_smoke(tmp_path):
    res = _run("quality_recovery", tmp_path)
    assert [(r["init"], r["feat_loss"]) for r in res["runs"]] == [
        ("preserved", "normalized"), ("scratch", "normalized"), ("preserved", "plain")]
    for r in res["runs"]:
        steps = [p["step"] for p in r["curve"]]
        assert steps == [0, *res["eval_at"], res["distill"]["steps"]] and len(steps) >= 3
        _finite(*(p["fid"] for p in r["curve"]))
    v = res["verdict"]
    _finite(v["teacher_fid_here"], v["target_fid"])
    assert v["teacher_steps"] == 2 and isinstance(v["reached"], bool)
    # same architecture, different weights: the scratch control is not the preserved student
    assert res["runs"][1]["curve"][0]["fid"] != res["runs"][0]["curve"][0]["fid"]


def test_audio_smoke(tmp_path):
    res = _run("quality_audio", tmp_path)
    assert res["teacher"]["data"] == "notes" and res["metric"]["metric"] == "proxy-FAD"
    assert [r["seed"] for r in res["rows"]] == [0]
    for r in res["rows"]:
        _finite(r["fad_pruned"], r["fad_finetuned"], r["ratio_to_teacher"], r["measured_ms"])
    _finite(res["teacher_fad"])


def test_plan_then_train_phases(tmp_path):
    """--phase plan times the runner and saves the plans; --phase train reuses them exactly
    (no latency is timed there, so several scripts can share one GPU); train without plans
    stops with the command to run first."""
    mod = importlib.import_module("quality_audio")
    out = tmp_path / "qa"
    args = ["--smoke", "--data", str(DATA), "--proxies", str(PROXIES), "--out", str(out)]
    with pytest.raises(SystemExit, match="--phase plan"):
        mod.main(args + ["--phase", "train"])
    assert mod.main(args + ["--phase", "plan"]) == 0
    saved = json.loads((out / "work" / "plans" / "plan-s0.json").read_text())
    assert (out / "work" / "profile-cpu.json").is_file() and not (out / "quality_audio.json").exists()
    assert mod.main(args + ["--phase", "train"]) == 0
    res = json.loads((out / "quality_audio.json").read_text())
    assert res["rows"][0]["modifications"] == [[m["operator"], m["modification"]] for m in saved["modifications"]]
    assert res["rows"][0]["measured_ms"] == saved["measured"]["latency_ms"]


def test_train_rows_resume(tmp_path):
    """A train phase keeps each finished row under OUT/work/rows: run again over the same folder it
    reuses them (same teacher weights, data, plan and settings) instead of distilling again; a
    changed setting or --no-resume measures the row again and replaces the file."""
    mod = importlib.import_module("quality_audio")
    out = tmp_path / "qa"
    args = ["--smoke", "--data", str(DATA), "--proxies", str(PROXIES), "--out", str(out)]
    assert mod.main(args + ["--phase", "plan"]) == 0

    def train(*extra: str) -> dict:
        assert mod.main(args + ["--phase", "train", *extra]) == 0
        return json.loads((out / "quality_audio.json").read_text())

    first = train()
    row_file = out / "work" / "rows" / "row-s0.json"
    stored = json.loads(row_file.read_text())
    assert first["rows_resumed"] == {"resumed": 0, "measured": 1, "resumed_keys": []}
    assert stored["schema"] == "ldprune.bench.quality-row/1" and stored["fingerprint"]["inputs"]["teacher/diffusion_pytorch_model.safetensors"]
    assert stored["row"]["measured_on"]["device"].startswith("cpu")
    again = train()
    assert again["rows_resumed"] == {"resumed": 1, "measured": 0, "resumed_keys": ["s0"]}
    assert again["rows"][0]["fad_finetuned"] == first["rows"][0]["fad_finetuned"]
    assert "1 of 1 resumed" in again["table_md"]
    changed = train("--lr", "1e-4")
    assert changed["rows_resumed"]["measured"] == 1 and changed["distill"]["lr"] == 1e-4
    assert json.loads(row_file.read_text())["fingerprint"]["settings"]["lr"] == 1e-4
    assert train("--lr", "1e-4", "--no-resume")["rows_resumed"] == {"resumed": 0, "measured": 1, "resumed_keys": []}
    # a row measured from other teacher weights (its stored hash differs) is not reused
    stored = json.loads(row_file.read_text())
    stored["fingerprint"]["inputs"]["teacher/diffusion_pytorch_model.safetensors"] = "0" * 16
    row_file.write_text(json.dumps(stored))
    assert train("--lr", "1e-4")["rows_resumed"]["measured"] == 1


def test_rows_from_another_run_are_reused_only_when_their_fingerprint_matches(tmp_path):
    """--rows-from DIR: a row of another run (the same plan file, inputs and settings) is copied here and
    reused instead of distilled again; a different setting distils; a missing folder is one clear error."""
    import shutil

    mod = importlib.import_module("quality_audio")
    first, again = tmp_path / "first", tmp_path / "again"
    args = ["--smoke", "--data", str(DATA), "--proxies", str(PROXIES)]
    assert mod.main(args + ["--out", str(first), "--phase", "plan"]) == 0
    assert mod.main(args + ["--out", str(first), "--phase", "train"]) == 0
    measured = json.loads((first / "quality_audio.json").read_text())
    (again / "work").mkdir(parents=True)
    for name in ("plans", "profile-cpu.json"):   # a re-landing that kept the plan, as quality_session's +FOLDER copies
        src = first / "work" / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, again / "work" / name)

    def train(*extra: str) -> dict:
        assert mod.main(args + ["--out", str(again), "--phase", "train", "--rows-from", str(first / "work/rows"), *extra]) == 0
        return json.loads((again / "quality_audio.json").read_text())

    reused = train()
    assert reused["rows_resumed"] == {"resumed": 1, "measured": 0, "resumed_keys": ["s0"],
                                      "resumed_from": [str(first / "work/rows/row-s0.json")]}
    assert reused["rows"][0]["fad_finetuned"] == measured["rows"][0]["fad_finetuned"]
    assert (again / "work/rows/row-s0.json").read_text() == (first / "work/rows/row-s0.json").read_text()
    assert "resumed from earlier runs (--rows-from)" in reused["table_md"]
    assert train("--lr", "1e-4")["rows_resumed"]["measured"] == 1   # another setting: distilled here
    with pytest.raises(SystemExit, match="--rows-from: no such folder"):
        mod.main(args + ["--out", str(again), "--phase", "train", "--rows-from", str(tmp_path / "nowhere")])


def test_guidance_smoke(tmp_path):
    """quality_guidance: the teacher and one student per caption-dropout share, each measured at every guidance
    scale; guidance reaches the sampler (the same model measures differently at 1 and 3)."""
    res = _run("quality_guidance", tmp_path, "--dropouts", "0,0.1", "--guidance", "1,3")
    assert res["guidance"] == [1.0, 3.0] and res["distill"]["cond_dropout"] == [0.0, 0.1]
    [run] = res["runs"]
    assert run["seed"] == 0 and [s["cond_dropout"] for s in run["students"]] == [0.0, 0.1]
    for m in [run["teacher"]] + [s["metrics"] for s in run["students"]]:
        assert set(m) == {"1", "3"}
        _finite(*(v for g in m.values() for v in (g["fid"], g["alignment"])))
        assert m["1"] != m["3"]
    assert res["table_md"].count("\n") == 2 + 3 - 1   # header, rule, teacher + two students
