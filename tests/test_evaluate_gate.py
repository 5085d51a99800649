"""Evaluator end to end on tiny pixel UNets: gate pass / too slow / too degraded through the API
and the CLI (exit 0 / 3), an audio (mel) model with FAD, errors before sampling, and the
HTML report rendered in headless Chromium."""

import base64
import io
import json
import re
import shutil
import subprocess
import time

import pytest
import torch

from ldprune_deploy.cli import main
from ldprune_deploy.errors import GateFailed, LdpruneError
from ldprune_deploy.evaluation import EvaluateConfig, evaluate

pytestmark = pytest.mark.usefixtures("one_thread")


FEATS = """import torch
def feats(x):
    pooled = torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)
    grad = (x[..., 1:] - x[..., :-1]).abs().mean(dim=(2, 3))
    return torch.cat([pooled, grad, x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)
"""
FAST = dict(n_samples=24, steps=2, batch_size=24, warmup=1, iters=3, e2e_repeats=1)


def _runner() -> str:
    """The project's ``cpu`` runner when it is installed; else a minimal timing runner for tests."""
    from ldprune_deploy.runners import (
        RUNNERS,
        LatencyStats,
        Runner,
        RunSpec,
        runner_names,
    )

    if "cpu" in runner_names():
        return "cpu"
    if "eval-test" not in runner_names():
        from ldprune_deploy.models import example_inputs

        @RUNNERS.register("eval-test")
        class _EvalTestRunner(Runner):
            def measure(self, model, info, spec: RunSpec) -> LatencyStats:
                inputs = example_inputs(model, info, batch=spec.batch, resolution=spec.resolution)
                times = []
                with torch.no_grad():
                    for i in range(spec.warmup + spec.iters):
                        t0 = time.perf_counter()
                        model(**inputs, return_dict=False)
                        if i >= spec.warmup:
                            times.append(1000 * (time.perf_counter() - t0))
                return LatencyStats.from_samples(times, runner="eval-test")
    return "eval-test"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from ldprune_deploy.models import load_model

    d = tmp_path_factory.mktemp("evaluate")
    (d / "feats.py").write_text(FEATS)
    # a clearly degraded candidate: the teacher with its noise prediction biased
    unet, _ = load_model("tiny-uncond", quiet=True)
    with torch.no_grad():
        unet.conv_out.bias += 1.5
    unet.save_pretrained(d / "degraded")
    return d


def test_api_pass_report_contents(setup):
    out = setup / "pass"
    rep = evaluate("tiny-uncond", "tiny-uncond", EvaluateConfig(
        output=str(out), runner=_runner(), budget="100000ms", max_quality_drop=["10%"],
        feature_extractor=f"{setup / 'feats.py'}:feats", **FAST))
    assert rep["gate"]["passed"] and [c["check"] for c in rep["gate"]["checks"]] == ["latency", "fid"]
    q = rep["quality"]["fid"]
    # same weights, same seeds: identical samples, so the candidate equals the teacher's own noise floor
    assert q["candidate"] == pytest.approx(q["teacher"]) and q["teacher"] > 0
    assert abs(q["candidate_vs_teacher"]) < 1e-6 and "disjoint seeds 24..47" in q["reference"]
    assert q["extractor"]["kind"] == "user" and "feats.py:feats" in q["label"]
    lat = rep["latency"]
    assert lat["teacher_ms"] > 0 and lat["candidate_ms"] > 0 and lat["speedup"] > 0
    saved = json.loads((out / "report.json").read_text())
    assert saved["schema"] == "ldprune.report/1" and saved["device"]["kind"] == "cpu"
    assert saved["teacher"]["fingerprint"] == saved["candidate"]["fingerprint"]
    assert "PASS" in (out / "report.md").read_text()
    assert (out / "plots" / "samples.png").stat().st_size > 1000
    # the same figures against a tighter budget: the gate says why, in one line
    from ldprune_deploy.budget import Budget
    from ldprune_deploy.evaluation.gate import enforce, gate, parse_tolerances

    slow = gate(lat, rep["quality"], Budget.parse("0.001ms"), parse_tolerances(["10%"]))
    with pytest.raises(GateFailed, match="too slow"):
        enforce(slow)


