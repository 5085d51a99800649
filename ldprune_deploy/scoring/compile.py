"""Opt-in regional compilation of the UNet's repeated blocks for the scoring sweep.

In the style of diffusers' ``compile_repeated_blocks``: every instance of the region's classes
gets ``module.compile(fullgraph=False, dynamic=False)`` -- the outermost one only, where the
classes nest. ``REGIONS["blocks"]`` compiles every ``ResnetBlock2D`` and ``BasicTransformerBlock``;
``REGIONS["wide"]`` (the default) compiles whole ``Transformer2DModel``s (their GroupNorm and
projections too), ``Attention`` outside them (UNet2DModel), the down/upsamplers and the output
GroupNorm, leaving only concatenations and a few convolutions eager. Measured on the H100
(2026-11-23, SD1.5, batch 128 at 256², fp16): one UNet call 70.9 ms with "blocks", 62.9 ms with
"wide"; in channels_last 72.7 and 58.3 ms. ``inductor`` passes ``torch._inductor.config``
settings to these compiles (``torch.compile(options=...)``).
With ``torch._dynamo.config.inline_inbuilt_nn_modules`` (default True) parameters are graph
inputs, so structurally identical instances share compiled code, and a candidate that swaps
one operator (``surgery.swapped``) leaves every untouched block compiled.

A block whose own children a candidate changes (attn2 removed inside a transformer block, a
conv narrowed inside a resnet) runs eagerly for that candidate by default (``modified="eager"``):
a forward pre-hook on the UNet compares each compiled block's submodules with those it was
compiled with before every UNet call. Recompiling it instead (``modified="recompile"``, the
behaviour until 2026-11-23) costs a compile per new structure and shape. The SD1.5 sweep
measured then ran 20 % over calls × per-call time, against ~1 % for the uncompiled sweep.
With eager modified blocks (and wide regions in channels_last) the same sweeps ran ×1.06 (86
candidates) and ×1.08 (296), with no recompile in the log (benchmarks/results/score_throughput).

Two hazards are handled here:

* ``module.compile()`` stores ``torch.compile(module._call_impl)`` -- a method *bound to that
  module* -- in the instance attribute ``_compiled_call_impl``. ``surgery.mods._shallow_copy``
  (``copy.copy``, used for ``width:*`` candidates) would copy it with the rest of ``__dict__``
  and a narrowed copy would silently run the *original* block -- unless ``nn.Module.__getstate__``
  drops it, as it does in recent torch (2.13 here: copies run eagerly). Where a probe shows
  that a copy keeps it, a forward pre-hook on the UNet resets the attribute, before each UNet
  call, on any module that carries another module's compiled call (the copy then runs eagerly).
* The user's model is restored on exit: the compiled calls, the hook and dynamo's recompile
  limit are put back as they were. Dynamo's code caches (attached to the blocks' ``forward``
  code objects) remain; they are consulted only inside compiled code, so they are harmless.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
from typing import Iterator

import torch
from torch import nn

from ..inductor_knobs import check_inductor_knobs

log = logging.getLogger("ldprune")

BLOCK_CLASSES = ("ResnetBlock2D", "BasicTransformerBlock")
REGIONS = {"blocks": BLOCK_CLASSES,
           "wide": ("ResnetBlock2D", "Transformer2DModel", "Attention", "Downsample2D", "Upsample2D", "GroupNorm")}
DEFAULT_REGIONS = "wide"
MODIFIED_BLOCKS = "eager"   # what a block with swapped children does by default (recorded by scoring)
_MISSING = object()


def compile_backend() -> str:
    """``LDPRUNE_COMPILE_BACKEND`` (tests use ``aot_eager``: no C++ compile on CPU), else inductor."""
    return os.environ.get("LDPRUNE_COMPILE_BACKEND", "inductor")


def region_modules(unet: nn.Module, classes: tuple[str, ...]) -> list[nn.Module]:
    """The outermost modules of ``classes`` in ``unet`` (one inside another is left to the outer one)."""
    found: list[tuple[str, nn.Module]] = []
    for name, m in unet.named_modules():
        if type(m).__name__ in classes and not any(name.startswith(f"{n}.") for n, _ in found):
            found.append((name, m))
    return [m for _, m in found]


def copy_keeps_compiled_call() -> bool:
    """Whether ``copy.copy`` of a compiled module carries its ``_compiled_call_impl`` (older torch)."""
    m = nn.Identity()
    m.__dict__["_compiled_call_impl"] = m._call_impl  # stands in for a compiled call; never run
    return copy.copy(m).__dict__.get("_compiled_call_impl") is not None


def _structure(block: nn.Module) -> tuple:
    return tuple((name, id(sub)) for name, sub in block.named_modules())


@contextlib.contextmanager
def compiled_blocks(unet: nn.Module, classes: tuple[str, ...] = REGIONS[DEFAULT_REGIONS], backend=None,
                    recompile_limit: int = 64, guard_copies: bool | None = None,
                    modified: str = MODIFIED_BLOCKS, inductor: dict | None = None) -> Iterator[int]:
    """Compile the repeated blocks of ``unet`` for the duration of the block; yields their count.

    ``classes``: class names to compile (``REGIONS``), the outermost where they nest.
    ``inductor``: ``torch._inductor.config`` settings for these compiles (inductor backend only).
    ``guard_copies``: install the pre-hook that un-compiles copies of compiled blocks;
    None: only where this torch's ``copy.copy`` keeps the compiled call.
    ``modified``: "eager" runs a block whose submodules were swapped eagerly, "recompile" lets
    dynamo recompile it for the new structure.
    """
    if modified not in ("eager", "recompile"):
        raise ValueError(f"modified must be 'eager' or 'recompile', not {modified!r}")
    backend = backend or compile_backend()
    knobs = check_inductor_knobs(inductor)
    options = knobs if knobs and backend == "inductor" else None   # other backends take no options
    guard_copies = copy_keeps_compiled_call() if guard_copies is None else guard_copies
    owner: dict[int, nn.Module] = {}          # id(compiled callable) -> the module it is bound to
    saved: list[tuple[nn.Module, object]] = []
    for m in region_modules(unet, classes):
        if m.__dict__.get("_compiled_call_impl") is not None:
            continue  # already compiled by the caller: left as it is
        saved.append((m, m.__dict__.get("_compiled_call_impl", _MISSING)))
        m.compile(backend=backend, fullgraph=False, dynamic=False, options=options)
        owner[id(m._compiled_call_impl)] = m

    def drop_foreign(module, args):
        for sub in module.modules():
            fn = sub.__dict__.get("_compiled_call_impl")
            if fn is not None and id(fn) in owner and owner[id(fn)] is not sub:
                sub.__dict__["_compiled_call_impl"] = None  # a copy of a compiled block: run it eagerly

    compiled = [(m, m._compiled_call_impl, _structure(m)) for m, _ in saved]

    def eager_if_modified(module, args):
        for m, fn, shape in compiled:
            m.__dict__["_compiled_call_impl"] = fn if _structure(m) == shape else None

    handles = [unet.register_forward_pre_hook(h) for h, on in ((eager_if_modified, modified == "eager"),
                                                               (drop_foreign, guard_copies)) if on]
    dyn = torch._dynamo.config
    old_limit = dyn.recompile_limit
    # every distinct (structure, shape) of a block class is one cache entry of its forward:
    # SD1.5 has 4 resolutions × the unmodified and the modified structures
    dyn.recompile_limit = max(old_limit, recompile_limit)
    log.info("compiled %d blocks (%s, backend %s%s)", len(saved), ", ".join(classes), backend,
             f", inductor {knobs}" if options else "")
    try:
        yield len(saved)
    finally:
        dyn.recompile_limit = old_limit
        for h in handles:
            h.remove()
        for m, old in saved:
            if old is _MISSING:
                m.__dict__.pop("_compiled_call_impl", None)
            else:
                m.__dict__["_compiled_call_impl"] = old
