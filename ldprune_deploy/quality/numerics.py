"""The numerics a proxy metric is evaluated under (teachers' curves, students' comparisons).

bf16 autocast rounds every weight to 8 significant bits (relative error up to 2**-9): a
perturbation fixed for one checkpoint, so its sampling seeds do not show it. On the H100
(2026-12-05, ``benchmarks/results/quality/h100-2026-12-05-fp32-trials``) rounding a teacher's
weights to bf16 moved its fp32 proxy-FID by -13.1 to -15.1 on each of 5 sampling seeds (whose own
range was 5.0), and over the last 20 % of one training run the bf16 curve spanned 14.7 where the
fp32 curve of the same checkpoints spanned 2.6. fp32 with TF32 off evaluates each checkpoint as it is.
"""

from __future__ import annotations

import contextlib

# the values of --eval-precision and what each means
EVAL_PRECISIONS = {"bf16": "bf16 autocast on CUDA (fp32 on the CPU)", "fp32": "fp32, TF32 off"}
# what a curve, metric-noise file or comparison run written before --eval-precision existed was evaluated in
LEGACY_PRECISION = "bf16"


def recorded_precision(record: dict | None) -> str:
    """The ``eval_precision`` a result records, or the bf16 every result before the field was made in."""
    return (record or {}).get("eval_precision", LEGACY_PRECISION)


@contextlib.contextmanager
def eval_numerics(device: str, precision: str):
    """Sampling for one evaluation: bf16 autocast, or fp32 with TF32 off (the CPU is always fp32)."""
    import torch   # here, not at the top: the summary reads recorded precisions without torch

    if precision not in EVAL_PRECISIONS:
        raise ValueError(f"eval precision {precision!r}: use one of {', '.join(EVAL_PRECISIONS)}")
    if device != "cuda":
        yield
    elif precision == "bf16":
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16):
            yield
    else:
        saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        try:
            yield
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def feature_numerics(device: str, precision: str) -> contextlib.AbstractContextManager:
    """The proxy features of those samples: bf16 evaluations compute them outside autocast as every
    curve and comparison before 2026-12-05 did (TF32 on), fp32 ones in fp32 with TF32 off."""
    return eval_numerics(device, precision) if precision == "fp32" else contextlib.nullcontext()
