#!/usr/bin/env bash
# End-to-end checks of the vkdream binary: usage errors, `info`, the OpenBLAS kernel
# choice (simulated misdetection, user override) and running without a Vulkan loader.
#   usage: cli_test.sh path/to/vkdream
set -u
V=$1
. "$(dirname "$0")/cli_lib.sh"

expect "unknown command -> usage, exit 2" 2 "usage: vkdream" "$V" frobnicate
expect "unknown flag -> usage, exit 2" 2 "usage: vkdream info" "$V" info --no-such-flag
expect "--help" 0 "commands:" "$V" --help
expect "info lists OpenBLAS and the backend" 0 "Chosen backend:" "$V" info
expect "info reports a verified OpenBLAS kernel" 0 "check vs plain C: passed" "$V" info
expect "user OPENBLAS_CORETYPE is honoured" 0 "core Haswell \(OPENBLAS_CORETYPE set by user\)" \
  env OPENBLAS_CORETYPE=Haswell "$V" info
if grep -qw avx512f /proc/cpuinfo && grep -qw avx512bw /proc/cpuinfo; then
  expect "misdetected kernel is upgraded by re-exec" 0 "core SkylakeX \(auto-selected by vkdream\)" \
    env -u OPENBLAS_CORETYPE VKDREAM_BLAS_SIMULATE_MISDETECT=1 "$V" info
  expect "a kernel failing its check is replaced by the next candidate" 0 \
    "core Haswell \(auto-selected by vkdream\).*passed" \
    env -u OPENBLAS_CORETYPE VKDREAM_BLAS_SIMULATE_MISDETECT=1 VKDREAM_BLAS_SIMULATE_BAD_KERNEL=SkylakeX "$V" info
  expect "no re-exec when disabled" 0 "core Prescott" \
    env -u OPENBLAS_CORETYPE VKDREAM_BLAS_SIMULATE_MISDETECT=1 VKDREAM_NO_REEXEC=1 OPENBLAS_CORETYPE=Prescott "$V" info
elif grep -qw avx2 /proc/cpuinfo; then
  expect "misdetected kernel is upgraded by re-exec" 0 "core Haswell \(auto-selected by vkdream\)" \
    env -u OPENBLAS_CORETYPE VKDREAM_BLAS_SIMULATE_MISDETECT=1 "$V" info
else
  echo "skip kernel upgrade: this CPU has neither AVX-512 nor AVX2"
fi
expect "a user kernel failing its check falls back to the built-in GEMM" 0 \
  "core Haswell \(OPENBLAS_CORETYPE set by user, failed check\).*FAILED, using built-in GEMM" \
  env OPENBLAS_CORETYPE=Haswell VKDREAM_BLAS_SIMULATE_BAD_KERNEL=Haswell "$V" info
expect "no Vulkan loader: info still works on the CPU" 0 "Vulkan: unavailable.*no Vulkan loader" \
  env VKDREAM_VULKAN_LIB=/nonexistent/libvulkan.so.1 "$V" info
expect "no Vulkan loader: --device vulkan is a clear error" 1 "no Vulkan loader" \
  env VKDREAM_VULKAN_LIB=/nonexistent/libvulkan.so.1 "$V" info --device vulkan
expect "bad --device value" 1 "unknown device 'nosuchgpu'" "$V" info --device nosuchgpu
expect "--device cpu" 0 "Chosen backend: cpu" "$V" info --device cpu

expect "info lists the bundled prior" 0 "Bundled prior: .*shapeworld.json" "$V" info --device cpu
# A copy of the binary in an empty directory has no models/ beside or above it.
NM=$(mktemp -d /tmp/vkd_no_models_XXXXXX)
mkdir -p "$NM/bin" && cp "$V" "$NM/bin/vkdream"
expect "info without a bundled prior says so" 0 "Bundled prior: none found" \
  env -u VKDREAM_MODELS "$NM/bin/vkdream" info --device cpu
rm -rf "$NM"

finish
