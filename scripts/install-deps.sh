#!/usr/bin/env bash
# Install the Debian packages vkdream needs to build, test and run, when they are missing.
# Idempotent and quiet when everything is there. Uses sudo only when not root.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libvulkan-dev mesa-vulkan-drivers vulkan-validationlayers vulkan-tools glslang-tools
  libcglm-dev libopenblas-dev libopenblas-openmp-dev libpng-dev libcjson-dev zlib1g-dev
  libglfw3-dev xvfb xauth xdotool twm
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js + npm run the Khronos glTF validator in the tests. Machines whose Node.js comes
# from elsewhere (e.g. NodeSource, npm bundled) keep theirs: install only when absent.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
