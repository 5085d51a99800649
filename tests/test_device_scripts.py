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


def test_trials_that_read_the_set_aside_weights_are_recognised():
    def reads(trials: str) -> str:
        return subprocess.run(["bash", str(SCRIPT), "trials-read-committed", trials], cwd=ROOT, check=True,
                              capture_output=True, text=True).stdout.strip()
    assert reads("t2i-de-r2:emoji-t2i:250:5:3600:--lr-scale,0.1") == "no"
    assert reads("t2i:emoji-t2i:250:5:3600 noise") == "yes"   # the committed teachers' metric noise
    assert reads("proxy:--width,96") == "yes"                 # a proxy candidate copies proxy-mel
    assert reads("noise:--teachers,resume/t2i-de-r2,--only,emoji-t2i") == "no"
    assert reads("noise:--teachers,resume/x noise") == "yes"
