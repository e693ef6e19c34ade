#!/usr/bin/env bash
# On the GPU machine: `gptoss serve` on a model, then `gptoss bench serve` at
# several concurrencies (issue 4's load test). Results land in $OUT.
# usage: scripts/device/serve_load.sh [MODEL] [CONCURRENCIES] [REQUESTS_PER_CLIENT]
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
MODEL=${1:-synthetic:20b}
CONC=${2:-1 16 64}
PER=${3:-4}
source scripts/lib/server_process.sh
server_start gptoss "$OUT" --model "$MODEL" --device cuda --tokenizer "$GPTOSS_TOKENIZER" --served-model-name gpt-oss \
  --max-num-seqs 64 --ctx-size 4096 || exit 1
PORT=$SERVER_PORT
echo "server on port $PORT"
for c in $CONC; do
  n=$((c * PER)); [ $n -lt 8 ] && n=8
  echo "=== concurrency $c, $n requests, 512 in / 128 out"
  gptoss bench serve --url "http://127.0.0.1:$PORT" --model gpt-oss --concurrency "$c" --num-requests "$n" \
    --input-len 512 --output-len 128 --temperature 0 --quiet --json-out "$OUT/serve_c$c.json" --md-out "$OUT/serve_c$c.md"
done
curl -s "http://127.0.0.1:$PORT/metrics" > "$OUT/metrics.txt"
server_stop 30 && echo "server stopped cleanly"
tail -5 "$OUT/server.stderr"
