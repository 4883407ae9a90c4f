#include "checkpoint.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <stdexcept>

#include "analytics.h"  // count_parameters
#include "fp8.h"
#include "trace.h"  // format_shape, format_index

namespace seek {

namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string tensor_context(const std::string& path, const std::string& name) {
    return path + ": tensor '" + name + "'";
}

// The FP8 weight `info` (in `file`) times its block scales from `checkpoint`.
Mat dequantize_fp8_weight(const Checkpoint& checkpoint, const SafetensorsFile& file, const TensorInfo& info,
                          const Tile& block) {
    const std::string context = tensor_context(file.path, info.name);
    if (info.shape.size() != 2) {
        throw std::runtime_error(context + " is " + dtype_name(info.dtype) + " with shape " + format_shape(info.shape) +
                                 "; an FP8 weight must be 2-D");
    }
    const std::string scale_name = scale_inv_name(info.name);
    if (!checkpoint.contains(scale_name)) {
        throw std::runtime_error(context + " is " + dtype_name(info.dtype) + " but the checkpoint " +
                                 checkpoint.directory + " has no '" + scale_name + "' (its " + tile_name(block) +
                                 " block scales)");
    }
    const int64_t rows = info.shape[0], cols = info.shape[1];
    const Shape grid = {tile_count(rows, block.rows), tile_count(cols, block.cols)};
    const SafetensorsFile& scale_file = checkpoint.shard_for(scale_name);
    const TensorInfo& scale_info = scale_file.at(scale_name);
    if (scale_info.shape != grid) {
        throw std::runtime_error(tensor_context(scale_file.path, scale_name) + " has shape " +
                                 format_shape(scale_info.shape) + ", expected " + format_shape(grid) + " for the " +
                                 tile_name(block) + " blocks of '" + info.name + "' " + format_shape(info.shape));
    }
    const Mat scales = read_matrix(scale_file, scale_name);  // decodes F32/BF16/F16, names other dtypes

    const Fp8Format format = info.dtype == DType::F8_E4M3 ? Fp8Format::E4M3 : Fp8Format::E5M2;
    const uint8_t* codes = file.bytes(info);
    Mat weight(rows, cols);
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            weight(r, c) = fp8_decode(codes[r * cols + c], format) * scales(r / block.rows, c / block.cols);
    return weight;
}

}  // namespace

const char* precision_name(WeightPrecision precision) {
    switch (precision) {
        case WeightPrecision::F32: return "f32";
        case WeightPrecision::BF16: return "bf16";
        case WeightPrecision::FP8: return "fp8";
    }
    throw std::logic_error("precision_name: invalid WeightPrecision");
}

WeightPrecision precision_from_name(const std::string& name) {
    for (WeightPrecision precision : {WeightPrecision::F32, WeightPrecision::BF16, WeightPrecision::FP8})
        if (name == precision_name(precision)) return precision;
    throw std::invalid_argument("unknown precision '" + name + "' (expected fp8, bf16 or f32)");
}

WeightPrecision stored_precision(const Checkpoint& checkpoint) {
    WeightPrecision precision = WeightPrecision::F32;
    for (const SafetensorsFile& shard : checkpoint.shards)
        for (const TensorInfo& info : shard.tensors) {
            if (info.dtype == DType::F8_E4M3 || info.dtype == DType::F8_E5M2) return WeightPrecision::FP8;
            if (info.dtype == DType::BF16 || info.dtype == DType::F16) precision = WeightPrecision::BF16;
        }
    return precision;
}

std::string scale_inv_name(const std::string& weight_name) { return weight_name + "_scale_inv"; }

bool is_scale_of_weight(const Checkpoint& checkpoint, const std::string& name) {
    const std::string suffix = scale_inv_name("");
    return ends_with(name, suffix) && checkpoint.contains(name.substr(0, name.size() - suffix.size()));
}

bool is_fp8_weight(const std::string& name, const Shape& shape) {
    if (shape.size() != 2 || !ends_with(name, ".weight")) return false;
    // Kept in BF16 by the published checkpoint (the published checkpoint; the paper keeps the
    // embedding, the output head and the MoE gating in higher precision).
    for (const char* kept : {"embed_tokens.", "lm_head.", "shared_head.head.", ".mlp.gate.", "eh_proj."})
        if (name.find(kept) != std::string::npos) return false;
    return true;
}

