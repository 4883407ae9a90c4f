// The trace: every intermediate tensor of a forward pass under a stable dotted name
// (design.md: "embed", "layers.0.attn.c_kv", ...). The viewer draws traces, `seek compare` diffs
// them, lessons point at names. A null Trace* records nothing and costs nothing; a name filter
// keeps full-scale traces small.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "safetensors.h"
#include "tensor.h"

namespace seek {

struct TraceEntry {
    std::string name;
    Shape shape;
    DType dtype = DType::F32;   // how it is stored in the file: F32, I32 for indices, F8_E4M3 or BF16
    std::vector<float> values;  // row-major, decoded; I32 entries hold exact small integers
};

struct Trace {
    std::vector<std::string> filters;  // glob patterns ('*' matches any run of characters); empty = all
    std::vector<TraceEntry> entries;   // in recording order = execution order
    std::map<std::string, std::string> metadata;  // config, prompt, tokens, device, seed, ...
};

bool glob_match(const std::string& pattern, const std::string& name);
// "layers.0.attn.*,embed" -> {"layers.0.attn.*", "embed"}
std::vector<std::string> parse_trace_filter(const std::string& comma_separated);

// True when `trace` is non-null and `name` passes its filters: callers use it to skip work that
// only the trace needs.
bool trace_wants(const Trace* trace, const std::string& name);
void trace_record(Trace* trace, const std::string& name, const Mat& tensor);  // shape [rows, cols]
void trace_record(Trace* trace, const std::string& name, const Shape& shape, const float* values,
                  DType dtype = DType::F32);

const TraceEntry* trace_find(const Trace& trace, const std::string& name);

// Safetensors file: one tensor per entry (in order), __metadata__ = trace.metadata. Atomic write.
// Loading is linear in the number of tensors.
void save_trace(const Trace& trace, const std::string& path);
Trace load_trace(const std::string& path);

// Over the finite values; masked attention scores (-inf) are counted in non_finite instead.
struct TensorStats {
    float min = 0, max = 0, mean = 0, std = 0;
    int64_t non_finite = 0;
};
TensorStats tensor_stats(const std::vector<float>& values);

// One row of `seek compare`: errors of b against a, relative to a's largest magnitude.
struct TensorDiff {
    std::string name;
    Shape shape_a, shape_b;
    enum Status { Compared, OnlyInA, OnlyInB, ShapeMismatch } status = Compared;
    double max_abs_error = 0;
    double max_rel_error = 0;   // max |a - b| / max |a|  (0 when both are all zeros)
    int64_t worst_index = -1;   // flat index of the largest |a - b|
    float worst_a = 0, worst_b = 0;
};
// Entries present in both are compared in a's order; then names only in a, then only in b.
// Linear in the number of entries (names are matched through a hash map).
std::vector<TensorDiff> compare_traces(const Trace& a, const Trace& b);
// "[2, 17]" from a flat index and a shape.
std::string format_index(int64_t flat_index, const Shape& shape);

}  // namespace seek
