#!/usr/bin/env bash
# On the GPU machine (after scripts/device/pack.sh here): issue 6's hybrid
# measurements, most important first so a cut-off run still reports them.
#   tests   the hybrid CUDA tests (golden fixture, hybrid vs GPU)
#   b20     synthetic:20b in a 12 GiB budget, and with every expert on the CPU
#           (llama.cpp's --n-cpu-moe 24 setup)
#   oom     another process holds most of the GPU: serve plans around it, or
#           refuses with the plan when nothing fits
#   b120    synthetic:120b in a 16 GiB budget
# usage: scripts/device/hybrid.sh [tests] [b20] [oom] [b120]   (default: all)
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
steps=${*:-tests b20 oom b120}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
lscpu | grep -E "^Model name|^CPU\(s\)|^Flags" | cut -c1-200
for s in $steps; do
  echo "=== $s $(date +%T)"
  case $s in
    tests)
      test_cuda --gtest_filter='CudaRunner.Hybrid*' 2>&1 | tee "$OUT/test_hybrid.log" |
        grep -E "^\[ *(OK|FAILED) |hybrid|greedy|PASSED|FAILED" ;;
    b20)
      for g in ${GPU_SLOTS:-0 1 2}; do
        echo "--- GPTOSS_HYBRID_GPU_SLOTS=$g"
        GPTOSS_HYBRID_GPU_SLOTS=$g gptoss bench --model synthetic:20b --device cuda --gpu-memory 12GiB -p 64,512,2048 \
          -g 128 -b 0 -r 2 --json "$OUT/b20_12gib_g$g.json" 2>&1 | grep -E "t/s|hybrid:" | tail -8
      done
      gptoss bench --model synthetic:20b --device cuda --cpu-moe -p 64,512 -g 64 -b 0 -r 1 \
        --json "$OUT/b20_cpumoe.json" 2>&1 | tail -6 ;;
    oom)
      python3 - <<'PY' &
import torch, time
free, total = torch.cuda.mem_get_info()
x = torch.empty(free - (9 << 30), dtype=torch.uint8, device="cuda")  # leave 9 GiB
open("/tmp/hog1", "w").close(); time.sleep(40)
PY
      while [ ! -f /tmp/hog1 ]; do sleep 1; done
      timeout 60 gptoss generate --model synthetic:20b --device cuda --prompt "Hello" --max-tokens 8 --temperature 0 2>&1 |
        grep -E "plan|hybrid|error|tokens/s|does not fit" | head -8
      kill %1 2>/dev/null; wait
      python3 - <<'PY' &
import torch, time
free, total = torch.cuda.mem_get_info()
x = torch.empty(free - (1 << 30), dtype=torch.uint8, device="cuda")  # leave 1 GiB
open("/tmp/hog2", "w").close(); time.sleep(40)
PY
      while [ ! -f /tmp/hog2 ]; do sleep 1; done
      timeout 60 gptoss serve --model synthetic:20b --device cuda --port 0 2>&1 | tail -3
      echo "serve exit code: $?"
      kill %1 2>/dev/null; wait ;;
    b120)
      # GPU_SLOTS: of each token's 4 experts in a host layer, how many the GPU
      # reads from host memory while the CPU computes the rest (compared).
      for g in ${GPU_SLOTS:-0 1 2}; do
        echo "--- GPTOSS_HYBRID_GPU_SLOTS=$g"
        GPTOSS_HYBRID_GPU_SLOTS=$g gptoss bench --model synthetic:120b --device cuda --gpu-memory 16GiB -p 64,512 -g 32 \
          -b 0 -r 1 --json "$OUT/b120_16gib_g$g.json" 2>&1 | grep -E "t/s|hybrid:|plan" | tail -8
      done ;;
    *) echo "unknown step $s" ;;
  esac
done
