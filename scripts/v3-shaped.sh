#!/usr/bin/env bash
# DeepSeek-V3's real dimensions read in place under a memory budget, without downloading V3: writes
# a 2-layer checkpoint with V3's shapes (layer 0 dense, layer 1 MoE with 256 routed experts; FP8
# with 128x128 weight_scale_inv, 3 shards and an index; 2.6 GB on disk, the routed experts left
# out), then runs `seek step --model` on it with --memory 4G, the experts generated on demand from
# a seed, and prints the time, the bytes read and the peak RSS.
#
#   scripts/v3-shaped.sh [BUILD_DIR] [WORK_DIR] [MEMORY]
#
# Defaults: build, /tmp/seek_v3_shaped, 4G. The checkpoint is written once and reused.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
work=${2:-/tmp/seek_v3_shaped}
memory=${3:-4G}
mkdir -p "$work"
if [ ! -f "$work/v3_shaped/config.json" ]; then
    echo "writing the V3-shaped checkpoint to $work/v3_shaped ..."
    start=$(date +%s)
    (cd "$work" && SEEK_V3_SHAPED=v3_shaped "$OLDPWD/$build/tests/seek_tests" "[.v3_shaped]" >/dev/null)
    echo "  written in $(( $(date +%s) - start )) s: $(du -sh "$work/v3_shaped" | cut -f1)"
fi
# /usr/bin/time reports the peak RSS the kernel measured, independently of seek's own line.
/usr/bin/time -f "kernel's count: peak RSS %M KiB, %e s wall" \
    "$build/seek" step --model "$work/v3_shaped" --memory "$memory" --expert-seed 0 --prompt "Hi" --quiet
