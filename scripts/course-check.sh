#!/usr/bin/env bash
# Runs every lesson command the documentation tests skip because it "takes minutes" (the 2000-step
# routing simulation, full-size V3 benchmarks, 400-step trainings, 200-step GRPO runs, the bundled
# base model's 2500 steps): CTest label course-slow, registered only for `ctest -C course`, so CI's
# plain `ctest` never runs it. Hours on 2 cores; each lesson runs in build/course/<lesson>.
#   scripts/course-check.sh [BUILD_DIR] [extra ctest arguments, e.g. -R 04-training]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
shift || true
if [ ! -x "$build/seek" ]; then
  echo "course-check: no $build/seek; build first (cmake --build $build)" >&2
  exit 1
fi
exec ctest --test-dir "$build" -C course -L course-slow --output-on-failure "$@"
