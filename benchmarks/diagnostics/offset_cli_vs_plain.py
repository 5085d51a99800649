# Diagnostic run on the H200 (2026-12-03, code 07155a5): see benchmarks/results/logs/h200-2026-12-03-offset/
import sys
sys.path[:0] = [".", "benchmarks"]
if "cli" in sys.argv:
    from ldprune_deploy.cli import build_parser; build_parser()
import torch
def flags():
    b = torch.backends
    return {"cudnn.benchmark": b.cudnn.benchmark, "cudnn.deterministic": b.cudnn.deterministic, "cudnn.allow_tf32": b.cudnn.allow_tf32,
            "matmul.tf32": b.cuda.matmul.allow_tf32, "fp16_reduced": b.cuda.matmul.allow_fp16_reduced_precision_reduction,
            "flash": b.cuda.flash_sdp_enabled(), "mem_eff": b.cuda.mem_efficient_sdp_enabled(), "math": b.cuda.math_sdp_enabled(),
            "cudnn_sdp": b.cuda.cudnn_sdp_enabled(), "f32prec": torch.get_float32_matmul_precision(), "threads": torch.get_num_threads()}
print(sys.argv[1:], flags(), flush=True)
import _common as C
from ldprune_deploy.runners import get_runner, RunSpec
unet, info = C.load_for("sd15", "cuda", "fp16")
r = get_runner("torch-graph")
print(sys.argv[1:], [round(r.measure(unet, info, RunSpec(batch=2, resolution=512, dtype="fp16")).median_ms, 3) for _ in range(3)], flags(), flush=True)
