// safetensors: round trips, float decoding, one test per malformed-file failure mode, atomic
// writes and sharded checkpoints. Malformed files are written as raw bytes so that each test
// shows exactly what is wrong with the file.
#include <catch2/catch.hpp>

#include "temp_dir.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/safetensors.h"

using namespace seek;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

// A fresh directory per test, removed afterwards (the pid keeps parallel CTest runs apart).
void write_bytes(const std::string& path, const std::string& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// 8-byte little-endian header length + header text + data section.
void write_raw(const std::string& path, const std::string& header, const std::string& data = "") {
    std::string bytes;
    for (int i = 0; i < 8; ++i) bytes += static_cast<char>((uint64_t(header.size()) >> (8 * i)) & 0xff);
    write_bytes(path, bytes + header + data);
}

TensorToWrite tensor_u16(const std::string& name, DType dtype, const std::vector<uint16_t>& bits) {
    TensorToWrite tensor{name, dtype, {int64_t(bits.size())}, {}};
    tensor.bytes.resize(bits.size() * 2);
    std::memcpy(tensor.bytes.data(), bits.data(), tensor.bytes.size());
    return tensor;
}

// Expects open_safetensors(path) to throw a message naming the file and containing `words`.
void require_open_fails(const std::string& path, const std::string& words) {
    REQUIRE_THROWS_WITH(open_safetensors(path), Contains(path) && Contains(words));
}

}  // namespace

// ---- round trips and decoding ----------------------------------------------------------------

TEST_CASE("safetensors: round trip F32 and I32 with metadata", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("round.safetensors");
    const std::vector<float> weights = {1.5f, -2.25f, 3.0f, 0.0f, 1e-30f, -7.0f};
    const std::vector<int32_t> ids = {7, -1, 2147483647, -2147483647 - 1};
    write_safetensors(path,
                      {tensor_f32("layers.0.weight", {2, 3}, weights.data()), tensor_i32("tokens", {4}, ids.data())},
                      {{"prompt", "2+2="}, {"seed", "42"}});

    const SafetensorsFile file = open_safetensors(path);
    REQUIRE(file.path == path);
    REQUIRE(file.tensors.size() == 2);
    REQUIRE(file.tensors[0].name == "layers.0.weight");  // the order they were given in
    REQUIRE(file.tensors[1].name == "tokens");
    REQUIRE(file.metadata == std::map<std::string, std::string>{{"prompt", "2+2="}, {"seed", "42"}});

    const TensorInfo& w = file.at("layers.0.weight");
    REQUIRE(w.dtype == DType::F32);
    REQUIRE(w.shape == Shape{2, 3});
    REQUIRE(w.begin == 0);
    REQUIRE(w.end == 24);
    const Mat matrix = read_matrix(file, "layers.0.weight", {2, 3});
    REQUIRE(matrix.rows() == 2);
    REQUIRE(matrix.cols() == 3);
    for (int i = 0; i < 6; ++i) REQUIRE(matrix(i / 3, i % 3) == weights[i]);

    const TensorInfo& t = file.at("tokens");
    REQUIRE(t.dtype == DType::I32);
    REQUIRE(t.shape == Shape{4});
    REQUIRE(t.begin == 24);  // contiguous after the first tensor
    std::vector<int32_t> read_ids(4);
    std::memcpy(read_ids.data(), file.bytes(t), 16);
    REQUIRE(read_ids == ids);

    REQUIRE(file.find("missing") == nullptr);
    REQUIRE_THROWS_WITH(file.at("missing"), Contains(path) && Contains("no tensor 'missing'"));

    // The header is padded so that the data section starts 8-byte aligned.
    std::ifstream in(path, std::ios::binary);
    uint64_t header_size = 0;
    in.read(reinterpret_cast<char*>(&header_size), 8);
    REQUIRE(header_size % 8 == 0);
}

TEST_CASE("safetensors: metadata is omitted when empty", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("plain.safetensors");
    const float value = 1.0f;
    write_safetensors(path, {tensor_f32("x", {1}, &value)});
    std::ifstream in(path, std::ios::binary);
    std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    REQUIRE(contents.find("__metadata__") == std::string::npos);
    REQUIRE(open_safetensors(path).metadata.empty());
}

