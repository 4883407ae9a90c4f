// Checkpoints in the HF layout: FP8 weights with weight_scale_inv (edge blocks included), the
// precision round trips f32 -> fp8 -> f32 and fp8 -> bf16 -> fp8, and every way a truncated or
// inconsistent FP8 checkpoint is refused with the tensor named.
#include <catch2/catch.hpp>
#include <algorithm>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include <fstream>

#include "core/checkpoint.h"
#include "core/random.h"
#include "temp_dir.h"

using namespace seek;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

const std::string kv_a = "model.layers.0.self_attn.kv_a_proj_with_mqa.weight";
const std::string o_proj = "model.layers.0.self_attn.o_proj.weight";
const std::string down = "model.layers.1.mlp.experts.0.down_proj.weight";

NamedTensor generated(const std::string& name, const Shape& shape, float std) {
    const int64_t rows = shape[0], cols = shape.size() > 1 ? shape[1] : 1;
    return {name, shape, generated_matrix(5, name, rows, cols, std)};
}

// A small model's worth of tensors with the published checkpoint's names: linear weights with
// partial 128x128 blocks in both directions, and the tensors an FP8 checkpoint keeps in BF16/F32.
std::vector<NamedTensor> sample_tensors() {
    return {generated("model.embed_tokens.weight", {40, 64}, 1.0f),
            generated("model.layers.0.input_layernorm.weight", {64}, 1.0f),
            generated(kv_a, {200, 64}, 0.02f),  // 200 rows = 1.56 blocks
            generated(o_proj, {64, 300}, 0.02f),
            generated("model.layers.1.mlp.gate.weight", {16, 64}, 0.02f),
            generated("model.layers.1.mlp.gate.e_score_correction_bias", {16}, 0.01f),
            generated(down, {64, 48}, 0.02f),
            generated("lm_head.weight", {40, 64}, 0.02f)};
}

std::vector<NamedTensor> load_all(const std::string& directory) {
    const Checkpoint checkpoint = open_checkpoint(directory);
    std::vector<NamedTensor> tensors;
    for (const TensorInfo& info : checkpoint.shards.at(0).tensors) {
        if (is_scale_of_weight(checkpoint, info.name)) continue;
        tensors.push_back({info.name, info.shape, load_weight(checkpoint, info.name)});
    }
    return tensors;
}

// Rewrites a safetensors file keeping every tensor but `drop`, and replacing `replace` (if given).
void rewrite(const std::string& path, const std::string& drop, const TensorToWrite* replace = nullptr) {
    std::vector<TensorToWrite> tensors;
    {
        const SafetensorsFile file = open_safetensors(path);
        for (const TensorInfo& info : file.tensors) {
            if (info.name == drop) continue;
            if (replace && info.name == replace->name) {
                tensors.push_back(*replace);
                continue;
            }
            tensors.push_back({info.name, info.dtype, info.shape,
                               std::vector<uint8_t>(file.bytes(info), file.bytes(info) + (info.end - info.begin))});
        }
    }
    write_safetensors(path, tensors);
}

// The broken FP8 checkpoints of the failure tests, written as valid FP8 checkpoints and then
// damaged in one way each.
void write_fp8_missing_scale(const std::string& directory) {
    write_checkpoint(directory, preset_config("toy"), sample_tensors(), WeightPrecision::FP8);
    rewrite(directory + "/model.safetensors", scale_inv_name(down));
}

void write_fp8_bad_scale_shape(const std::string& directory) {
    write_checkpoint(directory, preset_config("toy"), sample_tensors(), WeightPrecision::FP8);
    const float one = 1.0f;
    const TensorToWrite wrong = tensor_f32(scale_inv_name(kv_a), {1, 1}, &one);  // should be [2, 1]
    rewrite(directory + "/model.safetensors", "", &wrong);
}

void write_truncated(const std::string& directory) {
    write_checkpoint(directory, preset_config("toy"), sample_tensors(), WeightPrecision::FP8);
    const fs::path file = fs::path(directory) / "model.safetensors";
    fs::resize_file(file, fs::file_size(file) - 100);
}

}  // namespace

