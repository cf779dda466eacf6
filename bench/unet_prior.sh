#!/usr/bin/env bash
# CPU UNet forward of the bundled prior (models/shapeworld.json's "unet", trained weights) and
# the golden configs, vkdream against the PyTorch peer, B = 2 (cond + uncond as SDS runs it),
# L = 12 context tokens (the tokenizer's max_length) for the prior. CPU backend only (see
# bench/unet.sh for lavapipe). ROUNDS interleaved rounds; with BEFORE set to another
# bench_unet binary, it runs in every round next to this build's (before/after comparisons
# on a shared machine). Each line: wall and process-CPU medians of RUNS forwards + load.
#
# usage: bench/unet_prior.sh BUILD_DIR WEIGHTS [ROUNDS] [RUNS]
#   WEIGHTS: the prior's .safetensors (a copy: a training run rewrites the original)
set -euo pipefail
build=${1:?usage: bench/unet_prior.sh BUILD_DIR WEIGHTS [ROUNDS] [RUNS]}
weights=${2:?usage: bench/unet_prior.sh BUILD_DIR WEIGHTS [ROUNDS] [RUNS]}
rounds=${3:-3}
runs=${4:-10}
here=$(cd "$(dirname "$0")" && pwd)
golden=${VKDREAM_SHARED:-$here/../../shared}/golden
py=/usr/bin/python3
peer=$here/unet_peer.py
peer_ld=/usr/lib/x86_64-linux-gnu/openblas-openmp
work=$(mktemp -d "${TMPDIR:-/tmp}/vkd_unet_prior.XXXXXX")
trap 'rm -rf "$work"' EXIT
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SkylakeX}

# bench_unet reads a bare UNet config: take the prior file's "unet" object.
"$py" - "$here/../models/shapeworld.json" "$work/sw.json" <<'PY'
import json, sys
u = json.load(open(sys.argv[1]))["unet"]
u.setdefault("checkpoint_prefix", "model.diffusion_model.")
json.dump(u, open(sys.argv[2], "w"))
PY
"$py" "$peer" inputs "$work/sw.json" 32 12 2 "$work/sw32.io.safetensors"
"$py" "$peer" inputs "$work/sw.json" 64 12 3 "$work/sw64.io.safetensors"

cases=(
  "prior_32 $work/sw.json $weights $work/sw32.io.safetensors"
  "prior_64 $work/sw.json $weights $work/sw64.io.safetensors"
  "sd1_16 $golden/unet_sd1_tiny.config.json $golden/unet_sd1_tiny.weights.safetensors $golden/unet_sd1_tiny.io.safetensors"
  "sd2_16 $golden/unet_sd2_tiny.config.json $golden/unet_sd2_tiny.weights.safetensors $golden/unet_sd2_tiny.io.safetensors"
  "pix_32 $golden/unet_pix_tiny.config.json $golden/unet_pix_tiny.weights.safetensors $golden/unet_pix_tiny.io.safetensors"
)
sides=("after $build/bench/bench_unet")
if [ -n "${BEFORE:-}" ]; then sides=("before $BEFORE" "${sides[@]}"); fi

echo "# $(date -u '+%Y-%m-%d %H:%M UTC') OMP_WAIT_POLICY=$OMP_WAIT_POLICY OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE rounds=$rounds runs=$runs"
for c in "${cases[@]}"; do
  read -r name cfg w io <<<"$c"
  "$build/bench/bench_unet" --config "$cfg" --weights "$w" --io "$io" --runs 1 --warmup 0 \
    --gemm-rate 1 --out "$work/$name.out.safetensors" >/dev/null
  echo "check $name: $(LD_LIBRARY_PATH=$peer_ld "$py" "$peer" check "$cfg" "$w" "$io" \
        "$work/$name.out.safetensors" | tr '\n' ' ')"
done
for r in $(seq 1 "$rounds"); do
  for c in "${cases[@]}"; do
    read -r name cfg w io <<<"$c"
    for s in "${sides[@]}"; do
      read -r side bin <<<"$s"
      echo "round=$r case=$name side=$side load=$(cut -d' ' -f1 /proc/loadavg)" \
        "$("$bin" --config "$cfg" --weights "$w" --io "$io" --device cpu --runs "$runs")"
    done
    echo "round=$r case=$name side=torch load=$(cut -d' ' -f1 /proc/loadavg)" \
      "$(LD_LIBRARY_PATH=$peer_ld "$py" "$peer" time "$cfg" "$w" "$io" "$runs" | tail -1)"
  done
done