TEST_CASE("safetensors: BF16 decodes known bit patterns", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("bf16.safetensors");
    write_safetensors(path, {tensor_u16("b", DType::BF16, {0x3F80, 0xC000, 0x3FC0, 0x0000, 0x7F80, 0xFF80})});
    const Vec v = read_vector(open_safetensors(path), "b");
    REQUIRE(v.size() == 6);
    REQUIRE(v[0] == 1.0f);
    REQUIRE(v[1] == -2.0f);
    REQUIRE(v[2] == 1.5f);
    REQUIRE(v[3] == 0.0f);
    REQUIRE(v[4] == std::numeric_limits<float>::infinity());
    REQUIRE(v[5] == -std::numeric_limits<float>::infinity());
}

TEST_CASE("safetensors: F16 decodes normals, subnormals, inf and NaN", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("f16.safetensors");
    write_safetensors(path, {tensor_u16("h", DType::F16,
                                        {0x3C00, 0x0001, 0x7C00, 0xC000, 0x03FF, 0x0400, 0x7BFF, 0x3555, 0x8000,
                                         0xFC00, 0x7E00})});
    const Vec v = read_vector(open_safetensors(path), "h");
    REQUIRE(v.size() == 11);
    REQUIRE(v[0] == 1.0f);
    REQUIRE(v[1] == std::ldexp(1.0f, -24));          // smallest subnormal
    REQUIRE(v[2] == std::numeric_limits<float>::infinity());
    REQUIRE(v[3] == -2.0f);
    REQUIRE(v[4] == std::ldexp(1023.0f, -24));       // largest subnormal
    REQUIRE(v[5] == std::ldexp(1.0f, -14));          // smallest normal
    REQUIRE(v[6] == 65504.0f);                       // largest finite
    REQUIRE(v[7] == 0.333251953125f);                // nearest half to 1/3
    REQUIRE(v[8] == 0.0f);
    REQUIRE(std::signbit(v[8]));                     // -0 keeps its sign
    REQUIRE(v[9] == -std::numeric_limits<float>::infinity());
    REQUIRE(std::isnan(v[10]));
}

TEST_CASE("safetensors: zero-size tensors", "[safetensors]") {
    TempDir dir;
    SECTION("the only tensor, so the data section is empty") {
        const std::string path = dir.file("empty.safetensors");
        write_safetensors(path, {tensor_f32("nothing", {0, 4}, nullptr)});
        const SafetensorsFile file = open_safetensors(path);
        REQUIRE(file.at("nothing").shape == Shape{0, 4});
        REQUIRE(file.at("nothing").numel() == 0);
        const Mat matrix = read_matrix(file, "nothing");
        REQUIRE(matrix.rows() == 0);
        REQUIRE(matrix.cols() == 4);
    }
    SECTION("between other tensors, sharing an offset without overlapping them") {
        const std::string path = dir.file("mixed.safetensors");
        const float values[2] = {1.0f, 2.0f};
        write_safetensors(path, {tensor_f32("a", {1}, values), tensor_f32("empty", {3, 0}, nullptr),
                                 tensor_f32("b", {1}, values + 1)});
        const SafetensorsFile file = open_safetensors(path);
        REQUIRE(file.at("empty").begin == 4);
        REQUIRE(read_vector(file, "b")[0] == 2.0f);
    }
    SECTION("an empty header object with no tensors at all") {
        const std::string path = dir.file("nothing.safetensors");
        write_raw(path, "{}");
        REQUIRE(open_safetensors(path).tensors.empty());
    }
}

TEST_CASE("safetensors: files written by other tools may be unpadded and unaligned", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("foreign.safetensors");
    const float value = 3.5f;
    std::string data(1, 'x');  // a one-byte tensor first leaves the F32 tensor unaligned
    data.append(reinterpret_cast<const char*>(&value), 4);
    write_raw(path,
              R"({"flag":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"v":{"dtype":"F32","shape":[1],)"
              R"("data_offsets":[1,5]}})",
              data);
    REQUIRE(read_vector(open_safetensors(path), "v")[0] == 3.5f);
}

// ---- reading errors --------------------------------------------------------------------------