def test_cli_exit_codes_pass_too_slow_too_degraded(setup, capsys):
    base = ["evaluate", "--teacher", "tiny-uncond", "--n-samples", "24", "--steps", "2", "--batch-size", "24",
            "--feature-extractor", f"{setup / 'feats.py'}:feats", "--runner", _runner(), "--warmup", "1",
            "--iters", "3", "--e2e-repeats", "1", "--max-quality-drop", "10%"]
    assert main(base + ["--candidate", "tiny-uncond", "--budget", "100000ms", "-o", str(setup / "cli-pass")]) == 0
    assert "gate: PASS" in capsys.readouterr().out
    assert main(base + ["--candidate", "tiny-uncond", "--budget", "0.001ms", "-o", str(setup / "cli-slow")]) == 3
    err = capsys.readouterr().err
    assert "too slow" in err and "too degraded" not in err
    assert (setup / "cli-slow" / "report.html").is_file()      # the report is written before the gate fails
    assert main(base + ["--candidate", str(setup / "degraded"), "--budget", "100000ms",
                        "-o", str(setup / "cli-degraded")]) == 3
    err = capsys.readouterr().err
    assert "too degraded" in err and "too slow" not in err
    rep = json.loads((setup / "cli-degraded" / "report.json").read_text())
    assert rep["quality"]["fid"]["candidate"] > 2 * rep["quality"]["fid"]["teacher"]


def test_audio_model_fad_without_runner(tmp_path):
    from diffusers import UNet2DModel

    unet = UNet2DModel(sample_size=16, in_channels=1, out_channels=1, layers_per_block=1, block_out_channels=(16, 32),
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"),
                       norm_num_groups=8)
    unet.save_pretrained(tmp_path / "mel-unet")
    (tmp_path / "mel.py").write_text("def f(x):\n    return x.mean(dim=-1).flatten(1)\n")
    rep = evaluate(str(tmp_path / "mel-unet"), str(tmp_path / "mel-unet"), EvaluateConfig(
        output=str(tmp_path / "out"), metrics=["fad"], runner="none", feature_extractor=f"{tmp_path / 'mel.py'}:f",
        **FAST))
    q = rep["quality"]["fad"]
    assert q["input"] == "mel spectrogram" and q["feature_dim"] == 16 and rep["latency"] is None
    assert rep["gate"]["passed"] and rep["sampling"]["mel"]["sample_rate"] == 22050


def test_errors_before_sampling(tmp_path):
    with pytest.raises(LdpruneError) as e:
        evaluate("tiny-uncond", "tiny-uncond", EvaluateConfig(runner="none", **FAST))
    assert "--inception-weights" in e.value.fix and "--feature-extractor" in e.value.fix
    with pytest.raises(LdpruneError) as e:
        evaluate("tiny-uncond", "tiny-uncond", EvaluateConfig(metrics=["fad"], runner="none", **FAST))
    assert "--vggish-weights" in e.value.fix
    with pytest.raises(LdpruneError) as e:
        evaluate("tiny-uncond", "tiny-uncond", EvaluateConfig(inception_weights=str(tmp_path / "none.pt"), **FAST))
    assert "--inception-weights" in e.value.message
    (tmp_path / "f.py").write_text("def f(x):\n    return x.flatten(1)\n")
    with pytest.raises(LdpruneError) as e:   # latent UNet, no VAE: say so instead of guessing
        evaluate("tiny-t2i", "tiny-t2i", EvaluateConfig(feature_extractor=f"{tmp_path / 'f.py'}:f", **FAST))
    assert "--vae" in e.value.fix and "--latent-space" in e.value.fix
    with pytest.raises(LdpruneError, match="needs a runner"):
        evaluate("tiny-uncond", "tiny-uncond", EvaluateConfig(runner="none", budget="5ms", **FAST))


@pytest.fixture(scope="module")
def full_report(setup):
    """A pruned candidate with every optional report input (profile, scores, pareto, curves, export).

    The profile/scores/pareto/curve figures here are synthetic test inputs, not measurements."""
    from ldprune_deploy.catalogue import build_catalogue
    from ldprune_deploy.models import load_model
    from ldprune_deploy.artifacts import Modification, PrunePlan
    from ldprune_deploy.surgery import PruneConfig, prune
    from ldprune_deploy.unet import model_fingerprint

    unet, info = load_model("tiny-uncond", quiet=True)
    fp = model_fingerprint(unet)
    cands = build_catalogue(unet, info).candidates()
    chosen = [("mid_block.attentions.0", "remove"), ("down_blocks.0.resnets.1", "width:0.5")]
    assert all(c in cands for c in chosen)
    plan = PrunePlan(fp, [Modification(*c) for c in chosen], model="tiny-uncond",
                     predicted={"latency_ms": 30.0, "importance_lost": 0.1})
    prune("tiny-uncond", PruneConfig(plan=plan, output=setup / "pruned"))
    ops = {}
    for k, (op, mod) in enumerate(cands):
        ops.setdefault(op, {"kind": "resnet", "savings_ms": {}})["savings_ms"][mod] = {"isolated": 0.1 + 0.01 * k}
    profile = {"schema": "ldprune.profile/1", "model": "tiny-uncond", "model_fingerprint": fp, "backend": "cpu",
               "device": {"kind": "cpu"}, "full_latency_ms": {"median_ms": 40.0}, "methods": ["isolated"],
               "default_method": "isolated", "operators": ops}
    scores = {"schema": "ldprune.scores/1", "method": "ld-pruner", "model_fingerprint": fp,
              "scores": [{"operator": op, "modification": mod, "score": (k * 7 % 13) / 13} for k, (op, mod) in
                         enumerate(cands)]}
    pareto = {"schema": "ldprune.pareto/1", "rows": [{"strategy": s, "predicted_ms": 40 - 3 * i,
                                                      "importance_lost": (0.02 if s == "rank" else 0.01) * i * i}
                                                     for s in ("latency-aware", "rank") for i in range(6)]}
    curves = {"history": [{"step": i, "total": 1 / (i + 1), "task": 0.5 / (i + 1), "feat/down": 0.1} for i in range(20)]}
    for name, obj in (("profile", profile), ("scores", scores), ("pareto", pareto), ("curves", curves)):
        (setup / f"{name}.json").write_text(json.dumps(obj))
    (setup / "export").mkdir()
    (setup / "export" / "model.onnx").write_bytes(b"not a real onnx file, fingerprinted only")
    out = setup / "full"
    rep = evaluate("tiny-uncond", str(setup / "pruned"), EvaluateConfig(
        output=str(out), runner="none", feature_extractor=f"{setup / 'feats.py'}:feats", gate=False,
        **{**FAST, "n_samples": 8, "batch_size": 8, "steps": 1},
        **{k: str(setup / f"{k}.json") for k in ("profile", "scores", "pareto", "curves")},
        export=str(setup / "export")))
    return rep, out


