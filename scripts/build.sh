#!/usr/bin/env bash
# build.sh ENV [--float|--cpu|--profile|--local|--fast|--web [--load-model-path PATH|latest]]
#   (none)     build and install the package (every env library, kernels, native module)
#   --float    same, with the fp32 native backend (default is bf16)
#   --cpu      same, CPU only (no CUDA even when nvcc is present)
#   --profile  same, plus NVTX ranges in the CUDA trainer and kernel benchmarks (bench_kernels)
#   --local    standalone demo envs/ENV/ENV.c with ASan+UBSan -> build/bin/ENV
#   --fast     standalone demo, optimized -> build/bin/ENV
#   --web      a web page where ENV plays in the browser -> build/web/ENV/index.html (needs emcc);
#              with --load-model-path its trained policy plays, else the keyboard
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
env_name=$1; shift
mode=install; float=OFF; cuda=AUTO; profile=OFF; model=
while [ $# -gt 0 ]; do
  case "$1" in
    --float) float=ON ;;
    --cpu) cuda=OFF ;;
    --profile) profile=ON ;;
    --local|--fast|--web) mode=${1#--} ;;
    --load-model-path)
      [ $# -ge 2 ] || { echo "build.sh: --load-model-path needs a value (a checkpoint path, or latest)" >&2; exit 2; }
      model=$2; shift ;;
    -h|--help) usage ;;
    *) echo "build.sh: unknown flag '$1' (allowed: --float --cpu --profile --local --fast --web --load-model-path)" >&2; exit 2 ;;
  esac
  shift
done
if [ -n "$model" ] && [ "$mode" != web ]; then
  echo "build.sh: --load-model-path goes with --web (puffer eval $env_name --load-model-path ... plays it natively)" >&2; exit 2
fi
# Every option explicit: build/python keeps its CMake cache between builds.
defines=(-Ccmake.define.PUFFER_FLOAT=$float -Ccmake.define.PUFFER_CUDA=$cuda
         -Ccmake.define.PUFFER_PROFILE=$profile)

envs=$(sed -n 's/^puffer_add_env(\([a-z0-9_]*\).*/\1/p' envs/CMakeLists.txt)
if [ "$env_name" != constellation ] && ! grep -qx "$env_name" <<<"$envs"; then
  echo "build.sh: unknown env '$env_name'. Available: $(echo $envs)" >&2; exit 2
fi
if [ "$env_name" = constellation ]; then
  echo "build.sh: the Constellation dashboard is not built yet (dashboard/ is empty)" >&2; exit 2
fi

jobs=$(nproc 2>/dev/null || echo 2)
case $mode in
  install)
    # All envs live in one install; ENV is checked so typos fail early.
    python3 -m pip install --no-build-isolation -Cbuild-dir=build/python "${defines[@]}" . \
      || { echo "build.sh: build failed (rerun with pip install -v . for the full log)" >&2; exit 1; }
    python3 -c "import pufferlib, sys; sys.exit(0 if '$env_name' in pufferlib.available_envs() else 1)" \
      || { echo "build.sh: $env_name was not built" >&2; exit 1; }
    echo "built: puffer train $env_name"
    if [ $profile = ON ]; then
      bench=build/python/kernels
      if [ -x $bench/bench_kernels ]; then
        echo "kernel benchmark: $bench/bench_kernels [--eager] [breakout] [default]  (us and GB/s per kernel)"
        echo "  also $bench/bench_mingru (MinGRU scan versions checked, then timed)"
        echo "  Nsight: nsys profile -t cuda,nvtx $bench/bench_kernels   or   nsys profile -t cuda,nvtx puffer train $env_name"
      else
        echo "build.sh: no CUDA in this build: no kernel benchmark (the NVTX ranges need CUDA too)" >&2
      fi
    fi ;;
  local|fast)
    dir=build/$mode
    args=(-S . -B $dir -G Ninja -DPUFFER_PYTHON=OFF -DPUFFER_CUDA=OFF)
    if [ $mode = local ]; then
      args+=(-DCMAKE_BUILD_TYPE=Debug
             "-DCMAKE_C_FLAGS=-fsanitize=address,undefined,pointer-overflow -fno-omit-frame-pointer -g -O1"
             "-DCMAKE_EXE_LINKER_FLAGS=-fsanitize=address,undefined")
    else
      args+=(-DCMAKE_BUILD_TYPE=Release)
    fi
    cmake "${args[@]}" >/dev/null
    cmake --build $dir --target ${env_name}_demo -j "$jobs"
    mkdir -p build/bin && cp $dir/envs/$env_name build/bin/$env_name
    echo "built: build/bin/$env_name ($([ $mode = local ] && echo 'ASan+UBSan' || echo optimized))" ;;
  web)
    # The page builder (python/pufferlib/web.py) runs from this source tree; it needs numpy only.
    command -v emcc >/dev/null || { echo "build.sh: --web needs emscripten (apt-get install emscripten)" >&2; exit 1; }
    export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
    PYTHONPATH="$root/python${PYTHONPATH:+:$PYTHONPATH}" python3 -m pufferlib.web "$env_name" \
      ${model:+--load-model-path "$model"} --out "build/web/$env_name"
    echo "built: build/web/$env_name/index.html (open it, or serve build/web/$env_name/ from any static host)" ;;
esac