Mat load_weight(const Checkpoint& checkpoint, const std::string& name, const Shape& expected, const Tile& block) {
    const SafetensorsFile& file = checkpoint.shard_for(name);
    const TensorInfo& info = file.at(name);
    if (info.shape != expected) {
        throw std::runtime_error(tensor_context(file.path, name) + " has shape " + format_shape(info.shape) +
                                 ", expected " + format_shape(expected));
    }
    Mat weight;
    switch (info.dtype) {
        case DType::F32:
        case DType::F16:
        case DType::BF16: weight = read_matrix(file, name); break;
        case DType::F8_E4M3:
        case DType::F8_E5M2: weight = dequantize_fp8_weight(checkpoint, file, info, block); break;
        default:
            throw std::runtime_error(tensor_context(file.path, name) + " has dtype " + dtype_name(info.dtype) +
                                     "; a weight must be F32, F16, BF16, F8_E4M3 or F8_E5M2");
    }
    // A NaN or an infinity in a weight poisons every activation after it: name it here, at load,
    // rather than as a NaN loss or a strange sample much later.
    for (Eigen::Index i = 0; i < weight.size(); ++i) {
        if (!std::isfinite(weight.data()[i]))
            throw std::runtime_error(tensor_context(file.path, name) + " holds " + std::to_string(weight.data()[i]) +
                                     " at " + format_index(i, info.shape) + "; weights must be finite");
    }
    return weight;
}

Mat load_weight(const Checkpoint& checkpoint, const std::string& name) {
    return load_weight(checkpoint, name, checkpoint.shard_for(name).at(name).shape);
}

bool is_mtp_copy(const ModelConfig& config, const std::string& name) {
    const std::string prefix = "model.layers." + std::to_string(config.num_hidden_layers) + ".";
    return config.num_nextn_predict_layers > 0 &&
           (name == prefix + "embed_tokens.weight" || name == prefix + "shared_head.head.weight");
}

void check_checkpoint_matches_config(const Checkpoint& checkpoint, const ModelConfig& config,
                                     const std::string& config_path, bool routed_experts_generated) {
    // A tied head would read the embedding as lm_head; the forward keeps lm_head as its own tensor, as
    // DeepSeek V2 and V3 do.
    if (config.tie_word_embeddings)
        throw std::runtime_error(config_path + ": tie_word_embeddings true (the head sharing the embedding's matrix) is "
                                 "not implemented: DeepSeek V2 and V3 keep a separate lm_head");
    const Shape table = {config.vocab_size, config.hidden_size};
    for (const char* name : {"model.embed_tokens.weight", "lm_head.weight"}) {
        if (!checkpoint.contains(name)) continue;  // loading names it as missing
        const SafetensorsFile& file = checkpoint.shard_for(name);
        if (file.at(name).shape != table)
            throw std::runtime_error(tensor_context(file.path, name) + " has shape " + format_shape(file.at(name).shape) +
                                     " but " + config_path + " says [vocab_size, hidden_size] = " + format_shape(table));
    }
    // Elements of the tensors a model of this config loads, and the highest layer number seen.
    unsigned __int128 elements = 0;
    int64_t highest_layer = -1;
    for (const auto& [name, shard] : checkpoint.shard_of) {
        if (is_scale_of_weight(checkpoint, name) || is_mtp_copy(config, name)) continue;
        elements += static_cast<uint64_t>(checkpoint.shards[shard].at(name).numel());
        const std::string layers = "model.layers.";
        if (name.compare(0, layers.size(), layers) == 0) {
            const size_t end = name.find('.', layers.size());
            const std::string digits = name.substr(layers.size(), end - layers.size());
            if (!digits.empty() && digits.size() <= 9 && digits.find_first_not_of("0123456789") == std::string::npos)
                highest_layer = std::max<int64_t>(highest_layer, std::stoll(digits));
        }
    }
    const int64_t layers = config.num_hidden_layers + std::min<int64_t>(config.num_nextn_predict_layers, 1);
    if (highest_layer + 1 != layers)
        throw std::runtime_error(checkpoint.directory + ": the checkpoint has layers 0 .. " + std::to_string(highest_layer) +
                                 " but " + config_path + " says num_hidden_layers " +
                                 std::to_string(config.num_hidden_layers) + " and num_nextn_predict_layers " +
                                 std::to_string(config.num_nextn_predict_layers));
    // Parameters (the counts leave out the MTP module and the head): a config that needs far more than
    // the checkpoint holds cannot match it, and the allocation stays within a small multiple of the
    // file. Half is the line: a few missing tensors pass here, to be named one by one when read.
    const ParameterCounts counts = count_parameters(config);
    const int64_t at_least = counts.total - counts.lm_head - (routed_experts_generated ? counts.routed_experts : 0);
    if (2 * elements < static_cast<unsigned __int128>(at_least)) {
        throw std::runtime_error(checkpoint.directory + ": the checkpoint holds " +
                                 std::to_string(static_cast<uint64_t>(elements)) + " parameters but " + config_path +
                                 " implies " + std::to_string(at_least) +
                                 " (hidden_size, the attention and expert sizes): they do not belong together");
    }
}

