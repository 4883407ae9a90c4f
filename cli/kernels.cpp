// seek kernels: every gpu/ kernel and variant against core/ on seeded inputs, then timed on a GPU.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "../core/safetensors.h"
#include "../gpu/kernel_checks.h"
#include "commands.h"
#include "progress.h"

namespace seek::cli {

static const CommandSpec kernels_spec = {
    "kernels",
    "check every gpu/ kernel and variant against core (in the emulator or on a GPU) and time it",
    "llm.c's validate-then-benchmark loop. For each kernel of gpu/ and each of its numbered variants:\n"
    "seeded random inputs; core's reference and the kernel on the same inputs; the error\n"
    "max |kernel - core| / max |core| against the tolerance rule (core/tolerance.h: 0 for exact ops,\n"
    "1e-5 for FP32 computed in another order). --device emu runs the kernels' own source in the\n"
    "thread-block emulator on this CPU: it validates only (its times say nothing about a GPU).\n"
    "--device cuda runs them on a GPU and times each call (median of --repeats): the whole call,\n"
    "host copies included, and where the op's host functions time their launches (FP8\n"
    "quantization and GEMMs, MLA attention) the kernels alone, from the GPU's events. GB/s, GFLOP/s\n"
    "and the fraction of the device's roofline (its peak DRAM bandwidth and FP32 FLOP/s from the\n"
    "driver: the time the call's bytes or FLOPs need at that peak over the measured time) come from\n"
    "the kernels' time when there is one, else from the call's.\n\n"
    "--scale small uses the toy's sizes (quick in the emulator); --scale v3 DeepSeek-V3's (a GPU).\n"
    "The exit status is 1 when any kernel is beyond its tolerance.",
    {
        {"device", "NAME", "emu (the emulator) or cuda (a GPU)", "emu"},
        {"op", "NAMES", "only these ops, comma-separated (default: every op with a kernel)", ""},
        {"scale", "NAME", "small or v3", ""},
        {"repeats", "N", "timed calls per kernel on a GPU", "20"},
        {"seed", "N", "seed of the inputs", "0"},
        {"json", "", "print the results as JSON", ""},
        {"json-out", "FILE", "also write the results as JSON to FILE (with the table printed)", ""},
    },
    "",
    0,
    0,
};

// The op names of --op, empty items skipped ("rope,,mla," is rope and mla).
static std::vector<std::string> split_commas(const std::string& text) {
    std::vector<std::string> items;
    for (const std::string& item : comma_items(text))
        if (!item.empty()) items.push_back(item);
    return items;
}

int run_kernels(int argc, char** argv) {
    if (wants_help(kernels_spec, argc, argv)) {
        std::printf("\nops: ");
        for (const std::string& op : checked_ops()) std::printf("%s ", op.c_str());
        std::printf("\n");
        return 0;
    }
    const ParsedArgs args = parse_args(kernels_spec, argc, argv);
    KernelCheckOptions options;
    options.device = args.choice("device", device_from_name);
    if (options.device == Device::Cpu) throw UsageError("--device: cpu is the reference; check emu or cuda against it");
    options.scale = args.flag("scale") ? args.str("scale") : options.device == Device::Cuda ? "v3" : "small";
    if (options.scale != "small" && options.scale != "v3") throw UsageError("--scale must be small or v3, got '" + options.scale + "'");
    options.ops = args.flag("op") ? split_commas(args.str("op")) : std::vector<std::string>{};
    for (const std::string& op : options.ops) {
        const std::vector<std::string> known = checked_ops();
        if (std::find(known.begin(), known.end(), op) == known.end()) throw UsageError("--op: no kernel for '" + op + "'");
    }
    options.repeats = static_cast<int>(args.integer("repeats"));
    if (options.repeats < 1) throw UsageError("--repeats must be >= 1");
    options.seed = static_cast<uint64_t>(args.integer("seed"));

    bool available = false;
    const std::string description = device_description(options.device, &available);
    if (!available) throw std::runtime_error(std::string("--device ") + device_name(options.device) + ": " + description);
    // The roofline: a call can take no less than max(bytes / bandwidth, flops / peak FLOP/s).
    double peak_bytes = 0, peak_flops = 0;
    const bool roofline = device_peaks(options.device, &peak_bytes, &peak_flops);
    // The time the rates are worked out from: the kernels alone where timed, else the whole call.
    auto rate_milliseconds = [](const KernelCheck& c) { return c.kernel_milliseconds > 0 ? c.kernel_milliseconds : c.milliseconds; };
    auto roofline_fraction = [&](const KernelCheck& c) {
        if (!roofline || rate_milliseconds(c) <= 0) return 0.0;
        return std::max(c.bytes / peak_bytes, c.flops / peak_flops) / (rate_milliseconds(c) * 1e-3);
    };
    if (!args.flag("json")) {
        std::printf("device: %s\nscale: %s\n", description.c_str(), options.scale.c_str());
        if (roofline)
            std::printf("roofline: %.0f GB/s, %.1f TFLOP/s FP32 (CUDA cores); %% roof: the time the bytes or FLOPs need at\n"
                        "that peak over the kernels' time (or the call's, host copies included, where no kernel ms)\n",
                        peak_bytes / 1e9, peak_flops / 1e12);
        std::printf("\n");
    }
    if (!args.flag("json"))
        std::printf("%-16s %-3s %-44s %-40s %11s %9s %5s %10s %10s %9s %10s %8s\n", "op", "v", "variant", "shape",
                    "max rel err", "tol", "", "ms/call", "kernel ms", "GB/s", "GFLOP/s", "% roof");
    const std::vector<KernelCheck> checks = check_kernels(options, [&](const KernelCheck& c) {
        if (args.flag("json")) return;
        std::printf("%-16s %-3d %-44s %-40s %11.3e %9.1e %5s", c.op.c_str(), c.variant, c.variant_name.c_str(),
                    c.shape.c_str(), c.max_rel_error, c.tolerance, c.passed ? "ok" : "FAIL");
        if (c.milliseconds > 0) {
            std::printf(" %10.4f", c.milliseconds);
            if (c.kernel_milliseconds > 0) std::printf(" %10.4f", c.kernel_milliseconds);
            else std::printf(" %10s", "-");
            std::printf(" %9.1f %10.1f %7.2f%%", c.bytes / rate_milliseconds(c) / 1e6, c.flops / rate_milliseconds(c) / 1e6,
                        100 * roofline_fraction(c));
        } else {
            std::printf(" %10s %10s %9s %10s %8s", "-", "-", "-", "-", "-");
        }
        std::printf("\n");
        std::fflush(stdout);
    });
    int failures = 0;
    for (const KernelCheck& c : checks) failures += !c.passed;
    if (args.flag("json") || args.flag("json-out")) {
        nlohmann::json rows = nlohmann::json::array();
        for (const KernelCheck& c : checks) {
            nlohmann::json outputs = nlohmann::json::array();
            for (const KernelOutput& output : c.outputs)
                outputs.push_back({{"name", output.name}, {"max_abs_error", output.max_abs_error},
                                   {"max_rel_error", output.max_rel_error}, {"tolerance", output.tolerance}});
            rows.push_back({{"op", c.op}, {"variant", c.variant}, {"variant_name", c.variant_name}, {"shape", c.shape},
                            {"max_abs_error", c.max_abs_error}, {"max_rel_error", c.max_rel_error},
                            {"tolerance", c.tolerance}, {"passed", c.passed}, {"outputs", outputs},
                            {"milliseconds", c.milliseconds}, {"kernel_milliseconds", c.kernel_milliseconds},
                            {"bytes", c.bytes}, {"flops", c.flops},
                            {"roofline_fraction", roofline_fraction(c)}});
        }
        const std::string json = nlohmann::json{{"device", device_name(options.device)}, {"description", description},
                                                {"peak_bytes_per_second", peak_bytes},
                                                {"peak_fp32_flops_per_second", peak_flops},
                                                {"scale", options.scale}, {"kernels", rows}, {"failures", failures}}
                                     .dump(2);
        if (args.flag("json")) std::printf("%s\n", json.c_str());
        if (args.flag("json-out")) write_file_atomic(args.str("json-out"), json + "\n");
    }
    if (!args.flag("json")) {
        std::printf("\n%zu kernel variants: %zu within tolerance, %d beyond%s\n", checks.size(), checks.size() - failures,
                    failures, options.device == Device::Emulator ? " (the emulator validates; it does not time)" : "");
    }
    return failures ? 1 : 0;
}

}  // namespace seek::cli
