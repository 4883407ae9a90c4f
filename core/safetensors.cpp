// safetensors reading (mmap + validation), decoding to float, atomic writing, sharded checkpoints.
#include "safetensors.h"

#include "fp8.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>
#include <unordered_set>
#include <sstream>
#include <stdexcept>

namespace seek {

// Tensor bytes are little-endian and are copied straight into host integers and floats.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors decoding assumes a little-endian host");

// The header's values are plain json; its top-level keys are kept in file order by HeaderBuilder.
// ordered_json is used only to write an entry's three fields in their usual order.
using Json = nlohmann::json;
using OrderedJson = nlohmann::ordered_json;

namespace {

const char* const kMetadataKey = "__metadata__";

// errno as text. Call it before building the message: allocations may change errno.
std::string system_error_text() { return std::strerror(errno); }

std::string range_text(uint64_t begin, uint64_t end) {
    return "[" + std::to_string(begin) + ", " + std::to_string(end) + "]";
}

std::string tensor_context(const std::string& path, const std::string& name) {
    return path + ": tensor '" + name + "'";
}

// numel x bytes per element, checked: a header claiming a [2^40, 2^40] tensor must be rejected,
// not wrapped around into a small, plausible size; so must [0, 2^62, 2], whose zero hides a
// product that overflows (its column count would). `context` names the file and tensor.
uint64_t byte_count(const std::string& context, const Shape& shape, DType dtype) {
    int64_t numel = 1, nonzero_product = 1;
    for (int64_t dim : shape) {
        if (dim < 0) throw std::runtime_error(context + ": shape " + format_shape(shape) + " has a negative dimension");
        if (dim == 0) {
            numel = 0;
            continue;
        }
        if (__builtin_mul_overflow(nonzero_product, dim, &nonzero_product) || nonzero_product > kMaxTensorElements) {
            throw std::runtime_error(context + ": shape " + format_shape(shape) +
                                     " overflows the element count (more than 2^48 elements" +
                                     (numel == 0 ? " in its non-zero dimensions)" : ")"));
        }
    }
    if (numel != 0) numel = nonzero_product;
    return static_cast<uint64_t>(numel) * dtype_size(dtype);  // < 2^48 x 8: no overflow
}

}  // namespace

// ---- dtypes ----------------------------------------------------------------------------------

size_t dtype_size(DType dtype) {
    switch (dtype) {
        case DType::F32: return 4;
        case DType::F16: return 2;
        case DType::BF16: return 2;
        case DType::F8_E4M3: return 1;
        case DType::F8_E5M2: return 1;
        case DType::I32: return 4;
        case DType::I64: return 8;
        case DType::U8: return 1;
        case DType::BOOL: return 1;
    }
    throw std::logic_error("dtype_size: invalid DType value");
}

const char* dtype_name(DType dtype) {
    switch (dtype) {
        case DType::F32: return "F32";
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
        case DType::F8_E4M3: return "F8_E4M3";
        case DType::F8_E5M2: return "F8_E5M2";
        case DType::I32: return "I32";
        case DType::I64: return "I64";
        case DType::U8: return "U8";
        case DType::BOOL: return "BOOL";
    }
    throw std::logic_error("dtype_name: invalid DType value");
}

DType dtype_from_name(const std::string& name, const std::string& context) {
    for (DType dtype : {DType::F32, DType::F16, DType::BF16, DType::F8_E4M3, DType::F8_E5M2, DType::I32, DType::I64,
                        DType::U8, DType::BOOL}) {
        if (name == dtype_name(dtype)) return dtype;
    }
    throw std::runtime_error(context + ": unknown dtype '" + name + "'");
}

// ---- reading ---------------------------------------------------------------------------------

// A read-only private mapping of a whole file. The descriptor is closed right after mmap (the
// mapping stays valid without it), so opening hundreds of shards does not exhaust descriptors.
struct MappedFile {
    const uint8_t* data = nullptr;
    size_t size = 0;

