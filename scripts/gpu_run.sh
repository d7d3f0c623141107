#!/usr/bin/env bash
# gpu_run.sh: one call on the GPU machine: build (prelude), GPU tests, benchmarks; table last.
#   source .whl/prelude.sh && bash scripts/gpu_run.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import pufferlib._C as C; print('has_cuda', C.has_cuda, 'native', C.has_native_trainer)"
DISPLAY= python3 -c "
import pufferlib
v = pufferlib.make('breakout', render='headless'); v.reset(1); v.render(); v.save_frame('$OUT/breakout.png'); print('headless frame ok')
" 2>&1 | grep -v INFO
timeout 420 python3 -m pytest -q -p no:cacheprovider -m gpu -rfE tests 2>&1 | tee "$OUT/pytest_gpu.log" | tail -25
