"""Training checkpoints, EMA, and RNG state: everything an exact resume needs.

A checkpoint is one folder ``checkpoints/step-XXXXXXXX`` written to a temp folder and renamed,
so a crash while saving leaves the previous checkpoint intact.
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..jsonio import atomic_output_dir, read_json, write_json_atomic
from ..errors import LdpruneError

STATE_SCHEMA = "ldprune.distill_state/1"
_STEP_DIR = re.compile(r"^step-(\d{8})$")


class EMA:
    """Exponential moving average of the student's parameters, kept in fp32.

    The decay warms up as (1 + n) / (10 + n) so the average is not dominated by the
    initial (just-pruned) weights in short runs.
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.names = [n for n, p in model.named_parameters() if p.requires_grad]
        self.shadow = [p.detach().float().clone() for n, p in model.named_parameters() if p.requires_grad]

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        params = [p.detach().float() for p in model.parameters() if p.requires_grad]
        torch._foreach_lerp_(self.shadow, params, 1.0 - d)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        params = dict(model.named_parameters())
        for n, s in zip(self.names, self.shadow):
            params[n].copy_(s.to(params[n].dtype))

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {n: s.cpu() for n, s in zip(self.names, self.shadow)}

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int) -> None:
        if set(state) != set(self.names):
            raise LdpruneError("the checkpoint's EMA does not match the student", "resume with the same student")
        self.shadow = [state[n].to(s.device, torch.float32) for n, s in zip(self.names, self.shadow)]
        self.updates = updates


def rng_state() -> dict[str, Any]:
    import numpy as np

    np_state = np.random.get_state()
    st = {"torch": torch.get_rng_state(), "python": random.getstate(),
          "numpy": [np_state[0], torch.from_numpy(np_state[1].astype("int64")), *np_state[2:]]}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict[str, Any]) -> None:
    import numpy as np

    torch.set_rng_state(st["torch"])
    random.setstate(_tuplify(st["python"]))
    n = st["numpy"]
    np.random.set_state((n[0], n[1].numpy().astype("uint32"), *n[2:]))
    if "cuda" in st and torch.cuda.is_available() and len(st["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(st["cuda"])


def _tuplify(x):
    return tuple(_tuplify(i) for i in x) if isinstance(x, (list, tuple)) else x


def checkpoint_dirs(out: Path) -> list[Path]:
    root = out / "checkpoints"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and _STEP_DIR.match(p.name)
                  and (p / "state.json").is_file())


def save_checkpoint(out: Path, step: int, *, model: nn.Module, trainer: dict[str, Any],
                    ema: EMA | None, rng: list[dict[str, Any]], state: dict[str, Any], keep: int) -> Path:
    from safetensors.torch import save_file

    path = out / "checkpoints" / f"step-{step:08d}"
    with atomic_output_dir(path, overwrite=True) as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()},
                  str(tmp / "student.safetensors"))
        if ema is not None:
            save_file(ema.state_dict(), str(tmp / "ema.safetensors"))
        torch.save(trainer, tmp / "trainer.pt")
        torch.save(rng, tmp / "rng.pt")
        write_json_atomic(tmp / "state.json", {"schema": STATE_SCHEMA, "step": step,
                                               "ema_updates": ema.updates if ema else 0, **state})
    for old in checkpoint_dirs(out)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return path


def load_checkpoint(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    state = read_json(path / "state.json", STATE_SCHEMA, "distillation checkpoint state")
    try:
        ck = {"state": state, "student": load_file(str(path / "student.safetensors")),
              "trainer": torch.load(path / "trainer.pt", weights_only=True),
              "rng": torch.load(path / "rng.pt", weights_only=False)}  # python/numpy RNG tuples: our own file
        if (path / "ema.safetensors").is_file():
            ck["ema"] = load_file(str(path / "ema.safetensors"))
    except (OSError, RuntimeError) as e:
        raise LdpruneError(f"checkpoint {path} is unreadable: {e}",
                           f"delete {path.name} to resume from the one before it") from None
    return ck
