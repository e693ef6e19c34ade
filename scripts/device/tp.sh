#!/usr/bin/env bash
# On a 2-GPU machine (nvidia-h200-x2; after scripts/device/pack.sh here):
# issue 8's checks. TP=2 against TP=1 (tests), then prefill and decode at
# batch 1 and 64 for TP=1, TP=2 and TP=2 with --expert-parallel, 20b and
# 120b, with per-GPU memory.
# usage: scripts/device/tp.sh [tests] [b20[:CFG]] [b120[:CFG]]   (default: all)
#   CFG (1, 2 or 2ep) runs one configuration: a 120b load takes 60-90 s, so
#   its three configurations may not fit in one 10-minute device call.
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
export NCCL_NVLS_ENABLE=0  # NVLink multicast off, as the machine's notes ask
steps=${*:-tests b20 b120}
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader
for s in $steps; do
  echo "=== $s $(date +%T)"
  case $s in
    tests)
      GPTOSS_TEST_20B=1 test_cuda --gtest_filter='NcclGroup.*:TensorParallel.*' 2>&1 | tee "$OUT/test_tp.log" |
        grep -E "^\[ *(OK|FAILED) |=2 vs|PASSED|FAILED" ;;
    b20|b120|b20:*|b120:*)
      size=${s%%:*}; m=synthetic:${size#b}b
      cfgs="1 2 2ep"; [[ $s == *:* ]] && cfgs=${s#*:}
      for cfg in $cfgs; do
        tp=${cfg%ep}; ep=; [ "$cfg" != "$tp" ] && ep=--expert-parallel
        gptoss bench --model $m --device cuda --tp $tp $ep -p 2048 -g 128 -b 1,64 --batch-prompt 512 --batch-gen 64 -r 2 \
          --json "$OUT/${size}_tp$cfg.json" 2>&1 |
          grep -E "t/s|tensor parallel|model on|memory in use|rror" | tail -12
      done ;;
    *) echo "unknown step $s" ;;
  esac
done
