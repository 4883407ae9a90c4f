#include "trace.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "fp8.h"
#include "glossary.h"

namespace seek {

bool glob_match(const std::string& pattern, const std::string& name) {
    // Iterative '*' matching with backtracking to the last star: linear for the patterns used here.
    size_t p = 0, n = 0, star = std::string::npos, resume = 0;
    while (n < name.size()) {
        if (p < pattern.size() && pattern[p] == '*') {
            star = p++;
            resume = n;
        } else if (p < pattern.size() && pattern[p] == name[n]) {
            ++p;
            ++n;
        } else if (star != std::string::npos) {
            p = star + 1;
            n = ++resume;
        } else {
            return false;
        }
    }
    while (p < pattern.size() && pattern[p] == '*') ++p;
    return p == pattern.size();
}

std::vector<std::string> parse_trace_filter(const std::string& comma_separated) {
    std::vector<std::string> patterns;
    std::stringstream stream(comma_separated);
    std::string pattern;
    while (std::getline(stream, pattern, ','))
        if (!pattern.empty()) patterns.push_back(pattern);
    return patterns;
}

bool trace_wants(const Trace* trace, const std::string& name) {
    if (!trace) return false;
    if (trace->filters.empty()) return true;
    for (const std::string& pattern : trace->filters)
        if (glob_match(pattern, name)) return true;
    return false;
}

void trace_record(Trace* trace, const std::string& name, const Shape& shape, const float* values, DType dtype) {
    if (!trace_wants(trace, name)) return;
    TraceEntry entry{name, shape, dtype, std::vector<float>(values, values + shape_numel(shape))};
    trace->entries.push_back(std::move(entry));
}

void trace_record(Trace* trace, const std::string& name, const Mat& tensor) {
    trace_record(trace, name, {tensor.rows(), tensor.cols()}, tensor.data());
}

const TraceEntry* trace_find(const Trace& trace, const std::string& name) {
    for (const TraceEntry& entry : trace.entries)
        if (entry.name == name) return &entry;
    return nullptr;
}

void save_trace(const Trace& trace, const std::string& path) {
    std::vector<TensorToWrite> tensors;
    for (const TraceEntry& entry : trace.entries) {
        const int64_t n = static_cast<int64_t>(entry.values.size());
        if (entry.dtype == DType::I32) {
            std::vector<int32_t> ints(entry.values.begin(), entry.values.end());
            tensors.push_back(tensor_i32(entry.name, entry.shape, ints.data()));
        } else if (entry.dtype == DType::F8_E4M3) {  // values on the E4M3 grid (already scaled back or not)
            tensors.push_back({entry.name, DType::F8_E4M3, entry.shape, e4m3_bytes(entry.values.data(), n)});
        } else if (entry.dtype == DType::BF16) {
            tensors.push_back({entry.name, DType::BF16, entry.shape, bf16_bytes(entry.values.data(), n)});
        } else {
            tensors.push_back(tensor_f32(entry.name, entry.shape, entry.values.data()));
        }
    }
    // Each tensor's axis names (glossary.h), for readers that do not know the names.
    nlohmann::json axes = nlohmann::json::object();
    for (const TraceEntry& entry : trace.entries) {
        const std::vector<std::string> names = tensor_axes(entry.name);
        if (names.size() == entry.shape.size()) axes[entry.name] = names;
    }
    std::map<std::string, std::string> metadata = trace.metadata;
    metadata["axes"] = axes.dump();
    write_safetensors(path, tensors, metadata);
}

Trace load_trace(const std::string& path) {
    const SafetensorsFile file = open_safetensors(path);
    Trace trace;
    trace.metadata = file.metadata;
    for (const TensorInfo& info : file.tensors) {
        TraceEntry entry{info.name, info.shape, info.dtype, {}};
        const int64_t n = info.numel();
        entry.values.resize(n);
        if (info.dtype == DType::I32) {
            for (int64_t i = 0; i < n; ++i) {
                int32_t v;
                std::memcpy(&v, file.bytes(info) + 4 * i, 4);
                entry.values[i] = static_cast<float>(v);
            }
        } else if (info.dtype == DType::F8_E4M3) {
            for (int64_t i = 0; i < n; ++i) entry.values[i] = fp8_decode(file.bytes(info)[i], Fp8Format::E4M3);
        } else {
            // read_matrix decodes F32/F16/BF16 and names the tensor if the dtype is unsupported.
            const Mat m = read_matrix(file, info.name);
            std::copy(m.data(), m.data() + n, entry.values.begin());
            entry.dtype = info.dtype == DType::BF16 ? DType::BF16 : DType::F32;
        }
        trace.entries.push_back(std::move(entry));
    }
    return trace;
}

TensorStats tensor_stats(const std::vector<float>& values) {
    TensorStats stats;
    double sum = 0, sum_sq = 0;
    int64_t finite = 0;
    for (float v : values) {
        if (!std::isfinite(v)) continue;
        stats.min = finite ? std::min(stats.min, v) : v;
        stats.max = finite ? std::max(stats.max, v) : v;
        sum += v;
        ++finite;
    }
    stats.non_finite = static_cast<int64_t>(values.size()) - finite;
    if (finite == 0) return stats;
    const double mean = sum / finite;
    for (float v : values)
        if (std::isfinite(v)) sum_sq += (v - mean) * (v - mean);
    stats.mean = static_cast<float>(mean);
    stats.std = static_cast<float>(std::sqrt(sum_sq / finite));
    return stats;
}

std::string format_index(int64_t flat_index, const Shape& shape) {
    Shape index(shape.size());
    for (size_t d = shape.size(); d-- > 0;) {
        index[d] = shape[d] ? flat_index % shape[d] : 0;
        flat_index = shape[d] ? flat_index / shape[d] : 0;
    }
    return format_shape(index);
}

static TensorDiff diff_entries(const TraceEntry& a, const TraceEntry& b) {
    TensorDiff diff;
    diff.name = a.name;
    diff.shape_a = a.shape;
    diff.shape_b = b.shape;
    if (a.shape != b.shape) {
        diff.status = TensorDiff::ShapeMismatch;
        return diff;
    }
    double scale = 0;
    for (size_t i = 0; i < a.values.size(); ++i) {
        if (std::isfinite(a.values[i])) scale = std::max(scale, std::fabs(static_cast<double>(a.values[i])));
        // Equal values (masked -inf scores on both sides included) are no error at all.
        const double error = a.values[i] == b.values[i] ? 0.0 : std::fabs(static_cast<double>(a.values[i]) - b.values[i]);
        // A NaN on either side is the worst possible error, never a silent pass.
        if (std::isnan(error) || error > diff.max_abs_error || (diff.worst_index < 0 && error == 0)) {
            diff.max_abs_error = std::isnan(error) ? INFINITY : error;
            diff.worst_index = static_cast<int64_t>(i);
            diff.worst_a = a.values[i];
            diff.worst_b = b.values[i];
        }
    }
    diff.max_rel_error = diff.max_abs_error == 0 ? 0 : diff.max_abs_error / (scale > 0 ? scale : 1e-30);
    return diff;
}

// Name -> its first entry (trace_find's answer), so that matching names is linear overall: a
// 40,000-tensor trace compares in a moment, not in a quadratic minute.
static std::unordered_map<std::string, const TraceEntry*> entries_by_name(const Trace& trace) {
    std::unordered_map<std::string, const TraceEntry*> by_name;
    by_name.reserve(trace.entries.size());
    for (const TraceEntry& entry : trace.entries) by_name.emplace(entry.name, &entry);
    return by_name;
}

std::vector<TensorDiff> compare_traces(const Trace& a, const Trace& b) {
    const auto a_by_name = entries_by_name(a), b_by_name = entries_by_name(b);
    std::vector<TensorDiff> diffs;
    for (const TraceEntry& entry : a.entries) {
        const auto other = b_by_name.find(entry.name);
        if (other != b_by_name.end()) diffs.push_back(diff_entries(entry, *other->second));
    }
    // Then the names only one side has, each with its own shape.
    auto list_missing = [&diffs](const Trace& from, const std::unordered_map<std::string, const TraceEntry*>& other,
                                 TensorDiff::Status status) {
        for (const TraceEntry& entry : from.entries) {
            if (other.count(entry.name)) continue;
            TensorDiff diff;
            diff.name = entry.name;
            (status == TensorDiff::OnlyInA ? diff.shape_a : diff.shape_b) = entry.shape;
            diff.status = status;
            diffs.push_back(diff);
        }
    };
    list_missing(a, b_by_name, TensorDiff::OnlyInA);
    list_missing(b, a_by_name, TensorDiff::OnlyInB);
    return diffs;
}

}  // namespace seek