    explicit MappedFile(const std::string& path) {
        // Refuses FIFOs, devices and directories before opening (open_regular_file, fileio.h).
        const int fd = open_regular_file(path);
        struct stat info {};
        if (::fstat(fd, &info) != 0) {
            const std::string error = system_error_text();
            ::close(fd);
            throw std::runtime_error(path + ": cannot stat: " + error);
        }
        size = static_cast<size_t>(info.st_size);
        // mmap rejects a zero length, and such a file is malformed anyway.
        if (size < 8) {
            ::close(fd);
            throw std::runtime_error(path + ": file is " + std::to_string(size) +
                                     " bytes, shorter than the 8-byte header length");
        }
        void* address = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (address == MAP_FAILED) {
            const std::string error = system_error_text();
            ::close(fd);
            throw std::runtime_error(path + ": cannot mmap: " + error);
        }
        ::close(fd);
        data = static_cast<const uint8_t*>(address);
    }
    ~MappedFile() { ::munmap(const_cast<uint8_t*>(data), size); }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
};

namespace {

std::map<std::string, std::string> parse_metadata(const std::string& path, const Json& value) {
    if (!value.is_object()) throw std::runtime_error(path + ": " + kMetadataKey + " must be an object of strings");
    std::map<std::string, std::string> metadata;
    for (const auto& [key, item] : value.items()) {
        if (!item.is_string()) {
            throw std::runtime_error(path + ": " + kMetadataKey + " entry '" + key + "' is not a string");
        }
        metadata[key] = item.get<std::string>();
    }
    return metadata;
}

// One header entry -> TensorInfo, checking its fields and that its byte range matches its shape
// and lies inside the data section.
TensorInfo parse_tensor_entry(const std::string& path, const std::string& name, const Json& entry,
                              uint64_t data_size) {
    const std::string context = tensor_context(path, name);
    if (!entry.is_object()) throw std::runtime_error(context + " is not a JSON object");
    for (const char* field : {"dtype", "shape", "data_offsets"}) {
        if (!entry.contains(field)) throw std::runtime_error(context + " has no '" + field + "'");
    }

    TensorInfo info;
    info.name = name;
    const Json& dtype = entry.at("dtype");
    if (!dtype.is_string()) throw std::runtime_error(context + ": dtype must be a string");
    info.dtype = dtype_from_name(dtype.get<std::string>(), context);

    // nlohmann parses non-negative integers as unsigned; dimensions above INT64_MAX would turn
    // negative in Shape.
    const Json& shape = entry.at("shape");
    auto is_dimension = [](const Json& dim) {
        return dim.is_number_unsigned() && dim.get<uint64_t>() <= uint64_t(std::numeric_limits<int64_t>::max());
    };
    if (!shape.is_array() || !std::all_of(shape.begin(), shape.end(), is_dimension)) {
        throw std::runtime_error(context + ": shape must be an array of non-negative integers, got " + shape.dump());
    }
    for (const Json& dim : shape) info.shape.push_back(dim.get<int64_t>());

    const Json& offsets = entry.at("data_offsets");
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned() || offsets[0].get<uint64_t>() > offsets[1].get<uint64_t>()) {
        throw std::runtime_error(context + ": data_offsets must be two non-negative integers [begin, end] with " +
                                 "begin <= end, got " + offsets.dump());
    }
    info.begin = offsets[0].get<uint64_t>();
    info.end = offsets[1].get<uint64_t>();

