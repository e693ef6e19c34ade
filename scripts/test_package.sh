#!/usr/bin/env bash
# Builds the Debian package from a configured build folder (cpack), installs
# it, and checks that the installed `gptoss serve --model synthetic:tiny`,
# started from a folder outside the source tree, answers a chat completion.
# As root (CI) the package is installed with dpkg into the system and purged
# afterwards unless it was installed before; otherwise it is unpacked with
# dpkg-deb -x into a temporary root, which checks the same files (so does
# GPTOSS_PACKAGE_UNPACK=1 as root: nothing is installed into the system).
# usage: scripts/test_package.sh [BUILD_DIR]   (default build-test; gptoss built)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
B=$(cd "${1:-build-test}" && pwd)
source scripts/lib/server_process.sh
t0=$SECONDS

[ -x "$B/src/cli/gptoss" ] || { echo "FAIL: $B/src/cli/gptoss is not built"; exit 1; }
rm -f "$B"/gptoss_*.deb
(cd "$B" && cpack -G DEB >cpack.log 2>&1) || { tail -n 30 "$B/cpack.log"; echo "FAIL: cpack"; exit 1; }
deb=$(ls "$B"/gptoss_*.deb)
echo "package: $deb ($(du -h "$deb" | cut -f1))"
contents=$(dpkg-deb -c "$deb")
for f in ./usr/bin/gptoss ./usr/share/gptoss/tokenizer.json ./usr/share/gptoss/scenarios/coding.json \
         ./usr/lib/systemd/system/gptoss.service ./etc/gptoss/serve.toml ./usr/share/doc/gptoss/examples/serve.toml; do
  grep -q " $f\$" <<<"$contents" || { echo "FAIL: $deb lacks $f"; exit 1; }
done
dpkg-deb -I "$deb" conffiles | grep -qx /etc/gptoss/serve.toml || { echo "FAIL: serve.toml is not a conffile"; exit 1; }

work=$(mktemp -d)
installed_by_us=false
cleanup() {
  server_kill
  if $installed_by_us; then dpkg --purge gptoss >/dev/null || echo "could not remove the gptoss package"; fi
  rm -rf "$work"
}
trap cleanup EXIT
if [ "$(id -u)" = 0 ] && [ "${GPTOSS_PACKAGE_UNPACK:-0}" != 1 ]; then
  [ "$(dpkg-query -W -f='${Status}' gptoss 2>/dev/null)" = "install ok installed" ] || installed_by_us=true
  dpkg -i "$deb" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; echo "FAIL: dpkg -i"; exit 1; }
  root=
  bin=$(command -v gptoss) || { echo "FAIL: gptoss is not on the PATH after dpkg -i"; exit 1; }
  [ "$bin" = /usr/bin/gptoss ] || echo "note: the PATH finds $bin before /usr/bin/gptoss"
  bin=/usr/bin/gptoss
else
  root=$work/root
  dpkg-deb -x "$deb" "$root"
  bin=$root/usr/bin/gptoss
fi
grep -qx "ExecStart=/usr/bin/gptoss serve --config /etc/gptoss/serve.toml" "$root/usr/lib/systemd/system/gptoss.service" ||
  { echo "FAIL: the unit does not start /usr/bin/gptoss"; exit 1; }

# From a folder that is not the source tree, with no tokenizer named: the
# installed one (share/gptoss/tokenizer.json beside bin/) must be found.
mkdir -p "$work/elsewhere"
cd "$work/elsewhere"
unset GPTOSS_TOKENIZER GPTOSS_SCENARIOS_DIR
server_start "$bin" "$work" --model synthetic:tiny --device cpu --max-num-seqs 2 --ctx-size 512 || exit 1
body='{"model":"gptoss","messages":[{"role":"user","content":"Say hello."}],"max_tokens":8,"temperature":0}'
answer=$(curl -sS --max-time 60 "http://127.0.0.1:$SERVER_PORT/v1/chat/completions" -H 'Content-Type: application/json' -d "$body") ||
  { echo "FAIL: no answer"; tail -n 20 "$work/server.stderr"; exit 1; }
grep -q '"object":"chat.completion"' <<<"$answer" && grep -q '"completion_tokens":[1-8][,}]' <<<"$answer" ||
  { echo "FAIL: unexpected answer: $answer"; exit 1; }
page=$(curl -sS --max-time 10 "http://127.0.0.1:$SERVER_PORT/")
grep -qi "<html" <<<"$page" || { echo "FAIL: the web UI is not served"; exit 1; }
if grep -q "$src" "$work/server.stderr"; then echo "FAIL: the installed binary read the source tree:"; grep "$src" "$work/server.stderr"; exit 1; fi
server_stop 30 || exit 1
echo "package test passed in $((SECONDS - t0)) s: $bin served a chat completion from $work/elsewhere"
