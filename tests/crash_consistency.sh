#!/bin/bash
# Crash consistency of run folders (core/run_folder.h): `seek train` and `seek grpo` are killed
# (SIGKILL) right after each file operation of their runs in turn, every save boundary included
# (SEEK_TEST_ABORT_AFTER_WRITES=N, core/fileio.h), then continued: with --resume, or started again
# when the kill came before the first checkpoint was committed. Each must end byte-identical to a run
# that was never killed (model, optimizer, config, GRPO's reference; the log but for its wall-clock
# fields), with no leftovers, or be refused with the torn files named; a silently different run
# fails the test. Then a full disk (ENOSPC) and an I/O error (EIO) are injected into a save
# (SEEK_TEST_FAIL_WRITE=N): the run must stop with a clear error, keep its previous checkpoint, and
# resume to the same bytes.
#
# usage: crash_consistency.sh SEEK TINY_CONFIG [train|grpo|failures]...   (default: all three)
set -euo pipefail
seek=$1
config=$2
shift 2
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(train grpo failures)
# In memory when there is /dev/shm: a kill keeps what was written either way, and the fsyncs of
# some 300 runs cost minutes on a disk. One thread: the runs are tiny, and the bytes do not depend on it.
work=$(mktemp -d -p /dev/shm 2> /dev/null || mktemp -d)
trap 'rm -rf "$work"' EXIT
export OMP_NUM_THREADS=1

train_run=(train --config "$config" --steps 4 --batch 2 --eval-every 0 --save-every 2 --seed 3)
grpo_run=(grpo --model "$work/base" --task add:1 --steps 2 --prompts 1 --group 2 --max-new 6
          --sample-prompts 1 --sample-every 1 --save-every 1 --seed 3)
"$seek" train --config "$config" --steps 2 --batch 2 --eval-every 0 --out "$work/base" > /dev/null

without_timing() { sed -E 's/"(seconds|tokens_per_s)":[-+0-9.eE]+,?//g' "$1"; }

# same RUN_DIR REFERENCE_DIR LOG: the run ended as the reference did, and left nothing behind.
same() {
    local run=$1 reference=$2 log=$3 file
    for file in config.json model.safetensors optimizer.safetensors $([ "$log" = grpo.jsonl ] && echo reference/model.safetensors); do
        cmp -s "$run/$file" "$reference/$file" || { echo "DIFFERENT: $run/$file"; return 1; }
    done
    cmp -s <(without_timing "$run/$log") <(without_timing "$reference/$log") || { echo "DIFFERENT: $run/$log"; return 1; }
    local leftovers
    leftovers=$(cd "$run" && ls -A | grep -v -x -E 'checkpoint|step-[0-9]+|config.json|model.safetensors|optimizer.safetensors|reference|train.jsonl|grpo.jsonl|\.lock' || true)
    [ -z "$leftovers" ] || { echo "LEFTOVERS in $run: $leftovers"; return 1; }
    [ "$(cd "$run" && ls -d step-* | wc -l)" -eq 1 ] || { echo "MORE THAN ONE step folder in $run"; return 1; }
}

