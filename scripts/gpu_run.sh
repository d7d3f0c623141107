#!/usr/bin/env bash
# gpu_run.sh: one call on the GPU machine: GPU tests, 1-GPU and N-GPU breakout, a rank killed.
#   source .whl/prelude.sh && bash scripts/gpu_run.sh
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
export NCCL_NVLS_ENABLE=0
ngpu=$(nvidia-smi -L | wc -l)
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$OUT/gpu.txt"
python3 -c "import pufferlib._C as C; print('has_cuda', C.has_cuda, 'native', C.has_native_trainer)"
DISPLAY= python3 -c "
import pufferlib
v = pufferlib.make('breakout', render='headless'); v.reset(1); v.render(); v.save_frame('$OUT/breakout.png'); print('headless frame ok')
" 2>&1 | grep -v INFO
timeout 330 python3 -m pytest -q -p no:cacheprovider -m gpu -rfE tests 2>&1 | tee "$OUT/pytest_gpu.log" | tail -6
summary() {  # run dir -> "median SPS, final perf, seconds"
  python3 - "$1" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1] + "/metrics.jsonl")]
sps = statistics.median(r["SPS"] for r in rows[3:]) if len(rows) > 4 else rows[-1]["SPS"]
perf = [r["env/perf"] for r in rows if "env/perf" in r]
t09 = next((r["uptime"] for r in rows if r.get("env/perf", 0) >= 0.9), float("nan"))
print(f"{sps/1e6:.2f}M SPS, final perf {perf[-1]:.3f}, perf 0.9 at {t09:.1f} s, {rows[-1]['uptime']:.1f} s, {rows[-1]['agent_steps']/1e6:.1f}M steps")
PY
}
cd /tmp
for n in 1 2; do
  [ $n -le $ngpu ] || continue
  timeout 120 python3 -m pufferlib.pufferl train breakout --train.gpus $n --quiet --run-id g$n >"$OUT/train_g$n.log" 2>&1
  echo "breakout on $n GPU(s): rc=$? $(summary experiments/breakout/g$n)" | tee -a "$OUT/table.txt"
done
if [ $ngpu -ge 2 ]; then
  python3 -m pufferlib.pufferl train breakout --train.gpus 2 --train.total-timesteps 1e11 --quiet >"$OUT/kill.log" 2>&1 &
  job=$!; sleep 20
  victim=$(pgrep -P $job | tail -1); kill -9 $victim; t0=$(date +%s)
  wait $job; rc=$?
  echo "rank killed: job exit $rc after $(( $(date +%s) - t0 )) s: $(tail -1 $OUT/kill.log)" | tee -a "$OUT/table.txt"
fi
echo "=== table"; cat "$OUT/table.txt"
