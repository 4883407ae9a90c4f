// seek compare: diff two trace files name by name (CPU vs GPU, naive vs absorbed, FP32 vs FP8).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "../core/trace.h"
#include "commands.h"

namespace seek::cli {

static const CommandSpec compare_spec = {
    "compare",
    "diff two trace files name by name",
    "Reads two trace files (safetensors, as written by `seek step --trace`) and, for every tensor name\n"
    "present in both, prints the shape, the largest absolute error |a - b|, the relative error\n"
    "max|a - b| / max|a| (error relative to the tensor's scale in A), and the position and values of\n"
    "the worst element. Masked -inf entries equal on both sides count as equal; a NaN on either side\n"
    "is an infinite error. Names present in only one file are listed after the table.\n\n"
    "With --tol, the exit status is 1 when any common tensor's relative error exceeds it or shapes\n"
    "differ, so scripts and CI can use it as a check.",
    {
        {"tol", "X", "fail (exit 1) when a relative error exceeds X", ""},
        {"json", "", "print the table as JSON", ""},
    },
    "A B",
    2,
    2,
};

int run_compare(int argc, char** argv) {
    if (wants_help(compare_spec, argc, argv)) return 0;
    const ParsedArgs args = parse_args(compare_spec, argc, argv);
    const bool has_tol = args.flag("tol");
    const double tol = has_tol ? args.number("tol") : 0.0;
    if (has_tol && !(tol >= 0)) throw UsageError("--tol must be >= 0");

    const Trace a = load_trace(args.positional[0]);
    const Trace b = load_trace(args.positional[1]);
    const std::vector<TensorDiff> diffs = compare_traces(a, b);

    int failures = 0;
    for (const TensorDiff& diff : diffs) {
        if (diff.status == TensorDiff::ShapeMismatch) ++failures;
        if (diff.status == TensorDiff::Compared && has_tol && !(diff.max_rel_error <= tol)) ++failures;
    }

    if (args.flag("json")) {
        nlohmann::json rows = nlohmann::json::array();
        for (const TensorDiff& diff : diffs) {
            const char* status[] = {"compared", "only_in_a", "only_in_b", "shape_mismatch"};
            nlohmann::json row = {{"name", diff.name}, {"status", status[diff.status]},
                                  {"shape_a", diff.shape_a}, {"shape_b", diff.shape_b}};
            if (diff.status == TensorDiff::Compared) {
                row["max_abs_error"] = diff.max_abs_error;
                row["max_rel_error"] = diff.max_rel_error;
                row["worst_index"] = diff.worst_index;
                row["worst_a"] = diff.worst_a;
                row["worst_b"] = diff.worst_b;
            }
            rows.push_back(row);
        }
        nlohmann::json out = {{"a", args.positional[0]}, {"b", args.positional[1]}, {"tensors", rows}};
        if (has_tol) out["tol"] = tol;
        out["failures"] = failures;
        std::printf("%s\n", out.dump(2).c_str());
        return failures ? 1 : 0;
    }

    std::printf("A: %s\nB: %s\n\n", args.positional[0].c_str(), args.positional[1].c_str());
    std::printf("%-30s %-16s %12s %12s  %s\n", "name", "shape", "max abs err", "max rel err", "worst element (A, B)");
    for (const TensorDiff& diff : diffs) {
        if (diff.status == TensorDiff::Compared) {
            const bool over = has_tol && !(diff.max_rel_error <= tol);
            std::printf("%-30s %-16s %12.3e %12.3e  ", diff.name.c_str(), format_shape(diff.shape_a).c_str(),
                        diff.max_abs_error, diff.max_rel_error);
            if (diff.max_abs_error == 0) std::printf("identical");
            else std::printf("%s (%.9g, %.9g)", format_index(diff.worst_index, diff.shape_a).c_str(), diff.worst_a, diff.worst_b);
            std::printf("%s\n", over ? "  > tol" : "");
        } else if (diff.status == TensorDiff::ShapeMismatch) {
            std::printf("%-30s shape differs: A %s, B %s\n", diff.name.c_str(), format_shape(diff.shape_a).c_str(),
                        format_shape(diff.shape_b).c_str());
        }
    }
    for (const TensorDiff& diff : diffs) {
        if (diff.status == TensorDiff::OnlyInA) std::printf("only in A: %s %s\n", diff.name.c_str(), format_shape(diff.shape_a).c_str());
        if (diff.status == TensorDiff::OnlyInB) std::printf("only in B: %s %s\n", diff.name.c_str(), format_shape(diff.shape_b).c_str());
    }
    if (has_tol) {
        if (failures) std::printf("\nFAIL: %d tensor(s) differ by more than %g relative\n", failures, tol);
        else std::printf("\nOK: every common tensor within %g relative\n", tol);
    }
    return failures ? 1 : 0;
}

}  // namespace seek::cli
