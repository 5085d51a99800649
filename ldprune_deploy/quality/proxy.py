"""Proxy feature extractors for proxy-FID (emoji) and proxy-FAD (mel): a small CNN classifier
per modality trained on the coarse labels; its penultimate (pooled) features are the
embedding. They are *not* Inception/VGGish: every report must call the metric "proxy".

The loaded extractor maps (N, C, H, W) images in [0, 1] (or uint8 in [0, 255]) to (N, D)
features, resizing and converting channels itself, and carries ``num_features`` so
``torchmetrics.image.fid.FrechetInceptionDistance(feature=module, normalize=True)`` uses it
as is. Stored as safetensors weights + a JSON config with the architecture: no pickled or
scripted code is loaded, and the file loads on any torch version (a TorchScript file from a
newer torch can reference operators an older one lacks).
"""

from __future__ import annotations

import json
import time
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..jsonio import write_json_atomic
from ..params import Params, at_least, param
from ..tensorfile import save_tensors
from ..errors import LdpruneError

SCHEMA = "ldprune.proxy/1"


def _fraction(v: float) -> str | None:
    return None if 0 <= v < 1 else f"must be in [0, 1) (got {v})"


@dataclass
class ProxyRecipe(Params):
    """How a proxy extractor is trained (benchmarks/train_proxies.py derives its flags from these fields). The
    defaults are the first recipe's; the committed mel proxy adds ``--width 64 --epochs 100``, the committed emoji
    proxy (2026-12-07) also ``--class-weights none --ema 0.998 --mixup 0.2`` at 64 px: each proxy's entry in
    benchmarks/results/train_proxies.json records its recipe."""

    epochs: int = param(30, help="passes over the training split", check=at_least(1))
    width: int = param(24, help="the proxy CNN's first conv channels (then x2, x4)", check=at_least(1))
    batch: int = param(128, help="items per step (capped at the training split's size)", check=at_least(1))
    seed: int = param(0, help="the seed of the initial weights, batch order and augmentation")
    weight_decay: float = param(1e-4, help="AdamW weight decay", check=at_least(0))
    label_smoothing: float = param(0.0, help="cross-entropy label smoothing of every head", check=_fraction)
    class_weights: str = param("balanced", choices=("balanced", "none"),
                               help="each head's loss weighted by inverse class frequency (balanced) or every sample alike (none)")
    ema: float = param(0.0, check=_fraction,
                       help="decay of an exponential moving average of the weights (and batch-norm statistics), which "
                            "is what is evaluated and exported; 0: the last step's weights")
    mixup: float = param(0.0, check=at_least(0),
                         help="mixup: each batch blended with a shuffled copy of itself by a Beta(a, a) weight, the "
                              "losses of both labels weighted alike; 0: off")


class ProxyCNN(nn.Module):
    """A small CNN; ``n_classes`` is the primary label's head, ``aux_classes`` more heads on the
    same features (multi-task: each label makes the features see another property); ``text_dim``
    > 0 adds a head that predicts each item's caption embedding (its meaning, finer than any label)."""

    def __init__(self, in_channels: int, size: int, n_classes: int, width: int = 24, feat_dim: int = 128,
                 aux_classes: tuple[int, ...] | list[int] = (), text_dim: int = 0):
        super().__init__()
        self.in_channels, self.size, self.num_features = in_channels, size, feat_dim
        chans = [width, width * 2, width * 4, feat_dim]
        layers, c = [], in_channels
        # inputs above 32x32 start with a stride-2 conv: the same compute as a 32x32 input
        # (CPU-trainable in minutes) while the stem still sees every input pixel
        stem = 2 if size > 32 else 1
        for i, o in enumerate(chans):
            layers += [nn.Conv2d(c, o, 3, padding=1, stride=stem if i == 0 else 1), nn.BatchNorm2d(o), nn.SiLU(),
                       nn.Conv2d(o, o, 3, padding=1), nn.BatchNorm2d(o), nn.SiLU()]
            if i < len(chans) - 1:
                layers.append(nn.AvgPool2d(2))
            c = o
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(feat_dim, n_classes)
        self.aux = nn.ModuleList(nn.Linear(feat_dim, n) for n in aux_classes)
        self.text_head = nn.Linear(feat_dim, text_dim) if text_dim else None

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            x = x.float() / 255.0
        x = x.float()
        if x.shape[1] != self.in_channels:
            # FID calls with 3-channel images; a mono extractor averages, an RGB one repeats
            x = x.mean(1, keepdim=True) if self.in_channels == 1 else x[:, :1].expand(-1, self.in_channels, -1, -1)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=[self.size, self.size], mode="bilinear", align_corners=False, antialias=True)
        return x * 2.0 - 1.0

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.prepare(x)).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def all_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.logits(self.features(x))

    def logits(self, f: torch.Tensor) -> list[torch.Tensor]:
        return [self.head(f)] + [h(f) for h in self.aux]


