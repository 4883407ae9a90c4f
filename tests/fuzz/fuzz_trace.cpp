// Fuzz target: the trace reader (core/trace.h) and what `seek compare` does with a trace.
#include <stdexcept>

#include "core/trace.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static seek::fuzz::InputFile input;
    const std::string& path = input.hold(data, size);
    seek::Trace trace;
    try {
        trace = seek::load_trace(path);
    } catch (const std::runtime_error&) {
        return 0;
    }
    for (const seek::TraceEntry& entry : trace.entries) {
        seek::fuzz::require(static_cast<int64_t>(entry.values.size()) == seek::shape_numel(entry.shape));
        seek::tensor_stats(entry.values);
    }
    for (const seek::TensorDiff& diff : seek::compare_traces(trace, trace)) {
        seek::fuzz::require(diff.status == seek::TensorDiff::Compared);
        if (diff.worst_index >= 0) seek::format_index(diff.worst_index, diff.shape_a);
    }
    return 0;
}
