"""The README's ten-line Python example, at tiny-model scale on the CPU: the public API it shows works."""

import torch

from ldprune_deploy import (ExportConfig, PlanConfig, ProfileConfig, PruneConfig, ScoreConfig, export,
                            load_pruned, plan, profile, prune, score)
from _fake_runner import FixedBound

from ldprune_deploy.models import example_inputs
from ldprune_deploy.runners import RUNNERS, Runner
from ldprune_deploy.unet import model_info


@RUNNERS.register("readme-test-params")
class ParamsRunner(Runner):
    """Latency linear in the parameters of what is timed, no clock: the example's plan must not
    depend on how busy CI's shared CPU is (a loaded machine once made the 85 % budget infeasible)."""

    device = "cpu"

    def open(self, model, info, spec):
        ms = 0.01 + 1e-4 * sum(p.numel() for p in model.parameters())
        return FixedBound(lambda: ms)


def test_readme_python_example_at_tiny_scale(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # the README's calls, profiled on a deterministic stand-in for the cpu backend
    profile("tiny-t2i", ProfileConfig(backend="readme-test-params", batch=2, dtype="fp32", output="prof.json",
                                      iters=5, warmup=2))
    score("tiny-t2i", ScoreConfig(method="ld-pruner", n_gen=4, steps=2, output="scores.json"))
    p = plan("scores.json", "prof.json", PlanConfig(budget="95%"))   # the stand-in profile allows up to 11 % less
    p.save("plan.json")
    prune("tiny-t2i", PruneConfig(plan="plan.json", output="pruned"))
    out = export("pruned", ExportConfig(output="onnx", precision="fp32"))
    unet = load_pruned("pruned")
    assert p.modifications and p.predicted["latency_ms"] < p.predicted["full_latency_ms"]
    assert (out / "unet.onnx").exists() and (out / "export.json").exists()
    x = example_inputs(unet, model_info(unet), batch=1)
    with torch.no_grad():
        assert unet(**x).sample.shape == x["sample"].shape
