"""Distillation loss: task + output KD + feature KD at the outputs of matching stages
(+ optional prompt-effect KD for text-conditional UNets).

Features are captured with forward hooks on the stage modules of both UNets, matched by
module id, so no model code is copied and any diffusers UNet works. Every term is a mean
over samples of a per-sample quantity, so a batch split over processes (DDP averages the
per-process means) gives the same gradient as one process with the whole batch.
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn

from ..errors import LdpruneError

EPS = 1e-8
# wrappers that prefix submodule names: DDP / DataParallel (module.), torch.compile (_orig_mod.)
_WRAPPER_PREFIX = re.compile(r"^(?:(?:module|_orig_mod)\.)+")


def strip_wrapper_prefix(name: str) -> str:
    return _WRAPPER_PREFIX.sub("", name)


def unwrap(model: nn.Module) -> nn.Module:
    """The bare UNet inside DDP / DataParallel / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if not isinstance(inner, nn.Module):
            return model
        model = inner


def default_stages(model: nn.Module) -> list[str]:
    """Every down block, the mid block and every up block, in forward order."""
    model = unwrap(model)
    ids = [f"down_blocks.{i}" for i in range(len(model.down_blocks))]
    if getattr(model, "mid_block", None) is not None:
        ids.append("mid_block")
    ids += [f"up_blocks.{i}" for i in range(len(model.up_blocks))]
    return ids


class FeatureTaps:
    """Forward hooks that keep the output of each named stage for the current forward pass."""

    def __init__(self, model: nn.Module, stages: list[str], detach: bool = False):
        self.feats: dict[str, torch.Tensor] = {}
        self._handles = []
        modules = {strip_wrapper_prefix(n): m for n, m in model.named_modules()}
        for sid in stages:
            sid = strip_wrapper_prefix(sid)
            if sid not in modules:
                raise LdpruneError(f"the model has no stage '{sid}' to take features from",
                                   f"use ids such as {', '.join(default_stages(model)[:3])}")
            self._handles.append(modules[sid].register_forward_hook(self._hook(sid, detach)))

    def _hook(self, sid: str, detach: bool):
        def hook(_mod, _args, out):
            # down blocks return (hidden_states, skip tuple); the stage output is the first
            t = out[0] if isinstance(out, (tuple, list)) else getattr(out, "sample", out)
            self.feats[sid] = t.detach() if detach else t
        return hook

    def pop(self) -> dict[str, torch.Tensor]:
        out, self.feats = self.feats, {}
        return out

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []


def _per_sample_mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a.float() - b.float()).pow(2).flatten(1).mean(1)


def feature_term(fs: torch.Tensor, ft: torch.Tensor, mode: str) -> torch.Tensor:
    """``plain``: MSE. ``normalized``: per-sample MSE / teacher mean square (LAPTOP-Diff),
    i.e. the relative squared error, so a stage with 1000x larger activations does not
    outweigh the others."""
    if fs.shape != ft.shape:
        raise LdpruneError(f"student feature shape {tuple(fs.shape)} != teacher {tuple(ft.shape)}",
                           "match stages whose outputs keep their shape (block outputs do after surgery)")
    mse = _per_sample_mse(fs, ft)
    if mode == "normalized":
        mse = mse / (ft.detach().float().pow(2).flatten(1).mean(1) + EPS)
    return mse.mean()


def prompt_term(eps_s_c: torch.Tensor, eps_s_u: torch.Tensor, eps_t_c: torch.Tensor, eps_t_u: torch.Tensor
                ) -> torch.Tensor:
    """Relative squared error of the caption's effect ``d = eps(c) - eps(empty)``, per sample.

    ``d`` is a small part of eps, so output KD barely weights it, yet it is what prompt
    alignment (and guidance, which amplifies it) rests on. A row whose teacher effect is
    exactly 0 (a dropped caption) contributes 0 instead of an error divided by EPS; it still
    counts in the mean over all rows, so the term stays a mean of a per-sample quantity and a
    batch split over processes averages to the same value.
    """
    dt = eps_t_c.detach().float() - eps_t_u.detach().float()
    scale = dt.pow(2).flatten(1).mean(1)
    rel = _per_sample_mse(eps_s_c.float() - eps_s_u.float(), dt) / (scale + EPS)
    return torch.where(scale > 0, rel, torch.zeros_like(rel)).mean()


def distill_loss(eps_s: torch.Tensor, target: torch.Tensor, eps_t: torch.Tensor,
                 feats_s: dict[str, torch.Tensor], feats_t: dict[str, torch.Tensor], *, mode: str = "normalized",
                 lambda_task: float = 1.0, lambda_out: float = 1.0, lambda_feat: float = 1.0,
                 uncond: tuple[torch.Tensor, torch.Tensor] | None = None, lambda_prompt: float = 0.0,
                 task_weight: torch.Tensor | None = None, row_weight: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, dict[str, Any]]:
    """Total loss and its parts (floats; per-stage feature terms under ``feat/<id>``).

    ``uncond``: the (student, teacher) predictions for the same inputs with an empty caption;
    given, the prompt-effect term is added and reported as ``prompt``. ``task_weight``: a per-row
    weight of the task term (0 for a row whose target is not the task's answer, e.g. a blended
    caption), still averaged over every row so a batch split over processes means the same.
    ``row_weight``: a per-row weight of both the task and the output-KD term (min-SNR-gamma),
    on top of ``task_weight``.
    """
    def weighted(rows: torch.Tensor, *weights: torch.Tensor | None) -> torch.Tensor:
        for w in weights:
            rows = rows if w is None else rows * w.to(rows.device, rows.dtype)
        return rows.mean()

    task = weighted(_per_sample_mse(eps_s, target), task_weight, row_weight)
    out = weighted(_per_sample_mse(eps_s, eps_t.detach()), row_weight)
    missing = set(feats_t) ^ set(feats_s)
    if missing:
        raise LdpruneError(f"stage outputs missing on one side: {sorted(missing)}",
                           "teacher and student must run the same stages (a stage may not be removed whole)")
    per = {k: feature_term(feats_s[k], feats_t[k], mode) for k in feats_t}
    feat = torch.stack(list(per.values())).sum() if per else eps_s.new_zeros((), dtype=torch.float32)
    total = lambda_task * task + lambda_out * out + lambda_feat * feat
    extra = {}
    if uncond is not None:
        extra["prompt"] = prompt_term(eps_s, uncond[0], eps_t, uncond[1])
        total = total + lambda_prompt * extra["prompt"]
    # one device->host copy for all terms (each .item() would be a separate sync)
    vals = torch.stack([total, task, out, feat, *extra.values(), *per.values()]).detach().float().cpu().tolist()
    names = ["total", "task", "out", "feat", *extra, *(f"feat/{k}" for k in per)]
    terms = dict(zip(names, vals))
    return total, terms
