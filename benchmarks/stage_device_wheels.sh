#!/usr/bin/env bash
# Notes + helper for running benchmarks/runners.py on the GPU machine (see ../shared/device/README.md).
#
# The GPU machine has torch (CUDA 13), onnx, onnxscript and a CPU-only onnxruntime; it lacks
# diffusers, onnxruntime-gpu and TensorRT and cannot download. Stage the wheels from here, in
# back-to-back device calls (each call carries one <=48 MiB chunk; /tmp survives while warm):
#
#   cd <repo root>
#   STAGE_MB=30 ../shared/device/stage.sh onnxruntime-gpu==1.31.1   # ~10 chunks; diffusers travels in .whl/
#   (one call carries at most 64 MiB and the tree itself is ~29 MiB since the teachers were
#   committed, so the default 48 MiB chunks no longer fit)
#   # optional, TensorRT-RTX (builds engines on the H100, cannot run them: CC 9.0 unsupported):
#   ../shared/device/stage.sh tensorrt-rtx-cu13-bindings==1.7.1.116 tensorrt-rtx-cu13-libs==1.7.1.116
#
# stage.sh prints one line per chunk call; the last call installs everything into /tmp/site.
# Then, in the SAME warm session, source this file before the benchmark so that the CUDA
# onnxruntime shadows the CPU one and finds CUDA 13 + cuDNN from torch's wheels:
#
#   source benchmarks/stage_device_wheels.sh && python3 benchmarks/runners.py --out "$OUT/runners"
#
# This script only sets the environment and checks it; it installs nothing.

NV=${NV:-/opt/torch/.venv/lib/python3.12/site-packages/nvidia}
export PYTHONPATH="/tmp/site:$PWD:${PYTHONPATH:-}"
export LD_LIBRARY_PATH="$NV/cu13/lib:$NV/cudnn/lib:${LD_LIBRARY_PATH:-}"
# tensorrt_rtx wheels ship their libraries beside the module
for d in /tmp/site/tensorrt_rtx_libs /tmp/site/tensorrt_libs; do
  [ -d "$d" ] && export LD_LIBRARY_PATH="$d:$LD_LIBRARY_PATH"
done
python3 - <<'EOF'
import importlib
import onnxruntime as o
print("onnxruntime", o.__version__, o.get_available_providers())
if "CUDAExecutionProvider" not in o.get_available_providers():
    print("WARNING: no CUDAExecutionProvider: onnxruntime-gpu not staged or LD_LIBRARY_PATH lacks cu13/cudnn")
for m in ("diffusers", "tensorrt", "tensorrt_rtx"):
    try:
        print(m, importlib.import_module(m).__version__)
    except Exception as e:
        print(m, "not importable:", type(e).__name__)
EOF
