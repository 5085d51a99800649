#!/usr/bin/env bash
# One device call (2026-12-04, H200): the fastest-runner figures of the runner table, then the GPU tests
# of what they exercise (the tuned torch-compile mode, fp8).
#   run (carry [.whl]):  bash benchmarks/device/runner_session.sh
# .whl holds diffusers (python3 -m pip download --no-deps diffusers==0.42.1 importlib_metadata==8.7.0).
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT/logs"
if ls .whl/*.whl >/dev/null 2>&1 && ! python3 -c "import diffusers" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv > "$OUT/logs/gpu.txt" 2>&1
# eager and torch.compile tuned on full SD1.5, a ~35 %-FLOPs remove plan, and full with every eligible linear in fp8
timeout 400 python3 benchmarks/runners.py --runners torch --torch-set fastest --models full,pruned35,fp8 \
  --out "$OUT/runners-fastest" > "$OUT/logs/runners-fastest.log" 2>&1
echo "runners rc=$?" >> "$OUT/logs/rc.txt"
rm -rf "$OUT/runners-fastest/cache"
timeout 150 python3 -m pytest -q -m gpu -p no:cacheprovider tests/gpu/test_fp8_gpu.py tests/gpu/test_timing_gpu.py \
  > "$OUT/logs/gpu-tests.log" 2>&1
echo "gpu tests rc=$?" >> "$OUT/logs/rc.txt"
