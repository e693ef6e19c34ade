#!/usr/bin/env bash
# On the GPU machine: where a decode step of synthetic:20b spends its time,
# and what each decode switch is worth.
#   tests  test_cuda with the defaults, then with every optional decode
#          switch on (must both pass)
#   ab     bench tg128 and 64-sequence decode for each switch setting, one
#          process each, side by side in one run (CONFIGS overrides the list,
#          BATCHES="1 4 64" the decode batch sizes)
#   ops    GPTOSS_PROFILE per-op times (eager, an event after each op) at batch
#          1 and 64, with the switches off and on
#   ncu    per-kernel times and DRAM bytes from Nsight Compute over the last
#          decode step of a short eager run (each kernel timed alone: no launch
#          gaps), summed by kernel (ENV adds switches, e.g. ENV="GPTOSS_PDL=1")
# usage: scripts/device/decode_profile.sh [tests] [ab] [ncu]   (default: tests ab)
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
steps=${*:-tests ab}
M=${MODEL:-synthetic:20b}
# Defaults: PDL on, warp-per-row dense GEMV at batch 1..4, fused decode
# attention from 33 sequences. Each config below turns one of them off, or
# the fused attention on at every size.
ALL="GPTOSS_FUSED_DECODE=1"
CONFIGS=${CONFIGS:-"base GPTOSS_PDL=0 GPTOSS_DENSE_VARIANT=1 GPTOSS_FUSED_DECODE=0 GPTOSS_FUSED_DECODE=1"}
for s in $steps; do
  echo "=== $s"
  case $s in
    tests)
      test_cuda 2>&1 | grep -E "^\[ *(FAILED|PASSED) " | sed 's/^/defaults: /'
      env $ALL test_cuda 2>&1 | tee "$OUT/test_cuda_switches.log" | grep -E "^\[ *(FAILED|PASSED) |Failure|Expected|Which is" | head -30 | sed 's/^/all switches: /' ;;
    ab)
      for cfg in $CONFIGS; do
        # A config joins several switches with "+": GPTOSS_PDL=0+GPTOSS_DENSE_VARIANT=1
        case $cfg in base) e="GPTOSS_NONE=0" ;; all) e=$ALL ;; *) e=${cfg//+/ } ;; esac
        echo "$cfg: $(env $e gptoss bench --model "$M" --device cuda --pp 512 --tg 128 --batch ${BATCHES:-64} --batch-prompt 512 \
          --batch-gen 64 -r 2 2>/dev/null | grep -E "^(tg|decode b)" | tr -s ' ' | tr '\n' ';')"
      done ;;
    ops)
      for e in GPTOSS_NONE=0 "$ALL"; do
        echo "--- $e"
        env $e GPTOSS_PROFILE=1 gptoss bench --model "$M" --device cuda --pp 64 --tg 32 --batch 64 --batch-prompt 512 \
          --batch-gen 16 -r 1 2>&1 | grep -E "^GPTOSS_PROFILE|us/step" | head -60
      done ;;
    ncu)
      env ${ENV:-GPTOSS_NONE=0} GPTOSS_CUDA_GRAPHS=0 ncu --clock-control none \
        --metrics gpu__time_duration.sum,dram__bytes_read.sum --csv \
        gptoss generate --model "$M" --device cuda --ids 1,2,3,4,5,6,7,8 --max-tokens 4 --temperature 0 \
        >"$OUT/ncu.csv" 2>"$OUT/ncu.err"
      tail -3 "$OUT/ncu.err"
      python3 scripts/device/ncu_step.py "$OUT/ncu.csv" | tee "$OUT/ncu_step.txt" ;;
    *) echo "unknown step $s" ;;
  esac
done