    const uint64_t expected_bytes = byte_count(context, info.shape, info.dtype);
    if (expected_bytes != info.end - info.begin) {
        throw std::runtime_error(context + " has shape " + format_shape(info.shape) + " and dtype " +
                                 dtype_name(info.dtype) + " (" + std::to_string(expected_bytes) +
                                 " bytes) but data_offsets " + range_text(info.begin, info.end) + " span " +
                                 std::to_string(info.end - info.begin) + " bytes");
    }
    if (info.end > data_size) {
        throw std::runtime_error(context + ": data_offsets " + range_text(info.begin, info.end) +
                                 " extend past the data section (" + std::to_string(data_size) + " bytes)");
    }
    return info;
}

// Two tensors sharing bytes would alias silently, so any overlap is an error. Empty ranges hold no
// bytes and overlap nothing.
void check_no_overlap(const std::string& path, const std::vector<TensorInfo>& tensors) {
    std::vector<const TensorInfo*> by_begin;
    for (const TensorInfo& info : tensors) {
        if (info.begin != info.end) by_begin.push_back(&info);
    }
    std::sort(by_begin.begin(), by_begin.end(),
              [](const TensorInfo* a, const TensorInfo* b) { return a->begin < b->begin; });
    // After sorting, a range overlaps an earlier one exactly when it starts before the furthest end so far.
    const TensorInfo* furthest = nullptr;
    for (const TensorInfo* info : by_begin) {
        if (furthest && info->begin < furthest->end) {
            throw std::runtime_error(path + ": tensors '" + furthest->name + "' and '" + info->name +
                                     "' overlap (data_offsets " + range_text(furthest->begin, furthest->end) + " and " +
                                     range_text(info->begin, info->end) + ")");
        }
        if (!furthest || info->end > furthest->end) furthest = info;
    }
}

}  // namespace

namespace {

// Builds the header's JSON from nlohmann's SAX events, refusing what its DOM parser would accept
// silently: a key twice in one object (the last would win, so two readers could disagree about a
// tensor). The top-level entries are kept in file order, in linear time: ordered_json looks up
// each new key with a linear scan, which made a 40,000-tensor header take most of a minute.
class HeaderBuilder {
public:
    std::vector<std::pair<std::string, Json>> entries;  // the top-level object, in order
    std::string error;                                   // why the parse stopped

    bool null() { return value(Json(nullptr)); }
    bool boolean(bool v) { return value(Json(v)); }
    bool number_integer(Json::number_integer_t v) { return value(Json(v)); }
    bool number_unsigned(Json::number_unsigned_t v) { return value(Json(v)); }
    bool number_float(Json::number_float_t v, const Json::string_t&) { return value(Json(v)); }
    bool string(Json::string_t& v) { return value(Json(std::move(v))); }
    bool binary(Json::binary_t&) { return fail("binary values are not JSON"); }
    bool start_object(std::size_t) { return open(Json::object()); }
    bool start_array(std::size_t) { return open(Json::array()); }
    bool end_object() { return close(); }
    bool end_array() { return close(); }
    bool key(Json::string_t& name) {
        Frame& frame = frames_.back();
        if (!frame.keys.insert(name).second) {
            return fail(frames_.size() == 1 ? "tensor '" + name + "' appears twice in the header"
                                            : "tensor '" + frames_[0].key + "': key '" + name + "' appears twice");
        }
        frame.key = name;
        return true;
    }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& exception) {
        return fail(std::string("header is not valid JSON: ") + exception.what());
    }

private:
    struct Frame {
        Json value;
        std::string key;  // objects: the key whose value comes next
        std::unordered_set<std::string> keys;
    };
    std::vector<Frame> frames_;

    bool fail(const std::string& why) {
        if (error.empty()) error = why;
        return false;
    }
    bool open(Json container) {
        // A safetensors header nests three deep; anything far deeper is not one.
        if (frames_.size() >= 64) return fail("header nests deeper than 64 levels");
        frames_.push_back(Frame{std::move(container), {}, {}});
        return true;
    }
    bool close() {
        Json finished = std::move(frames_.back().value);
        frames_.pop_back();
        if (frames_.empty()) {  // the top-level value: an object's entries are already collected
            return finished.is_object() || fail("header is not a JSON object");
        }
        return value(std::move(finished));
    }
    bool value(Json item) {
        if (frames_.empty()) return fail("header is not a JSON object");
        Frame& parent = frames_.back();
        if (frames_.size() == 1) {
            if (!parent.value.is_object()) return fail("header is not a JSON object");
            entries.emplace_back(parent.key, std::move(item));
        } else if (parent.value.is_object()) {
            parent.value[parent.key] = std::move(item);
        } else {
            parent.value.push_back(std::move(item));
        }
        return true;
    }
};

}  // namespace

