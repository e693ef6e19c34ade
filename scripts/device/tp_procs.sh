#!/usr/bin/env bash
# On a 2-GPU machine (nvidia-h200-x2; after scripts/device/pack.sh here):
# tensor parallelism with one process per GPU (--nccl-id-file + tp-worker).
# Greedy ids of the leader+worker pair beside --tp 2 in one process and
# --tp 1, for the fixture and synthetic:20b; then bench with a worker.
# Every process runs under `timeout`, so a hang ends as exit 124.
# usage: scripts/device/tp_procs.sh [gen] [bench]   (default: both)
set -uo pipefail
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
export NCCL_NVLS_ENABLE=0  # NVLink multicast off, as the machine's notes ask
steps=${*:-gen bench}
ID=$OUT/nccl-id
nvidia-smi --query-gpu=index,name,memory.total --format=csv,noheader

# worker NAME MODEL TIMEOUT: rank 1 on GPU 1 in the background; its log in $OUT.
worker() {
  timeout "$3" gptoss tp-worker --model "$2" --tp 2 --rank 1 --device 1 --nccl-id-file "$ID" \
    --join-timeout 120 >"$OUT/worker_$1.log" 2>&1 &
  WPID=$!
}
# finish NAME: waits for the worker and reports how it ended.
finish() {
  wait "$WPID"; local rc=$?
  echo "worker $1: exit $rc ($(tail -1 "$OUT/worker_$1.log"))"
}

for s in $steps; do
  echo "=== $s $(date +%T)"
  case $s in
    gen)
      for m in "$GPTOSS_FIXTURES_DIR/tiny-gptoss" synthetic:20b; do
        n=$(basename "$m" | tr ':' '_')
        args=(generate --model "$m" --ids 1,2,3 --max-tokens 16 --temperature 0 --print-ids)
        rm -f "$ID"
        worker "gen_$n" "$m" 300
        echo "--- $m, --tp 2, two processes"
        timeout 300 gptoss "${args[@]}" --tp 2 --devices 0 --nccl-id-file "$ID" 2>"$OUT/leader_gen_$n.log"
        echo "leader exit $? ($(grep -E 'tensor parallel|error' "$OUT/leader_gen_$n.log" | tail -1))"
        finish "gen_$n"
        echo "--- $m, --tp 2, one process"
        timeout 300 gptoss "${args[@]}" --tp 2 2>"$OUT/inproc_gen_$n.log"; echo "exit $?"
        echo "--- $m, --tp 1"
        timeout 300 gptoss "${args[@]}" --device cuda:0 2>"$OUT/tp1_gen_$n.log"; echo "exit $?"
      done ;;
    bench)
      rm -f "$ID"
      worker bench synthetic:20b 590
      timeout 580 gptoss bench --model synthetic:20b --tp 2 --devices 0 --nccl-id-file "$ID" -p 2048 -g 128 -b 1,64 \
        --batch-prompt 512 --batch-gen 64 -r 2 --json "$OUT/b20_tp2_procs.json" 2>&1 |
        grep -E "t/s|tensor parallel|memory in use|error" | tail -12
      echo "leader exit ${PIPESTATUS[0]}"
      finish bench ;;
    *) echo "unknown step $s" ;;
  esac
done
