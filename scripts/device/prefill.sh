#!/usr/bin/env bash
# On the GPU machine (after scripts/device/pack.sh here): issue 24's prefill
# measurements, each configuration in its own process. Steps (default all):
#   tests    the CUDA kernel tests of the attention and MoE paths, the golden
#            fixture and the runner tests (GPTOSS_TEST_20B=1 adds synthetic:20b)
#   bench    gptoss bench -p $PP on $MODEL under each of $CONFIGS:
#              old      GPTOSS_FLASH_ATTENTION=0 GPTOSS_GROUPED_MOE=0 (before issue 24)
#              flash    tensor-core prefill attention only
#              new      flash attention + grouped MoE GEMMs (the defaults: wgmma on Hopper)
#              mmasync  the defaults, but the grouped GEMMs on mma.sync (GPTOSS_GROUPED_WGMMA=0)
#              mma1024  the defaults, but the MMA GEMVs up to 1024 tokens
#   decode   tg128 and batched decode (64 and 256 sequences, 512+128), defaults
#   batch    batched decode ($BATCHES sequences, default 64,128,256; 512+128)
#            under each of $CONFIGS (sweep16: the GEMVs' 16-slot sweeps at
#            any batch of 5+ tokens, as before 8- and 32-slot sweeps; narrowdec:
#            the grouped GEMMs' narrow wgmma tiles from 64 tokens)
#   profile  GPTOSS_PROFILE=1 breakdown of a 2048-token step, old and new
# usage: [CONFIGS="old new"] [PP=512,2048] scripts/device/prefill.sh [tests] [bench] [decode] [profile]
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
steps=${*:-tests bench decode profile}
M=${MODEL:-synthetic:20b}
# A configuration's environment: names and VAR=value, several joined by +.
env_of() {
  local part out=""
  for part in ${1//+/ }; do out="$out $(env_of_one "$part")"; done
  echo $out
}
env_of_one() {
  case $1 in
    old) echo "GPTOSS_FLASH_ATTENTION=0 GPTOSS_GROUPED_MOE=0" ;;
    flash) echo "GPTOSS_GROUPED_MOE=0" ;;
    new) echo "GPTOSS_NONE=0" ;;
    mmasync) echo "GPTOSS_GROUPED_WGMMA=0" ;;
    mma1024) echo "GPTOSS_GROUPED_MOE_FROM=1025" ;;
    from*) echo "GPTOSS_GROUPED_MOE_FROM=${1#from}" ;;  # from512: grouped GEMMs from 512 tokens
    sweep16) echo "GPTOSS_MOE_NARROW_UPTO=0" ;;         # MMA GEMVs: 16 slots a sweep from 5 tokens
    tile128) echo "GPTOSS_GROUPED_TILE64_BELOW=0" ;;     # wgmma: 128-slot tiles only
    narrow) echo "GPTOSS_GROUPED_NARROW_UPTO=72" ;;      # wgmma narrow tiles (weights as M) up to 72 slots/expert
    scan) echo "GPTOSS_GROUPED_TILE_SCAN=1" ;;           # 64/128-slot tiles found by one scan of the offsets
    narrowdec) echo "GPTOSS_GROUPED_NARROW_UPTO=72 GPTOSS_GROUPED_MOE_FROM=64" ;;  # ... and for decode from 64 tokens
    *=*) echo "$1" ;;                                     # any VAR=value
    *) echo "unknown configuration $1: the defaults" >&2; echo "GPTOSS_NONE=0" ;;
  esac
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
for s in $steps; do
  echo "=== $s (t=$SECONDS s)"
  case $s in
    tests)
      test_cuda --gtest_filter="${FILTER:-CudaKernels.*Attention*:CudaKernels.*Moe*:CudaRunner.*}" 2>&1 |
        tee "$OUT/test_cuda.log" | grep -E "^\[ *(OK|FAILED|SKIPPED|PASSED) |flash|grouped|attention max|max abs|agree|Failure|Expected|Which" ;;
    bench)
      for cfg in ${CONFIGS:-old flash mmasync new mma1024}; do
        env $(env_of $cfg) gptoss bench --model "$M" --device cuda -p ${PP:-128,512,2048,8192,32768} -g 0 -b 0 \
          -r ${REPEAT:-2} --json "$OUT/pp_$cfg.json" 2>/dev/null | grep -E "^pp" | sed "s/^/$cfg  /"
      done ;;
    decode)
      gptoss bench --model "$M" --device cuda -p 0 -g 128 -b 64,256 --batch-prompt 512 --batch-gen 128 -r 2 \
        --json "$OUT/decode.json" 2>/dev/null | grep -E "^(tg|decode)" ;;
    batch)
      for cfg in ${CONFIGS:-new sweep16}; do
        env $(env_of $cfg) gptoss bench --model "$M" --device cuda -p 0 -g 0 -b ${BATCHES:-64,128,256} --batch-prompt 512 \
          --batch-gen 128 -r ${REPEAT:-1} --json "$OUT/batch_$cfg.json" 2>/dev/null | grep -E "^decode" | sed "s/^/$cfg  /"
      done ;;
    profile)
      for cfg in old new; do
        echo "--- $cfg"
        env $(env_of $cfg) GPTOSS_PROFILE=1 gptoss bench --model "$M" --device cuda -p 2048 -g 0 -b 0 -r 2 \
          2>&1 >/dev/null | grep -A24 "GPTOSS_PROFILE T>256"
      done ;;
    *) echo "unknown step $s" ;;
  esac
done
echo "=== done (t=$SECONDS s)"
