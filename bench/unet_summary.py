#!/usr/bin/env python3
"""Summarise bench/unet.sh output: per case and side, the best round (lowest median time)
with that round's load average; prints the markdown table of bench/RESULTS.md's
"UNet forward (issue 4)" section. When the lines carry cpu_median_ms (process CPU time per
forward, both sides), a second table gives the median over rounds of those, the measure
that depends least on what else the machine runs. Usage: bench/unet_summary.py RAW.txt"""
import re
import statistics
import sys

CASES = {"sd1_16": "`unet_sd1_tiny` 16x16", "sd2_16": "`unet_sd2_tiny` 16x16",
         "pix_32": "`unet_pix_tiny` 32x32", "cand_32": "ShapeWorld candidate 32x32",
         "cand_64": "ShapeWorld candidate 64x64"}


def rate(d):
    return float(re.match(r"[0-9.]+", d["gemm_rate"]).group())


def main(path):
    best, cpu = {}, {}
    for line in open(path):
        if not line.startswith("round="):
            continue
        kv = dict(re.findall(r"(\w+)=([^ ]+)", line))
        key = (kv["case"], kv["side"])
        ms = float(kv["median_ms"])
        if "cpu_median_ms" in kv:
            cpu.setdefault(key, []).append(float(kv["cpu_median_ms"]))
        if key not in best or ms < best[key]["ms"]:
            best[key] = {"ms": ms, **kv}
    print("| case (B=2) | GFLOP | ours CPU ms | GFLOP/s | of CPU GEMM rate | ours lavapipe ms "
          "| of lavapipe GEMM rate | PyTorch CPU ms | ours/PyTorch | load (ours, PyTorch) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for case, label in CASES.items():
        c, v, t = (best.get((case, s)) for s in ("ours_cpu", "ours_vulkan", "torch_cpu"))
        if not (c and v and t):
            continue
        print(f"| {label} | {float(c['gflop']):.2f} | {c['ms']:.1f} | {float(c['gflops']):.1f} "
              f"| {100 * float(c['gemm_fraction']):.0f}% of {rate(c):.0f} "
              f"| {v['ms']:.0f} | {100 * float(v['gemm_fraction']):.0f}% of "
              f"{rate(v):.1f} | {t['ms']:.1f} | {c['ms'] / t['ms']:.2f} "
              f"| {c['load']}, {t['load']} |")
    if not cpu:
        return
    print()
    print("| case (B=2) | ours CPU time ms | PyTorch CPU time ms | ours/PyTorch (CPU time) | rounds |")
    print("|---|---|---|---|---|")
    for case, label in CASES.items():
        c, t = cpu.get((case, "ours_cpu")), cpu.get((case, "torch_cpu"))
        if not (c and t):
            continue
        mc, mt = statistics.median(c), statistics.median(t)
        print(f"| {label} | {mc:.1f} | {mt:.1f} | {mc / mt:.2f} | {min(len(c), len(t))} |")


if __name__ == "__main__":
    main(sys.argv[1])
