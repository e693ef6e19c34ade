#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan) in build-fuzz and runs each
# for a bounded time, starting from the committed seeds in fuzz/corpus/<target>/
# (new inputs go to a scratch copy, so the committed corpus stays small).
# A crash leaves its input in build-fuzz/artifacts/ and fails the script.
# usage: scripts/fuzz.sh [TARGET...]     env: FUZZ_SECONDS (default 60 each),
#        BUILD (default build-fuzz), JOBS (default nproc), GPTOSS_TOKENIZER
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-60}
JOBS=${JOBS:-$(nproc)}
ALL=(fuzz_safetensors fuzz_gguf fuzz_model_config fuzz_tokenizer_json fuzz_harmony_parser fuzz_chat_request fuzz_json_schema)
TARGETS=("$@")
[[ ${#TARGETS[@]} -eq 0 ]] && TARGETS=("${ALL[@]}")
CXX_BIN=${FUZZ_CXX:-$(command -v clang++ || command -v clang++-14)}
CC_BIN=${FUZZ_CC:-$(command -v clang || command -v clang-14)}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX_BIN" -DCMAKE_C_COMPILER="$CC_BIN" \
  -DGPTOSS_CUDA=OFF -DGPTOSS_TESTS=OFF -DGPTOSS_FUZZ=ON >/dev/null
cmake --build "$BUILD" -j"$JOBS" --target "${TARGETS[@]}"
mkdir -p "$BUILD/artifacts"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in "${TARGETS[@]}"; do
  work="$BUILD/corpus/$t"
  mkdir -p "$work"
  echo "=== $t: ${SECONDS_EACH}s"
  # -timeout: one input taking longer is a hang; -rss_limit_mb: a blow-up.
  if ! "$BUILD/fuzz/$t" "$work" "fuzz/corpus/$t" -max_total_time="$SECONDS_EACH" -timeout=20 -rss_limit_mb=3072 \
       -max_len=8192 -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$t-" 2>"$BUILD/$t.log"; then
    failed+=("$t")
    tail -n 60 "$BUILD/$t.log"
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$BUILD/$t.log" | tr '\n' ' '; echo
  fi
done
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FUZZ FAILURES: ${failed[*]} (inputs in $BUILD/artifacts/)"
  exit 1
fi
echo "fuzzing: no crashes in ${TARGETS[*]}"
