#!/usr/bin/env bash
# docker.sh build|test|run: the puffertank image (CUDA, cuBLAS, NCCL and PufferLib).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  build) docker build -f docker/puffertank.dockerfile -t puffertank . ;;
  test) docker run --rm --gpus all puffertank python -m pytest tests ;;
  run) shift; docker run --rm -it --gpus all -v "$PWD/experiments:/puffer/experiments" puffertank "${@:-bash}" ;;
  *) echo "usage: scripts/docker.sh build|test|run [command]" >&2; exit 2 ;;
esac
