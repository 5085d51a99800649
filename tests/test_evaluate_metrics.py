"""Evaluator metrics: Fréchet distance properties, FAD on synthetic tones, extractor loading,
missing-weights errors, gate parsing. Pure CPU, no diffusion sampling (fast)."""

import math

import pytest
import torch

from ldprune_deploy.errors import GateFailed, LdpruneError
from ldprune_deploy.evaluation import FeatureExtractor, frechet_distance, load_feature_extractor
from ldprune_deploy.evaluation.audio import MelSpec, mel_to_waveform, resample, waveform_to_mel
from ldprune_deploy.budget import Budget
from ldprune_deploy.evaluation.gate import enforce, gate, parse_tolerances, quality_drop
from ldprune_deploy.evaluation.metrics import extract

pytestmark = pytest.mark.usefixtures("one_thread")


MEL = MelSpec(sample_rate=16000, n_fft=512, hop_length=128, griffin_lim_iters=16)


def smooth_images(n: int, seed: int = 0, size: int = 32) -> torch.Tensor:
    """Low-frequency random patterns in [0, 1] (a stand-in for natural images)."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, size), torch.linspace(0, 1, size), indexing="ij")
    f = torch.rand(n, 3, 2, 1, 1, generator=g) * 3 + 0.5
    ph = torch.rand(n, 3, 2, 1, 1, generator=g) * 2 * math.pi
    img = torch.sin(2 * math.pi * f[:, :, 0] * xx + ph[:, :, 0]) * torch.cos(2 * math.pi * f[:, :, 1] * yy + ph[:, :, 1])
    return (img + 1) / 2


def image_features(x: torch.Tensor) -> torch.Tensor:
    pooled = torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)
    grad = (x[..., 1:] - x[..., :-1]).abs().mean(dim=(2, 3))
    return torch.cat([pooled, grad], dim=1)


IMG_EX = FeatureExtractor(image_features, name="test:pool+grad", kind="user")


def test_fid_of_a_set_with_itself_is_zero():
    feats = extract(IMG_EX, smooth_images(128))
    assert feats.shape == (128, 51)
    assert abs(frechet_distance(feats, feats)) < 1e-6
    other = extract(IMG_EX, smooth_images(128, seed=1))
    assert frechet_distance(feats, other) > 1e-4   # a different draw is not identical


def test_fid_grows_monotonically_with_noise():
    imgs = smooth_images(128)
    ref = extract(IMG_EX, smooth_images(128, seed=7))
    g = torch.Generator().manual_seed(3)
    noise = torch.randn(imgs.shape, generator=g)
    fids = [frechet_distance(ref, extract(IMG_EX, (imgs + s * noise).clamp(0, 1))) for s in (0, 0.05, 0.1, 0.2, 0.4)]
    assert all(b > a for a, b in zip(fids, fids[1:])), fids
    assert fids[-1] > 2 * fids[0]


def tones(freq: float, n: int, seed: int, seconds: float = 0.5) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(int(MEL.sample_rate * seconds)) / MEL.sample_rate
    amp = 0.5 + 0.4 * torch.rand(n, 1, generator=g)
    phase = 2 * math.pi * torch.rand(n, 1, generator=g)
    f = freq * (1 + 0.01 * torch.randn(n, 1, generator=g))       # slight detune per clip
    return amp * torch.sin(2 * math.pi * f * t + phase) + 0.01 * torch.randn(n, len(t), generator=g)


def mel_profile(x: torch.Tensor) -> torch.Tensor:
    return x.mean(dim=-1).flatten(1)      # time-averaged spectrum per mel bin


def test_fad_on_synthetic_tones_orders_by_frequency_distance():
    ex = FeatureExtractor(mel_profile, name="test:mel-profile", kind="user", modality="audio")
    mel = lambda f, s: waveform_to_mel(tones(f, 48, s), n_mels=32, spec=MEL)  # noqa: E731
    ref = extract(ex, mel(440, 0))
    same = frechet_distance(ref, extract(ex, mel(440, 1)))
    near = frechet_distance(ref, extract(ex, mel(520, 2)))
    far = frechet_distance(ref, extract(ex, mel(1760, 3)))
    assert same < near < far, (same, near, far)
    assert far > 20 * same


def test_griffin_lim_waveform_keeps_the_pitch_and_feeds_waveform_extractors():
    mel = waveform_to_mel(tones(1000, 2, 0), n_mels=64, spec=MEL)
    assert mel.shape[:3] == (2, 1, 64) and 0 <= mel.min() and mel.max() <= 1
    audio = mel_to_waveform(mel, MEL)
    spec = torch.fft.rfft(audio[0]).abs()
    peak_hz = float(spec.argmax()) * MEL.sample_rate / audio.shape[-1]
    assert abs(peak_hz - 1000) < 80, peak_hz   # mel bins near 1 kHz are ~60 Hz wide at 64 bins
    assert resample(audio, 16000, 8000).shape[-1] == audio.shape[-1] // 2

    def spectral(w):  # a stand-in "VGGish": band energies of the waveform
        return torch.fft.rfft(w).abs()[:, :3960].reshape(len(w), 40, -1).mean(-1).log1p()

    wex = FeatureExtractor(spectral, name="test:bands", kind="user", input="waveform", sample_rate=16000)
    to_wave = lambda f, s: mel_to_waveform(waveform_to_mel(tones(f, 16, s), n_mels=64, spec=MEL), MEL)  # noqa: E731
    ref = extract(wex, to_wave(440, 0))
    assert frechet_distance(ref, extract(wex, to_wave(440, 1))) < frechet_distance(ref, extract(wex, to_wave(1760, 2)))


def test_user_module_torchscript_and_proxy_extractors(tmp_path, monkeypatch):
    mod = tmp_path / "feats.py"
    mod.write_text("import torch\n"
                   "def feats(x):\n    return x.mean(dim=(2, 3))\n"
                   "def factory():\n    return lambda x: x.amax(dim=(2, 3))\n")
    x = torch.rand(4, 3, 8, 8)
    direct = load_feature_extractor(f"{mod}:feats")
    assert direct.kind == "user" and "feats.py:feats" in direct.name
    assert torch.allclose(direct(x), x.mean(dim=(2, 3)))
    assert torch.allclose(load_feature_extractor(f"{mod}:factory")(x), x.amax(dim=(2, 3)))

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 5, 3)
            self.input_size = [16, 16]
            self.channels = 3

        @torch.jit.export
        def features(self, x):
            return self.conv(x).mean(dim=(2, 3))

        def forward(self, x):
            return self.features(x).sum(1)

    ts = tmp_path / "emoji_proxy.pt"
    torch.jit.save(torch.jit.script(Net()), str(ts))
    ex = load_feature_extractor(str(ts))
    assert ex.kind == "proxy" and ex.input_size == (16, 16) and ex.source["sha256"]
    assert ex(torch.rand(2, 1, 32, 32)).shape == (2, 5)    # 1 channel is expanded, resized to 16x16

    # the data stage's export format: any file name, a "<file>.json" sidecar marks it as a proxy
    plain = tmp_path / "emoji.pt"
    torch.jit.save(torch.jit.script(Net()), str(plain))
    assert load_feature_extractor(str(plain)).kind == "user"
    (tmp_path / "emoji.pt.json").write_text('{"schema": "ldprune.proxy/1", "modality": "image", "feature_dim": 5}')
    marked = load_feature_extractor(str(plain))
    assert marked.kind == "proxy" and marked.source["meta"]["feature_dim"] == 5

    # safetensors + config: the builder must live inside ldprune_deploy
    import json
    import sys
    import types

    from safetensors.torch import save_file

    fake = types.ModuleType("ldprune_deploy._proxy_for_test")
    fake.build = lambda width: torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, width))
    monkeypatch.setitem(sys.modules, "ldprune_deploy._proxy_for_test", fake)
    net = fake.build(6)
    save_file(net.state_dict(), str(tmp_path / "clf.safetensors"))
    cfg = {"schema": "ldprune.extractor/1", "name": "emoji-proxy", "modality": "image", "kwargs": {"width": 6},
           "builder": "ldprune_deploy._proxy_for_test:build", "input_size": [8, 8], "channels": 3,
           "feature_method": "forward"}
    (tmp_path / "clf.json").write_text(json.dumps(cfg))
    px = load_feature_extractor(str(tmp_path / "clf.safetensors"))
    assert px.kind == "proxy" and px.name == "proxy:emoji-proxy"
    xin = torch.rand(3, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(px(xin), net(xin))    # the saved weights were loaded into a fresh build
    (tmp_path / "clf.json").write_text(json.dumps({**cfg, "builder": "os:system"}))
    with pytest.raises(LdpruneError, match="ldprune_deploy"):
        load_feature_extractor(str(tmp_path / "clf.safetensors"))


def test_missing_weights_name_the_flag(tmp_path):
    from ldprune_deploy.evaluation.metrics import clip_score
    from ldprune_deploy.evaluation.standard import load_inception, load_vggish

    with pytest.raises(LdpruneError) as e:
        load_inception(str(tmp_path / "nope.pt"))
    assert "--inception-weights" in e.value.message and "downloaded" in e.value.fix
    with pytest.raises(LdpruneError) as e:
        load_vggish(None)
    assert "--vggish-weights" in e.value.fix
    with pytest.raises(LdpruneError) as e:
        clip_score(torch.rand(2, 3, 8, 8), ["a", "b"], None)
    assert "--clip-weights" in e.value.fix
    with pytest.raises(LdpruneError, match="CLIPModel folder"):
        clip_score(torch.rand(2, 3, 8, 8), ["a", "b"], str(tmp_path))
    with pytest.raises(LdpruneError, match="feature extractor not found"):
        load_feature_extractor(str(tmp_path / "missing.pt"))
    sd = tmp_path / "pt_inception.pth"
    torch.save({"w": torch.zeros(1)}, sd)      # a state dict, not TorchScript
    try:
        import torch_fidelity  # noqa: F401
    except ImportError:
        with pytest.raises(LdpruneError, match="torch-fidelity"):
            load_inception(str(sd))


def test_scripted_inception_interface(tmp_path):
    """The TorchScript FID Inception contract: uint8 NCHW in, return_features=True -> (N, 2048)."""
    from ldprune_deploy.evaluation.standard import load_inception

    class FakeInception(torch.nn.Module):
        def forward(self, x: torch.Tensor, return_features: bool = False) -> torch.Tensor:
            assert x.dtype == torch.uint8
            f = x.float().mean(dim=(2, 3)).repeat(1, 8)
            return f if return_features else f.sum(1, keepdim=True)

    path = tmp_path / "inception-2015-12-05.pt"
    torch.jit.save(torch.jit.script(FakeInception()), str(path))
    ex = load_inception(str(path))
    x = torch.rand(3, 1, 10, 10)
    out = ex(x)
    assert ex.kind == "standard" and out.shape == (3, 24)
    assert torch.allclose(out[:, 0], (x * 255).round().mean(dim=(1, 2, 3)), atol=1e-3)


def test_budget_and_tolerance_parsing_and_gate():
    assert Budget.parse("8.5ms").limit(20) == 8.5
    assert Budget.parse("70%").limit(20) == pytest.approx(14)
    assert Budget.parse("2x").limit(20) == pytest.approx(10)
    with pytest.raises(LdpruneError):
        Budget.parse("fast")
    tol = parse_tolerances(["10%", "fad=2.5"])
    assert tol["*"].relative and tol["*"].value == pytest.approx(0.1)
    assert not tol["fad"].relative and tol["fad"].value == 2.5
    with pytest.raises(LdpruneError):
        parse_tolerances(["psnr=3%"])
    assert quality_drop("fid", 10, 12)["relative"] == pytest.approx(0.2)
    assert quality_drop("clip", 30, 27)["relative"] == pytest.approx(0.1)
    lat = {"teacher_ms": 10.0, "candidate_ms": 7.0}
    q = {"fid": {"label": "proxy-FID", "teacher": 10.0, "candidate": 10.5, "drop": quality_drop("fid", 10, 10.5)}}
    ok = gate(lat, q, Budget.parse("7.5ms"), tol)
    assert ok["passed"] and len(ok["checks"]) == 2
    enforce(ok)
    slow = gate(lat, q, Budget.parse("60%"), tol)
    assert not slow["passed"] and slow["reasons"][0].startswith("too slow")
    worse = gate(lat, {"fid": {**q["fid"], "candidate": 12.0, "drop": quality_drop("fid", 10, 12)}},
                 Budget.parse("8ms"), tol)
    assert not worse["passed"] and "too degraded" in worse["reasons"][0]
    with pytest.raises(GateFailed) as e:
        enforce(worse)
    assert e.value.exit_code == 3 and "\n" not in e.value.message


def test_stage_api_is_reachable_lazily():
    import ldprune_deploy
    import ldprune_deploy.evaluation as pkg

    assert callable(ldprune_deploy.evaluate) and ldprune_deploy.EvaluateConfig is pkg.EvaluateConfig
    with pytest.raises(LdpruneError, match="'psnr' is not one of fid"):
        ldprune_deploy.evaluate("tiny-uncond", "tiny-uncond", pkg.EvaluateConfig(metrics=["psnr"]))
