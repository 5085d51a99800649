"""The standard FID Inception and FAD VGGish networks, from a weight file the user supplies.

Nothing is downloaded. Accepted formats (pip ``torch-fidelity`` cannot be installed next
to a CPU torch here: it requires torchvision, which pulls in another torch build):

``--inception-weights``
  * the TorchScript FID Inception used by StyleGAN2-ADA / EDM (``inception-2015-12-05.pt``):
    called as ``m(uint8 NCHW, return_features=True)`` -> (N, 2048); it resizes to 299 itself.
  * any TorchScript module mapping uint8-range (N, 3, H, W) to (N, 2048) features.
  * torch-fidelity's state dict ``pt_inception-2015-12-05-6726825d.pth`` — only when
    ``torch-fidelity`` is importable; it is then run through torchmetrics' ``NoTrainInceptionV3``.

``--vggish-weights``
  * a TorchScript module mapping 16 kHz waveforms (N, T) in [-1, 1] to (N, 128) or
    (N, frames, 128) embeddings (VGGish with its log-mel front end scripted in).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import LdpruneError
from .features import FeatureExtractor, _source, is_torchscript


def _need(path: str | Path | None, flag: str, what: str) -> Path:
    if not path:
        raise LdpruneError(f"{what} needs its weight file", f"pass {flag} PATH (nothing is downloaded)")
    p = Path(path)
    if not p.is_file():
        raise LdpruneError(f"{flag} {p}: file not found", f"pass an existing file to {flag} (nothing is downloaded)")
    return p


class _ScriptedInception:
    def __init__(self, m):
        self.m = m
        self.kw = True

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        x = (x.clamp(0, 1) * 255).round().to(torch.uint8)
        if self.kw:
            try:
                return self.m(x, return_features=True)
            except RuntimeError as e:   # TorchScript reports an unknown keyword as RuntimeError
                if "return_features" not in str(e):
                    raise
                self.kw = False
        return self.m(x)


def load_inception(path: str | Path | None) -> FeatureExtractor:
    p = _need(path, "--inception-weights", "standard FID (Inception-v3)")
    if is_torchscript(p):
        try:
            m = torch.jit.load(str(p), map_location="cpu").eval()
        except Exception as e:
            raise LdpruneError(f"cannot load {p} as TorchScript: {e}", "pass the FID Inception .pt archive") from None
        return FeatureExtractor(_ScriptedInception(m), name=f"inception-v3 ({p.name})", kind="standard",
                                modality="image", channels=3, source=_source(p))
    try:
        from torchmetrics.image.fid import NoTrainInceptionV3
        from torchmetrics.utilities.imports import _TORCH_FIDELITY_AVAILABLE
    except ImportError:  # pragma: no cover - torchmetrics is a hard dependency
        _TORCH_FIDELITY_AVAILABLE = False
    if not _TORCH_FIDELITY_AVAILABLE:
        raise LdpruneError(f"{p} is a state dict; loading it needs torch-fidelity, which is not installed",
                           "pass the TorchScript FID Inception (inception-2015-12-05.pt), "
                           "or `pip install torch-fidelity` where torchvision matches your torch")
    net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                             feature_extractor_weights_path=str(p)).eval()

    def fn(x: torch.Tensor) -> torch.Tensor:
        return net((x.clamp(0, 1) * 255).round().to(torch.uint8))

    return FeatureExtractor(fn, name=f"inception-v3 ({p.name}, torch-fidelity)", kind="standard",
                            modality="image", channels=3, source=_source(p))


def load_vggish(path: str | Path | None) -> FeatureExtractor:
    p = _need(path, "--vggish-weights", "standard FAD (VGGish)")
    if not is_torchscript(p):
        raise LdpruneError(f"{p} is not a TorchScript archive",
                           "script VGGish with its 16 kHz log-mel front end (torch.jit.script) and pass that file")
    try:
        m = torch.jit.load(str(p), map_location="cpu").eval()
    except Exception as e:
        raise LdpruneError(f"cannot load {p} as TorchScript: {e}", "re-save it with torch.jit.save") from None
    return FeatureExtractor(m, name=f"vggish ({p.name})", kind="standard", modality="audio",
                            input="waveform", sample_rate=int(getattr(m, "sample_rate", 16000)), source=_source(p))
