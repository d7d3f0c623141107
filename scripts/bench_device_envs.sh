#!/usr/bin/env bash
# GPU benchmark of envs on the device vs on the host (H200): training SPS and time to threshold with
# the shipped configs (scripts/bench_train.py, vec.device cuda then cpu), then env-only stepping
# (scripts/bench_env_device.py). Usage: bash scripts/bench_device_envs.sh [RUNS] [ENV ...]
set -uo pipefail
runs=${1:-3}; shift || true
envs=${*:-breakout squared cartpole pong target snake}
for env in $envs; do
  for device in cuda cpu; do
    for r in $(seq "$runs"); do
      echo "== $env vec.device=$device run $r"
      timeout 120 python3 scripts/bench_train.py "$env" --vec.device $device --time-limit 15 --eval-epochs 3 2>&1 \
        | grep -E "agents x|steady|end-to-end|rollout /|time to|final|eval" || echo "(failed)"
    done
  done
done
echo "== env-only stepping"
python3 scripts/bench_env_device.py --agents 4096,65536 2>/dev/null
