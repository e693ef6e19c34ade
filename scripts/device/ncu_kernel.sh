#!/usr/bin/env bash
# On the GPU machine: why one decode kernel is as slow as it is. Nsight
# Compute's pipe utilisation, issue activity, occupancy and stall reasons for
# the kernels matching REGEX in a short eager synthetic:20b run at batch 1
# (the last COUNT launches of the first 40 after SKIP), one process per
# setting in ENVS (space-separated; "+" joins switches, "base" for none).
# BATCH=N instead profiles decode steps of N sequences (512-token prompts) in
# `gptoss bench`: SKIP then counts the matching launches of the prompts' steps.
# usage: [BATCH=256] scripts/device/ncu_kernel.sh REGEX [ENVS]
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
re=$1
envs=${2:-base}
M=${MODEL:-synthetic:20b}
metrics="gpu__time_duration.sum,dram__bytes_read.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed"
metrics+=",smsp__inst_executed.sum,smsp__issue_active.avg.pct_of_peak_sustained_active"
metrics+=",smsp__warps_active.avg.per_cycle_active,smsp__warps_eligible.avg.per_cycle_active"
metrics+=",regex:sm__pipe_.*_cycles_active.avg.pct_of_peak_sustained_active"
metrics+=",regex:sm__inst_executed_pipe_.*\.sum$"
metrics+=",regex:smsp__average_warps_issue_stalled_.*_per_issue_active.ratio"
metrics+=",l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,l1tex__data_pipe_lsu_wavefronts_mem_shared.sum"
metrics+=",lts__t_bytes.sum,lts__t_sectors_srcunit_tex_op_read.sum,lts__throughput.avg.pct_of_peak_sustained_elapsed"
metrics+=",sm__warps_active.avg.pct_of_peak_sustained_active,launch__registers_per_thread,launch__grid_size"
if [ -n "${BATCH:-}" ]; then
  run=(gptoss bench --model "$M" --device cuda -p 0 -g 0 -b "$BATCH" --batch-prompt 512 --batch-gen 3 -r 1)
else
  run=(gptoss generate --model "$M" --device cuda --ids 1,2,3,4,5,6,7,8 --max-tokens 3 --temperature 0)
fi
for cfg in $envs; do
  case $cfg in base) e="GPTOSS_NONE=0" ;; *) e=${cfg//+/ } ;; esac
  echo "=== $cfg"
  env $e GPTOSS_CUDA_GRAPHS=0 ncu --clock-control none -k "regex:$re" --launch-skip ${SKIP:-30} --launch-count ${COUNT:-2} \
    --metrics "$metrics" --csv "${run[@]}" >"$OUT/ncu_kernel_${cfg//[^A-Za-z0-9_]/_}.csv" 2>"$OUT/ncu_kernel.err"
  python3 - "$OUT/ncu_kernel_${cfg//[^A-Za-z0-9_]/_}.csv" <<'PY'
import csv, sys
from collections import defaultdict
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
if not rows: sys.exit("no ncu rows")
head, rows = rows[0], rows[1:]
c = {n: i for i, n in enumerate(head)}
by = defaultdict(dict)
for r in rows:
    by[(r[c["ID"]], r[c["Kernel Name"]][:60])][r[c["Metric Name"]]] = (r[c["Metric Value"]], r[c["Metric Unit"]])
for (i, name), m in by.items():
    print(f"--- launch {i}: {name}")
    for k in sorted(m):
        v, u = m[k]
        try:
            f = float(v.replace(",", ""))
        except ValueError:
            continue
        if f == 0: continue
        print(f"  {k:90s} {v:>14s} {u}")
PY
done