SafetensorsFile open_safetensors(const std::string& path) {
    SafetensorsFile file;
    file.path = path;
    file.mapping = std::make_shared<MappedFile>(path);
    const uint8_t* base = file.mapping->data;
    const uint64_t file_size = file.mapping->size;

    uint64_t header_size = 0;
    std::memcpy(&header_size, base, 8);
    if (header_size > file_size - 8) {
        throw std::runtime_error(path + ": header length " + std::to_string(header_size) + " exceeds the " +
                                 std::to_string(file_size - 8) + " bytes after the length field");
    }
    if (header_size > kMaxHeaderBytes) {
        throw std::runtime_error(path + ": header length " + std::to_string(header_size) + " is more than " +
                                 std::to_string(kMaxHeaderBytes) + " bytes");
    }
    const char* header_text = reinterpret_cast<const char*>(base + 8);
    HeaderBuilder header;
    const bool parsed = Json::sax_parse(header_text, header_text + header_size, &header);
    if (!parsed || !header.error.empty()) {
        throw std::runtime_error(path + ": " + (header.error.empty() ? "header is not a JSON object" : header.error));
    }

    file.data_section = base + 8 + header_size;
    const uint64_t data_size = file_size - 8 - header_size;
    for (const auto& [name, entry] : header.entries) {
        if (name == kMetadataKey) {
            file.metadata = parse_metadata(path, entry);
        } else {
            file.index.emplace(name, file.tensors.size());
            file.tensors.push_back(parse_tensor_entry(path, name, entry, data_size));
        }
    }
    check_no_overlap(path, file.tensors);
    return file;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
    const auto it = index.find(name);
    return it == index.end() ? nullptr : &tensors[it->second];
}

const TensorInfo& SafetensorsFile::at(const std::string& name) const {
    const TensorInfo* info = find(name);
    if (!info) throw std::runtime_error(path + ": no tensor '" + name + "'");
    return *info;
}

// ---- decoding to float -----------------------------------------------------------------------

namespace {

// IEEE half: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits.
float half_to_float(uint16_t bits) {
    const int exponent = (bits >> 10) & 0x1f;
    const int mantissa = bits & 0x3ff;
    float magnitude;
    if (exponent == 0) {
        magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // zero and subnormals: m x 2^-24
    } else if (exponent == 31) {
        magnitude = mantissa ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
    } else {
        magnitude = std::ldexp(static_cast<float>(mantissa | 0x400), exponent - 25);  // 1.m x 2^(e-15)
    }
    return (bits & 0x8000) ? -magnitude : magnitude;
}

// Decodes every element of a float tensor into `out` (numel floats). memcpy per element because
// offsets in foreign files need not be aligned.
void decode_to_float(const SafetensorsFile& file, const TensorInfo& info, float* out) {
    const uint8_t* bytes = file.bytes(info);
    const int64_t numel = info.numel();
    switch (info.dtype) {
        case DType::F32:
            if (numel > 0) std::memcpy(out, bytes, static_cast<size_t>(numel) * 4);
            return;
        case DType::F16:
        case DType::BF16:
            for (int64_t i = 0; i < numel; ++i) {
                uint16_t bits;
                std::memcpy(&bits, bytes + 2 * i, 2);
                out[i] = info.dtype == DType::F16 ? half_to_float(bits) : bf16_decode(bits);
            }
            return;
        default:
            throw std::runtime_error(tensor_context(file.path, info.name) + " has dtype " + dtype_name(info.dtype) +
                                     "; only F32, F16 and BF16 decode to float");
    }
}

}  // namespace

Mat read_matrix(const SafetensorsFile& file, const std::string& name) {
    const TensorInfo& info = file.at(name);
    // [d0, d1, ..., dk] -> [d0, d1 x ... x dk]; a scalar becomes [1, 1].
    const int64_t rows = info.shape.empty() ? 1 : info.shape[0];
    int64_t cols = 1;
    for (size_t i = 1; i < info.shape.size(); ++i) cols *= info.shape[i];
    Mat matrix(rows, cols);
    decode_to_float(file, info, matrix.data());
    return matrix;
}

