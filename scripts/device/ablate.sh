#!/usr/bin/env bash
# On the GPU machine: what each decode op costs inside the CUDA graph. Benches
# tg128 and batched decode at BATCHES (default 1; BATCH_PROMPT + BATCH_GEN
# tokens per sequence, default 16 + 16) with every op of OPS skipped in turn
# (GPTOSS_ABLATE, results wrong on purpose), one process each, beside the
# full step; the cost of an op is the step time it removes.
# usage: scripts/device/ablate.sh
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
M=${MODEL:-synthetic:20b}
OPS=${OPS:-"none qkv rope attention o_proj norm router gate_up down combine lm_head"}
for op in $OPS; do
  line=$(GPTOSS_ABLATE=$op gptoss bench --model "$M" --device cuda --pp 16 --tg 128 --batch ${BATCHES:-1} \
    --batch-prompt ${BATCH_PROMPT:-16} --batch-gen ${BATCH_GEN:-16} -r 2 2>/dev/null | grep -E "^(tg|decode b)" \
    | tr -s ' ' | sed -E 's/ ±.*//' | tr '\n' ';')
  tg=$(echo "$line" | sed -E 's/^tg128 ([0-9.]+).*/\1/')
  echo "skip $op: $line us/token $(python3 -c "print(f'{1e6/$tg:.1f}')" 2>/dev/null)"
done
