#!/usr/bin/env bash
# gpu_check.sh: on a GPU machine, build the kernels standalone, run the CUDA-vs-C kernel tests,
# the MinGRU checker/benchmark and the per-kernel benchmark (bench_kernels). Logs go to $OUT
# (or ./gpu_check_out).
#   bash kernels/gpu_check.sh            (from the repository root)
# Offline machines: pytest wheels in .whl/ are installed first if pytest is missing.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
BUILD=${BUILD:-/tmp/puffer_kbuild}
mkdir -p "$OUT"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
if ! python3 -m pytest --version >/dev/null 2>&1; then
    python3 -m pip install --no-index -q .whl/*.whl || echo "no pytest available"
fi

t0=$(date +%s)
cmake -S kernels -B "$BUILD" -G Ninja -DCMAKE_CUDA_ARCHITECTURES=90 >"$OUT/configure.log" 2>&1 \
    && cmake --build "$BUILD" >"$OUT/build.log" 2>&1
rc=$?
echo "build rc=$rc in $(( $(date +%s) - t0 )) s"
if [ $rc -ne 0 ]; then tail -40 "$OUT/configure.log" "$OUT/build.log"; exit $rc; fi

export PUFFER_KERNELS_LIB=$BUILD/libpuffer_kernels.so
export PUFFER_KERNELS_CUDA_LIB=$BUILD/libpuffer_kernels_cuda.so
python3 -m pytest -q -p no:cacheprovider -rfE tests/test_kernels_gpu.py >"$OUT/pytest_gpu.log" 2>&1
echo "pytest gpu rc=$?"
grep -E "passed|failed|error" "$OUT/pytest_gpu.log" | tail -3
"$BUILD/bench_mingru" 2>&1 | tee "$OUT/bench_mingru.log"
"$BUILD/bench_kernels" 2>&1 | tee "$OUT/bench_kernels.log"
