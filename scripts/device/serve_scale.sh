#!/usr/bin/env bash
# On the GPU machine: the served workloads of issues 24 and 25 against one
# `gptoss serve` (default flags plus SERVE_ARGS), all requests at once from
# the given number of clients, greedy, the chat endpoint. Each workload is
# NAME=CLIENTS:REQUESTS:IN:OUT[:RANGE]; results (JSON, markdown) in $OUT.
# usage: [SERVE_ARGS="--max-num-seqs 256"] scripts/device/serve_scale.sh [MODEL] [WORKLOAD...]
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
MODEL=${1:-synthetic:20b}
shift || true
loads=${*:-"long=256:500:2000:100 short=256:1000:128:4 sharegpt=256:1000:215:195:0.9 c64=64:640:512:128"}
source scripts/lib/server_process.sh
ulimit -n 65536
server_start gptoss "$OUT" --model "$MODEL" --device cuda --tokenizer "$GPTOSS_TOKENIZER" --served-model-name gpt-oss \
  ${SERVE_ARGS:-} || exit 1
PORT=$SERVER_PORT
grep -E "max-num|KV|batched" "$OUT/server.stderr" | head -5
printf "| workload | clients | requests | in/out | total tok/s | output tok/s | TTFT p50 | TPOT p50 | failed |\n|---|---:|---:|---|---:|---:|---:|---:|---:|\n" >"$OUT/serve_scale.md"
for w in $loads; do
  IFS=: read -r c n i o r <<<"${w#*=}"
  name=${w%%=*}
  echo "=== $name: $c clients, $n requests, $i in / $o out (t=$SECONDS s)"
  gptoss bench serve --url "http://127.0.0.1:$PORT" --model gpt-oss --concurrency "$c" --num-requests "$n" \
    --input-len "$i" --output-len "$o" --range-ratio "${r:-0}" --temperature 0 --quiet \
    --json-out "$OUT/serve_$name.json" --md-out "$OUT/serve_$name.md" 2>&1 | tail -4
  python3 - "$OUT/serve_$name.json" "$name" "$c" "$n" "$i/$o" >>"$OUT/serve_scale.md" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))["metrics"]
def f(*ks):
    for k in ks:
        v = j
        for p in k.split("."):
            v = v.get(p) if isinstance(v, dict) else None
        if v is not None: return v
    return float("nan")
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {sys.argv[5]} | {f('total_token_throughput'):.0f} | "
      f"{f('output_throughput'):.0f} | {f('ttft_ms.p50'):.0f} ms | "
      f"{f('tpot_ms.p50'):.1f} ms | {f('failed'):.0f} |")
PY
done
cat "$OUT/serve_scale.md"
server_stop 60 && echo "server stopped cleanly"
