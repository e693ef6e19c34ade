#!/usr/bin/env bash
# On the GPU machine (after scripts/device/pack.sh here): CUDA tests against the
# CPU reference and the golden fixture, then the benchmarks issue 3 asks for.
# usage: scripts/device/check.sh [tests] [bench20b] [bench120b]   (default: all)
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
steps=${*:-tests bench20b bench120b}
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
    *) echo "unknown step $s" ;;
  esac
done