TEST_CASE("safetensors: read_matrix with the wrong expected shape names the tensor", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("shape.safetensors");
    const std::vector<float> values(6, 1.0f);
    write_safetensors(path, {tensor_f32("proj.weight", {2, 3}, values.data())});
    REQUIRE_THROWS_WITH(read_matrix(open_safetensors(path), "proj.weight", {3, 2}),
                        Contains(path) && Contains("tensor 'proj.weight' has shape [2, 3], expected [3, 2]"));
}

TEST_CASE("safetensors: decoding a non-float dtype names the tensor and dtype", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("ints.safetensors");
    const int32_t ids[2] = {1, 2};
    write_safetensors(path, {tensor_i32("ids", {2}, ids)});
    const SafetensorsFile file = open_safetensors(path);
    REQUIRE_THROWS_WITH(read_vector(file, "ids"), Contains(path) && Contains("tensor 'ids' has dtype I32"));
    REQUIRE_THROWS_WITH(read_matrix(file, "ids"), Contains(path) && Contains("tensor 'ids' has dtype I32"));
}

TEST_CASE("safetensors: read_vector of a 2-D tensor names the tensor", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("matrix.safetensors");
    const std::vector<float> values(4, 1.0f);
    write_safetensors(path, {tensor_f32("m", {2, 2}, values.data())});
    REQUIRE_THROWS_WITH(read_vector(open_safetensors(path), "m"),
                        Contains(path) && Contains("tensor 'm' has shape [2, 2], expected a 1-D tensor"));
}

// ---- malformed files: one test per failure mode ----------------------------------------------

TEST_CASE("safetensors: rejects a missing file", "[safetensors]") {
    TempDir dir;
    require_open_fails(dir.file("absent.safetensors"), "cannot open");
}

TEST_CASE("safetensors: rejects a file shorter than 8 bytes", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("short.safetensors");
    write_bytes(path, "abc");
    require_open_fails(path, "shorter than the 8-byte header length");
}

TEST_CASE("safetensors: rejects a header length larger than the file", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("long_header.safetensors");
    std::string bytes(8, '\0');
    bytes[0] = static_cast<char>(100);  // claims 100 header bytes, only 2 follow
    write_bytes(path, bytes + "{}");
    require_open_fails(path, "header length 100");
}

TEST_CASE("safetensors: rejects a header that is not valid JSON", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("bad_json.safetensors");
    write_raw(path, R"({"w": {"dtype": "F32",)");
    require_open_fails(path, "header is not valid JSON");
}

TEST_CASE("safetensors: rejects a header that is not a JSON object", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("array.safetensors");
    write_raw(path, "[1, 2, 3]");
    require_open_fails(path, "header is not a JSON object");
}

TEST_CASE("safetensors: rejects a tensor entry that is not an object", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("entry.safetensors");
    write_raw(path, R"({"w": [0, 4]})");
    require_open_fails(path, "tensor 'w' is not a JSON object");
}

TEST_CASE("safetensors: rejects a tensor entry missing a field", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("fields.safetensors");
    SECTION("dtype") {
        write_raw(path, R"({"w": {"shape": [1], "data_offsets": [0, 4]}})", "abcd");
        require_open_fails(path, "tensor 'w' has no 'dtype'");
    }
    SECTION("shape") {
        write_raw(path, R"({"w": {"dtype": "F32", "data_offsets": [0, 4]}})", "abcd");
        require_open_fails(path, "tensor 'w' has no 'shape'");
    }
    SECTION("data_offsets") {
        write_raw(path, R"({"w": {"dtype": "F32", "shape": [1]}})", "abcd");
        require_open_fails(path, "tensor 'w' has no 'data_offsets'");
    }
}

TEST_CASE("safetensors: rejects an unknown dtype, naming it", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("dtype.safetensors");
    SECTION("unknown name") {
        write_raw(path, R"({"w": {"dtype": "F12", "shape": [1], "data_offsets": [0, 4]}})", "abcd");
        require_open_fails(path, "tensor 'w': unknown dtype 'F12'");
    }
    SECTION("not a string") {
        write_raw(path, R"({"w": {"dtype": 4, "shape": [1], "data_offsets": [0, 4]}})", "abcd");
        require_open_fails(path, "tensor 'w': dtype must be a string");
    }
}

