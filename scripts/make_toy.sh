#!/usr/bin/env bash
# Rebuilds the bundled toy models of data/toy from nothing and checks them against the bundle:
# the checkpoints byte for byte, the logs line for line but for their wall-clock fields.
#
#   scripts/make_toy.sh [--grpo-only] [--update] [BUILD_DIR] [WORK_DIR]
#
#   base  seek train (a corpus of mostly direct answers, some worked traces)  ~2.5 min on 2 cores
#   grpo  seek grpo from that base, 200 steps on 4-5 digit additions          ~30 s on 2 idle cores
#
# --grpo-only starts the GRPO run from the bundled base instead of training one.
# --update copies the new models and logs into data/toy instead of comparing.
# Both runs are deterministic: the same bytes on any thread count and CPU (without OMP_NUM_THREADS,
# seek takes two threads on an idle 2-core machine and one on a busy one: core/parallel.h).
set -euo pipefail
cd "$(dirname "$0")/.."

grpo_only=false
update=false
positional=()
for arg in "$@"; do
    case "$arg" in
        --grpo-only) grpo_only=true ;;
        --update) update=true ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "make_toy.sh: unknown option $arg (see --help)" >&2; exit 2 ;;
        *) positional+=("$arg") ;;
    esac
done
build=${positional[0]:-build}
work=${positional[1]:-toy-runs}
seek="$build/seek"
[ -x "$seek" ] || { echo "make_toy.sh: $seek not found: build first (see README)" >&2; exit 1; }
[ -e "$work" ] && { echo "make_toy.sh: $work exists: remove it or name another work directory" >&2; exit 1; }
mkdir -p "$work"

# The recipe. Keep it in step with data/toy/README.md and lessons/05-grpo.md.
base="data/toy/base"
if ! $grpo_only; then
    "$seek" train --task add:1-5 --mix 0.6,0.25,0.075,0.075 --steps 2500 --batch 64 --lr 2e-3 --warmup 100 \
        --seed 0 --out "$work/base"
    base="$work/base"
fi
"$seek" grpo --model "$base" --task add:4-5 --steps 200 --prompts 8 --group 8 --lr 5e-5 --seed 0 --out "$work/grpo"

# Wall-clock fields differ from run to run; everything else in a log must not.
without_timing() { sed -E 's/"(seconds|tokens_per_s)":[-+0-9.eE]+,?//g' "$1"; }

status=0
check() {  # check RUN_DIR BUNDLE_DIR LOG
    local run=$1 bundle=$2 log=$3
    if $update; then
        mkdir -p "$bundle"
        for file in config.json model.safetensors "$log"; do
            cp "$run/$file" "$bundle/$file.tmp" && mv "$bundle/$file.tmp" "$bundle/$file"
        done
        echo "updated $bundle"
        return
    fi
    for file in config.json model.safetensors; do
        if cmp -s "$run/$file" "$bundle/$file"; then echo "same bytes: $bundle/$file"
        else echo "DIFFERENT: $run/$file and $bundle/$file"; status=1; fi
    done
    if cmp -s <(without_timing "$run/$log") <(without_timing "$bundle/$log"); then
        echo "same lines (but timing): $bundle/$log"
    else
        echo "DIFFERENT: $run/$log and $bundle/$log"; status=1
    fi
}
$grpo_only || check "$work/base" data/toy/base train.jsonl
check "$work/grpo" data/toy/grpo grpo.jsonl
exit $status
