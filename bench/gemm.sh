#!/usr/bin/env bash
# GEMM rates for bench/RESULTS.md: OpenBLAS's own sgemm under every kernel this CPU can
# run (each one's correctness is what `vkdream info` checks), then `vkdream info --bench`
# exactly as a user runs it (no environment set).
#   usage: bench/gemm.sh [build-dir]
set -euo pipefail
B=${1:-build}
echo "# $(date -u +%F) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
for core in "" Prescott Haswell Zen SkylakeX Cooperlake; do
  echo "## OpenBLAS sgemm, OPENBLAS_CORETYPE=${core:-(unset)}"
  OPENBLAS_CORETYPE=$core "$B/bench/bench_sgemm" 0.5
  if [ -n "$core" ]; then
    OPENBLAS_CORETYPE=$core "$B/vkdream" info | grep '^OpenBLAS' || true
  fi
done
echo "## vkdream info --bench (no environment)"
env -u OPENBLAS_CORETYPE "$B/vkdream" info --bench
