#!/usr/bin/env bash
# On the GPU machine (after scripts/device/pack.sh here): decode_mma_attention
# held to the other decode attention kernels. Steps (default all):
#   batched  CudaRunner.BatchedDecodeEqualsAlone (each sequence alone, teacher-
#            forced, vs 16 and 40 together) and the kernel test, under each
#            of: attention.cu (mode 0), decode_mma at 33+ tokens with P rounded
#            to bf16 once (split0) or as hi + lo (split1), and mode 2
#   speed    batched decode, 512+128, $BATCHES sequences, under mode 0 without
#            and with the GEMVs' slot split (moe.cu slot_split), 2, 2 split0
#   full     GPTOSS_TEST_20B=1 test_cuda with mode 2 (golden, synthetic:20b vs CPU, ...)
# usage: scripts/device/decode_mma_check.sh [batched] [speed] [full]
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
steps=${*:-batched speed full}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
configs=("GPTOSS_DECODE_MMA_ATTENTION=0"
         "GPTOSS_DECODE_MMA_ATTENTION=1 GPTOSS_FUSED_DECODE=0 GPTOSS_DECODE_MMA_SPLIT_P=0"
         "GPTOSS_DECODE_MMA_ATTENTION=1 GPTOSS_FUSED_DECODE=0 GPTOSS_DECODE_MMA_SPLIT_P=1"
         "GPTOSS_DECODE_MMA_ATTENTION=2 GPTOSS_DECODE_MMA_SPLIT_P=1")
for s in $steps; do
  echo "=== $s (t=$SECONDS s)"
  case $s in
    batched)
      for c in "${configs[@]}"; do
        echo "--- $c"
        env $c test_cuda --gtest_filter='CudaRunner.BatchedDecodeEqualsAlone:CudaKernels.FlashAttentionMatchesAttentionAndCpu' 2>&1 |
          tee -a "$OUT/batched.log" | grep -E "^\[ *(OK|FAILED) |^B [0-9]+:|decode_mma|Failure" | head -20
      done ;;
    speed)
      for c in "GPTOSS_DECODE_MMA_ATTENTION=0 GPTOSS_MOE_SLOT_SPLIT=0" "GPTOSS_DECODE_MMA_ATTENTION=0" \
               "GPTOSS_DECODE_MMA_ATTENTION=2" "GPTOSS_DECODE_MMA_ATTENTION=2 GPTOSS_DECODE_MMA_SPLIT_P=0"; do
        env $c gptoss bench --model synthetic:20b --device cuda -p 0 -g 0 -b ${BATCHES:-64,128,256} --batch-prompt 512 \
          --batch-gen 128 -r ${REPEAT:-1} 2>/dev/null | grep -E "^decode" | sed "s/^/$c  /"
      done ;;
    full)
      env GPTOSS_DECODE_MMA_ATTENTION=2 GPTOSS_TEST_20B=1 test_cuda 2>&1 | tee "$OUT/test_cuda_full.log" |
        grep -E "^\[ *(FAILED|PASSED) |^B [0-9]+:|Failure" | head -40 ;;
    *) echo "unknown step $s" ;;
  esac
done
echo "=== done (t=$SECONDS s)"
