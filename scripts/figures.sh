#!/usr/bin/env bash
# Redraws the course's figures, lessons/figures/*.png, by running every notebook headless with
# SEEK_FIGURES set: each figure is a notebook's plot of what seek computed (traces, logs, JSON), and
# the notebook's asserts check the numbers on the way. The viewer's screenshots in docs/ are
# scripts/screenshots.sh's.
#   scripts/figures.sh [BUILD_DIR]     (default: build)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$(cd "${1:-$root/build}" && pwd)"
if [ ! -x "$build/seek" ]; then
  echo "figures: no $build/seek; build first (cmake --build $build)" >&2
  exit 1
fi
python=/usr/bin/python3  # Debian's: the notebooks need its numpy, matplotlib and nbclient (scripts/setup.sh)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export SEEK="$build/seek" SEEK_DATA="$root/data" SEEK_FIGURES="$root/lessons/figures" MPLBACKEND=Agg
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"  # the toy's matrices are small: one thread is fastest on a busy machine
for notebook in "$root"/notebooks/[0-9]*.ipynb; do
  name="$(basename "$notebook" .ipynb)"
  "$python" "$root/notebooks/nbtool.py" run "$notebook" --workdir "$work/$name"
done
ls -1 "$SEEK_FIGURES"