TEST_CASE("safetensors: rejects a shape that is not an array of non-negative integers", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("shape.safetensors");
    const std::string prefix = R"({"w": {"dtype": "U8", "data_offsets": [0, 4], "shape": )";
    SECTION("negative dimension") { write_raw(path, prefix + "[-2, -2]}}", "abcd"); }
    SECTION("fractional dimension") { write_raw(path, prefix + "[4.0]}}", "abcd"); }
    SECTION("not an array") { write_raw(path, prefix + "4}}", "abcd"); }
    SECTION("dimension above int64") { write_raw(path, prefix + "[18446744073709551615]}}", "abcd"); }
    require_open_fails(path, "tensor 'w': shape must be an array of non-negative integers");
}

TEST_CASE("safetensors: rejects data_offsets that are not two ordered non-negative integers", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("offsets.safetensors");
    const std::string prefix = R"({"w": {"dtype": "U8", "shape": [4], "data_offsets": )";
    SECTION("one number") { write_raw(path, prefix + "[4]}}", "abcd"); }
    SECTION("three numbers") { write_raw(path, prefix + "[0, 4, 8]}}", "abcd"); }
    SECTION("negative") { write_raw(path, prefix + "[-4, 0]}}", "abcd"); }
    SECTION("begin after end") { write_raw(path, prefix + "[4, 0]}}", "abcd"); }
    SECTION("strings") { write_raw(path, prefix + R"(["0", "4"]}})", "abcd"); }
    require_open_fails(path, "tensor 'w': data_offsets must be two non-negative integers");
}

TEST_CASE("safetensors: rejects a shape whose element count overflows", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("overflow.safetensors");
    SECTION("numel overflows int64") {
        // 2^32 x 2^32 wraps to 0 in 64-bit arithmetic, which would match empty offsets.
        write_raw(path, R"({"w": {"dtype": "U8", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}})");
        require_open_fails(path, "tensor 'w': shape [4294967296, 4294967296] overflows the element count");
    }
    SECTION("numel x dtype size overflows") {
        // 2^62 elements fit in int64, but 2^62 x 4 bytes wraps to 0 (refused before: more than 2^48).
        write_raw(path, R"({"w": {"dtype": "F32", "shape": [4611686018427387904], "data_offsets": [0, 0]}})");
        require_open_fails(path, "tensor 'w': shape [4611686018427387904] overflows the element count");
    }
}

TEST_CASE("safetensors: rejects a byte range that does not match shape x dtype", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("size.safetensors");
    write_raw(path, R"({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})", std::string(12, '\0'));
    require_open_fails(path, "tensor 'w' has shape [2, 2] and dtype F32 (16 bytes) but data_offsets [0, 12] span 12");
}

TEST_CASE("safetensors: rejects a byte range outside the data section", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("range.safetensors");
    write_raw(path, R"({"w": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})", std::string(8, '\0'));
    require_open_fails(path, "tensor 'w': data_offsets [4, 12] extend past the data section (8 bytes)");
}

TEST_CASE("safetensors: rejects overlapping tensors, naming both", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("overlap.safetensors");
    write_raw(path,
              R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
              R"( "c": {"dtype": "U8", "shape": [2], "data_offsets": [10, 12]},)"
              R"( "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}})",
              std::string(12, '\0'));
    require_open_fails(path, "tensors 'a' and 'b' overlap");
}

TEST_CASE("safetensors: rejects __metadata__ that is not an object of strings", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("metadata.safetensors");
    SECTION("not an object") {
        write_raw(path, R"({"__metadata__": ["seed", "42"]})");
        require_open_fails(path, "__metadata__ must be an object of strings");
    }
    SECTION("a value that is not a string") {
        write_raw(path, R"({"__metadata__": {"seed": 42}})");
        require_open_fails(path, "__metadata__ entry 'seed' is not a string");
    }
}

// ---- writing ---------------------------------------------------------------------------------

