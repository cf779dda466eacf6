#!/usr/bin/env python3
"""Best-of-rounds table from bench/gemm.sh output: OpenBLAS's own sgemm per kernel vs
vkdream's CPU backend (no environment), and the ratio to the fastest kernel whose results
vkdream's check accepted (every kernel here passed it; see `vkdream info`)."""
import re
import sys

best = {}  # (who, shape) -> GFLOP/s
who = None
for line in open(sys.argv[1]):
    m = re.match(r"### OpenBLAS sgemm, OPENBLAS_CORETYPE=(\w+)", line)
    if m:
        who = m.group(1)
        continue
    if line.startswith("### vkdream info --bench --device cpu"):
        who = "vkdream-cpu"
        continue
    if line.startswith("## vkdream info --bench --device vulkan"):
        who = "vkdream-vulkan"
        continue
    m = re.match(r"\s+(\d+) x\s+(\d+) x\s+(\d+)\s+([\d.]+)( ms)?\s+([\d.]+)", line)
    if m and who:
        shape = "%s x %s x %s" % m.group(1, 2, 3)
        g = float(m.group(6))
        best[(who, shape)] = max(best.get((who, shape), 0.0), g)

shapes = ["65536 x 64 x 64", "65536 x 128 x 128", "1024 x 64 x 576", "1024 x 1024 x 1024"]
kernels = ["Prescott", "Haswell", "Zen", "SkylakeX", "Cooperlake"]
print("| GEMM M x N x K | " + " | ".join("OpenBLAS %s" % k for k in kernels) +
      " | vkdream CPU backend | ratio to fastest kernel | vkdream Vulkan (lavapipe) |")
print("|---" * (len(kernels) + 4) + "|")
for s in shapes:
    row = [best.get((k, s), 0.0) for k in kernels]
    fastest = max(row)
    ours = best.get(("vkdream-cpu", s), 0.0)
    vk = best.get(("vkdream-vulkan", s), 0.0)
    print("| %s | %s | %.1f | %.0f%% | %.1f |" % (
        s, " | ".join("%.1f" % g for g in row), ours, 100 * ours / fastest if fastest else 0, vk))
