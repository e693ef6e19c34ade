#!/usr/bin/env bash
# On the GPU machine: which SASS instructions of one decode kernel the warps
# stall on. Samples one launch matching REGEX (after SKIP matches) in a short
# eager synthetic:20b run at batch 1 and prints the instruction mix and the
# hottest instructions by stall samples; the full SASS listing with samples
# goes to $OUT/source_<tag>.csv. ENV adds switches.
# usage: scripts/device/ncu_source.sh REGEX TAG
cd "$(dirname "$0")/../.."
source scripts/device/env.sh
re=$1
tag=${2:-k}
M=${MODEL:-synthetic:20b}
env ${ENV:-GPTOSS_NONE=0} GPTOSS_CUDA_GRAPHS=0 ncu --clock-control none -k "regex:$re" --launch-skip ${SKIP:-60} \
  --launch-count 1 --section SourceCounters --section WarpStateStats -f -o "$OUT/src_$tag" \
  gptoss generate --model "$M" --device cuda --ids 1,2,3,4,5,6,7,8 --max-tokens 3 --temperature 0 >/dev/null 2>"$OUT/src_$tag.err"
ncu --import "$OUT/src_$tag.ncu-rep" --page source --csv --print-source sass >"$OUT/source_$tag.csv" 2>>"$OUT/src_$tag.err"
python3 - "$OUT/source_$tag.csv" <<'PY'
import csv, sys, re
from collections import Counter
rows = list(csv.reader(open(sys.argv[1])))
hi = next(i for i, r in enumerate(rows) if "Source" in r)
head, rows = rows[hi], rows[hi + 1:]
c = {n: i for i, n in enumerate(head)}
src = c["Source"]
samp = next((c[n] for n in head if n.startswith("Warp Stall Sampling (All")), None)
execd = next((c[n] for n in head if n.startswith("Instructions Executed")), None)
def num(v):
    try: return float(v.replace(",", ""))
    except ValueError: return 0.0
mix, total = Counter(), 0.0
for r in rows:
    op = r[src].split()[0] if r[src].split() else ""
    if op.startswith("@"): op = r[src].split()[1]
    n = num(r[execd]) if execd is not None else 0
    mix[op.split(".")[0]] += n
    total += n
print(f"warp instructions executed: {total:.0f}")
for op, n in mix.most_common(25):
    print(f"  {op:12s} {n:12.0f} {100*n/max(total,1):5.1f}%")
if samp is not None:
    tot = sum(num(r[samp]) for r in rows)
    print(f"stall samples: {tot:.0f}; hottest instructions:")
    for r in sorted(rows, key=lambda r: -num(r[samp]))[:25]:
        print(f"  {100*num(r[samp])/max(tot,1):5.1f}%  {r[c.get('Address', 0)]}  {r[src][:90]}")
PY
