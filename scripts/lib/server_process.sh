# Sourced by test and benchmark scripts: runs `gptoss serve` on a free port of
# 127.0.0.1 and stops it the way systemd would (SIGTERM, then a wait).
#
# server_start BIN LOG_DIR [SERVE_ARGS...]: sets SERVER_PID and SERVER_PORT;
#   the server's output goes to LOG_DIR/server.stdout and server.stderr. On
#   failure prints why and returns 1.
# server_stop [SECONDS]: SIGTERM, then waits up to SECONDS (default 10);
#   returns 1, saying why, if it is still running or exited non-zero.
# server_kill: SIGKILL if still running (for an EXIT trap).

server_start() {
  local bin=$1 dir=$2
  shift 2
  "$bin" serve --host 127.0.0.1 --port 0 "$@" >"$dir/server.stdout" 2>"$dir/server.stderr" &
  SERVER_PID=$!
  SERVER_PORT=
  for _ in $(seq 1 600); do
    SERVER_PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$dir/server.stdout")
    [[ -n $SERVER_PORT ]] && return 0
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "server exited early:"
      tail -n 40 "$dir/server.stderr"
      return 1
    fi
    sleep 0.2
  done
  echo "server did not start in 120 s"
  tail -n 40 "$dir/server.stderr"
  return 1
}

server_stop() {
  local wait_s=${1:-10} rc
  kill -TERM "$SERVER_PID" 2>/dev/null
  for _ in $(seq 1 $((wait_s * 10))); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "FAIL: server still running $wait_s s after SIGTERM"
    return 1
  fi
  wait "$SERVER_PID"
  rc=$?
  if [[ $rc -ne 0 ]]; then
    echo "FAIL: server exited with $rc after SIGTERM"
    return 1
  fi
}

server_kill() {
  if [[ -n ${SERVER_PID:-} ]] && kill -0 "$SERVER_PID" 2>/dev/null; then kill -KILL "$SERVER_PID"; fi
}
