#!/usr/bin/env bash
# GEMM rates for bench/RESULTS.md: OpenBLAS's own sgemm under every kernel this CPU can
# run, then vkdream's CPU backend exactly as a user runs it (no environment set), in
# interleaved rounds so that a busy moment does not favour one side; then the Vulkan
# device once. Take the best round of each line.
#   usage: bench/gemm.sh [build-dir] [rounds]
set -euo pipefail
B=${1:-build}
R=${2:-3}
echo "# $(date -u '+%F %H:%M') UTC, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$R"); do
  echo "## round $r"
  for core in Prescott Haswell Zen SkylakeX Cooperlake; do
    echo "### OpenBLAS sgemm, OPENBLAS_CORETYPE=$core"
    OPENBLAS_CORETYPE=$core "$B/bench/bench_sgemm" 0.5
  done
  echo "### vkdream info --bench --device cpu (no environment)"
  env -u OPENBLAS_CORETYPE "$B/vkdream" info --bench --device cpu | sed -n '/^OpenBLAS/p;/Benchmark/,$p'
done
echo "## vkdream info --bench --device vulkan"
env -u OPENBLAS_CORETYPE "$B/vkdream" info --bench --device vulkan | sed -n '/Benchmark, backend vulkan/,$p'
