"""Feature extractors for Fréchet metrics (FID / FAD) and how they are loaded.

Interface: a :class:`FeatureExtractor` is called with a float32 batch ``(N, C, H, W)`` in
``[0, 1]`` (images, or mel-spectrogram images with ``C == 1``) — or, for waveform
extractors (``input == "waveform"``), a ``(N, T)`` batch in ``[-1, 1]`` at ``sample_rate`` —
and returns ``(N, D)`` float features. ``name`` and ``kind`` (``standard`` | ``user`` |
``proxy``) go into every report, so a proxy number is never mistaken for a published one.

``load_feature_extractor(spec)`` accepts:

* ``path/to/module.py:fn`` — user code. ``fn`` is either the feature function itself
  (one positional argument) or a zero-argument factory returning such a callable.
* a TorchScript file (``.pt``/``.pts``/``.jit``/``.ts`` archive made by ``torch.jit.save``).
  If the module has a ``features`` method it is called, else ``forward``; an optional
  ``input_size`` attribute ``[H, W]`` makes the wrapper resize to it. A TorchScript
  extractor whose file name contains ``proxy`` (or with a ``proxy`` attribute) is a proxy.
* ``classifier.safetensors`` + ``classifier.json`` (same stem, or ``config.json`` beside it):
  the quality benchmark's proxy classifiers. The JSON holds ``{"schema":
  "ldprune.extractor/1", "name", "modality": "image"|"audio", "builder":
  "ldprune_deploy.<module>:<fn>", "kwargs": {...}, "input_size": [H, W], "channels": C,
  "feature_method": "features"}``. The builder must live inside ``ldprune_deploy`` so a
  config file cannot import arbitrary code; weights are read with safetensors (no pickle).

Standard networks (``load_inception`` / ``load_vggish``) are never downloaded: the user
passes the weight file (``--inception-weights`` / ``--vggish-weights``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from ..errors import LdpruneError

TORCHSCRIPT_SUFFIXES = (".pt", ".pts", ".jit", ".ts", ".pth")


@dataclass
class FeatureExtractor:
    fn: Callable[[torch.Tensor], torch.Tensor]
    name: str
    kind: str                                   # standard | user | proxy
    modality: str = "any"                       # image | audio | any
    input: str = "image01"                      # image01 | waveform
    input_size: tuple[int, int] | None = None   # resize images to this before calling fn
    channels: int | None = None                 # adapt 1 <-> 3 channels before calling fn
    sample_rate: int | None = None              # waveform extractors only
    source: dict[str, Any] = field(default_factory=dict)   # path + sha256 for the report

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.input == "image01":
            x = _adapt_image(x.float(), self.input_size, self.channels)
        out = self.fn(x)
        if isinstance(out, (tuple, list)):
            out = out[0]
        if not isinstance(out, torch.Tensor):
            raise LdpruneError(f"feature extractor {self.name} returned {type(out).__name__}, not a tensor",
                               "make it return an (N, D) tensor")
        out = out.detach().float().cpu()
        if out.dim() == 4:        # conv feature maps: global average pool, as FID does
            out = out.mean(dim=(2, 3))
        if out.dim() == 3 and self.input == "waveform":
            # FAD convention: every frame embedding is one sample of the distribution
            out = out.reshape(-1, out.shape[-1])
        if out.dim() != 2:
            raise LdpruneError(f"feature extractor {self.name} returned shape {tuple(out.shape)}, expected (N, D)",
                               "make it return one feature vector per input")
        return out

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "modality": self.modality, "input": self.input,
                "input_size": list(self.input_size) if self.input_size else None, **self.source}


def _adapt_image(x: torch.Tensor, size, channels) -> torch.Tensor:
    if channels and x.shape[1] != channels:
        if x.shape[1] == 1:
            x = x.expand(-1, channels, -1, -1)
        elif channels == 1:
            x = x.mean(dim=1, keepdim=True)
        else:
            raise LdpruneError(f"feature extractor expects {channels} channels, samples have {x.shape[1]}",
                               "use an extractor made for this modality")
    if size and tuple(x.shape[-2:]) != tuple(size):
        x = F.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False, antialias=True)
    return x


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _source(path: Path) -> dict[str, Any]:
    return {"path": str(path), "sha256": file_sha256(path)} if path.is_file() else {"path": str(path)}


def is_torchscript(path: Path) -> bool:
    """TorchScript archives are zip files with a ``code/`` folder; plain state dicts have none."""
    try:
        with zipfile.ZipFile(path) as z:
            return any("/code/" in n or n.startswith("code/") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_feature_extractor(spec: str, modality: str = "image") -> FeatureExtractor:
    """Resolve ``--feature-extractor`` (see the module docstring for the accepted forms)."""
    spec = str(spec)
    if ".py:" in spec:
        return _load_user_module(spec, modality)
    path = Path(spec)
    if not path.exists():
        raise LdpruneError(f"feature extractor not found: {spec}",
                           "pass --feature-extractor module.py:fn, a TorchScript file, or a "
                           "proxy .safetensors with its .json config")
    if path.suffix == ".safetensors" or (path.is_dir() and (path / "config.json").is_file()):
        return _load_safetensors_proxy(path, modality)
    if path.suffix in TORCHSCRIPT_SUFFIXES and is_torchscript(path):
        return _load_torchscript(path, modality)
    raise LdpruneError(f"{path} is not a TorchScript archive, a .py:fn spec or a proxy .safetensors",
                       "save the extractor with torch.jit.save, or pass module.py:fn")


def _load_user_module(spec: str, modality: str) -> FeatureExtractor:
    file, _, fn_name = spec.rpartition(":")
    path = Path(file)
    if not path.is_file():
        raise LdpruneError(f"feature-extractor module not found: {file}", "check the path in module.py:fn")
    mod_spec = importlib.util.spec_from_file_location(f"ldprune_user_extractor_{path.stem}", path)
    module = importlib.util.module_from_spec(mod_spec)
    try:
        mod_spec.loader.exec_module(module)
    except Exception as e:
        raise LdpruneError(f"importing {file} failed: {type(e).__name__}: {e}", "fix the module") from None
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        raise LdpruneError(f"{file} has no callable '{fn_name}'", "name a function defined in the module")
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not params:   # zero-argument factory
        fn = fn()
    if isinstance(fn, torch.nn.Module):
        fn.eval()
    return FeatureExtractor(fn, name=f"user:{path.name}:{fn_name}", kind="user", modality=modality,
                            input_size=getattr(fn, "input_size", None), channels=getattr(fn, "channels", None),
                            source=_source(path))


def _load_torchscript(path: Path, modality: str) -> FeatureExtractor:
    try:
        m = torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as e:
        raise LdpruneError(f"cannot load TorchScript extractor {path}: {e}", "re-save it with torch.jit.save") from None
    fn = m.features if hasattr(m, "features") else m
    # the data stage's exports (ldprune_deploy.quality.proxy) carry a "<file>.json" sidecar
    side = Path(str(path) + ".json")
    meta = {}
    if side.is_file():
        try:
            meta = json.loads(side.read_text())
        except (OSError, json.JSONDecodeError):
            meta = {}
    proxy = ("proxy" in path.name.lower() or bool(getattr(m, "proxy", False))
             or str(meta.get("schema", "")).startswith("ldprune.proxy/"))
    size = getattr(m, "input_size", None)
    src = _source(path)
    if meta:
        src["meta"] = {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool, type(None)))}
    return FeatureExtractor(fn, name=f"{'proxy' if proxy else 'torchscript'}:{path.name}",
                            kind="proxy" if proxy else "user", modality=meta.get("modality", modality),
                            input_size=tuple(size) if size else None, channels=getattr(m, "channels", None),
                            source=src)


def _proxy_config(path: Path) -> tuple[Path, Path]:
    if path.is_dir():
        weights = sorted(path.glob("*.safetensors"))
        if len(weights) != 1:
            raise LdpruneError(f"{path} should hold exactly one .safetensors file", "pass the file itself")
        return weights[0], path / "config.json"
    for cfg in (path.with_suffix(".json"), path.parent / "config.json"):
        if cfg.is_file():
            return path, cfg
    raise LdpruneError(f"proxy extractor {path} has no config ({path.with_suffix('.json').name} or config.json)",
                       "keep the classifier's JSON config beside its weights")


def _load_safetensors_proxy(path: Path, modality: str) -> FeatureExtractor:
    from safetensors.torch import load_file

    weights, cfg_file = _proxy_config(path)
    try:
        cfg = json.loads(cfg_file.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise LdpruneError(f"cannot read extractor config {cfg_file}: {e}", "repair the JSON") from None
    builder = str(cfg.get("builder", ""))
    mod_name, _, fn_name = builder.partition(":")
    if not (mod_name == "ldprune_deploy" or mod_name.startswith("ldprune_deploy.")) or not fn_name:
        raise LdpruneError(f"extractor config {cfg_file} names builder '{builder}'",
                           "use a builder inside the package, 'ldprune_deploy.<module>:<fn>'")
    try:
        build = getattr(importlib.import_module(mod_name), fn_name)
    except (ImportError, AttributeError) as e:
        raise LdpruneError(f"builder {builder} not found: {e}", "update ldprune-deploy or fix the config") from None
    model = build(**cfg.get("kwargs", {}))
    state = load_file(str(weights))
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise LdpruneError(f"weights {weights} do not fit builder {builder}: {str(e)[:200]}",
                           "pass the config that was saved with these weights") from None
    model.eval()
    method = cfg.get("feature_method", "features")
    fn = getattr(model, method, None) or model
    size = cfg.get("input_size")
    return FeatureExtractor(fn, name=f"proxy:{cfg.get('name', weights.stem)}", kind="proxy",
                            modality=cfg.get("modality", modality), input_size=tuple(size) if size else None,
                            channels=cfg.get("channels"), source={**_source(weights), "config": str(cfg_file)})
