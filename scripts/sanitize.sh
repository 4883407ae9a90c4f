#!/usr/bin/env bash
# The checking pass, run by .ci/run after the README's test command: a second build folder built by
# clang with AddressSanitizer + UndefinedBehaviorSanitizer and the libFuzzer targets of tests/fuzz;
# then, under the sanitizers, the fast unit tests (CTest label unit: the Catch tests not tagged
# [slow]) and every fuzz target for SEEK_FUZZ_SECONDS seconds (label fuzz; each starts by running
# its whole seed corpus). The ordinary build replays the fuzz corpora without libFuzzer:
# ctest -R fuzz_replay. Longer fuzzing: scripts/fuzz.sh.
#
#   scripts/sanitize.sh [BUILD_DIR]      BUILD_DIR defaults to build-asan
#   SEEK_FUZZ_SECONDS=N                  seconds per fuzz target (default 20; CI uses 10)
#
# Any sanitizer report fails the test it happens in (-fno-sanitize-recover=all, halt_on_error).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-asan}
jobs=$(nproc)
start=$(date +%s)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++ \
      -DSEEK_SANITIZE=address,undefined -DSEEK_FUZZ=ON -DSEEK_VIEWER=OFF -DSEEK_CUDA=OFF \
      -DSEEK_FUZZ_SECONDS="${SEEK_FUZZ_SECONDS:-20}"
cmake --build "$build" -j"$jobs" --target seek_tests seek_fuzz_targets
built=$(date +%s)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" -L 'unit|fuzz' --output-on-failure -j"$jobs"
echo "sanitize.sh: built in $((built - start)) s, tested in $(( $(date +%s) - built )) s"
