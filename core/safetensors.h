// safetensors: the checkpoint and trace file format.
//
// Layout: 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {str: str}}
// then the data section; offsets are relative to the start of the data section.
// Files are read through mmap, so a 700 GB checkpoint is opened in place; writes are atomic.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fileio.h"  // write_file_atomic, shared by every writer
#include "tensor.h"

namespace seek {

enum class DType { F32, F16, BF16, F8_E4M3, F8_E5M2, I32, I64, U8, BOOL };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);          // "F32", "F8_E4M3", ...
DType dtype_from_name(const std::string& name, const std::string& context);  // throws naming context

struct TensorInfo {
    std::string name;
    DType dtype = DType::F32;
    Shape shape;
    uint64_t begin = 0;  // byte offsets into the data section
    uint64_t end = 0;
    int64_t numel() const { return shape_numel(shape); }
};

struct MappedFile;  // owns the mmap; shared so that tensors can outlive the SafetensorsFile copy

struct SafetensorsFile {
    std::string path;
    std::vector<TensorInfo> tensors;              // in header order
    std::map<std::string, size_t> index;          // name -> position in tensors
    std::map<std::string, std::string> metadata;  // __metadata__
    std::shared_ptr<MappedFile> mapping;
    const uint8_t* data_section = nullptr;

    const TensorInfo* find(const std::string& name) const;     // nullptr when absent
    const TensorInfo& at(const std::string& name) const;       // throws "<path>: no tensor '<name>'"
    const uint8_t* bytes(const TensorInfo& info) const { return data_section + info.begin; }
};

// Opens and validates: a regular file (checked before it is opened: a FIFO would block), header
// length inside the file and at most kMaxHeaderBytes, a JSON object without duplicate keys, known
// dtypes, shapes of non-negative integers whose non-zero dimensions multiply to at most
// kMaxTensorElements (also for an empty tensor: [0, 2^62, 2] is refused, not wrapped around),
// numel x dtype size == end - begin, ranges inside the data section and non-overlapping. Every
// failure throws std::runtime_error naming the file and the tensor or field. Linear in the number
// of tensors (a 40,000-tensor trace opens in a blink).
constexpr uint64_t kMaxHeaderBytes = 100u << 20;     // the format's own limit: 100 MB of JSON
constexpr int64_t kMaxTensorElements = int64_t{1} << 48;
SafetensorsFile open_safetensors(const std::string& path);

// Decodes F32, F16 or BF16 to float32; other dtypes throw naming the tensor. The result has shape
// [shape[0], product of the rest] (a 1-D tensor becomes [n, 1]; use read_vector for those).
Mat read_matrix(const SafetensorsFile& file, const std::string& name);
Vec read_vector(const SafetensorsFile& file, const std::string& name);
// Same checks plus the expected shape; a mismatch throws naming the tensor, expected and actual shapes.
Mat read_matrix(const SafetensorsFile& file, const std::string& name, const Shape& expected);

struct TensorToWrite {
    std::string name;
    DType dtype = DType::F32;
    Shape shape;
    std::vector<uint8_t> bytes;  // numel x dtype_size bytes, little-endian
};
TensorToWrite tensor_f32(const std::string& name, const Shape& shape, const float* values);
TensorToWrite tensor_i32(const std::string& name, const Shape& shape, const int32_t* values);

// Writes atomically and durably (write_file_atomic, fileio.h): readers never see a half-written file.
// Names must be unique and non-empty; tensors are stored in the given order, 8-byte aligned header.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// A checkpoint directory: either one model.safetensors (or a single *.safetensors), or shards
// listed by model.safetensors.index.json ({"weight_map": {tensor: shard file}}). Every tensor in
// the index must exist in its shard and no tensor may appear in two shards.
struct Checkpoint {
    std::string directory;
    std::vector<SafetensorsFile> shards;
    std::map<std::string, size_t> shard_of;  // tensor name -> index into shards

    const SafetensorsFile& shard_for(const std::string& name) const;  // throws naming the tensor
    bool contains(const std::string& name) const { return shard_of.count(name) != 0; }
};
Checkpoint open_checkpoint(const std::string& directory);

}  // namespace seek
