#!/usr/bin/env bash
# On the GPU machine: where a decode step of synthetic:20b spends its time.
#   ncu   per-kernel times and DRAM bytes from Nsight Compute over the last
#         decode step of a short eager run (each kernel timed alone: no launch
#         gaps), summed by kernel; the gap between this sum and the step's
#         wall time is launch overhead.
#   pdl   bench with programmatic dependent launch off and on, side by side.
# usage: scripts/device/decode_profile.sh [ncu] [pdl]   (default: both)
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
steps=${*:-ncu pdl}
M=${MODEL:-synthetic:20b}
for s in $steps; do
  echo "=== $s"
  case $s in
    ncu)
      GPTOSS_CUDA_GRAPHS=0 ncu --clock-control none --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv \
        gptoss generate --model "$M" --device cuda --ids 1,2,3,4,5,6,7,8 --max-tokens 4 --temperature 0 \
        >"$OUT/ncu.csv" 2>"$OUT/ncu.err"
      tail -3 "$OUT/ncu.err"
      python3 scripts/device/ncu_step.py "$OUT/ncu.csv" | tee "$OUT/ncu_step.txt" ;;
    pdl)
      for p in 0 1 0 1; do
        echo "GPTOSS_PDL=$p: $(GPTOSS_PDL=$p gptoss bench --model "$M" --device cuda --pp 512 --tg 128 --batch 64 \
          --batch-prompt 512 --batch-gen 64 -r 2 2>/dev/null | grep -E "^(pp|tg|decode b)" | tr -s ' ' | tr '\n' ';')"
      done ;;
    *) echo "unknown step $s" ;;
  esac
done
