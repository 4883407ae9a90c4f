#!/usr/bin/env bash
# Long fuzzing runs of the targets in tests/fuzz (scripts/sanitize.sh runs each for 20 s: ctest -L fuzz;
# CI only replays their corpora: ctest -R fuzz_replay).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]    default: 600 s each, every target
#
# Uses the build folder of scripts/sanitize.sh (build-asan; set BUILD to change it), building it
# if needed. Each target keeps what it finds in build-asan/fuzz/<target> across runs; a crash is
# written as build-asan/fuzz/<target>-crash-*: reproduce it with build-asan/tests/fuzz/fuzz_<target>
# FILE, fix it, and add the file to tests/fuzz/regressions/<target>/ so that every build replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build-asan}
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors config trace run_log problems verifier tokenizer)
if [ ! -x "$build/tests/fuzz/fuzz_${targets[0]}" ]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
          -DSEEK_SANITIZE=address,undefined -DSEEK_FUZZ=ON -DSEEK_VIEWER=OFF -DSEEK_CUDA=OFF
fi
cmake --build "$build" -j"$(nproc)" --target seek_fuzz_targets
status=0
for target in "${targets[@]}"; do
    echo "== $target: $seconds s"
    # The CTest entry's command line, with a longer time: the same seeds, corpus and limits.
    command=$(ctest --test-dir "$build" -R "^fuzz\.$target\$" -N -V | sed -n 's/^[0-9]*: Test command: //p')
    [ -n "$command" ] || { echo "no CTest entry fuzz.$target in $build"; exit 1; }
    command=$(sed "s/-max_total_time=[0-9]*/-max_total_time=$seconds/" <<<"$command")
    # libFuzzer's summary lines; the target's exit status (not grep's) decides.
    eval "$command" > "$build/fuzz/$target.log" 2>&1 || { status=1; echo "fuzz.sh: $target FAILED (full output: $build/fuzz/$target.log)"; }
    grep -E "^(#[0-9]+ +DONE|Done|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+==|SUMMARY|INFO: Seed)" "$build/fuzz/$target.log" || true
done
exit $status