TEST_CASE("safetensors: atomic write replaces the file and leaves no temporary", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("model.safetensors");
    const std::vector<float> first = {1.0f, 2.0f, 3.0f};
    const std::vector<float> second = {9.0f, 8.0f};
    write_safetensors(path, {tensor_f32("old", {3}, first.data())});
    write_safetensors(path, {tensor_f32("new", {2}, second.data())});

    const SafetensorsFile file = open_safetensors(path);
    REQUIRE(file.tensors.size() == 1);
    REQUIRE(file.find("old") == nullptr);
    REQUIRE(read_vector(file, "new") == Vec(Eigen::Vector2f(9.0f, 8.0f)));
    for (const fs::directory_entry& entry : fs::directory_iterator(dir.path)) {
        INFO(entry.path());
        REQUIRE(entry.path().filename().string().find(".tmp.") == std::string::npos);
    }
}

TEST_CASE("safetensors: writing into a nonexistent directory names the path", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("no/such/dir/model.safetensors");
    const float value = 1.0f;
    REQUIRE_THROWS_WITH(write_safetensors(path, {tensor_f32("x", {1}, &value)}), Contains(path));
    REQUIRE_THROWS_WITH(write_file_atomic(path, "text"), Contains(path) && Contains("cannot create"));
}

TEST_CASE("safetensors: write rejects bad tensor lists, naming the tensor", "[safetensors]") {
    TempDir dir;
    const std::string path = dir.file("bad.safetensors");
    const float values[2] = {1.0f, 2.0f};
    SECTION("duplicate names") {
        REQUIRE_THROWS_WITH(write_safetensors(path, {tensor_f32("w", {1}, values), tensor_f32("w", {1}, values)}),
                            Contains(path) && Contains("tensor 'w' appears twice"));
    }
    SECTION("empty name") {
        REQUIRE_THROWS_WITH(write_safetensors(path, {tensor_f32("", {1}, values)}),
                            Contains(path) && Contains("empty name"));
    }
    SECTION("byte count that does not match the shape") {
        TensorToWrite tensor = tensor_f32("w", {2}, values);
        tensor.shape = {3};
        REQUIRE_THROWS_WITH(write_safetensors(path, {tensor}),
                            Contains(path) && Contains("tensor 'w' has 8 bytes, expected 12"));
    }
    REQUIRE_FALSE(fs::exists(path));
}

// ---- checkpoints -----------------------------------------------------------------------------

namespace {

// Two shards: a.safetensors holds "x" and "y", b.safetensors holds "z".
void write_two_shards(const TempDir& dir) {
    const float values[3] = {1.0f, 2.0f, 3.0f};
    write_safetensors(dir.file("a.safetensors"), {tensor_f32("x", {1}, values), tensor_f32("y", {1}, values + 1)});
    write_safetensors(dir.file("b.safetensors"), {tensor_f32("z", {1}, values + 2)});
}

}  // namespace

TEST_CASE("safetensors: sharded checkpoint finds each tensor in its shard", "[safetensors]") {
    TempDir dir;
    write_two_shards(dir);
    write_bytes(dir.file("model.safetensors.index.json"),
                R"({"metadata": {"total_size": 12}, "weight_map": {"x": "a.safetensors", "y": "a.safetensors",)"
                R"( "z": "b.safetensors"}})");
    const Checkpoint checkpoint = open_checkpoint(dir.path.string());
    REQUIRE(checkpoint.shards.size() == 2);  // each shard opened once
    REQUIRE(checkpoint.contains("x"));
    REQUIRE_FALSE(checkpoint.contains("w"));
    REQUIRE(read_vector(checkpoint.shard_for("x"), "x")[0] == 1.0f);
    REQUIRE(read_vector(checkpoint.shard_for("y"), "y")[0] == 2.0f);
    REQUIRE(read_vector(checkpoint.shard_for("z"), "z")[0] == 3.0f);
    REQUIRE(checkpoint.shard_for("z").path == dir.file("b.safetensors"));
    REQUIRE_THROWS_WITH(checkpoint.shard_for("w"), Contains(dir.path.string()) && Contains("no tensor 'w'"));
}

