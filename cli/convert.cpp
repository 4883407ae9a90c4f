// seek convert: rewrite an HF-layout checkpoint in FP8, BF16 or F32.
#include <cstdio>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../core/checkpoint.h"
#include "../core/run_folder.h"
#include "commands.h"

namespace seek::cli {

static const CommandSpec convert_spec = {
    "convert",
    "convert a checkpoint between FP8, BF16 and F32 in the HF layout",
    "Reads the checkpoint in --in (config.json plus model.safetensors, or shards with\n"
    "model.safetensors.index.json), turns every tensor into float32 and writes --out/config.json and\n"
    "--out/model.safetensors in the precision --to asks for:\n"
    "  fp8   the layout of the published DeepSeek-V3 checkpoint: every 2-D linear weight as F8_E4M3\n"
    "        with F32 block scales '<name>_scale_inv' [ceil(rows/128), ceil(cols/128)]:\n"
    "            s = max(amax of the 128x128 block, 1e-4) / 448, code = E4M3(w / s), w ~= code * s\n"
    "        (--ue8m0, or scale_fmt ue8m0 in the input config: s rounded up to a power of two);\n"
    "        embeddings, lm_head, the MoE gate, MTP's eh_proj and shared head and the norms in BF16,\n"
    "        e_score_correction_bias in F32; config.json gets quantization_config.\n"
    "  bf16  every '*.weight' in BF16 (round to nearest even), other tensors in F32, FP8 weights\n"
    "        dequantized (w = code * scale_inv, blockwise), no quantization_config.\n"
    "  f32   everything in F32, FP8 weights dequantized.\n"
    "FP8 inputs are read with their '<name>_scale_inv' (a multiplier, despite the name); a missing\n"
    "scale or a scale grid of the wrong shape is an error naming the tensor. Round trips are exact\n"
    "where the formats allow: fp8 -> bf16 -> fp8 and fp8 -> f32 -> fp8 give back the same codes.\n"
    "--out must not be --in (convert never overwrites its input); a weight holding a NaN or an\n"
    "infinity is refused with its name.\n"
    "The whole checkpoint is held in memory as float32: meant for the toy and small checkpoints.",
    {
        {"in", "DIR", "the checkpoint to read", "", true},
        {"out", "DIR", "where to write config.json and model.safetensors", "", true},
        {"to", "PRECISION", "fp8, bf16 or f32", "", true},
        {"ue8m0", "", "with --to fp8: power-of-two (UE8M0) block scales", ""},
    },
    "",
    0,
    0,
};

int run_convert(int argc, char** argv) {
    if (wants_help(convert_spec, argc, argv)) return 0;
    const ParsedArgs args = parse_args(convert_spec, argc, argv);
    const std::string in_dir = args.str("in"), out_dir = args.str("out");
    const WeightPrecision precision = args.choice("to", precision_from_name);
    if (args.flag("ue8m0") && precision != WeightPrecision::FP8) throw UsageError("--ue8m0 goes with --to fp8");
    // Never overwrite the input (an fp8 conversion is lossy), nor a run folder's checkpoint links.
    std::error_code error;
    if (std::filesystem::equivalent(in_dir, out_dir, error))
        throw UsageError("--out " + out_dir + " is --in " + in_dir + ": convert writes a new folder, never over its input");
    if (inspect_run_folder(out_dir).committed)
        throw UsageError("--out " + out_dir + " holds a training run; convert writes a model folder of its own");

    ModelConfig config = load_config((std::filesystem::path(in_dir) / "config.json").string());
    const Checkpoint checkpoint = open_checkpoint(in_dir);
    // FP8 inputs are read with the block size their config declares.
    const std::vector<int64_t>& block_size = config.quantization.weight_block_size;
    const Tile block = config.quantization.enabled ? Tile{block_size[0], block_size[1]} : kWeightTile;
    if (args.flag("ue8m0")) config.quantization.scale_fmt = "ue8m0";

    std::vector<NamedTensor> tensors;
    for (const SafetensorsFile& shard : checkpoint.shards) {
        for (const TensorInfo& info : shard.tensors) {
            // A scale travels with its FP8 weight: load_weight applies it, the writer makes new ones.
            if (is_scale_of_weight(checkpoint, info.name)) continue;
            tensors.push_back({info.name, info.shape, load_weight(checkpoint, info.name, info.shape, block)});
        }
    }
    write_checkpoint(out_dir, config, tensors, precision);

    // Read back what was written: the summary doubles as a check that it opens.
    const Checkpoint written = open_checkpoint(out_dir);
    std::map<std::string, int64_t> tensors_per_dtype;
    uint64_t bytes = 0;
    for (const TensorInfo& info : written.shards.at(0).tensors) {
        ++tensors_per_dtype[dtype_name(info.dtype)];
        bytes += info.end - info.begin;
    }
    std::printf("read %zu tensors from %s\n", tensors.size(), in_dir.c_str());
    std::printf("wrote %s/model.safetensors (%s, %llu bytes of tensor data):", out_dir.c_str(), precision_name(precision),
                static_cast<unsigned long long>(bytes));
    for (const auto& [dtype, count] : tensors_per_dtype) std::printf(" %lld %s", static_cast<long long>(count), dtype.c_str());
    std::printf("\nwrote %s/config.json (%s)\n", out_dir.c_str(),
                precision == WeightPrecision::FP8 ? "with quantization_config" : "without quantization_config");
    return 0;
}

}  // namespace seek::cli
