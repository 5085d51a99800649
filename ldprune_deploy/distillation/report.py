"""What a distillation run reports: memory estimate at start, loss curves (JSON + PNG)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..jsonio import atomic_path

log = logging.getLogger("ldprune")
GiB = 2**30


def _bytes(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad or not trainable_only)


def activation_bytes(fn) -> int:
    """Bytes autograd keeps for backward during ``fn()`` (distinct storages counted once)."""
    seen: dict[tuple, int] = {}

    def pack(t: torch.Tensor):
        try:
            key = (t.untyped_storage().data_ptr(), t.device.type)
            seen[key] = max(seen.get(key, 0), t.untyped_storage().nbytes())
        except (RuntimeError, NotImplementedError):
            pass
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return sum(seen.values())


def memory_report(teacher: nn.Module, student: nn.Module, *, act_per_sample: int, micro_batch: int,
                  ema: bool) -> dict[str, Any]:
    n_s = sum(p.numel() for p in student.parameters() if p.requires_grad)
    rep = {
        "teacher_params": sum(p.numel() for p in teacher.parameters()),
        "student_params": n_s,
        "teacher_bytes": _bytes(teacher),
        "student_bytes": _bytes(student),
        "grad_bytes": _bytes(student, True),
        "optimizer_bytes": 2 * 4 * n_s,            # AdamW: two fp32 moments per parameter
        "ema_bytes": 4 * n_s if ema else 0,
        "activation_bytes_per_sample": act_per_sample,
        "activation_bytes": act_per_sample * micro_batch,
    }
    rep["total_bytes"] = sum(v for k, v in rep.items() if k.endswith("_bytes") and k != "activation_bytes_per_sample")
    return rep


def format_memory(rep: dict[str, Any]) -> str:
    g = lambda k: f"{rep[k] / GiB:.2f} GiB"  # noqa: E731
    return (f"memory estimate: teacher {rep['teacher_params'] / 1e6:.1f}M params ({g('teacher_bytes')}), "
            f"student {rep['student_params'] / 1e6:.1f}M ({g('student_bytes')}), grads {g('grad_bytes')}, "
            f"AdamW state {g('optimizer_bytes')}, EMA {g('ema_bytes')}, activations {g('activation_bytes')} "
            f"(per micro-batch) -> ~{g('total_bytes')} per process")


def plot_losses(history: list[dict[str, Any]], path: Path) -> Path | None:
    if not history:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for k in ("total", "task", "out", "feat"):
        a.plot(steps, [h[k] for h in history], label=k)
    feat_keys = [k for k in history[0] if k.startswith("feat/")]
    for k in feat_keys:
        b.plot(steps, [h[k] for h in history], label=k[5:])
    for ax, title in ((a, "loss terms"), (b, "feature terms per stage")):
        ax.set_xlabel("step")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return path
