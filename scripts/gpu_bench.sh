#!/usr/bin/env bash
# gpu_bench.sh: native-backend benchmark table on the GPU machine (after the project is installed):
#   source .whl/prelude.sh && bash scripts/gpu_bench.sh [ENV:FLAGS ...]
# Each argument is an env and its bench_train.py flags separated by ':' (spaces as '+'), e.g.
#   breakout:--vec.num-threads+16  breakout:--base.fused-rollout+0
# Prints one summary line per run, then the table again at the end.
set -uo pipefail
OUT=${OUT:-/tmp/gpu_out}; mkdir -p "$OUT"
runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(breakout breakout:--base.fused-rollout+0 squared cartpole target)
: > "$OUT/bench_table.txt"
for run in "${runs[@]}"; do
  env=${run%%:*}; flags=""; [ "$env" != "$run" ] && flags=${run#*:}; flags=${flags//+/ }
  log="$OUT/bench_$(echo "$run" | tr -c 'a-zA-Z0-9_\n' '_').log"
  timeout 120 python3 scripts/bench_train.py "$env" $flags >"$log" 2>&1
  line=$(awk -F'  +' '/steady-state SPS/{s=$2} /^time to .*0\.9 /{t=$2} /^time to episode_return >= 195/{t=$2}
         /^final /{f=$2} /^eval /{v=$2} /^startup/{u=$2} /^rollout \/ train/{r=$2} /^  env stepping/{e=$3}
         END{printf "SPS %s | rollout/train %s (env %s) | threshold %s | final %s | eval %s | startup %s", s, r, e, t, f, v, u}' "$log")
  echo "$env $flags: $line" | tee -a "$OUT/bench_table.txt"
done
echo "=== bench table"; cat "$OUT/bench_table.txt"
