#!/usr/bin/env bash
# UNet forward benchmark, vkdream (CPU backend, Vulkan) against the PyTorch peer
# (bench/unet_peer.py) on the same weights and inputs, B = 2 (cond + uncond as SDS runs it).
# Cases: the golden unet_sd1/sd2/pix_tiny configs at their io files' sizes, and the ShapeWorld
# candidate config (bench/unet_shapeworld_candidate.json, random weights written by the peer)
# at 32x32 and 64x64 with 3 context tokens. The machine is shared: ROUNDS interleaved rounds
# (every case on every side per round), each line printed with the load average; take the
# best round per case (bench/unet_summary.py does).
#
# usage: bench/unet.sh BUILD_DIR [ROUNDS] [RUNS]   (needs python3-torch, see unet_peer.py)
# Environment: OMP_WAIT_POLICY defaults to PASSIVE for both sides (on a machine where other
# processes hold the cores, spinning OpenMP workers stall each other); OPENBLAS_CORETYPE, when
# unset, is set for the peer to the core vkdream chose, so both call the same kernels.
set -euo pipefail
build=${1:?usage: bench/unet.sh BUILD_DIR [ROUNDS] [RUNS]}
rounds=${2:-3}
runs=${3:-10}
here=$(cd "$(dirname "$0")" && pwd)
golden=${VKDREAM_SHARED:-$here/../../shared}/golden
bench=$build/bench/bench_unet
py=/usr/bin/python3
peer=$here/unet_peer.py
work=$(mktemp -d "${TMPDIR:-/tmp}/vkd_unet_bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
# Torch loads libblas.so.3 through Debian's alternatives; point it at the OpenMP OpenBLAS,
# the build vkdream links, so both use one threading runtime.
peer_ld=/usr/lib/x86_64-linux-gnu/openblas-openmp

cand=$here/unet_shapeworld_candidate.json
"$py" "$peer" init "$cand" 1 "$work/cand.safetensors" >/dev/null
"$py" "$peer" inputs "$cand" 32 3 2 "$work/cand32.io.safetensors"
"$py" "$peer" inputs "$cand" 64 3 3 "$work/cand64.io.safetensors"

# name config weights io
cases=(
  "sd1_16 $golden/unet_sd1_tiny.config.json $golden/unet_sd1_tiny.weights.safetensors $golden/unet_sd1_tiny.io.safetensors"
  "sd2_16 $golden/unet_sd2_tiny.config.json $golden/unet_sd2_tiny.weights.safetensors $golden/unet_sd2_tiny.io.safetensors"
  "pix_32 $golden/unet_pix_tiny.config.json $golden/unet_pix_tiny.weights.safetensors $golden/unet_pix_tiny.io.safetensors"
  "cand_32 $cand $work/cand.safetensors $work/cand32.io.safetensors"
  "cand_64 $cand $work/cand.safetensors $work/cand64.io.safetensors"
)

echo "# $(date -u '+%Y-%m-%d %H:%M UTC') $(uname -n) OMP_WAIT_POLICY=$OMP_WAIT_POLICY rounds=$rounds runs=$runs"
# Correctness first: vkdream's output on each case against the peer (and the reference).
core=""
for c in "${cases[@]}"; do
  read -r name cfg w io <<<"$c"
  line=$("$bench" --config "$cfg" --weights "$w" --io "$io" --runs 1 --warmup 0 \
           --gemm-rate 1 --out "$work/$name.out.safetensors")
  core=$(sed -n 's/.* blas=\([^ ]*\) .*/\1/p' <<<"$line")
  echo "check $name: $(LD_LIBRARY_PATH=$peer_ld "$py" "$peer" check "$cfg" "$w" "$io" \
        "$work/$name.out.safetensors" | tr '\n' ' ')"
done
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-$core}

# Each bench_unet line carries the GEMM rate its fraction is taken against, measured in the
# same invocation on the same backend (65536x128x128, median of single calls).
for r in $(seq 1 "$rounds"); do
  for c in "${cases[@]}"; do
    read -r name cfg w io <<<"$c"
    echo "round=$r case=$name side=ours_cpu load=$(cut -d' ' -f1 /proc/loadavg)" \
      "$("$bench" --config "$cfg" --weights "$w" --io "$io" --device cpu --runs "$runs")"
    # lavapipe is ~10x slower: fewer runs there (its spread is small: no OpenMP).
    vk_runs=$(( runs / 2 > 3 ? runs / 2 : 3 ))
    if [ "$name" = cand_64 ]; then vk_runs=3; fi
    echo "round=$r case=$name side=ours_vulkan load=$(cut -d' ' -f1 /proc/loadavg)" \
      "$("$bench" --config "$cfg" --weights "$w" --io "$io" --device vulkan --runs "$vk_runs" \
          --warmup 1 2>&1 | tail -1)"
    echo "round=$r case=$name side=torch_cpu load=$(cut -d' ' -f1 /proc/loadavg)" \
      "$(LD_LIBRARY_PATH=$peer_ld "$py" "$peer" time "$cfg" "$w" "$io" "$runs" | tr '\n' ' ')"
  done
done
