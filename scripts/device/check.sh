#!/usr/bin/env bash
# On the GPU machine (after scripts/device/pack.sh here): CUDA tests against the
# CPU reference and the golden fixture, then the benchmarks issue 3 asks for.
# usage: scripts/device/check.sh [tests] [bench20b] [bench120b] [sm80]
#   (default: all; sm80 when pack.sh carried a build_sm80.sh build)
# sm80: the same GPU tests and synthetic:20b pp2048/tg128 with the compute_80
#   PTX-only build, which the driver JIT-compiles here: the code path of
#   Ampere/Ada cards (kernels' __CUDA_ARCH__ < 900 branches) on this GPU.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
default_steps="tests bench20b bench120b"
[ -x .devcarry/sm80/gptoss ] && default_steps="$default_steps sm80"
steps=${*:-$default_steps}
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
missing=$(ldd .devcarry/bin/gptoss | grep "not found")
[ -n "$missing" ] && { echo "missing libraries: $missing"; exit 1; }
for s in $steps; do
  echo "=== $s"
  case $s in
    tests)
      test_cuda 2>&1 | tee "$OUT/test_cuda.log" | grep -E "^\[ *(OK|FAILED|SKIPPED) |layer|max|agree|PASSED|FAILED"
      gptoss generate --model "$GPTOSS_FIXTURES_DIR/tiny-gptoss" --device cuda --ids 1,2,3 --max-tokens 16 --temperature 0 --print-ids
      gptoss generate --model "$GPTOSS_FIXTURES_DIR/tiny-gptoss" --device cpu --ids 1,2,3 --max-tokens 16 --temperature 0 --print-ids ;;
    bench20b)
      gptoss bench --model synthetic:20b --device cuda --json "$OUT/bench20b.json" --markdown "$OUT/bench20b.md" ;;
    bench120b)
      gptoss bench --model synthetic:120b --device cuda --pp 2048 --tg 128 --batch 1,64 --batch-prompt 512 --batch-gen 64 --ctx-size 32768 -r 2 \
        --json "$OUT/bench120b.json" --markdown "$OUT/bench120b.md" ;;
    sm80)
      [ -x .devcarry/sm80/test_cuda ] || { echo "no .devcarry/sm80: run scripts/device/build_sm80.sh and pack.sh here"; continue; }
      # JIT once: the driver's cache (default 256 MiB) must hold every kernel
      # for the bench to reuse what the tests compiled.
      ( export PATH=$PWD/.devcarry/sm80:$PATH CUDA_CACHE_MAXSIZE=4294967296 CUDA_CACHE_PATH=/tmp/gptoss-sm80-jit-cache
        t0=$SECONDS
        test_cuda 2>&1 | tee "$OUT/test_cuda_sm80.log" | grep -E "^\[ *(OK|FAILED|SKIPPED) |PASSED|FAILED"
        echo "sm80 tests (JIT included): $((SECONDS - t0)) s"
        gptoss generate --model "$GPTOSS_FIXTURES_DIR/tiny-gptoss" --device cuda --ids 1,2,3 --max-tokens 16 --temperature 0 --print-ids
        gptoss bench --model synthetic:20b --device cuda --pp 2048 --tg 128 --batch 64 --batch-prompt 512 --batch-gen 128 \
          --json "$OUT/bench20b_sm80.json" --markdown "$OUT/bench20b_sm80.md" && cat "$OUT/bench20b_sm80.md" ) ;;
    *) echo "unknown step $s" ;;
  esac
done