# sweep NAME LOG COMMAND...: kill after file operation 1, 2, ... until a run finishes unkilled.
sweep() {
    local name=$1 log=$2
    shift 2
    local reference="$work/$name-reference"
    [ -d "$reference" ] || "$seek" "$@" --out "$reference" > /dev/null
    local n=0 resumed=0 restarted=0 refused=0 status
    while true; do
        n=$((n + 1))
        local run="$work/$name-$n"
        status=0
        # In a subshell whose stderr is dropped: bash reports the kill there, not in the test's output.
        (SEEK_TEST_ABORT_AFTER_WRITES=$n "$seek" "$@" --out "$run" > "$work/out" 2>&1; exit $?) 2> /dev/null || status=$?
        if [ "$status" -eq 0 ]; then break; fi  # past the last file operation
        if [ "$status" -ne 137 ]; then cat "$work/out"; echo "$name: killed after file operation $n: exit $status, expected 137"; exit 1; fi
        status=0
        "$seek" "${@:1:1}" --out "$run" --resume > "$work/out" 2>&1 || status=$?
        if [ "$status" -eq 2 ] && grep -q "holds no saved run" "$work/out"; then
            status=0
            "$seek" "$@" --out "$run" > "$work/out" 2>&1 || status=$?
            restarted=$((restarted + 1))
        elif [ "$status" -ne 0 ] && grep -q -E "torn|disagree|different runs" "$work/out" && grep -q "$run/" "$work/out"; then
            refused=$((refused + 1))
            echo "$name: killed after file operation $n: refused, naming the files: $(head -c 300 "$work/out")"
            rm -rf "$run"
            continue
        else
            resumed=$((resumed + 1))
        fi
        if [ "$status" -ne 0 ]; then cat "$work/out"; echo "$name: killed after file operation $n, then: exit $status"; exit 1; fi
        same "$run" "$reference" "$log" || { echo "$name: killed after file operation $n: not the uninterrupted run"; exit 1; }
        rm -rf "$run"
    done
    echo "$name: $((n - 1)) file operations, each a kill point: $resumed resumed and $restarted started again (killed" \
         "before the first checkpoint) ending byte-identical, $refused refused"
}

# fail_save NAME ERRNO LOG PATTERN COMMAND...: the file operation whose trace line matches PATTERN
# (its last occurrence: the last save) fails with ERRNO.
fail_save() {
    local name=$1 error=$2 log=$3 pattern=$4
    shift 4
    local reference="$work/$name-reference" run="$work/$name-$error"
    [ -d "$reference" ] || "$seek" "$@" --out "$reference" > /dev/null
    local n
    n=$(SEEK_TEST_TRACE_WRITES=1 "$seek" "$@" --out "$work/$name-traced" 2>&1 >/dev/null |
        grep -E "$pattern" | tail -1 | sed -E 's/^file operation ([0-9]+):.*/\1/')
    rm -rf "$work/$name-traced"
    local status=0
    SEEK_TEST_FAIL_WRITE="$n:$error" "$seek" "$@" --out "$run" > "$work/out" 2>&1 || status=$?
    local message
    message=$(grep "error:" "$work/out" || true)
    echo "$name, $error at file operation $n ($pattern): exit $status: $message"
    [ "$status" -eq 1 ] || { cat "$work/out"; echo "expected exit 1"; exit 1; }
    local reason="No space left on device"
    [ "$error" = EIO ] && reason="Input/output error"
    grep -q "$reason" <<< "$message" || { echo "the error does not say '$reason'"; exit 1; }
    grep -q -E "checkpoint at step [0-9]+ in .* is intact" <<< "$message" || { echo "the error does not say the checkpoint is intact"; exit 1; }
    "$seek" "$1" --out "$run" --resume > "$work/out" 2>&1 || { cat "$work/out"; echo "resume after $error failed"; exit 1; }
    same "$run" "$reference" "$log" || { echo "$name: resumed after $error: not the uninterrupted run"; exit 1; }
}

for part in "${parts[@]}"; do
    case "$part" in
        train) sweep train train.jsonl "${train_run[@]}" ;;
        grpo) sweep grpo grpo.jsonl "${grpo_run[@]}" ;;
        failures)
            fail_save train ENOSPC train.jsonl "write .*optimizer.safetensors" "${train_run[@]}"
            fail_save train EIO train.jsonl "fsync .*train.jsonl" "${train_run[@]}"
            fail_save grpo ENOSPC grpo.jsonl "write .*reference/model.safetensors" "${grpo_run[@]}"
            fail_save grpo EIO grpo.jsonl "symlink .*checkpoint.tmp" "${grpo_run[@]}" ;;
        *) echo "unknown part $part"; exit 2 ;;
    esac
done
echo "crash consistency: every kill point resumed byte-identically or was refused by name"
