#!/usr/bin/env bash
# Builds gptoss (with the CUDA backend when nvcc is here) and runs every test
# that needs no GPU. GPU tests skip themselves when no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-test}
jobs=$(nproc)
cuda_args=()
if command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH=$PATH:/usr/local/cuda/bin
  # One architecture keeps CI fast; release builds cover them all.
  cuda_args=(-DGPTOSS_CUDA=ON -DGPTOSS_CUDA_ARCHS=${GPTOSS_CUDA_ARCHS:-90a})
else
  cuda_args=(-DGPTOSS_CUDA=OFF)
fi
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "${cuda_args[@]}" >/dev/null
cmake --build "$BUILD" -j"$jobs"
ctest --test-dir "$BUILD" --output-on-failure -j"$jobs"
