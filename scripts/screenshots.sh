#!/usr/bin/env bash
# Regenerates the viewer screenshots in docs/ (forward.png, mla.png, moe.png, fp8.png, compare.png, grpo.png) by
# running a built seekscope headless under Xvfb, the way tests/viewer_tests.cmake does. The live panels run the
# bundled toy model (data/toy/grpo), and grpo.png shows the log of the GRPO run that made it.
#   scripts/screenshots.sh [BUILD_DIR]     (default: build)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
for program in seek seekscope; do
  if [ ! -x "$build/$program" ]; then
    echo "screenshots: no $build/$program; build first (cmake --build $build)" >&2
    exit 1
  fi
done
if ! command -v xvfb-run >/dev/null; then
  echo "screenshots: xvfb-run not found (scripts/setup.sh installs it)" >&2
  exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
"$build/seek" step --attn naive --trace naive.safetensors --quiet >/dev/null
"$build/seek" step --attn absorb --trace absorb.safetensors --quiet >/dev/null

# shot NAME SEEKSCOPE-OPTIONS...: a 1600x1000 window; --mouse puts the pointer on something so
# that the picture shows a hover tooltip.
shot() {
  local name=$1
  shift
  xvfb-run -a -s "-screen 0 1920x1200x24" "$build/seekscope" --size 1600x1000 --frames 10 \
    --screenshot "$root/docs/$name.png" "$@"
}
shot forward --panel forward --tensor layers.0.attn.probs --mouse 760,640
shot mla --panel mla --preset v3 --mouse 430,390
shot moe --panel moe --prompt '12+34=46, 7*8=56' --mouse 215,672
shot fp8 --panel fp8 --mouse 400,345
shot compare --panel compare --compare naive.safetensors absorb.safetensors --mouse 1396,507
# From the source tree, so that the picture shows the log's path as a reader's checkout has it.
(cd "$root" && shot grpo --panel grpo --log data/toy/grpo/grpo.jsonl)

for name in forward mla moe fp8 compare grpo; do
  size=$(stat -c %s "$root/docs/$name.png")
  echo "docs/$name.png: $((size / 1024)) KiB"
  if [ "$size" -gt 409600 ]; then echo "screenshots: docs/$name.png is over 400 KiB" >&2; fi
done
