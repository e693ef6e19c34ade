#!/usr/bin/env bash
# Builds gptoss (with the CUDA backend when nvcc is here) and runs every test
# that needs no GPU. GPU tests skip themselves when no GPU is present.
# In CI (CI=true, or GPTOSS_CI_PACKAGE=1 / GPTOSS_CI_SANITIZE=1 /
# GPTOSS_CI_FUZZ=1 one by one) it then also runs:
#   - scripts/test_package.sh: the Debian package of this build, installed
#     (dpkg as root), serving synthetic:tiny from another folder,
#   - the unit tests again in a CPU-only ASan+UBSan build (build-asan; the
#     end-to-end tests, whose clients and browsers are not ours, are left out),
#   - every fuzz target for FUZZ_SECONDS (20 s in CI) from the seed corpora.
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
# A compiler cache, when the machine has one, makes rebuilds of unchanged files free.
launcher=()
if command -v ccache >/dev/null 2>&1; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
fi
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release "${cuda_args[@]}" "${launcher[@]}" >/dev/null
cmake --build "$BUILD" -j"$jobs"
ctest --test-dir "$BUILD" --output-on-failure -j"$jobs"

in_ci=false
[[ ${CI:-} == true || ${CI:-} == 1 ]] && in_ci=true
if [[ ${GPTOSS_CI_PACKAGE:-$in_ci} == 1 || ${GPTOSS_CI_PACKAGE:-$in_ci} == true ]]; then
  scripts/test_package.sh "$BUILD"
fi
if [[ ${GPTOSS_CI_SANITIZE:-$in_ci} == 1 || ${GPTOSS_CI_SANITIZE:-$in_ci} == true ]]; then
  t0=$SECONDS
  ASAN_BUILD=${ASAN_BUILD:-build-asan}
  cmake -S . -B "$ASAN_BUILD" -DCMAKE_BUILD_TYPE=Release -DGPTOSS_CUDA=OFF -DGPTOSS_SANITIZE=ON "${launcher[@]}" >/dev/null
  cmake --build "$ASAN_BUILD" -j"$jobs"
  # Leaks count too; UBSan findings fail the test instead of scrolling by.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$ASAN_BUILD" --output-on-failure -j"$jobs" -E '_e2e|soak'
  echo "sanitizers: $((SECONDS - t0)) s"
fi
if [[ ${GPTOSS_CI_FUZZ:-$in_ci} == 1 || ${GPTOSS_CI_FUZZ:-$in_ci} == true ]]; then
  t0=$SECONDS
  FUZZ_SECONDS=${FUZZ_SECONDS:-20} JOBS=$jobs scripts/fuzz.sh
  echo "fuzzing: $((SECONDS - t0)) s"
fi