class FeatureExtractor(nn.Module):
    """What is exported: images -> penultimate features."""

    def __init__(self, net: ProxyCNN):
        super().__init__()
        self.net = net
        self.num_features: int = net.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)


def _augment(x: torch.Tensor, g: torch.Generator, modality: str) -> torch.Tensor:
    # small shifts only: the features must separate real from generated, not be invariant to everything
    if modality == "image" and torch.rand(1, generator=g).item() < 0.5:
        x = x.flip(-1)
    dx, dy = (int(v) for v in torch.randint(-2, 3, (2,), generator=g))
    return torch.roll(x, shifts=(dy, dx), dims=(-2, -1))


def _balanced_ce(logits: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, smoothing: float) -> torch.Tensor:
    """Class-weighted cross-entropy, the weighted mean over the batch as ``F.cross_entropy(weight=...)``,
    with label smoothing weighted by the sample's class only: torch weights the smoothing term's every
    class by its own weight, which pulls every prediction toward the rare classes (emoji group held-out
    accuracy 28.3 % at 0.1, CPU, 2026-12-05)."""
    w = weight[y]
    return (F.cross_entropy(logits, y, reduction="none", label_smoothing=smoothing) * w).sum() / w.sum()


def train_proxy(x: np.ndarray, labels: np.ndarray, held: np.ndarray, modality: str,
                recipe: ProxyRecipe | None = None, *, device: str = "cpu", log=print,
                label_names: list[str] | None = None, text: np.ndarray | None = None) -> tuple[ProxyCNN, dict]:
    """x: (N, C, H, W) uint8; labels (N,) or (N, K) for K heads (the first is the primary one);
    ``text`` (N, D) unit caption embeddings for a caption head (cosine loss). Returns the trained net and, per
    head, held-out accuracy, balanced accuracy (the mean of the per-class recalls) and the majority-class baseline
    (the caption head: held-out cosine and retrieval among held-out captions), with the recipe."""
    r = recipe or ProxyRecipe()
    seed = r.seed
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    y2 = labels.reshape(len(labels), -1).astype(np.int64)
    n_classes = [int(c) + 1 for c in y2.max(0)]
    names = list(label_names or [f"label{i}" for i in range(len(n_classes))])
    xs, ys = torch.from_numpy(x), torch.from_numpy(y2)
    tr, te = np.flatnonzero(~held), np.flatnonzero(held)
    if len(tr) == 0:
        raise LdpruneError("no training items for the proxy (everything is held out)", "build a larger data set")
    batch = min(r.batch, len(tr))   # small slices (tests) still take steps
    ts = None if text is None else F.normalize(torch.as_tensor(np.asarray(text), dtype=torch.float32), dim=-1)
    net = ProxyCNN(x.shape[1], x.shape[-1], n_classes[0], width=r.width, aux_classes=n_classes[1:],
                   text_dim=0 if ts is None else ts.shape[1]).to(device)
    # class-balanced losses: People & Body is 59 % of the emoji; the features should not be
    # dominated by one group
    weights = []
    for k, n in enumerate(n_classes):
        counts = torch.bincount(ys[tr, k], minlength=n).float().clamp_min(1)
        weights.append((counts.sum() / counts / n if r.class_weights == "balanced" else torch.ones(n)).to(device))
    mix = np.random.default_rng(seed)   # the mixup weights: their own stream, so mixup 0 draws nothing
    t0 = time.perf_counter()

    def head_losses(f: torch.Tensor, yb: torch.Tensor, tb: torch.Tensor | None) -> torch.Tensor:
        loss = sum(_balanced_ce(lg, yb[:, k], weights[k], r.label_smoothing) for k, lg in enumerate(net.logits(f)))
        if tb is not None:
            loss = loss + (1 - F.cosine_similarity(net.text_head(f), tb, dim=-1)).mean()
        return loss

    def step_loss(idx: torch.Tensor) -> torch.Tensor:
        xb, yb = _augment(xs[idx], g, modality).to(device), ys[idx].to(device)
        tb = None if ts is None else ts[idx].to(device)
        if not r.mixup:
            return head_losses(net.features(xb), yb, tb)
        lam = float(mix.beta(r.mixup, r.mixup))
        perm = torch.randperm(len(idx), generator=g).to(device)
        xb = xb.float() / 255.0 if xb.dtype == torch.uint8 else xb
        f = net.features(lam * xb + (1 - lam) * xb[perm])
        # the mixed input's loss against either item's labels, weighted by its share (Zhang et al. 2018)
        return lam * head_losses(f, yb, tb) + (1 - lam) * head_losses(f, yb[perm], None if tb is None else tb[perm])

    step = fit(net, tr, r.epochs, batch, g, step_loss, log, weight_decay=r.weight_decay, ema=r.ema)
    heads = held_out_heads(net, xs[te], ys[te], names, n_classes, device)
    first = heads[names[0]]
    extra = {} if ts is None else {"caption_head": caption_head_quality(net, xs[te], ts[te], device)}
    return net.cpu().eval(), {"held_out_accuracy": first["held_out_accuracy"], "n_train": len(tr), "n_held_out": len(te),
                              **dataclasses.asdict(r), "class_balanced": r.class_weights == "balanced", "steps": step,
                              "seconds": round(time.perf_counter() - t0, 1),
                              "n_classes": n_classes[0], "chance_accuracy": first["majority_baseline"], "heads": heads,
                              **extra}


