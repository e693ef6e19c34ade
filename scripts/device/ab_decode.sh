#!/usr/bin/env bash
# On the GPU machine: decode A/B of gptoss binaries, one process per config,
# rounds interleaved, in-process (`gptoss bench`) and served (`gptoss serve`
# + `bench serve`, 512 in / 128 out, greedy and temperature 1). Binaries are
# .devcarry/bin/NAME: pack.sh carries gptoss; put others (a baseline build's
# gptoss as gptoss_base) there by hand.
# usage: scripts/device/ab_decode.sh [ROUNDS] [CONFIGS] [SERVE_CONFIGS]
#   CONFIGS: "label=binary[:extra bench flags or VAR=value, comma-separated]"
#            words, e.g. "base=gptoss_base new=gptoss sync=gptoss:--no-pipeline"
#   SERVE_CONFIGS: the same for serve (extra serve flags); "" for none.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
ROUNDS=${1:-2}
CONFIGS=${2:-"base=gptoss_base new=gptoss sync=gptoss:--no-pipeline"}
SERVE_CONFIGS=${3-"base=gptoss_base new=gptoss"}
BENCH_ARGS=${BENCH_ARGS:-"--model synthetic:20b --device cuda --pp 16 --tg 128 --batch 1,4,64 --batch-prompt 512 --batch-gen 64 -r 2"}
split() {  # label=bin:a,b -> LABEL, BIN, FLAGS (the --options), ENVS (the VAR=value words)
  LABEL=${1%%=*}; local rest=${1#*=}; BIN=${rest%%:*}; FLAGS=""; ENVS=""
  if [[ $rest == *:* ]]; then
    for w in $(echo "${rest#*:}" | tr ',' ' '); do
      if [[ $w == --* ]]; then FLAGS="$FLAGS $w"; else ENVS="$ENVS $w"; fi
    done
  fi
}
for r in $(seq 1 "$ROUNDS"); do
  for c in $CONFIGS; do
    split "$c"
    line=$(env $ENVS $BIN bench $BENCH_ARGS $FLAGS --json "$OUT/bench-$LABEL-r$r.json" 2>/dev/null | grep -E "^tg|^decode" |
      awk '{printf "%s %s | ", $1 ($2 ~ /^b/ ? " " $2 : ""), ($2 ~ /^b/ ? $4 : $2)}')
    echo "round $r $LABEL: $line"
  done
done
source scripts/lib/server_process.sh
for c in $SERVE_CONFIGS; do
  split "$c"
  mkdir -p "$OUT/serve-$LABEL"
  for e in $ENVS; do export "$e"; done
  server_start "$BIN" "$OUT/serve-$LABEL" --model synthetic:20b --device cuda --tokenizer "$GPTOSS_TOKENIZER" \
    --served-model-name gpt-oss --max-num-seqs 64 --ctx-size 4096 $FLAGS || continue
  # "clients requests temperature" per load; SERVE_RUNS="1 8 1" for one.
  IFS=';' read -ra runs <<<"${SERVE_RUNS:-1 8 0;1 8 1;16 32 1}"
  for run in "${runs[@]}"; do
    set -- $run
    gptoss bench serve --url "http://127.0.0.1:$SERVER_PORT" --model gpt-oss --concurrency "$1" --num-requests "$2" \
      --input-len 512 --output-len 128 --temperature "$3" --quiet --json-out "$OUT/serve-$LABEL/c$1-t$3.json" >/dev/null 2>&1
    python3 - "$OUT/serve-$LABEL/c$1-t$3.json" "$LABEL c$1 T$3" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))["metrics"]
print(f"serve {sys.argv[2]}: {m['output_throughput']:.1f} tok/s, TTFT p50 {m['ttft_ms']['p50']:.0f} ms, "
      f"TPOT p50 {m['tpot_ms']['p50']:.2f} ms, out {m['mean_output_tokens']:.0f}/req, failed {m['failed']}")
EOF
  done
  server_stop 30 >/dev/null
  for e in $ENVS; do unset "${e%%=*}"; done
done