TEST_CASE("safetensors: sharded checkpoint with an index naming a missing tensor", "[safetensors]") {
    TempDir dir;
    write_two_shards(dir);
    const std::string index = dir.file("model.safetensors.index.json");
    write_bytes(index, R"({"weight_map": {"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors",)"
                       R"( "ghost": "b.safetensors"}})");
    REQUIRE_THROWS_WITH(open_checkpoint(dir.path.string()),
                        Contains(index) && Contains("tensor 'ghost' is missing from shard b.safetensors"));
}

TEST_CASE("safetensors: sharded checkpoint with a tensor in two shards", "[safetensors]") {
    TempDir dir;
    write_two_shards(dir);
    const float value = 4.0f;
    write_safetensors(dir.file("b.safetensors"), {tensor_f32("z", {1}, &value), tensor_f32("x", {1}, &value)});
    write_bytes(dir.file("model.safetensors.index.json"),
                R"({"weight_map": {"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"}})");
    REQUIRE_THROWS_WITH(open_checkpoint(dir.path.string()), Contains("tensor 'x' is in two shards") &&
                                                                Contains(dir.file("a.safetensors")) &&
                                                                Contains(dir.file("b.safetensors")));
}

TEST_CASE("safetensors: sharded checkpoint with a tensor the index does not list", "[safetensors]") {
    TempDir dir;
    write_two_shards(dir);
    const std::string index = dir.file("model.safetensors.index.json");
    write_bytes(index, R"({"weight_map": {"x": "a.safetensors", "z": "b.safetensors"}})");
    REQUIRE_THROWS_WITH(open_checkpoint(dir.path.string()),
                        Contains(index) && Contains("tensor 'y' is in shard") && Contains("not in the index"));
}

TEST_CASE("safetensors: sharded checkpoint with a malformed index", "[safetensors]") {
    TempDir dir;
    write_two_shards(dir);
    const std::string index = dir.file("model.safetensors.index.json");
    SECTION("not JSON") {
        write_bytes(index, "{weight_map");
        REQUIRE_THROWS_WITH(open_checkpoint(dir.path.string()), Contains(index) && Contains("not valid JSON"));
    }
    SECTION("no weight_map") {
        write_bytes(index, R"({"metadata": {}})");
        REQUIRE_THROWS_WITH(open_checkpoint(dir.path.string()),
                            Contains(index) && Contains("weight_map must be an object of strings"));
    }
    SECTION("a shard name that is not a string") {
        write_bytes(index, R"({"weight_map": {"x": 1}})");
        REQUIRE_THROWS_WITH(open_checkpoint(dir.path.string()),
                            Contains(index) && Contains("weight_map entry 'x' is not a string"));
    }
}

TEST_CASE("safetensors: single-file checkpoints", "[safetensors]") {
    TempDir dir;
    const float value = 5.0f;
    SECTION("model.safetensors wins over other files") {
        write_safetensors(dir.file("model.safetensors"), {tensor_f32("w", {1}, &value)});
        write_safetensors(dir.file("other.safetensors"), {tensor_f32("v", {1}, &value)});
        const Checkpoint checkpoint = open_checkpoint(dir.path.string());
        REQUIRE(checkpoint.shards.size() == 1);
        REQUIRE(checkpoint.contains("w"));
        REQUIRE_FALSE(checkpoint.contains("v"));
    }
    SECTION("a single *.safetensors file under another name") {
        write_safetensors(dir.file("toy.safetensors"), {tensor_f32("w", {1}, &value)});
        REQUIRE(read_vector(open_checkpoint(dir.path.string()).shard_for("w"), "w")[0] == 5.0f);
    }
    SECTION("no safetensors file") {
        REQUIRE_THROWS_WITH(open_checkpoint(dir.path.string()),
                            Contains(dir.path.string() + ": no model.safetensors or model.safetensors.index.json"));
    }
    SECTION("two candidate files and no index") {
        write_safetensors(dir.file("one.safetensors"), {tensor_f32("w", {1}, &value)});
        write_safetensors(dir.file("two.safetensors"), {tensor_f32("w", {1}, &value)});
        REQUIRE_THROWS_WITH(open_checkpoint(dir.path.string()),
                            Contains("no model.safetensors or model.safetensors.index.json"));
    }
    SECTION("not a directory") {
        REQUIRE_THROWS_WITH(open_checkpoint(dir.file("absent")), Contains(dir.file("absent") + ": not a directory"));
    }
}
