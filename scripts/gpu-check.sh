#!/usr/bin/env bash
# The one prepared run for a machine with an NVIDIA GPU (H100/H200 class), in a few minutes:
#
#   scripts/gpu-check.sh REPORT_DIR [BUILD_DIR] [--no-build]     (BUILD_DIR default: build-gpu)
#
# 1. builds with CUDA for sm_90a and sm_80 (all cores), Release (--no-build: BUILD_DIR as it is);
# 2. runs `ctest -L gpu`: the kernels in the emulator, nvcc's register budgets, and the tests that
#    need a GPU (they report skipped without one);
# 3. runs `seek kernels --device cuda --scale v3`: every gpu/ kernel and variant of every op against
#    core at DeepSeek-V3's sizes, timed (median of 5 calls, host copies included; for the FP8
#    quantization and GEMMs and MLA attention also the kernels alone, from GPU events);
# 4. traces the bundled toy model on the CPU and on the GPU, every op of the kernel table on the
#    GPU (absorbed prefill, naive attention, token-by-token decoding), and compares each pair with
#    the tolerance rule (`seek compare --tol auto`);
# 5. checks that tensor-core kernels' machine code uses FP8 tensor-core instructions
#    (cuobjdump --dump-sass: HGMMA/QGMMA for wgmma on sm_90a, HMMA/QMMA for mma.sync) and TMA loads
#    (UTMALDG, fp8_gemm's variant 5), when any exist.
#
# REPORT_DIR receives report.txt (what a person reads), report.json (what a script reads: see
# "Report format" below) and the raw logs. On a machine without a GPU it says so, writes the report
# of what it could do, and exits 0: nothing here fails because a GPU is missing.
#
# Report format (report.json):
#   {"date", "device": {"available", "description"}, "build": {"seconds", "ok"},
#    "ctest_gpu": {"passed", "failed", "skipped", "seconds"},
#    "kernels": <seek kernels --json output, or null>,
#    "compare": {"ok", "first_failure", "runs": [{"name", "ok", "first_failure"}]},
#    "sass": [{"file", "fp8_tensor_core_instructions", "tma_load_instructions"}], "seconds"}
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
no_build=false
positional=()
for argument in "$@"; do
  case "$argument" in
    --help|-h) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --no-build) no_build=true ;;
    *) positional+=("$argument") ;;
  esac
