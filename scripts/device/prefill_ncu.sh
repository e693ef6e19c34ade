#!/usr/bin/env bash
# On the GPU machine: Nsight Compute's time per kernel for one prefill step
# of $PP tokens (default 2048) on synthetic:20b, summed by kernel name
# (ncu_step.py), for each of $CONFIGS (prefill.sh's names; default old new).
# usage: [PP=2048] [CONFIGS="old new"] scripts/device/prefill_ncu.sh
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
M=${MODEL:-synthetic:20b}
for cfg in ${CONFIGS:-old new}; do
  case $cfg in old) e="GPTOSS_FLASH_ATTENTION=0 GPTOSS_GROUPED_MOE=0" ;; new) e="GPTOSS_NONE=0" ;; *) e=${cfg//+/ } ;; esac
  echo "=== $cfg"
  env $e ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv \
    gptoss bench --model "$M" --device cuda -p ${PP:-2048} -g 0 -b 0 -r 0 >"$OUT/ncu_$cfg.csv" 2>"$OUT/ncu_$cfg.err"
  python3 scripts/device/ncu_step.py "$OUT/ncu_$cfg.csv" | tee "$OUT/ncu_step_$cfg.txt"
done
