#!/bin/bash
# Hostile inputs through the command line, each a reproducer that once hung, clobbered a model or
# was accepted: every one must now end at once (10 s at most) with the exit status and a message
# naming the file and field. Prints each case and what seek said.
# usage: bad_inputs.sh SEEK DATA_DIR
set -uo pipefail
seek=$(realpath "$1")
data=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
failures=0

# expect NAME STATUS REGEX ARGS...: seek ARGS exits STATUS within 10 s, its output matching REGEX.
expect() {
    local name=$1 status=$2 regex=$3
    shift 3
    local out actual=0
    out=$(timeout 10 "$seek" "$@" 2>&1) || actual=$?
    local first
    first=$(grep -E "$regex" <<< "$out" | head -1 | cut -c1-220)
    if [ "$actual" -eq "$status" ] && [ -n "$first" ]; then
        echo "ok    $name: exit $actual: $first"
    else
        echo "FAIL  $name: exit $actual (expected $status), output:"
        head -c 600 <<< "$out"
        echo
        failures=$((failures + 1))
    fi
}

# A config.json: the toy's, with some fields changed (sed on its "key": value lines).
config_with() {  # config_with FILE SED_SCRIPT
    sed -E "$2" "$data/toy/base/config.json" > "$1"
}

cp -r "$data/toy/base" model
cp -r "$data/toy/base" model_copy
checksum=$(cat model/model.safetensors | md5sum)

# Runs that would destroy what they were given
expect "train --out over a model folder" 2 "already holds a model \(config.json, model.safetensors\)" \
    train --out model --steps 2 --batch 2
expect "grpo --model X --out X" 2 "already holds a model" grpo --model model --out model --steps 1
expect "convert --in X --out X" 2 "is --in .*never over its input" convert --in model --out model --to fp8
expect "convert --in X --out X/." 2 "is --in .*never over its input" convert --in model --out model/. --to fp8
[ "$(cat model/model.safetensors | md5sum)" = "$checksum" ] || { echo "FAIL  model/model.safetensors changed"; failures=$((failures + 1)); }

# Work before bounds
config_with layers.json 's/"num_hidden_layers": [0-9]+/"num_hidden_layers": 1000000000000000000/'
expect "num_hidden_layers 10^18 (seek info)" 1 "layers.json: num_hidden_layers is 1000000000000000000, more than the limit 4096" \
    info --config layers.json
expect "num_hidden_layers 10^18 (seek train)" 1 "num_hidden_layers is 1000000000000000000" train --config layers.json --out never
config_with vocab.json 's/"vocab_size": [0-9]+/"vocab_size": 4611686018427387904/'
expect "vocab_size 2^62" 1 "vocab_size is 4611686018427387904, more than the limit" info --config vocab.json
config_with huge.json 's/"hidden_size": [0-9]+/"hidden_size": 1000000000/'
expect "hidden_size 10^9" 1 "hidden_size is 1000000000, more than the limit 262144" train --config huge.json --out never
config_with big.json 's/"moe_intermediate_size": [0-9]+/"moe_intermediate_size": 1000000/; s/"n_routed_experts": [0-9]+/"n_routed_experts": 65536/; s/"n_group": [0-9]+/"n_group": 1/; s/"topk_group": [0-9]+/"topk_group": 1/; s/"hidden_size": [0-9]+/"hidden_size": 1024/'
expect "a config of 8 x 10^14 parameters" 1 "more than the limit 70368744177664" info --config big.json
mkdir wide && cp model/model.safetensors wide/ && config_with wide/config.json 's/"hidden_size": [0-9]+/"hidden_size": 20000/'
expect "config hidden_size 20000 beside a toy checkpoint" 1 "wide/model.safetensors: tensor 'model.embed_tokens.weight' has shape \[128, 64\] but wide/config.json says" \
    eval --model wide --n 1
