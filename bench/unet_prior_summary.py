#!/usr/bin/python3
"""Summary of bench/unet_prior.sh output: per case and side, the median over rounds of the
wall and process-CPU medians, and the ratios against the PyTorch peer (side "torch") and,
when present, of "after" against "before". usage: unet_prior_summary.py RAW.txt"""
import collections
import re
import statistics
import sys

LINE = re.compile(r"round=(\d+) case=(\S+) side=(\S+) load=(\S+) (.*)")


def field(text, key):
    m = re.search(r"(?:^| )" + key + r"=([0-9.]+)", text)
    return float(m.group(1)) if m else None


def main(path):
    runs = collections.defaultdict(list)  # (case, side) -> [(wall, cpu, load, gflop, rate)]
    order = []
    for line in open(path):
        m = LINE.match(line)
        if not m:
            continue
        case, side, rest = m.group(2), m.group(3), m.group(5)
        if case not in order:
            order.append(case)
        runs[(case, side)].append((field(rest, "median_ms"), field(rest, "cpu_median_ms"),
                                   float(m.group(4)), field(rest, "gflop"),
                                   field(rest, "gemm_rate")))
    med = lambda v: statistics.median(v) if v else float("nan")
    print("| case (B=2) | side | rounds | wall ms | CPU ms | GFLOP | GFLOP/s (CPU time) "
          "| of GEMM rate | load | ours/PyTorch wall | ours/PyTorch CPU |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for case in order:
        tw = med([r[0] for r in runs.get((case, "torch"), [])])
        tc = med([r[1] for r in runs.get((case, "torch"), [])])
        gflop = next((r[3] for s in ("after", "before") for r in runs.get((case, s), [])
                      if r[3]), None)
        for side in ("before", "after", "torch"):
            v = runs.get((case, side))
            if not v:
                continue
            w, c = med([r[0] for r in v]), med([r[1] for r in v])
            rate = med([r[4] for r in v if r[4]])
            gfs = gflop / c * 1e3 if gflop else float("nan")
            frac = f"{gfs / rate:.0%} of {rate:.0f}" if side != "torch" and rate == rate else "-"
            ratio = (f"{w / tw:.2f} | {c / tc:.2f}" if side != "torch" else "- | -")
            print(f"| {case} | {side} | {len(v)} | {w:.1f} | {c:.1f} | {gflop or 0:.2f} | "
                  f"{gfs:.1f} | {frac} | {med([r[2] for r in v]):.1f} | {ratio} |")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