Vec read_vector(const SafetensorsFile& file, const std::string& name) {
    const TensorInfo& info = file.at(name);
    if (info.shape.size() != 1) {
        throw std::runtime_error(tensor_context(file.path, name) + " has shape " + format_shape(info.shape) +
                                 ", expected a 1-D tensor");
    }
    Vec vector(info.shape[0]);
    decode_to_float(file, info, vector.data());
    return vector;
}

Mat read_matrix(const SafetensorsFile& file, const std::string& name, const Shape& expected) {
    const TensorInfo& info = file.at(name);
    if (info.shape != expected) {
        throw std::runtime_error(tensor_context(file.path, name) + " has shape " + format_shape(info.shape) +
                                 ", expected " + format_shape(expected));
    }
    return read_matrix(file, name);
}

// ---- writing ---------------------------------------------------------------------------------

TensorToWrite tensor_f32(const std::string& name, const Shape& shape, const float* values) {
    TensorToWrite tensor{name, DType::F32, shape, {}};
    const auto* bytes = reinterpret_cast<const uint8_t*>(values);
    tensor.bytes.assign(bytes, bytes + byte_count("tensor '" + name + "'", shape, DType::F32));
    return tensor;
}

TensorToWrite tensor_i32(const std::string& name, const Shape& shape, const int32_t* values) {
    TensorToWrite tensor{name, DType::I32, shape, {}};
    const auto* bytes = reinterpret_cast<const uint8_t*>(values);
    tensor.bytes.assign(bytes, bytes + byte_count("tensor '" + name + "'", shape, DType::I32));
    return tensor;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
    // The header text, entry by entry: {"name":{"dtype":..,"shape":[..],"data_offsets":[b,e]},...}.
    // Written as text rather than through one ordered_json object, whose key lookups are linear.
    std::string header_text = "{";
    std::set<std::string> names;
    uint64_t offset = 0;
    for (const TensorToWrite& tensor : tensors) {
        const std::string context = tensor_context(path, tensor.name);
        if (tensor.name.empty()) throw std::runtime_error(path + ": a tensor has an empty name");
        if (tensor.name == kMetadataKey) throw std::runtime_error(context + ": the name is reserved");
        if (!names.insert(tensor.name).second) throw std::runtime_error(context + " appears twice");
        const uint64_t expected_bytes = byte_count(context, tensor.shape, tensor.dtype);
        if (tensor.bytes.size() != expected_bytes) {
            throw std::runtime_error(context + " has " + std::to_string(tensor.bytes.size()) + " bytes, expected " +
                                     std::to_string(expected_bytes) + " for shape " + format_shape(tensor.shape) +
                                     " and dtype " + dtype_name(tensor.dtype));
        }
        const OrderedJson entry = {{"dtype", dtype_name(tensor.dtype)},
                                   {"shape", tensor.shape},
                                   {"data_offsets", {offset, offset + expected_bytes}}};
        header_text += (header_text.size() > 1 ? "," : "") + Json(tensor.name).dump() + ":" + entry.dump();
        offset += expected_bytes;
    }
    if (!metadata.empty()) {
        header_text += (header_text.size() > 1 ? ",\"" : "\"") + std::string(kMetadataKey) + "\":" + OrderedJson(metadata).dump();
    }
    header_text += "}";

    // Padding the header to a multiple of 8 keeps the data section 8-byte aligned in the file,
    // and hence in the page-aligned mapping.
    header_text.append((8 - header_text.size() % 8) % 8, ' ');
    const uint64_t header_size = header_text.size();

    std::string contents;
    contents.reserve(8 + header_size + offset);
    contents.append(reinterpret_cast<const char*>(&header_size), 8);
    contents += header_text;
    for (const TensorToWrite& tensor : tensors) {
        contents.append(reinterpret_cast<const char*>(tensor.bytes.data()), tensor.bytes.size());
    }
    write_file_atomic(path, contents);
}

// ---- checkpoints -----------------------------------------------------------------------------