TEST_CASE("checkpoint: which weights an FP8 checkpoint stores as F8_E4M3", "[checkpoint]") {
    CHECK(is_fp8_weight(kv_a, {576, 7168}));
    CHECK(is_fp8_weight("model.layers.3.mlp.experts.17.gate_proj.weight", {2048, 7168}));
    CHECK(is_fp8_weight("model.layers.3.mlp.shared_experts.down_proj.weight", {7168, 2048}));
    CHECK_FALSE(is_fp8_weight("model.embed_tokens.weight", {129280, 7168}));
    CHECK_FALSE(is_fp8_weight("lm_head.weight", {129280, 7168}));
    CHECK_FALSE(is_fp8_weight("model.layers.3.mlp.gate.weight", {256, 7168}));
    CHECK_FALSE(is_fp8_weight("model.layers.61.eh_proj.weight", {7168, 14336}));
    CHECK_FALSE(is_fp8_weight("model.layers.61.shared_head.head.weight", {129280, 7168}));
    CHECK_FALSE(is_fp8_weight("model.norm.weight", {7168}));  // 1-D
    CHECK_FALSE(is_fp8_weight("model.layers.3.mlp.gate.e_score_correction_bias", {256}));
    CHECK(scale_inv_name(kv_a) == kv_a + "_scale_inv");
    CHECK(precision_from_name("bf16") == WeightPrecision::BF16);
    CHECK_THROWS_WITH(precision_from_name("fp16"), Contains("unknown precision 'fp16'"));
}

TEST_CASE("checkpoint: FP8 edge blocks (576 rows) dequantize block by block", "[checkpoint]") {
    TempDir dir("seek_test_checkpoint");
    // kv_a_proj_with_mqa's shape in V3 is [576, 7168]: 4.5 block rows. Here [576, 130].
    const Mat w = generated_matrix(9, "w", 576, 130, 0.05f);
    const QuantizedMatrix q = quantize(w, kWeightTile);
    REQUIRE(q.scales.rows() == 5);
    REQUIRE(q.scales.cols() == 2);
    write_safetensors(dir.file("model.safetensors"),
                      {TensorToWrite{kv_a, DType::F8_E4M3, {576, 130}, q.codes},
                       tensor_f32(scale_inv_name(kv_a), {5, 2}, q.scales.data())});
    const Mat loaded = load_weight(open_checkpoint(dir.path.string()), kv_a, {576, 130});
    CHECK(loaded == dequantize(q));
    // The last element belongs to the partial block [4, 1] (rows 512..575, columns 128..129).
    CHECK(loaded(575, 129) == fp8_decode(q.codes.back(), Fp8Format::E4M3) * q.scales(4, 1));
    CHECK(q.scales(4, 1) == w.block(512, 128, 64, 2).cwiseAbs().maxCoeff() / 448.0f);
}

TEST_CASE("checkpoint: f32 -> fp8 -> f32 keeps every weight within half an E4M3 ulp", "[checkpoint]") {
    TempDir dir("seek_test_checkpoint");
    const std::string f32_dir = dir.file("f32"), fp8_dir = dir.file("fp8"), back_dir = dir.file("back");
    const std::vector<NamedTensor> original = sample_tensors();
    write_checkpoint(f32_dir, preset_config("toy"), original, WeightPrecision::F32);
    write_checkpoint(fp8_dir, preset_config("toy"), load_all(f32_dir), WeightPrecision::FP8);

    // The published layout: linear weights FP8 with scales, the rest BF16, the bias F32.
    const Checkpoint fp8 = open_checkpoint(fp8_dir);
    const SafetensorsFile& file = fp8.shards.at(0);
    for (const std::string& name : {kv_a, o_proj, down}) CHECK(file.at(name).dtype == DType::F8_E4M3);
    CHECK(file.at(scale_inv_name(kv_a)).shape == Shape{2, 1});
    CHECK(file.at(scale_inv_name(o_proj)).shape == Shape{1, 3});
    CHECK(file.at(scale_inv_name(kv_a)).dtype == DType::F32);
    for (const char* name : {"model.embed_tokens.weight", "model.layers.0.input_layernorm.weight",
                             "model.layers.1.mlp.gate.weight", "lm_head.weight"})
        CHECK(file.at(name).dtype == DType::BF16);
    CHECK(file.at("model.layers.1.mlp.gate.e_score_correction_bias").dtype == DType::F32);
    const ModelConfig config = load_config(fp8_dir + "/config.json");
    CHECK(config.quantization.enabled);
    CHECK(config.quantization.weight_block_size == std::vector<int64_t>{128, 128});

    for (const NamedTensor& tensor : original) {
        if (!is_fp8_weight(tensor.name, tensor.shape)) continue;
        const Mat scales = read_matrix(fp8.shard_for(scale_inv_name(tensor.name)), scale_inv_name(tensor.name));
        const Mat loaded = load_weight(fp8, tensor.name, tensor.shape);
        for (int64_t r = 0; r < loaded.rows(); ++r) {
            for (int64_t c = 0; c < loaded.cols(); ++c) {
                const double x = tensor.values(r, c), s = scales(r / 128, c / 128);
                // Half an ulp at the block's scale, plus the float roundings of x / s and code * s.
                const double bound = fp8_ulp(x / s, Fp8Format::E4M3) / 2 * s + std::ldexp(std::fabs(x), -23);
                INFO(tensor.name << " [" << r << ", " << c << "]");
                REQUIRE(std::fabs(loaded(r, c) - x) <= bound);
            }
        }
    }

    // Back to F32: the dequantized values, exactly, and no quantization_config.
    write_checkpoint(back_dir, load_config(fp8_dir + "/config.json"), load_all(fp8_dir), WeightPrecision::F32);
    const Checkpoint back = open_checkpoint(back_dir);
    CHECK(load_weight(back, kv_a) == load_weight(fp8, kv_a));
    CHECK(back.shards.at(0).at(kv_a).dtype == DType::F32);
    CHECK_FALSE(back.contains(scale_inv_name(kv_a)));
    CHECK_FALSE(load_config(back_dir + "/config.json").quantization.enabled);
    std::ifstream config_text(back_dir + "/config.json");
    CHECK(nlohmann::json::parse(config_text).count("quantization_config") == 0);
}

