#!/usr/bin/env bash
# On the GPU machine: issue 25's load checks against `gptoss serve` with its
# default connection limits. Every request must end whole (bench serve's
# "failed" 0), and the kernel must drop no connection (nstat's listen
# overflows 0). Results land in $OUT.
# usage: scripts/device/serve_robust.sh [MODEL]
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
MODEL=${1:-synthetic:20b}
source scripts/lib/server_process.sh
server_start gptoss "$OUT" --model "$MODEL" --device cuda --tokenizer "$GPTOSS_TOKENIZER" --served-model-name gpt-oss \
  --max-num-seqs 256 --ctx-size 4096 || exit 1
PORT=$SERVER_PORT
echo "server on port $PORT; listen backlog: $(ss -ltn "sport = :$PORT" | awk 'NR==2 {print $3}')"
peak() { awk '/^(VmRSS|Threads):/ {printf "%s %s ", $1, $2}' "/proc/$SERVER_PID/status"; echo; }
run() {  # NAME CONCURRENCY REQUESTS IN OUT
  nstat -n 2>/dev/null
  gptoss bench serve --url "http://127.0.0.1:$PORT" --model gpt-oss --concurrency "$2" --num-requests "$3" \
    --input-len "$4" --output-len "$5" --temperature 0 --quiet --json-out "$OUT/$1.json" --md-out "$OUT/$1.md" &
  local b=$! max=""
  while kill -0 $b 2>/dev/null; do max="$(peak)"; sleep 1; done
  wait $b
  echo "=== $1: c=$2 n=$3 $4/$5; server near the end: $max"
  grep -iE "failed|error" "$OUT/$1.md" | head -6
  nstat 2>/dev/null | grep -E "ListenOverflows|ListenDrops|SyncookiesFailed|EstabResets" || echo "nstat: no listen overflow, no reset"
}
for i in $(seq 1 10); do run "c64_512x128_run$i" 64 256 512 128; done
run c256_2000x100 256 1000 2000 100
run c1024_2000x100 1024 1000 2000 100
curl -s "http://127.0.0.1:$PORT/metrics" > "$OUT/metrics.txt"
server_stop 60 && echo "server stopped cleanly"
tail -5 "$OUT/server.stderr"
