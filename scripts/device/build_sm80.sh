#!/usr/bin/env bash
# Here (no GPU needed): the consumer-GPU build for the routine GPU check.
# compute_80 PTX only (80-virtual), no SASS: on the H100 the driver JIT-compiles
# the PTX, so the kernels' __CUDA_ARCH__ < 900 branches (no Hopper launch
# features, the path of Ampere and Ada cards: RTX 30xx/40xx, A100) run there.
# Then scripts/device/pack.sh carries it as .devcarry/sm80/ and
# `scripts/device/check.sh sm80` tests and benchmarks it on the GPU machine.
# usage: scripts/device/build_sm80.sh [BUILD_DIR]   (default build-sm80)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build-sm80}
export PATH=$PATH:/usr/local/cuda/bin CCACHE_BASEDIR=$PWD
launcher=()
command -v ccache >/dev/null 2>&1 &&
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DGPTOSS_CUDA=ON -DGPTOSS_CUDA_ARCHS=80-virtual "${launcher[@]}" >/dev/null
cmake --build "$B" -j"$(nproc)" --target gptoss test_cuda
# Every CUDA object was compiled to compute_80 PTX and nothing else (the
# fatbins are compressed, so their contents are checked by how they were made;
# cuobjdump --list-ptx shows them where the toolkit ships it).
flags=$(grep -h "^CUDA_FLAGS" $(find "$B/src" "$B/tests/backend_cuda" -name flags.make))
[ -n "$flags" ] || { echo "no CUDA objects in $B"; exit 1; }
if grep -v -- "--generate-code=arch=compute_80,code=\[compute_80\] " <<<"$flags"; then
  echo "$B: CUDA code compiled for more than compute_80 PTX (above)"; exit 1
fi
echo "$B: compute_80 PTX only; now scripts/device/pack.sh carries it as .devcarry/sm80"