namespace {

namespace fs = std::filesystem;

// {"weight_map": {tensor: shard file}} -> the map, validated.
std::map<std::string, std::string> read_weight_map(const std::string& index_path) {
    const std::string text = read_regular_file(index_path, kMaxHeaderBytes);
    nlohmann::json index;
    try {
        index = nlohmann::json::parse(text);
    } catch (const nlohmann::json::parse_error& error) {
        throw std::runtime_error(index_path + ": not valid JSON: " + error.what());
    }
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
        throw std::runtime_error(index_path + ": weight_map must be an object of strings");
    }
    std::map<std::string, std::string> weight_map;
    for (const auto& [tensor, shard] : index["weight_map"].items()) {
        if (!shard.is_string()) {
            throw std::runtime_error(index_path + ": weight_map entry '" + tensor + "' is not a string");
        }
        weight_map[tensor] = shard.get<std::string>();
    }
    return weight_map;
}

Checkpoint open_sharded(const std::string& directory, const std::string& index_path) {
    const std::map<std::string, std::string> weight_map = read_weight_map(index_path);

    Checkpoint checkpoint;
    checkpoint.directory = directory;
    std::map<std::string, size_t> shard_index;  // shard file name -> index into checkpoint.shards
    for (const auto& [tensor, shard] : weight_map) {
        if (shard_index.count(shard)) continue;
        shard_index[shard] = checkpoint.shards.size();
        checkpoint.shards.push_back(open_safetensors((fs::path(directory) / shard).string()));
    }

    // Every tensor must live in exactly one shard...
    for (size_t i = 0; i < checkpoint.shards.size(); ++i) {
        for (const TensorInfo& info : checkpoint.shards[i].tensors) {
            auto [previous, inserted] = checkpoint.shard_of.emplace(info.name, i);
            if (!inserted) {
                throw std::runtime_error(directory + ": tensor '" + info.name + "' is in two shards: " +
                                         checkpoint.shards[previous->second].path + " and " +
                                         checkpoint.shards[i].path);
            }
        }
    }
    // ...and that shard must be the one the index names, in both directions.
    for (const auto& [tensor, i] : checkpoint.shard_of) {
        auto listed = weight_map.find(tensor);
        if (listed == weight_map.end()) {
            throw std::runtime_error(index_path + ": tensor '" + tensor + "' is in shard " +
                                     checkpoint.shards[i].path + " but not in the index");
        }
        if (shard_index.at(listed->second) != i) {
            throw std::runtime_error(index_path + ": tensor '" + tensor + "' is listed in shard " + listed->second +
                                     " but found in " + checkpoint.shards[i].path);
        }
    }
    for (const auto& [tensor, shard] : weight_map) {
        if (!checkpoint.shard_of.count(tensor)) {
            throw std::runtime_error(index_path + ": tensor '" + tensor + "' is missing from shard " + shard);
        }
    }
    return checkpoint;
}

}  // namespace

Checkpoint open_checkpoint(const std::string& directory) {
    if (!fs::is_directory(directory)) throw std::runtime_error(directory + ": not a directory");
    const fs::path dir(directory);
    if (fs::exists(dir / "model.safetensors.index.json")) {
        return open_sharded(directory, (dir / "model.safetensors.index.json").string());
    }

    fs::path single = dir / "model.safetensors";
    if (!fs::exists(single)) {
        std::vector<fs::path> candidates;
        for (const fs::directory_entry& entry : fs::directory_iterator(dir)) {
            if (entry.path().extension() == ".safetensors") candidates.push_back(entry.path());
        }
        if (candidates.size() != 1) {
            std::string message = directory + ": no model.safetensors or model.safetensors.index.json";
            if (candidates.size() > 1) {
                message += " (and " + std::to_string(candidates.size()) + " *.safetensors files to choose from)";
            }
            throw std::runtime_error(message);
        }
        single = candidates[0];
    }

    Checkpoint checkpoint;
    checkpoint.directory = directory;
    checkpoint.shards.push_back(open_safetensors(single.string()));
    for (const TensorInfo& info : checkpoint.shards[0].tensors) checkpoint.shard_of[info.name] = 0;
    return checkpoint;
}

const SafetensorsFile& Checkpoint::shard_for(const std::string& name) const {
    auto it = shard_of.find(name);
    if (it == shard_of.end()) throw std::runtime_error(directory + ": no tensor '" + name + "' in the checkpoint");
    return shards[it->second];
}

}  // namespace seek
