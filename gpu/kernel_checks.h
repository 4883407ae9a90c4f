// `seek kernels`: llm.c's validate-then-benchmark loop over every gpu/ kernel and variant. For each
// one: seeded random inputs, core's reference and the kernel on the same inputs, the error against
// the tolerance rule (core/tolerance.h: one metric for every op, max |kernel - core| / max |core|),
// then, on a GPU, timing and the fraction of the device's roofline it reaches.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "gpu/backend.h"

namespace seek {

// One output of a kernel against core's (a kernel may have several: route's topk_idx, group_mask,
// weights and scores).
struct KernelOutput {
    std::string name;          // "topk_idx"
    double max_abs_error = 0;
    double max_rel_error = 0;  // relative to core's largest magnitude
    double tolerance = 0;      // the rule's: exact 0, FP32 1e-5
};

struct KernelCheck {
    std::string op;            // "rms_norm"
    int variant = 0;
    std::string variant_name;  // "a warp per row"
    std::string shape;         // "T 64, d 7168"
    std::vector<KernelOutput> outputs;
    // The output furthest beyond its tolerance (or, all within, nearest to it; the first on a tie)
    double max_abs_error = 0;
    double max_rel_error = 0;
    double tolerance = 0;
    bool passed = false;       // every output within its tolerance
    double milliseconds = 0;   // median per call, host copies included; 0 when not timed (the emulator)
    double kernel_milliseconds = 0;  // median per call of the kernels alone (GPU events); 0 when the
                                     // op's host functions do not time their launches
    double bytes = 0;          // moved from and to memory per call, at least
    double flops = 0;          // floating-point operations per call
};

struct KernelCheckOptions {
    Device device = Device::Emulator;
    std::vector<std::string> ops;  // empty: every op with a kernel
    std::string scale = "small";   // "small": the toy's sizes, quick in the emulator; "v3": DeepSeek-V3's
    int repeats = 20;              // timed runs per kernel on a GPU
    uint64_t seed = 0;
};

// Runs every check, calling on_check after each (progress, printing). Throws for an unknown op or
// scale, or a device that cannot run.
std::vector<KernelCheck> check_kernels(const KernelCheckOptions& options,
                                       const std::function<void(const KernelCheck&)>& on_check = {});
// The ops check_kernels knows, in the kernel table's order.
std::vector<std::string> checked_ops();

}  // namespace seek
