#!/usr/bin/env bash
# On the GPU machine: the cost of constrained decoding (issue 26), served.
#  1. tg128 at concurrency 1 without a schema, then with a json_schema whose
#     answer is one long string (the analysis cut at 0 tokens), temperature 1.
#  2. 64 clients at once: all free, then 32 free + 32 with a bounded schema.
# Every run on the same server; results (and /metrics, with the lookahead
# counters) land in $OUT.
# usage: [PARTS=tg] [TG_REQUESTS=4] scripts/device/structured_speed.sh [MODEL] [ROUNDS]
#   (PARTS=tg: the 1-client runs only)
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
MODEL=${1:-synthetic:20b}
ROUNDS=${2:-2}
source scripts/lib/server_process.sh
server_start gptoss "$OUT" --model "$MODEL" --device cuda --tokenizer "$GPTOSS_TOKENIZER" --served-model-name gpt-oss \
  --max-num-seqs 64 --ctx-size 4096 || exit 1
URL="http://127.0.0.1:$SERVER_PORT"
LONG='{"thinking_token_budget":0,"response_format":{"type":"json_schema","json_schema":{"name":"t","strict":true,"schema":{"type":"object","properties":{"text":{"type":"string","maxLength":20000}},"required":["text"],"additionalProperties":false}}}}'
BOUNDED='{"thinking_token_budget":16,"response_format":{"type":"json_schema","json_schema":{"name":"p","strict":true,"schema":{"type":"object","properties":{"color":{"enum":["red","green","blue"]},"size":{"type":"integer","minimum":1,"maximum":99},"name":{"type":"string","maxLength":40},"tags":{"type":"array","items":{"enum":["a","b","c"]},"maxItems":3}},"required":["color","size","name","tags"],"additionalProperties":false}}}}'
bench() {  # label concurrency requests [extra body]
  local extra=()
  [ -n "${4:-}" ] && extra=(--extra-body "$4")
  gptoss bench serve --url "$URL" --model gpt-oss --concurrency "$2" --num-requests "$3" --input-len 512 \
    --output-len 128 --temperature 1 --quiet --json-out "$OUT/$1.json" --md-out "$OUT/$1.md" "${extra[@]}" |
    grep -iE "throughput|tpot|mean input" | sed "s/^/$1: /"
}
for r in $(seq 1 "$ROUNDS"); do
  bench "tg128_free_r$r" 1 ${TG_REQUESTS:-4}
  bench "tg128_long_string_r$r" 1 ${TG_REQUESTS:-4} "$LONG"
  [ "${PARTS:-all}" = tg ] && continue
  bench "c64_free_r$r" 64 128
  # Half constrained: two clients of 32 on the same server at once.
  bench "c64_half_free_r$r" 32 64 & bench "c64_half_schema_r$r" 32 64 "$BOUNDED"; wait
done
curl -s "$URL/metrics" > "$OUT/metrics.txt"
grep -E "lookahead" "$OUT/metrics.txt"
server_stop 30 && echo "server stopped cleanly"
tail -5 "$OUT/server.stderr"
