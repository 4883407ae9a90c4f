#!/usr/bin/env bash
# Installs the Debian packages seekscope builds against. Safe to run again: packages that are
# already present are skipped, so a set-up machine pays nothing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libeigen3-dev          # core/: dense tensors
  nlohmann-json3-dev     # core/config, core/safetensors: JSON headers and config.json
  catch2                 # tests/: Catch2 v2
  libimgui-dev           # viewer/: Dear ImGui 1.86, with the GLFW and OpenGL3 backend sources it compiles
  libglfw3-dev           # viewer/: window, OpenGL context and input
  libstb-dev             # viewer/: stb_image_write (screenshots); tests/check_png: stb_image
  libgl-dev              # viewer/: OpenGL
  xvfb xauth             # viewer tests and docs screenshots: a virtual X server (xvfb-run needs xauth)
  libgl1-mesa-dri        # ... and Mesa's software OpenGL 3.3 (llvmpipe) to draw into it
  clang libclang-rt-14-dev  # scripts/sanitize.sh: ASan + UBSan builds and the libFuzzer targets of tests/fuzz
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
