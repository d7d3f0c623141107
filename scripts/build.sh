#!/usr/bin/env bash
# build.sh ENV [--float|--cpu|--profile|--local|--fast|--web]
#   (none)     build and install the package (every env library, kernels, native module)
#   --float    same, with the fp32 native backend (default is bf16)
#   --cpu      same, CPU only (no CUDA even when nvcc is present)
#   --profile  same, plus NVTX ranges in the CUDA trainer and kernel benchmarks (bench_kernels)
#   --local    standalone demo envs/ENV/ENV.c with ASan+UBSan -> build/bin/ENV
#   --fast     standalone demo, optimized -> build/bin/ENV
#   --web      emscripten build of the env logic -> build/web/envs/ENV.js (needs emcc)
set -euo pipefail
root=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
cd "$root"

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ $# -ge 1 ] || usage
env_name=$1; shift
mode=install; float=OFF; cuda=AUTO; profile=OFF
for flag in "$@"; do
  case "$flag" in
    --float) float=ON ;;
    --cpu) cuda=OFF ;;
    --profile) profile=ON ;;
    --local|--fast|--web) mode=${flag#--} ;;
    -h|--help) usage ;;
    *) echo "build.sh: unknown flag '$flag' (allowed: --float --cpu --profile --local --fast --web)" >&2; exit 2 ;;
  esac
done
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
    command -v emcmake >/dev/null || { echo "build.sh: --web needs emscripten (apt-get install emscripten)" >&2; exit 1; }
    export NODE_PATH=${NODE_PATH:-/usr/share/nodejs}
    cmake --preset web >/dev/null
    cmake --build build/web --target ${env_name}_demo -j "$jobs"
    echo "built: build/web/envs/$env_name.js (run: node --no-experimental-fetch build/web/envs/$env_name.js)"
    echo "note: the web build runs the env logic with a random agent; in-browser rendering comes in a later release" ;;
esac
