#!/usr/bin/env bash
# Regenerates the viewer screenshots in docs/ by running a built seekscope headless under Xvfb, the way
# tests/viewer_tests.cmake does: one per panel (forward.png, mla.png, moe.png, fp8.png, compare.png, grpo.png), the
# MoE panel's token path (token-path-toy.png; docs/token-path-v3.png is made as README's "Real checkpoints" says), and
# two short sequences, the MLA panel's decode stepper (mla-decode-1..4.png: one more token per frame) and the GRPO
# panel's play-through of the sampled steps (grpo-play-1..4.png). The live panels run the bundled toy model
# (data/toy/grpo), and the GRPO pictures show the log of the GRPO run that made it.
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
# From the source tree, so that the pictures show the log's path as a reader's checkout has it.
grpo_log() { (cd "$root" && shot "$@" --log data/toy/grpo/grpo.jsonl); }
shot forward --panel forward --tensor layers.0.attn.probs --mouse 760,640
shot mla --panel mla --preset v3 --keys right,right,right,right --frames 12
shot moe --panel moe --prompt '12+34=46, 7*8=56' --mouse 215,672
shot token-path-toy --panel moe --view path --token 4
shot fp8 --panel fp8 --mouse 400,345
shot compare --panel compare --compare naive.safetensors absorb.safetensors --mouse 1396,507
grpo_log grpo --panel grpo

# The decode stepper: the prompt in the cache, then 1, 3 and 6 more tokens (right arrow presses).
presses=("" "right" "right,right,right" "right,right,right,right,right,right")
for i in 1 2 3 4; do
  keys=${presses[$((i - 1))]}
  shot "mla-decode-$i" --panel mla ${keys:+--keys $keys --frames $((3 + 2 * $(echo "$keys" | tr ',' '\n' | wc -l)))}
done
# The play-through: space plays from the first sampled step, one every half second (0.1 s a frame
# headless): the frames after 0, 2, 5 and 10 seconds.
for i in 1 2 3 4; do
  frames=(5 25 55 105)
  grpo_log "grpo-play-$i" --panel grpo --view samples --keys space --frames ${frames[$((i - 1))]}
done

for name in forward mla moe token-path-toy fp8 compare grpo mla-decode-{1..4} grpo-play-{1..4}; do
  size=$(stat -c %s "$root/docs/$name.png")
  echo "docs/$name.png: $((size / 1024)) KiB"
  if [ "$size" -gt 409600 ]; then echo "screenshots: docs/$name.png is over 400 KiB" >&2; fi
done
