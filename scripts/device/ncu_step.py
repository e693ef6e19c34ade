#!/usr/bin/env python3
"""Sums Nsight Compute's per-kernel rows (--csv, gpu__time_duration.sum and
dram__bytes_read.sum) over the last step: the kernels from the last
embed_kernel on. Prints time, bytes and achieved read bandwidth per kernel."""
import csv
import re
import sys
from collections import defaultdict

rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
head, rows = rows[0], rows[1:]
col = {n: i for i, n in enumerate(head)}
kern = {}  # ID -> [name, ns, bytes]
for r in rows:
    k = kern.setdefault(int(r[col["ID"]]), [r[col["Kernel Name"]], 0.0, 0.0])
    unit, val = r[col["Metric Unit"]], float(r[col["Metric Value"]].replace(",", ""))
    if r[col["Metric Name"]] == "gpu__time_duration.sum":
        k[1] = val * {"nsecond": 1, "ns": 1, "usecond": 1e3, "us": 1e3, "msecond": 1e6, "ms": 1e6}[unit]
    else:
        k[2] = val * {"byte": 1, "B": 1, "Kbyte": 1e3, "KB": 1e3, "Mbyte": 1e6, "MB": 1e6, "Gbyte": 1e9, "GB": 1e9}[unit]
ids = sorted(kern)
starts = [i for i in ids if re.search(r"embed(_rmsnorm)?_kernel", kern[i][0])]
if not starts:
    sys.exit("no embed kernel: not a gptoss run?")
step = [i for i in ids if i >= starts[-1]]
by = defaultdict(lambda: [0, 0.0, 0.0])
for i in step:
    name, ns, b = kern[i]
    name = re.sub(r"\(.*", "", name)
    s = by[name]
    s[0] += 1; s[1] += ns; s[2] += b
tot_ns = sum(v[1] for v in by.values())
tot_b = sum(v[2] for v in by.values())
print(f"last step: {len(step)} kernels, {tot_ns/1e3:.1f} us of kernel time, {tot_b/1e9:.3f} GB read, "
      f"{tot_b/tot_ns:.0f} GB/s")
print(f"{'kernel':60s} {'n':>4s} {'us':>8s} {'us/n':>7s} {'MB':>8s} {'GB/s':>6s}")
for name, (n, ns, b) in sorted(by.items(), key=lambda kv: -kv[1][1]):
    print(f"{name[:60]:60s} {n:4d} {ns/1e3:8.1f} {ns/1e3/n:7.2f} {b/1e6:8.1f} {b/max(ns,1):6.0f}")