mkdir fifo && cp model/config.json fifo/ && mkfifo fifo/model.safetensors
expect "a FIFO named model.safetensors" 1 "fifo/model.safetensors: is a FIFO, not a regular file" eval --model fifo --n 1
mkdir dir_config && mkdir dir_config/config.json && cp model/model.safetensors dir_config/
expect "a directory named config.json" 1 "dir_config/config.json: is a directory, not a regular file" eval --model dir_config --n 1
mkfifo problems.fifo
expect "a FIFO as --problems" 1 "problems.fifo: is a FIFO" eval --model model --problems problems.fifo

# Malformed numbers and files
config_with overflow.json 's/"rope_theta": [0-9.e+]+/"rope_theta": 1e400/'
expect "a number overflowing a double" 1 "overflow.json: invalid JSON: .*1e400" info --config overflow.json
config_with unsigned.json 's/"hidden_size": [0-9]+/"hidden_size": 18446744073709551615/'
expect "hidden_size 2^64 - 1" 1 "field 'hidden_size' is 18446744073709551615, out of range" info --config unsigned.json
printf '{"__metadata__":{},"w":{"dtype":"F32","shape":[0,4611686018427387904,2],"data_offsets":[0,0]}}' > header.json
{ printf "$(printf '\\x%02x' $(( $(stat -c %s header.json) )) 0 0 0 0 0 0 0)"; cat header.json; } > empty.safetensors
expect "a [0, 2^62, 2] tensor" 1 "tensor 'w': shape \[0, 4611686018427387904, 2\] overflows the element count" \
    compare empty.safetensors empty.safetensors
{ echo "12+34"; head -c 10000000 /dev/zero | tr '\0' '7'; echo; } > long.txt
expect "a 10 MB problem line" 1 "long.txt:2: the line has 10000000 bytes; a problem line has at most 4096" eval --model model --problems long.txt
echo "1234567890123456789+1" > digits.txt
expect "a 19-digit operand" 1 "digits.txt:1: '1234567890123456789\+1': operand '1234567890123456789' has 19 digits; add allows at most 18" \
    eval --model model --problems digits.txt
out_len=$(timeout 10 "$seek" eval --model model --problems long.txt 2>&1 | wc -c)
[ "$out_len" -lt 400 ] || { echo "FAIL  the long-line error is $out_len bytes long"; failures=$((failures + 1)); }

# NaN and infinite weights
cp -r model nan
/usr/bin/python3 - nan/model.safetensors <<'EOF'
import json, struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
begin = header["model.layers.1.mlp.experts.3.up_proj.weight"]["data_offsets"][0]
at = 8 + n + begin + 4 * 5  # element 5: row 0, column 5
data[at:at + 4] = struct.pack("<f", float("nan"))
open(path, "wb").write(data)
EOF
expect "a NaN weight (seek eval)" 1 "nan/model.safetensors: tensor 'model.layers.1.mlp.experts.3.up_proj.weight' holds nan at \[0, 5\]" \
    eval --model nan --n 1
expect "a NaN weight (seek convert)" 1 "tensor 'model.layers.1.mlp.experts.3.up_proj.weight' holds nan" convert --in nan --out nan_fp8 --to fp8
[ ! -e nan_fp8/model.safetensors ] || { echo "FAIL  convert wrote nan_fp8/model.safetensors"; failures=$((failures + 1)); }

# Output folders
expect "an --out under a file" 1 "/dev/null.*: cannot create the directory: Not a directory" train --out /dev/null/run --steps 1
"$seek" train --config "$here/data/configs/tiny.json" --steps 2 --batch 2 --eval-every 0 --out trained > /dev/null
expect "grpo --resume on a train folder" 1 "trained holds a .seek train. run .*not a .seek grpo. one" grpo --out trained --resume
expect "train --out over a run without --resume" 2 "already holds a run: pass --resume" train --out trained --steps 2
cp -r trained torn && cp model/model.safetensors torn/checkpoint/model.safetensors
expect "a checkpoint with another model.safetensors" 1 "torn/step-00000002/model.safetensors: 3125048 bytes, the manifest says" \
    train --out torn --resume

if [ "$failures" -ne 0 ]; then echo "$failures case(s) failed"; exit 1; fi
echo "every bad input was refused at once, by name"
