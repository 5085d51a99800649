#!/usr/bin/env bash
# The H200 runs behind the latency-budget figures (portability, budget grid, measurement path),
# in two device calls so that neither passes the 10-minute limit:
#   call 1  carry [.whl]   bash benchmarks/device/portability_session.sh 1   # GPU timing tests, SD1.5, measurement path
#   call 2  carry [.whl]   bash benchmarks/device/portability_session.sh 2   # SD2.1 and SDXL (adds rows to the grid)
# .whl holds diffusers (python3 -m pip download --no-deps ... diffusers==0.42.1 importlib_metadata==8.7.0).
# Results land in $OUT/port (accuracy JSON, budget grid, measurement path), $OUT/profiles and $OUT/log.txt;
# copy them to benchmarks/results/portability/ and profiles/ before the next call (the grid is carried
# back in so call 2 appends to it).
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT/port" "$OUT/profiles"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD:/tmp/site:${PYTHONPATH:-}"
if ls .whl/*.whl >/dev/null 2>&1 && ! python3 -c "import diffusers" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
cp benchmarks/results/portability/budget_grid_*.json "$OUT/port/" 2>/dev/null
LOG="$OUT/log.txt"
step() { echo "=== $(date -u +%H:%M:%S) $*" | tee -a "$LOG"; "$@" 2>&1 | grep -v -e "Warning" -e "warnings.warn" | tee -a "$LOG"; }
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,power.limit --format=csv | tee -a "$LOG"
case "${1:-}" in
  1)
    step python3 -m pytest -q -m gpu tests/gpu/test_timing_gpu.py
    step python3 benchmarks/portability.py --models sd15 --out "$OUT/port" --profiles "$OUT/profiles"
    step python3 benchmarks/measurement_path.py --out "$OUT/port/measurement_path_h200.json"
    ;;
  2)
    step python3 benchmarks/portability.py --models sd21,sdxl --out "$OUT/port" --profiles "$OUT/profiles"
    ;;
  *) echo "usage: $0 1|2"; exit 2 ;;
esac
echo "=== $(date -u +%H:%M:%S) done" | tee -a "$LOG"
