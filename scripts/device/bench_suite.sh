#!/usr/bin/env bash
# On the GPU machine: `gptoss serve` on a model, then the user-facing suite
# (bench scenarios: 5 scenarios x 10 prompts; bench lengths: 512/256,
# 1024/512, 2048/1024) through the chat API. Results and charts land in $OUT.
# usage: scripts/device/bench_suite.sh [MODEL] [LABEL] [extra serve flags...]
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
MODEL=${1:-synthetic:20b}
LABEL=${2:-h100}
shift 2 2>/dev/null || true
source scripts/lib/server_process.sh
server_start gptoss "$OUT" --model "$MODEL" --device cuda --tokenizer "$GPTOSS_TOKENIZER" --served-model-name gpt-oss "$@" || exit 1
PORT=$SERVER_PORT
URL=http://127.0.0.1:$SERVER_PORT
gptoss bench scenarios --url "$URL" --model gpt-oss --label "$LABEL" --max-tokens 256 --temperature 0 --scenarios-dir bench/scenarios \
  --json-out "$OUT/scenarios-$LABEL.json" --md-out "$OUT/scenarios-$LABEL.md" --chart-out "$OUT/scenarios-$LABEL" 2>/dev/null | tail -25
gptoss bench lengths --url "$URL" --model gpt-oss --label "$LABEL" --num-requests 4 --temperature 0 \
  --json-out "$OUT/lengths-$LABEL.json" --md-out "$OUT/lengths-$LABEL.md" --chart-out "$OUT/lengths-$LABEL" 2>&1 | tail -15
server_stop 30
rm -f "$OUT/server.stdout"
