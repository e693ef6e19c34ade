#!/usr/bin/env bash
# On the GPU machine (after scripts/device/pack.sh here), one call: the
# grouped expert GEMMs' narrow wgmma tiles (moe_gemm_sm90_narrow.cu) and the
# tile scan (GPTOSS_GROUPED_TILE_SCAN), both off by default until this runs:
#   1. the kernel tests (every wgmma tile vs mma.sync and the CPU), also with the scan
#   2. batched decode 64/128/256 x 512+128: defaults vs the narrow tiles from 64 tokens
#      (auto, forced 32, forced 64)
#   3. pp512/1024/2048: defaults vs scan vs narrow vs both
#   4. GPTOSS_PROFILE of a 256-sequence decode step with the narrow tiles
# usage: scripts/device/grouped_ab.sh [steps...]   (default: tests decode prefill profile)
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
steps=${*:-tests decode prefill profile}
M=${MODEL:-synthetic:20b}
narrow="GPTOSS_GROUPED_NARROW_UPTO=72"
for s in $steps; do
  echo "=== $s (t=$SECONDS s)"
  case $s in
    tests)
      for scan in 0 1; do
        env GPTOSS_GROUPED_TILE_SCAN=$scan test_cuda --gtest_filter="CudaKernels.GroupedMoeGemmMatchesMmaAndCpu:NarrowMoeRows.*" \
          2>&1 | tee "$OUT/test_grouped_scan$scan.log" | grep -E "^\[ *(OK|FAILED|PASSED) |rel err|Failure|Expected|Which" | sed "s/^/scan=$scan  /"
      done ;;
    decode)
      BATCHES=${BATCHES:-64,128,256} CONFIGS="new narrowdec narrowdec+GPTOSS_GROUPED_NARROW_TILE=32 narrowdec+GPTOSS_GROUPED_NARROW_TILE=64" \
        scripts/device/prefill.sh batch | grep -v "^===" ;;
    prefill)
      PP=${PP:-512,1024,2048} CONFIGS="new scan narrow narrow+scan" scripts/device/prefill.sh bench | grep -v "^===" ;;
    profile)
      env $narrow GPTOSS_GROUPED_MOE_FROM=64 GPTOSS_PROFILE=1 gptoss bench --model "$M" --device cuda -p 0 -g 0 -b 256 \
        --batch-prompt 512 --batch-gen 32 -r 1 2>&1 >/dev/null | grep -A14 "GPTOSS_PROFILE T=65..256" ;;
    *) echo "unknown step $s" ;;
  esac
done
echo "=== done (t=$SECONDS s)"
