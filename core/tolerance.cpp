#include "tolerance.h"

#include <stdexcept>

namespace seek {

static int precision_rank(const std::string& precision) {
    if (precision == "f32" || precision == "fp32") return 0;
    if (precision == "bf16") return 1;
    if (precision == "fp8") return 2;
    throw std::invalid_argument("precision must be f32, bf16 or fp8, got '" + precision + "'");
}

static bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

double trace_tolerance(const std::string& name, DType dtype, const std::string& precision) {
    if (dtype == DType::I32 || ends_with(name, "group_mask")) return 0;
    switch (precision_rank(precision)) {
        case 0: return 1e-5;
        case 1: return 5e-2;
        default: return 0.3;
    }
}

std::string comparison_precision(const Trace& a, const Trace& b) {
    auto of = [](const Trace& trace) {
        auto it = trace.metadata.find("precision");
        return it == trace.metadata.end() ? std::string("f32") : it->second;
    };
    const std::string pa = of(a), pb = of(b);
    return precision_rank(pa) >= precision_rank(pb) ? pa : pb;
}

ToleranceCheck check_tolerances(const std::vector<TensorDiff>& diffs, const Trace& a, const std::string& precision) {
    ToleranceCheck check;
    for (size_t i = 0; i < diffs.size(); ++i) {
        const TensorDiff& diff = diffs[i];
        double tolerance = -1;
        bool within = true;
        if (diff.status == TensorDiff::ShapeMismatch) {
            within = false;
        } else if (diff.status == TensorDiff::Compared) {
            const TraceEntry* entry = trace_find(a, diff.name);
            tolerance = trace_tolerance(diff.name, entry ? entry->dtype : DType::F32, precision);
            within = diff.max_rel_error <= tolerance;
        }
        check.tolerance.push_back(tolerance);
        check.within.push_back(within);
        if (!within) {
            ++check.failures;
            if (check.first_failure < 0) check.first_failure = static_cast<int>(i);
        }
    }
    return check;
}

}  // namespace seek
