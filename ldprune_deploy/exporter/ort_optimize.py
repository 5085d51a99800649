"""ONNX Runtime's transformer optimizer (model_type "unet") on the fp32 graph, with fusion stats.

It must run before fp16 conversion: its GroupNorm fusion writes fp32 gamma/beta and breaks
on an fp16 graph. Two findings from this machine (onnxruntime 1.32, numpy 2):
- on a TorchScript export every UNet fusion matches (MultiHeadAttention, BiasSplitGelu,
  GroupNorm, SkipGroupNorm, NhwcConv, BiasAdd); on a dynamo export the attention fusions
  do not match at all, only the norm/conv ones.
- ``FusionAttentionUnet.get_num_heads`` calls ``int()`` on a 1-element array, which numpy 2
  rejects, so the attention fusion crashes; ``_patched`` replaces it with an equivalent.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Any

import numpy as np

from ..errors import LdpruneError

log = logging.getLogger("ldprune")

# contrib ops that only the CUDA provider implements
_CUDA_ONLY = ("enable_group_norm", "enable_skip_group_norm", "enable_nhwc_conv", "enable_bias_splitgelu",
              "enable_bias_add", "enable_packed_qkv", "enable_packed_kv")


def _get_num_heads(self, reshape_q, is_torch2: bool = False) -> int:
    if is_torch2:
        parent = self.model.get_parent(reshape_q, 1)
        if parent is not None and parent.op_type == "Concat" and len(parent.input) == 4:
            v = self.model.get_constant_value(parent.input[2])
            if isinstance(v, np.ndarray) and v.size == 1 and int(v.reshape(-1)[0]) > 0:
                return int(v.reshape(-1)[0])
        return 0
    v = self.model.get_constant_value(reshape_q.input[1])
    if isinstance(v, np.ndarray) and list(v.shape) == [4] and int(v[2]) > 0:
        return int(v[2])
    return 0


@contextlib.contextmanager
def _patched():
    # ORT's transformers package imports its modules both as a package and top-level
    import onnxruntime.transformers.optimizer  # noqa: F401  (puts the top-level names in sys.modules)

    mods = [m for m in (sys.modules.get("fusion_attention_unet"),
                        sys.modules.get("onnxruntime.transformers.fusion_attention_unet")) if m is not None]
    saved = [(m, m.FusionAttentionUnet.get_num_heads) for m in mods]
    try:
        for m, _ in saved:
            m.FusionAttentionUnet.get_num_heads = _get_num_heads
        yield
    finally:
        for m, orig in saved:
            m.FusionAttentionUnet.get_num_heads = orig


def optimize_unet(model_path: str, target: str) -> tuple[Any, dict[str, int]]:
    """Return (optimized fp32 ModelProto, fused-operator counts) for target 'cuda' or 'cpu'."""
    if target not in ("cuda", "cpu"):
        raise LdpruneError(f"unknown optimizer target '{target}'", "use --optimize cuda or --optimize cpu")
    try:
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model
    except ImportError:
        raise LdpruneError("the ORT transformer optimizer needs onnxruntime",
                           "pip install 'ldprune-deploy[onnx]' (or onnxruntime-gpu)") from None
    opts = FusionOptions("unet")
    if target == "cpu":
        for flag in _CUDA_ONLY:
            if hasattr(opts, flag):
                setattr(opts, flag, False)
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    with _patched():
        m = optimize_model(model_path, model_type="unet", num_heads=0, hidden_size=0, opt_level=0,
                           optimization_options=opts, use_gpu=target == "cuda")
    stats = {k: int(v) for k, v in m.get_fused_operator_statistics().items() if v}
    log.info("ORT transformer optimizer (%s): %s", target, stats or "no fusion matched")
    return m.model, stats