std::vector<TensorToWrite> encode_for_checkpoint(const NamedTensor& tensor, WeightPrecision precision,
                                                 const Tile& block, ScaleFormat scale_format) {
    if (tensor.values.size() != shape_numel(tensor.shape)) {
        throw std::invalid_argument("tensor '" + tensor.name + "' has " + std::to_string(tensor.values.size()) +
                                    " values for shape " + format_shape(tensor.shape));
    }
    const bool is_weight = ends_with(tensor.name, ".weight");
    if (precision == WeightPrecision::FP8 && is_fp8_weight(tensor.name, tensor.shape)) {
        const QuantizedMatrix q = quantize(tensor.values, block, scale_format);
        const Shape grid = {q.scales.rows(), q.scales.cols()};
        return {TensorToWrite{tensor.name, DType::F8_E4M3, tensor.shape, q.codes},
                tensor_f32(scale_inv_name(tensor.name), grid, q.scales.data())};
    }
    if (precision != WeightPrecision::F32 && is_weight) {
        return {TensorToWrite{tensor.name, DType::BF16, tensor.shape, bf16_bytes(tensor.values.data(), tensor.values.size())}};
    }
    return {tensor_f32(tensor.name, tensor.shape, tensor.values.data())};
}

void write_checkpoint(const std::string& directory, const ModelConfig& config, const std::vector<NamedTensor>& tensors,
                      WeightPrecision precision) {
    namespace fs = std::filesystem;
    ModelConfig out = config;
    if (precision == WeightPrecision::FP8) {
        if (!out.quantization.enabled) out.quantization = QuantizationConfig{};
        out.quantization.enabled = true;
    } else {
        out.quantization.enabled = false;
    }
    validate_config(out, config.name);  // before writing anything; save_config checks it again
    const Tile block = {out.quantization.weight_block_size[0], out.quantization.weight_block_size[1]};
    const ScaleFormat scale_format = out.quantization.scale_fmt == "ue8m0" ? ScaleFormat::PowerOfTwo : ScaleFormat::Float32;

    // A leftover index would make open_checkpoint read the old shards instead of this file.
    const fs::path dir(directory);
    if (fs::exists(dir / "model.safetensors.index.json")) {
        throw std::runtime_error(directory + ": holds a sharded checkpoint (model.safetensors.index.json); "
                                 "write to an empty directory");
    }
    std::vector<TensorToWrite> encoded;
    for (const NamedTensor& tensor : tensors) {
        for (TensorToWrite& entry : encode_for_checkpoint(tensor, precision, block, scale_format))
            encoded.push_back(std::move(entry));
    }
    make_directories(directory);
    write_safetensors((dir / "model.safetensors").string(), encoded, {{"format", "pt"}});
    save_config(out, (dir / "config.json").string());
}

}  // namespace seek
