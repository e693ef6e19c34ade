#!/usr/bin/env bash
# On the GPU machine: where a decode step's time goes inside its CUDA graph,
# kernel by kernel, from the profiling build (backend/cuda/timeline.h) that
# scripts/device/pack.sh carries as gptoss_tl. Prints each op's time on the
# step's critical path (us per step, per kernel) and the middle layer's
# kernels in order, for one-token steps (tg128, short context) and decode at
# BATCHES (default 1 4), each after a 512-token prompt. ENV adds switches
# (ENV="GPTOSS_NORM_ROUTER=0").
# usage: scripts/device/timeline.sh
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
command -v gptoss_tl >/dev/null || { echo "no gptoss_tl: build with -DGPTOSS_TIMELINE=ON, then pack.sh"; exit 1; }
M=${MODEL:-synthetic:20b}
env ${ENV:-GPTOSS_NONE=0} gptoss_tl bench --model "$M" --device cuda --pp 16 --tg 128 --batch ${BATCHES:-1 4} \
  --batch-prompt 512 --batch-gen 32 -r 2 >"$OUT/timeline_bench.txt" 2>"$OUT/timeline.txt"
grep -E "^(tg|decode b)" "$OUT/timeline_bench.txt"
grep -E "^GPTOSS_TIMELINE|^  " "$OUT/timeline.txt"
