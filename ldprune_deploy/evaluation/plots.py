"""Report figures (matplotlib, Agg) returned as PNG bytes, so they can be embedded and saved.

Inputs the figures read, all optional:
* ``--profile`` + ``--scores``: per-operator latency saved vs importance; the candidate's
  plan (``unet.model_plan``) highlighted.
* ``--pareto``: the planner's ``ldprune.pareto/1`` file (``rows`` with ``strategy``,
  ``predicted_ms``, ``importance_lost``), or any ``{"points": [{"latency_ms", "importance_lost"}]}``.
* ``--curves``: distillation's ``losses.json`` (``{"history": [{"step", "total", ...}]}``), a
  list of such records, or ``{"series": {name: {"step": [...], "value": [...]}}}``.
"""

from __future__ import annotations

import io
import math
from typing import Any

import torch


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    _plt().close(fig)
    return buf.getvalue()


def _grid(x: torch.Tensor, cols: int) -> torch.Tensor:
    """(N, C, H, W) in [0, 1] -> (H', W', C) tiled with a 1-pixel white border."""
    n, c, h, w = x.shape
    rows = math.ceil(n / cols)
    out = torch.ones(c, rows * (h + 1) + 1, cols * (w + 1) + 1)
    for i in range(n):
        r, k = divmod(i, cols)
        out[:, 1 + r * (h + 1):1 + r * (h + 1) + h, 1 + k * (w + 1):1 + k * (w + 1) + w] = x[i]
    return out.permute(1, 2, 0)


def sample_grids(samples: dict[str, torch.Tensor], modality: str, k: int = 16) -> bytes:
    """Teacher vs candidate, same seeds; spectrograms (viridis, low mel bins at the bottom) for audio."""
    plt = _plt()
    if modality == "audio":
        k = min(k, 6)
        names = list(samples)
        fig, axes = plt.subplots(len(names), k, figsize=(2 * k, 2.3 * len(names)), squeeze=False)
        for r, name in enumerate(names):
            for i in range(k):
                ax = axes[r][i]
                if i < len(samples[name]):
                    ax.imshow(samples[name][i, 0].numpy(), origin="lower", aspect="auto", cmap="viridis",
                              vmin=0, vmax=1)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_ylabel(name)
        fig.suptitle("mel spectrograms, same seeds (x: time, y: mel bin)")
    else:
        fig, axes = plt.subplots(1, len(samples), figsize=(5.5 * len(samples), 5.8), squeeze=False)
        for ax, (name, x) in zip(axes[0], samples.items()):
            x = x[:k].float()
            x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x[:, :3]
            ax.imshow(_grid(x, cols=int(math.ceil(math.sqrt(len(x))))).numpy())
            ax.set_title(f"{name} (first {len(x)} seeds)")
            ax.axis("off")
    fig.tight_layout()
    return _png(fig)


def quality_latency(report: dict[str, Any]) -> bytes:
    plt = _plt()
    q = {m: v for m, v in report["quality"].items() if not v.get("skipped")}
    lat = report.get("latency")
    panels = len(q) + (1 if lat else 0) + 1
    fig, axes = plt.subplots(1, panels, figsize=(3.3 * panels, 3.6), squeeze=False)
    axes = list(axes[0])
    colors = ["#4c72b0", "#dd8452"]
    for ax, (m, v) in zip(axes, q.items()):
        ax.bar(["teacher", "candidate"], [v["teacher"], v["candidate"]], color=colors)
        ax.set_title(f"{v['label']}\n(drop {100 * v['drop']['relative']:.1f}%)", fontsize=9)
    i = len(q)
    if lat:
        ax = axes[i]
        ax.bar(["teacher", "candidate"], [lat["teacher_ms"], lat["candidate_ms"]], color=colors)
        gate_lat = [c for c in report["gate"]["checks"] if c["check"] == "latency"]
        if gate_lat:
            ax.axhline(gate_lat[0]["limit_ms"], color="red", ls="--", label=f"budget {report['budget']['spec']}")
            ax.legend(fontsize=8)
        ax.set_title(f"UNet latency, {lat['runner']} (ms)\nspeed-up {lat['speedup']:.2f}x", fontsize=9)
        i += 1
    e2e = report["e2e_sampling"]
    axes[i].bar(["teacher", "candidate"], [e2e["teacher"]["median_ms"], e2e["candidate"]["median_ms"]], color=colors)
    axes[i].set_title(f"sampling, {e2e['teacher']['steps']} steps, batch {e2e['teacher']['batch']} (ms)", fontsize=9)
    fig.tight_layout()
    return _png(fig)


def savings_vs_importance(profile: dict[str, Any], scores: dict[str, Any], plan_pairs: set[tuple[str, str]]) -> bytes:
    from ..profiler import savings_table

    saved = savings_table(profile)
    pts = [(s["score"], saved[(s["operator"], s["modification"])], (s["operator"], s["modification"]) in plan_pairs)
           for s in scores.get("scores", []) if (s["operator"], s["modification"]) in saved]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.6))
    other = [p for p in pts if not p[2]]
    chosen = [p for p in pts if p[2]]
    ax.scatter([p[0] for p in other], [p[1] for p in other], s=16, alpha=0.5, color="#888", label="candidates")
    if chosen:
        ax.scatter([p[0] for p in chosen], [p[1] for p in chosen], s=40, color="#d62728", label="in the plan")
    ax.set_xlabel(f"importance ({scores.get('method', 'score')}; higher = keep)")
    ax.set_ylabel(f"latency saved (ms, {profile.get('backend')})")
    ax.set_title(f"per-operator latency saved vs importance ({len(pts)} modifications)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _png(fig)


def pareto(data: dict[str, Any] | list, measured: dict[str, Any] | None) -> bytes:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.6))
    rows = data.get("rows") if isinstance(data, dict) else None
    if rows is not None:
        for strategy in dict.fromkeys(r["strategy"] for r in rows):
            pts = sorted((r["predicted_ms"], r["importance_lost"]) for r in rows if r["strategy"] == strategy)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=strategy)
    else:
        pts = data.get("points", []) if isinstance(data, dict) else data
        pts = sorted((p["latency_ms"], p["importance_lost"]) for p in pts)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label="front")
    if measured and measured.get("importance_lost") is not None:
        ax.scatter([measured["latency_ms"]], [measured["importance_lost"]], color="red", s=60, zorder=5,
                   label="this candidate (predicted)")
    ax.set_xlabel("predicted latency (ms)")
    ax.set_ylabel("importance lost")
    ax.set_title("Pareto front from the planner")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _png(fig)


_NOT_LOSSES = {"lr", "grad_norm", "elapsed_s", "samples_per_s", "epoch"}


def curves(data: dict[str, Any] | list) -> bytes:
    series: dict[str, tuple[list, list]] = {}
    if isinstance(data, dict) and "series" in data:
        series = {k: (v["step"], v["value"]) for k, v in data["series"].items()}
    else:
        hist = data.get("history", []) if isinstance(data, dict) else data
        keys = [k for k in (hist[0] if hist else {}) if k != "step" and isinstance(hist[0][k], (int, float))]
        # loss terms only: lr, gradient norm and wall time have other units and would share the axis
        keys = [k for k in keys if "/" not in k and k not in _NOT_LOSSES]
        series = {k: ([h["step"] for h in hist], [h[k] for h in hist]) for k in keys}
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name, (x, y) in series.items():
        ax.plot(x, y, label=name)
    if series and all(v > 0 for _, ys in series.values() for v in ys):
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_title("distillation curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)