def test_report_fingerprints_and_all_figures(full_report):
    rep, out = full_report
    assert rep["plan"]["n_modifications"] == 2 and rep["candidate"]["params"] < rep["teacher"]["params"]
    assert rep["profile"]["backend"] == "cpu" and len(rep["profile"]["sha256"]) == 16
    assert list(rep["export"]["files"]) == ["model.onnx"]
    assert sorted(p.stem for p in (out / "plots").glob("*.png")) == \
        ["curves", "pareto", "quality_latency", "samples", "savings"]
    md = (out / "report.md").read_text()
    assert "![Pareto front (planner)](plots/pareto.png)" in md


def test_report_renders_in_headless_chromium(full_report, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium); the HTML render check needs it")
    html_file = full_report[1] / "report.html"
    from PIL import Image

    html = html_file.read_text()
    assert "http://" not in html and "https://" not in html and "<script" not in html   # self-contained
    imgs = re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', html)
    assert len(imgs) == 5
    for b64 in imgs:
        im = Image.open(io.BytesIO(base64.b64decode(b64)))
        im.verify()
        assert min(Image.open(io.BytesIO(base64.b64decode(b64))).size) > 100
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'prof'}"]
    shot = tmp_path / "shot.png"
    subprocess.run(flags + [f"--screenshot={shot}", "--window-size=1200,2000", html_file.as_uri()],
                   capture_output=True, timeout=120, check=True)
    dom = subprocess.run(flags + ["--dump-dom", html_file.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert "Gate: " in dom and len(re.findall(r'<img [^>]*src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}', dom)) == len(imgs)
    import numpy as np

    px = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert px.shape[:2] == (2000, 1200)
    assert px.std() > 20                        # not a blank page
    figure_band = px[400:1400]                  # where the sample grid and bar charts sit
    assert len(np.unique(figure_band.reshape(-1, 3), axis=0)) > 200   # images were painted, not empty boxes


def test_latent_model_with_vae_and_latent_space(tmp_path):
    from diffusers import AutoencoderKL

    (tmp_path / "f.py").write_text(FEATS)
    vae = AutoencoderKL(block_out_channels=(8, 8, 8, 8), down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, latent_channels=4, norm_num_groups=4,
                        layers_per_block=1)
    vae.save_pretrained(tmp_path / "vae")
    small = {**FAST, "n_samples": 4, "batch_size": 4, "steps": 1}
    rep = evaluate("tiny-t2i", "tiny-t2i", EvaluateConfig(
        metrics=["fid", "clip"], runner="none", vae=str(tmp_path / "vae"), guidance=1.0,
        feature_extractor=f"{tmp_path / 'f.py'}:feats", **small))
    assert rep["sampling"]["decoding"] == "vae:vae" and rep["sampling"]["resolution"] == 128
    assert rep["quality"]["clip"]["skipped"] == "no --clip-weights"      # no fake number
    assert any("CLIP score skipped" in n for n in rep["notes"])
    assert any("synthetic pseudo-embeddings" in n for n in rep["notes"])
    lat = evaluate("tiny-t2i", "tiny-t2i", EvaluateConfig(
        runner="none", latent_space=True, guidance=1.0, feature_extractor=f"{tmp_path / 'f.py'}:feats", **small))
    assert lat["quality"]["fid"]["label"].endswith("(latent-space)")
    assert lat["sampling"]["decoding"] == "latent-space"
