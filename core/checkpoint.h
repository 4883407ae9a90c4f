// Model weights in the HF DeepSeek checkpoint layout, whatever their precision (the published V3 checkpoint's, read as HF transformers reads it).
//
// Reading: a weight comes back as a float32 Mat whatever it is stored as: F32, F16 and BF16 are
// decoded; F8_E4M3 (or F8_E5M2) is decoded and multiplied, block by block, by the F32 tensor
// "<name>_scale_inv" stored next to it:
//     W[r, c] = decode(code[r, c]) * scale_inv[r / 128, c / 128],  scale_inv [ceil(R/128), ceil(C/128)]
// (a multiplier, despite its name; edge blocks are partial, e.g. kv_a_proj_with_mqa's 576 rows
// make 5 block rows, the last one 64 rows high).
//
// Writing: a directory with config.json and model.safetensors, in one of three precisions:
//     f32   every tensor F32
//     bf16  every "*.weight" BF16 (round to nearest even), other tensors (e_score_correction_bias) F32
//     fp8   like the published V3 checkpoint: the 2-D linear weights F8_E4M3 with 128x128 block
//           scales "<name>_scale_inv" (s = amax / 448, or a power of two with scale_fmt ue8m0);
//           embeddings, lm_head, the MoE gate, MTP's eh_proj and shared head, and the norms stay
//           BF16; e_score_correction_bias stays F32; config.json gets quantization_config.
#pragma once

#include <string>
#include <vector>

#include "config.h"
#include "quantize.h"
#include "safetensors.h"
#include "tensor.h"

namespace seek {

enum class WeightPrecision { F32, BF16, FP8 };
const char* precision_name(WeightPrecision precision);  // "f32", "bf16", "fp8"
// "f32", "bf16" or "fp8"; anything else throws std::invalid_argument naming the text.
WeightPrecision precision_from_name(const std::string& name);

// What a checkpoint stores its weights in: fp8 when any tensor is F8_E4M3 or F8_E5M2, else bf16
// when any is BF16 or F16, else f32. Trace metadata records it ("precision") for the tolerance rule.
WeightPrecision stored_precision(const Checkpoint& checkpoint);

// "model.layers.0.self_attn.kv_a_proj_with_mqa.weight" -> "...kv_a_proj_with_mqa.weight_scale_inv"
std::string scale_inv_name(const std::string& weight_name);
// True for "<w>_scale_inv" when the checkpoint also holds <w>: the scales of an FP8 weight.
bool is_scale_of_weight(const Checkpoint& checkpoint, const std::string& name);
// True for the weights an FP8 checkpoint stores as F8_E4M3: 2-D "*.weight" tensors except the
// embeddings, the output heads (lm_head, MTP's shared_head.head), the MoE gate and MTP's eh_proj.
bool is_fp8_weight(const std::string& name, const Shape& shape);

// Tensor `name` as float32 [shape[0], product of the rest], dequantized if it is FP8 with
// `block`-sized scales. Throws naming the file and tensor when it is missing, has another shape
// than `expected`, is FP8 without its scale_inv or with a scale grid of the wrong shape, has a
// dtype that is not a floating-point one, or holds a NaN or an infinity (with its index).
Mat load_weight(const Checkpoint& checkpoint, const std::string& name, const Shape& expected,
                const Tile& block = kWeightTile);
// The same with the shape the checkpoint stores, and 128x128 blocks.
Mat load_weight(const Checkpoint& checkpoint, const std::string& name);

// Before a model the config implies is allocated: the checkpoint must hold what the config says,
// read from its header alone. embed_tokens and lm_head must be [vocab_size, hidden_size], the layers
// must be numbered 0 .. num_hidden_layers - 1 (+ the MTP layer), and its tensors (FP8 scales and the
// MTP layer's copies of embed_tokens and the head left out) must hold at least the parameters the
// config implies (less the routed experts when `routed_experts_generated`: a source that generates
// those the checkpoint lacks). Throws naming config.json, the checkpoint and the tensor or field.
void check_checkpoint_matches_config(const Checkpoint& checkpoint, const ModelConfig& config,
                                     const std::string& config_path, bool routed_experts_generated = false);
// The MTP layer's copies of the embedding and the head (reference 1.9): stored, never loaded.
bool is_mtp_copy(const ModelConfig& config, const std::string& name);

// One float tensor to store; `values` is [shape[0], product of the rest] (1-D: [n, 1]).
struct NamedTensor {
    std::string name;
    Shape shape;
    Mat values;
};

// The safetensors entries of one tensor at `precision`: one, or two for an FP8 weight (the
// E4M3 codes, then "<name>_scale_inv"). FP8 blocks are `block`-sized with `scale_format` scales.
std::vector<TensorToWrite> encode_for_checkpoint(const NamedTensor& tensor, WeightPrecision precision,
                                                 const Tile& block = kWeightTile,
                                                 ScaleFormat scale_format = ScaleFormat::Float32);

// Writes DIR/model.safetensors and DIR/config.json (creating DIR), each atomically. For fp8 the
// config gets quantization_config (block size and scale_fmt taken from config.quantization when it
// is enabled, otherwise 128x128 and float scales); for f32 and bf16 it is removed.
void write_checkpoint(const std::string& directory, const ModelConfig& config, const std::vector<NamedTensor>& tensors,
                      WeightPrecision precision);

}  // namespace seek
