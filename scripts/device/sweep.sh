#!/usr/bin/env bash
# On the GPU machine: decode speed of synthetic:20b for each MoE and dense
# kernel launch shape (GPTOSS_MOE_VARIANT / GPTOSS_DENSE_VARIANT), one process each.
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
for v in ${MOE_VARIANTS:-0 1 2 3 4 5}; do
  GPTOSS_MOE_VARIANT=$v test_cuda --gtest_filter='*MoeMma*' 2>&1 | grep -E "^\[ *(OK|FAILED) " | sed "s/^/moe $v: /"
done
for m in ${MOE_VARIANTS:-0 1 2 3 4 5}; do for d in ${DENSE_VARIANTS:-0}; do
  echo "moe $m dense $d: $(GPTOSS_MOE_VARIANT=$m GPTOSS_DENSE_VARIANT=$d gptoss bench --model synthetic:20b --device cuda \
    --pp 512 --tg 64 --batch 64 --batch-prompt 128 --batch-gen 32 -r 2 2>/dev/null | grep -E "^tg|^decode" | tr -s ' ' | tr '\n' ';')"
done; done