TEST_CASE("checkpoint: fp8 -> bf16 -> fp8 and fp8 -> f32 -> fp8 give back the same codes", "[checkpoint]") {
    TempDir dir("seek_test_checkpoint");
    for (const std::string scale_fmt : {"", "ue8m0"}) {
        ModelConfig config = preset_config("toy");
        config.quantization.enabled = true;
        config.quantization.scale_fmt = scale_fmt;
        const std::string first = dir.file("fp8_" + scale_fmt);
        write_checkpoint(first, config, sample_tensors(), WeightPrecision::FP8);
        const Checkpoint original = open_checkpoint(first);

        for (WeightPrecision middle : {WeightPrecision::BF16, WeightPrecision::F32}) {
            const std::string via = dir.file(std::string("via_") + precision_name(middle) + scale_fmt);
            const std::string again = via + "_fp8";
            write_checkpoint(via, config, load_all(first), middle);
            write_checkpoint(again, config, load_all(via), WeightPrecision::FP8);
            const Checkpoint result = open_checkpoint(again);
            for (const std::string& name : {kv_a, o_proj, down}) {
                INFO(name << " via " << precision_name(middle) << ", scale_fmt '" << scale_fmt << "'");
                const TensorInfo& a = original.shards[0].at(name);
                const TensorInfo& b = result.shards[0].at(name);
                REQUIRE(b.dtype == DType::F8_E4M3);
                CHECK(std::equal(original.shards[0].bytes(a), original.shards[0].bytes(a) + a.numel(),
                                 result.shards[0].bytes(b)));
                // The scales come back exactly when they are powers of two; otherwise to the
                // precision the middle format kept of the block's amax (BF16: 2^-8 relative).
                const Mat scales_a = read_matrix(original.shards[0], scale_inv_name(name));
                const Mat scales_b = read_matrix(result.shards[0], scale_inv_name(name));
                if (scale_fmt == "ue8m0") {
                    CHECK(scales_a == scales_b);
                } else {
                    CHECK(((scales_a - scales_b).cwiseAbs().array() <= scales_a.array() * std::ldexp(1.0f, -8)).all());
                }
            }
        }
    }
}

TEST_CASE("checkpoint: an FP8 weight without its weight_scale_inv is refused naming the tensor", "[checkpoint]") {
    TempDir dir("seek_test_checkpoint");
    write_fp8_missing_scale(dir.path.string());
    const Checkpoint checkpoint = open_checkpoint(dir.path.string());
    CHECK_THROWS_WITH(load_weight(checkpoint, down),
                      Contains("tensor '" + down + "' is F8_E4M3") && Contains("no '" + down + "_scale_inv'"));
    CHECK(load_weight(checkpoint, kv_a).rows() == 200);  // the other weights still load
}

