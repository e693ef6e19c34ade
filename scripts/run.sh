#!/usr/bin/env bash
# Builds gptoss and runs the main job: the OpenAI-compatible server with the
# web chat UI, on MODEL (default synthetic:tiny: the tiny model with the real
# 201088-token vocabulary, so real prompts work; the shared tiny fixture has
# only 2048 token ids and cannot be prompted with text). Serves on
# http://127.0.0.1:8000 (API under /v1, chat page at /), on a GPU when there
# is one. Extra arguments go to `gptoss serve` (e.g. --port 9000 --api-key K).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
MODEL=${1:-synthetic:tiny}
[ $# -gt 0 ] && shift
cuda_args=()
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=$PATH:/usr/local/cuda/bin
  # This machine's GPU only (all architectures: configure with -DGPTOSS_CUDA_ARCHS=auto).
  arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d .)
  [ -n "$arch" ] && cuda_args=(-DGPTOSS_CUDA_ARCHS="$([ "$arch" = 90 ] && echo 90a || echo "$arch")")
fi
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGPTOSS_TESTS=OFF "${cuda_args[@]}" >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target gptoss
exec "$BUILD/src/cli/gptoss" serve --model "$MODEL" "$@"
