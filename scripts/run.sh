#!/usr/bin/env bash
# Builds gptoss and runs the main job on MODEL (default: the tiny fixture
# checkpoint in ../shared, else the synthetic tiny model). Extra arguments go
# to the subcommand.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
MODEL=${1:-}
[ $# -gt 0 ] && shift
if [ -z "$MODEL" ]; then
  if [ -d ../shared/fixtures/tiny-gptoss ]; then MODEL=../shared/fixtures/tiny-gptoss; else MODEL=synthetic:tiny; fi
fi
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DGPTOSS_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target gptoss
exec "$BUILD/src/cli/gptoss" generate --model "$MODEL" --ids 1,2,3,4,5 --max-tokens 16 --temperature 0 --print-ids "$@"
