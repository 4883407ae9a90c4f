#!/bin/bash
# Ctrl-C (SIGINT) in the middle of `seek train` saves and exits 130; --resume then finishes the run
# with the same model.safetensors and optimizer.safetensors bytes as a run that never stopped.
# usage: train_interrupt.sh SEEK
set -euo pipefail
seek=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
options=(--steps 60 --batch 8 --eval-every 0 --save-every 1000 --seed 5)

"$seek" train "${options[@]}" --out "$work/full" > /dev/null

"$seek" train "${options[@]}" --out "$work/stopped" > "$work/stopped.out" &
pid=$!
# Interrupt once a few steps are logged (the run takes seconds; the log grows line by line).
for _ in $(seq 1 200); do
  if [ -f "$work/stopped/train.jsonl" ] && [ "$(wc -l < "$work/stopped/train.jsonl")" -ge 5 ]; then break; fi
  sleep 0.05
done
kill -INT "$pid"
status=0
wait "$pid" || status=$?
cat "$work/stopped.out"
if [ "$status" -ne 130 ]; then echo "expected exit 130 after SIGINT, got $status"; exit 1; fi
grep -q "stopped at step" "$work/stopped.out"

"$seek" train --out "$work/stopped" --resume > /dev/null
cmp "$work/full/model.safetensors" "$work/stopped/model.safetensors"
cmp "$work/full/optimizer.safetensors" "$work/stopped/optimizer.safetensors"
echo "interrupted, resumed, identical"