def fit(model: nn.Module, train_idx: np.ndarray, epochs: int, batch: int, g: torch.Generator, step_loss,
        log=print, lr: float = 2e-3, weight_decay: float = 1e-4, ema: float = 0.0) -> int:
    """AdamW + one-cycle over ``epochs`` shuffled passes of ``train_idx``; ``step_loss(idx)`` is one
    batch's loss; ``ema`` > 0 leaves ``model`` holding the moving average of its weights and buffers at
    that decay. Returns the number of steps taken."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    avg = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(ema), use_buffers=True) if ema else None
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * max(1, len(train_idx) // batch))
    t0, step = time.perf_counter(), 0
    for ep in range(epochs):
        model.train()
        perm = torch.from_numpy(train_idx)[torch.randperm(len(train_idx), generator=g)]
        for i in range(0, len(perm) - batch + 1, batch):
            loss = step_loss(perm[i:i + batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if avg is not None:
                avg.update_parameters(model)
        log(f"  epoch {ep + 1}/{epochs} loss {loss.item():.3f} ({time.perf_counter() - t0:.0f} s)")
    if avg is not None:
        model.load_state_dict(avg.module.state_dict())
    return step


@torch.no_grad()
def evaluate(net: ProxyCNN, x: torch.Tensor, y: torch.Tensor, device: str = "cpu") -> list[tuple[float, float]]:
    """Held-out (accuracy, balanced accuracy) of each head (y: (N,) or (N, heads))."""
    net.eval()
    y = y.reshape(len(y), -1)
    if len(y) == 0:
        return [(float("nan"), float("nan"))] * y.shape[1]
    preds = [torch.cat(p) for p in zip(*[[lg.argmax(1).cpu() for lg in net.all_logits(x[i:i + 256].to(device))]
                                        for i in range(0, len(x), 256)])]
    return [(float((p == y[:, k]).float().mean()), balanced_accuracy(p, y[:, k])) for k, p in enumerate(preds)]


def held_out_heads(net: ProxyCNN, x: torch.Tensor, y: torch.Tensor, names: list[str], n_classes: list[int],
                   device: str = "cpu") -> dict[str, dict]:
    """Per head (y: (N, heads) held-out labels): its classes, held-out accuracy, balanced accuracy and the
    majority-class baseline."""
    y = y.reshape(len(y), -1)
    counts = [torch.bincount(y[:, k]) if len(y) else None for k in range(y.shape[1])]
    return {name: {"classes": n, "held_out_accuracy": acc, "held_out_balanced_accuracy": bal,
                   "majority_baseline": c.max().item() / len(y) if c is not None else float("nan")}
            for name, n, (acc, bal), c in zip(names, n_classes, evaluate(net, x, y, device), counts)}


def balanced_accuracy(pred: torch.Tensor, y: torch.Tensor) -> float:
    """The mean over the classes present in ``y`` of each one's recall: a classifier that always answers the
    majority class scores 1 / (number of classes), whatever the class sizes."""
    return float(torch.stack([(pred[y == c] == c).float().mean() for c in y.unique()]).mean())


@torch.no_grad()
def caption_head_quality(net: ProxyCNN, x: torch.Tensor, text: torch.Tensor, device: str = "cpu") -> dict:
    """Held-out mean cosine of the caption head's prediction with the true caption embedding, and
    image -> caption retrieval top-1 among the distinct held-out captions (chance: 1 / their number)."""
    net.eval()
    pred = torch.cat([F.normalize(net.text_head(net.features(x[i:i + 256].to(device))), dim=-1).cpu()
                      for i in range(0, len(x), 256)])
    cand, own = torch.unique(text, dim=0, return_inverse=True)
    top1 = float(((pred @ cand.T).argmax(1) == own).float().mean())
    return {"dim": int(text.shape[1]), "held_out_cosine": float((pred * text).sum(-1).mean()),
            "retrieval_top1": top1, "chance_top1": 1.0 / len(cand)}


def export_proxy(net: ProxyCNN, path: str | Path, meta: dict) -> Path:
    """Safetensors weights + a ``<stem>.json`` config beside them: the architecture as a
    package builder + kwargs, the layout the evaluator's ``--feature-extractor`` loads
    (``evaluate.features``), plus modality, accuracy and seed."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise LdpruneError(f"proxy file {path} must end in .safetensors", "name it e.g. proxy-emoji.safetensors")
    save_tensors({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, path)
    data = meta.get("modality", "image")
    arch = {"in_channels": net.in_channels, "size": net.size, "n_classes": net.head.out_features,
            "width": net.body[0].out_channels, "feat_dim": net.num_features,
            "aux_classes": [h.out_features for h in net.aux],
            **({"text_dim": net.text_head.out_features} if net.text_head is not None else {})}
    write_json_atomic(sidecar(path), {
        "schema": SCHEMA, "name": path.stem, "builder": "ldprune_deploy.quality.proxy:ProxyCNN", "kwargs": arch,
        # no input_size/channels keys: ProxyCNN.prepare resizes and adapts channels itself, so the
        # evaluator and load_proxy compute the very same features
        "feature_method": "features", "feature_dim": net.num_features, "input_range": "[0, 1] float or uint8 [0, 255]",
        **meta, "data": data, "modality": "audio" if data == "mel" else "image"})
    return path


def proxy_path(folder: str | Path, data: str) -> Path:
    """The proxy extractor for a data set (``emoji`` or ``notes``) in ``folder``, as
    benchmarks/train_proxies.py names it."""
    return Path(folder) / ("proxy-mel.safetensors" if data == "notes" else "proxy-emoji.safetensors")


def sidecar(path: str | Path) -> Path:
    return Path(path).with_suffix(".json")


def load_proxy(path: str | Path, device: str = "cpu") -> tuple[nn.Module, dict]:
    """The feature extractor (eval mode, on ``device``) and its config (see ``export_proxy``)."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise LdpruneError(f"proxy feature extractor not found: {path}",
                           "train it with `python benchmarks/train_proxies.py` (CPU, a few minutes)")
    if path.suffix != ".safetensors":
        raise LdpruneError(f"{path} is not a .safetensors proxy (TorchScript proxies are not loaded: they run "
                           "stored code and break across torch versions)",
                           "use benchmarks/assets/proxy-*.safetensors or retrain with benchmarks/train_proxies.py")
    side = sidecar(path)
    meta = json.loads(side.read_text()) if side.is_file() else {}
    if meta.get("schema") != SCHEMA or not isinstance(meta.get("kwargs"), dict):
        raise LdpruneError(f"{side} is missing or is not a {SCHEMA} config", "keep the .json config beside the weights")
    try:
        net = ProxyCNN(**meta["kwargs"])
        net.load_state_dict(load_file(str(path)))
    except (TypeError, RuntimeError) as e:
        raise LdpruneError(f"{path} does not match its config {side.name}: {str(e)[:200]}",
                           "retrain with benchmarks/train_proxies.py") from None
    return FeatureExtractor(net).to(device).eval(), meta