done
if [ ${#positional[@]} -lt 1 ]; then
  sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
fi
report="$(mkdir -p "${positional[0]}" && cd "${positional[0]}" && pwd)"
build="${positional[1]:-$root/build-gpu}"
started=$(date +%s)
log() { echo "$*" | tee -a "$report/report.txt"; }
: > "$report/report.txt"
log "seekscope gpu-check, $(date -u +%Y-%m-%dT%H:%M:%SZ), $(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo 'no git')"

# --- the device ------------------------------------------------------------------------------
gpu=false
description="no nvidia-smi"
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  gpu=true
  description="$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
fi
log "device: $description"

# --- build ------------------------------------------------------------------------------------
t0=$(date +%s)
build_ok=false
if [ $no_build = true ]; then
  [ -x "$build/seek" ] && build_ok=true
  echo "--no-build: $build as it is" >"$report/build.log"
  grep -q "^CMAKE_CUDA_COMPILER:[A-Z]*=.*nvcc" "$build/CMakeCache.txt" 2>/dev/null && echo "-- seekscope: CUDA kernels ON" >>"$report/build.log"
elif cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSEEK_VIEWER=OFF \
     -DCMAKE_CUDA_ARCHITECTURES="90a-real;80" >"$report/build.log" 2>&1 &&
   cmake --build "$build" -j"$(nproc)" >>"$report/build.log" 2>&1; then
  build_ok=true
fi
build_seconds=$(( $(date +%s) - t0 ))
log "build: $([ $build_ok = true ] && echo ok || echo FAILED, see build.log) in ${build_seconds} s"
grep -q "CUDA kernels ON" "$report/build.log" || log "  note: this build has no CUDA kernels (nvcc not found); only the emulator runs"

# --- ctest -L gpu ------------------------------------------------------------------------------
passed=0; failed=0; skipped=0; ctest_seconds=0
if [ $build_ok = true ]; then
  t0=$(date +%s)
  ctest --test-dir "$build" -L gpu -j"$(nproc)" --output-on-failure >"$report/ctest-gpu.log" 2>&1
  ctest_seconds=$(( $(date +%s) - t0 ))
  passed=$(grep -c " Passed " "$report/ctest-gpu.log")
  failed=$(grep -c "\*\*\*Failed\|\*\*\*Exception\|\*\*\*Timeout" "$report/ctest-gpu.log")
  skipped=$(grep -c "Skipped\|\*\*\*Not Run" "$report/ctest-gpu.log")
  log "ctest -L gpu: $passed passed, $failed failed, $skipped skipped, in ${ctest_seconds} s"
fi

# --- seek kernels at V3 sizes -----------------------------------------------------------------
# One run: the table goes to report.txt, the JSON (every output's error, bytes, FLOPs, times) to
# kernels.json. Exit 1 means a kernel beyond its tolerance (the table says which).
kernels_json=null
if [ $build_ok = true ] && [ $gpu = true ]; then
  t0=$(date +%s)
  "$build/seek" kernels --device cuda --scale v3 --repeats 5 --json-out "$report/kernels.json" >"$report/kernels.txt" 2>&1
  log "seek kernels --device cuda --scale v3: exit $? in $(( $(date +%s) - t0 )) s"
  cat "$report/kernels.txt" >> "$report/report.txt"
  [ -s "$report/kernels.json" ] && kernels_json="$(cat "$report/kernels.json")"
else
  log "seek kernels --device cuda: not run ($([ $gpu = true ] && echo 'the build failed' || echo 'no GPU'))"
fi

# --- CPU against GPU on the toy model -----------------------------------------------------------
compare_ok=null; first_failure=null; runs="[]"
if [ $build_ok = true ] && [ $gpu = true ]; then
  work="$report/traces"
  mkdir -p "$work"
  compare_ok=true
  runs=""
  for run in "absorb:--attn absorb" "naive:--attn naive" "decode:--attn absorb --decode"; do
    name="${run%%:*}"; flags="${run#*:}"
    ok=false; failure=null
    # shellcheck disable=SC2086
    if "$build/seek" step --model "$root/data/toy/grpo" --prompt "31415+92653=" $flags --trace "$work/cpu-$name.safetensors" --quiet >"$work/step-cpu-$name.log" 2>&1 &&
       "$build/seek" step --model "$root/data/toy/grpo" --prompt "31415+92653=" $flags --device cuda --trace "$work/cuda-$name.safetensors" --quiet >"$work/step-cuda-$name.log" 2>&1 &&
       "$build/seek" compare "$work/cpu-$name.safetensors" "$work/cuda-$name.safetensors" --tol auto --json >"$work/compare-$name.json" 2>&1; then
      ok=true
    else
      compare_ok=false
    fi
    [ -s "$work/compare-$name.json" ] && failure="$(/usr/bin/python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1]))["first_failure"]))' "$work/compare-$name.json" 2>/dev/null || echo null)"
    [ $ok = false ] && [ "$first_failure" = null ] && first_failure="$failure"
    runs="${runs:+$runs, }{\"name\": \"$name\", \"ok\": $ok, \"first_failure\": $failure}"
    log "toy model, CPU against GPU ($name): $([ $ok = true ] && echo 'every tensor within the tolerance rule' || echo "beyond tolerance from $failure (see traces/)")"
  done
  runs="[$runs]"
fi

# --- tensor-core machine code -----------------------------------------------------------------
sass="[]"
if [ $build_ok = true ] && command -v cuobjdump >/dev/null; then
  library="$(find "$build" -name 'libseek_gpu.a' | head -1)"
  if [ -n "$library" ]; then
    cuobjdump --dump-sass "$library" >"$report/sass.txt" 2>&1 || true
    count=$(grep -cE "HGMMA|QGMMA|HMMA|QMMA|IMMA" "$report/sass.txt" || true)
    tma=$(grep -cE "UTMALDG" "$report/sass.txt" || true)  # fp8_gemm's variant 5: TMA tile loads
    sass="[{\"file\": \"libseek_gpu.a\", \"fp8_tensor_core_instructions\": ${count:-0}, \"tma_load_instructions\": ${tma:-0}}]"
    log "tensor-core instructions in libseek_gpu.a (HGMMA/QGMMA/HMMA/QMMA): ${count:-0}; TMA loads (UTMALDG): ${tma:-0}"
  fi
fi

seconds=$(( $(date +%s) - started ))
log "total: ${seconds} s"
cat >"$report/report.json" <<EOF
{"date": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "device": {"available": $gpu, "description": "$(echo "$description" | sed 's/"/\\"/g')"},
 "build": {"ok": $build_ok, "seconds": $build_seconds},
 "ctest_gpu": {"passed": $passed, "failed": $failed, "skipped": $skipped, "seconds": $ctest_seconds},
 "kernels": $kernels_json,
 "compare": {"ok": $compare_ok, "first_failure": $first_failure, "runs": $runs},
 "sass": $sass,
 "seconds": $seconds}
EOF
[ $gpu = true ] || log "no GPU on this machine: the report holds what ran without one"
exit 0
