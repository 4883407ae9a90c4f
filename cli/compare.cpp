// seek compare: diff two trace files name by name (CPU vs GPU, naive vs absorbed, FP32 vs FP8).
#include <cstdio>
#include <nlohmann/json.hpp>

#include "../core/tolerance.h"
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
    "With --tol, the exit status is 1 when any common tensor's relative error exceeds its tolerance or\n"
    "shapes differ, so scripts and CI can use it as a check, and the first such tensor in execution\n"
    "order (A's) is named: the first op whose output differs. --tol auto applies the tolerance rule\n"
    "(core/tolerance.h): 0 for expert ids and group masks, and by the traces' weight precision 1e-5\n"
    "(f32: the same math in another order), 5e-2 (bf16) or 0.3 (fp8) relative.",
    {
        {"tol", "X|auto", "fail (exit 1) when a relative error exceeds X, or the tolerance rule's value", ""},
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
    const bool auto_tol = has_tol && args.str("tol") == "auto";
    const double fixed_tol = has_tol && !auto_tol ? args.number("tol") : 0.0;
    if (has_tol && !auto_tol && !(fixed_tol >= 0)) throw UsageError("--tol must be auto or a number >= 0");

    const Trace a = load_trace(args.positional[0]);
    const Trace b = load_trace(args.positional[1]);
    const std::vector<TensorDiff> diffs = compare_traces(a, b);
    const std::string precision = comparison_precision(a, b);
    ToleranceCheck check = check_tolerances(diffs, a, precision);
    if (!auto_tol) {  // one tolerance for every tensor, or none at all
        check = ToleranceCheck{};
        for (size_t i = 0; i < diffs.size(); ++i) {
            const bool compared = diffs[i].status == TensorDiff::Compared;
            const bool within = diffs[i].status != TensorDiff::ShapeMismatch &&
                                (!compared || !has_tol || diffs[i].max_rel_error <= fixed_tol);
            check.tolerance.push_back(compared && has_tol ? fixed_tol : -1);
            check.within.push_back(within);
            if (!within && check.first_failure < 0) check.first_failure = static_cast<int>(i);
            check.failures += !within;
        }
    }
    const int failures = check.failures;
    const std::string first = check.first_failure >= 0 ? diffs[check.first_failure].name : "";

    if (args.flag("json")) {
        nlohmann::json rows = nlohmann::json::array();
        for (size_t i = 0; i < diffs.size(); ++i) {
            const TensorDiff& diff = diffs[i];
            const char* status[] = {"compared", "only_in_a", "only_in_b", "shape_mismatch"};
            nlohmann::json row = {{"name", diff.name}, {"status", status[diff.status]},
                                  {"shape_a", diff.shape_a}, {"shape_b", diff.shape_b}};
            if (diff.status == TensorDiff::Compared) {
                row["max_abs_error"] = diff.max_abs_error;
                row["max_rel_error"] = diff.max_rel_error;
                row["worst_index"] = diff.worst_index;
                row["worst_a"] = diff.worst_a;
                row["worst_b"] = diff.worst_b;
                if (check.tolerance[i] >= 0) row["tolerance"] = check.tolerance[i];
            }
            rows.push_back(row);
        }
        nlohmann::json out = {{"a", args.positional[0]}, {"b", args.positional[1]}, {"tensors", rows}};
        if (has_tol) out["tol"] = auto_tol ? nlohmann::json("auto") : nlohmann::json(fixed_tol);
        out["precision"] = precision;
        out["failures"] = failures;
        out["first_failure"] = first.empty() ? nlohmann::json(nullptr) : nlohmann::json(first);
        std::printf("%s\n", out.dump(2).c_str());
        return failures ? 1 : 0;
    }

    std::printf("A: %s\nB: %s\n", args.positional[0].c_str(), args.positional[1].c_str());
    if (auto_tol) std::printf("tolerance rule at %s weights (core/tolerance.h)\n", precision.c_str());
    std::printf("\n%-30s %-16s %12s %12s  %s\n", "name", "shape", "max abs err", "max rel err", "worst element (A, B)");
    for (size_t i = 0; i < diffs.size(); ++i) {
        const TensorDiff& diff = diffs[i];
        if (diff.status == TensorDiff::Compared) {
            std::printf("%-30s %-16s %12.3e %12.3e  ", diff.name.c_str(), format_shape(diff.shape_a).c_str(),
                        diff.max_abs_error, diff.max_rel_error);
            if (diff.max_abs_error == 0) std::printf("identical");
            else std::printf("%s (%.9g, %.9g)", format_index(diff.worst_index, diff.shape_a).c_str(), diff.worst_a, diff.worst_b);
            if (!check.within[i]) std::printf("  > tol %g", check.tolerance[i]);
            std::printf("%s\n", static_cast<int>(i) == check.first_failure ? "  <- first" : "");
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
        const std::string rule = auto_tol ? "the tolerance rule (" + precision + ")" : number_text(fixed_tol) + " relative";
        if (failures)
            std::printf("\nFAIL: %d tensor(s) differ by more than %s; the first in execution order is %s\n", failures,
                        rule.c_str(), first.c_str());
        else
            std::printf("\nOK: every common tensor within %s\n", rule.c_str());
    }
    return failures ? 1 : 0;
}

}  // namespace seek::cli