TEST_CASE("checkpoint: a weight_scale_inv of the wrong shape is refused naming both tensors", "[checkpoint]") {
    TempDir dir("seek_test_checkpoint");
    write_fp8_bad_scale_shape(dir.path.string());
    CHECK_THROWS_WITH(load_weight(open_checkpoint(dir.path.string()), kv_a),
                      Contains("model.safetensors: tensor '" + kv_a + "_scale_inv' has shape [1, 1], expected [2, 1]") &&
                          Contains("blocks of '" + kv_a + "' [200, 64]"));
}

TEST_CASE("checkpoint: a truncated file is refused naming the file and a tensor", "[checkpoint]") {
    TempDir dir("seek_test_checkpoint");
    write_truncated(dir.path.string());
    CHECK_THROWS_WITH(open_checkpoint(dir.path.string()),
                      Contains("model.safetensors: tensor 'lm_head.weight'") && Contains("extend past the data section"));
}

TEST_CASE("checkpoint: shape, dtype and rank mismatches are refused naming the tensor", "[checkpoint]") {
    TempDir dir("seek_test_checkpoint");
    const float values[4] = {1, 2, 3, 4};
    const int32_t ids[2] = {1, 2};
    write_safetensors(dir.file("model.safetensors"),
                      {tensor_f32("w.weight", {2, 2}, values), tensor_i32("ids", {2}, ids),
                       TensorToWrite{"flat.weight", DType::F8_E4M3, {4}, {0x38, 0x38, 0x38, 0x38}},
                       tensor_f32("flat.weight_scale_inv", {1}, values)});
    const Checkpoint checkpoint = open_checkpoint(dir.path.string());
    CHECK_THROWS_WITH(load_weight(checkpoint, "w.weight", {2, 3}),
                      Contains("tensor 'w.weight' has shape [2, 2], expected [2, 3]"));
    CHECK_THROWS_WITH(load_weight(checkpoint, "ids"), Contains("tensor 'ids' has dtype I32"));
    CHECK_THROWS_WITH(load_weight(checkpoint, "flat.weight"), Contains("an FP8 weight must be 2-D"));
    CHECK_THROWS_WITH(load_weight(checkpoint, "absent.weight"), Contains("no tensor 'absent.weight'"));
    CHECK(load_weight(checkpoint, "w.weight", {2, 2})(1, 0) == 3.0f);
}

TEST_CASE("checkpoint: writing over a sharded checkpoint is refused", "[checkpoint]") {
    TempDir dir("seek_test_checkpoint");
    std::ofstream(dir.file("model.safetensors.index.json")) << "{\"weight_map\": {}}";
    CHECK_THROWS_WITH(write_checkpoint(dir.path.string(), preset_config("toy"), sample_tensors(), WeightPrecision::F32),
                      Contains("holds a sharded checkpoint"));
}

// Not run by default (hidden tag): tests/cli_tests_fp8.cmake runs it in the CLI tests' working
// directory to write the checkpoints that the `seek convert` tests read, and checks them.
TEST_CASE("checkpoint: write the seek convert test inputs", "[.convert_inputs]") {
    fs::remove_all("convert_in");
    write_checkpoint("convert_in", preset_config("toy"), sample_tensors(), WeightPrecision::F32);
    for (const char* broken : {"convert_missing_scale", "convert_bad_scale", "convert_truncated"}) fs::remove_all(broken);
    write_fp8_missing_scale("convert_missing_scale");
    write_fp8_bad_scale_shape("convert_bad_scale");
    write_truncated("convert_truncated");

    // The fixtures are what the convert tests take them for: the clean one reads back exactly, each
    // broken one fails the way its test expects.
    const std::vector<NamedTensor> expected = sample_tensors(), written = load_all("convert_in");
    CHECK(written.size() == expected.size());
    for (const NamedTensor& tensor : expected) {
        INFO(tensor.name);
        auto it = std::find_if(written.begin(), written.end(), [&](const NamedTensor& w) { return w.name == tensor.name; });
        REQUIRE(it != written.end());
        CHECK(it->values == tensor.values);
    }
    CHECK_THROWS_WITH(load_weight(open_checkpoint("convert_missing_scale"), down), Contains("no '" + down + "_scale_inv'"));
    CHECK_THROWS_WITH(load_weight(open_checkpoint("convert_bad_scale"), kv_a), Contains("expected [2, 1]"));
    CHECK_THROWS_WITH(open_checkpoint("convert_truncated"), Contains("extend past the data section"));
}
