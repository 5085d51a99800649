#!/usr/bin/env bash
# Run several benchmark jobs in one device call and pack every result into $OUT/results.tgz
# (the device returns at most 8 files). Usage, on the device machine from the repo root:
#   bash benchmarks/device/run_jobs.sh "python3 benchmarks/x.py --out R/x" "python3 ..."
# Each job sees R=/tmp/results (its output root); a failing job is logged and the next runs.
set -uo pipefail
OUT=${OUT:-/tmp/out}; mkdir -p "$OUT"
export R=/tmp/results; mkdir -p "$R"
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD:/tmp/site:${PYTHONPATH:-}"
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
if [ -d .whl ] && ls .whl/*.whl >/dev/null 2>&1 && [ ! -f /tmp/site/.whl-done ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && touch /tmp/site/.whl-done
fi
pack() { tar -C "$R" -czf "$OUT/results.tgz" . 2>/dev/null; cp /tmp/jobs.log "$OUT/jobs.log" 2>/dev/null; }
trap pack EXIT
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.used --format=csv | tee -a /tmp/jobs.log
for job in "$@"; do
  echo "=== $(date -u +%H:%M:%S) START $job" | tee -a /tmp/jobs.log
  t0=$(date +%s)
  bash -c "$job" 2>&1 | tee -a /tmp/jobs.log | tail -n 40
  rc=${PIPESTATUS[0]}
  echo "=== $(date -u +%H:%M:%S) END rc=$rc $(( $(date +%s) - t0 ))s $job" | tee -a /tmp/jobs.log
  pack
done
