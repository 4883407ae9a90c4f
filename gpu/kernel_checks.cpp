#include "gpu/kernel_checks.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "core/norm.h"
#include "core/random.h"
#include "core/tolerance.h"
#include "gpu/rms_norm.h"

namespace seek {

static Mat random_matrix(int64_t rows, int64_t cols, uint64_t seed, float std = 1.0f) {
    Mat m(rows, cols);
    Rng rng(seed);
    for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = std * rng.normal();
    return m;
}

// max |got - expected|, and that over max |expected|: compare_traces' measure.
static void measure(KernelCheck& check, const Mat& expected, const Mat& got) {
    if (expected.rows() != got.rows() || expected.cols() != got.cols()) {
        check.max_abs_error = check.max_rel_error = INFINITY;
        return;
    }
    const double scale = expected.cwiseAbs().maxCoeff();
    check.max_abs_error = (got - expected).cwiseAbs().maxCoeff();
    check.max_rel_error = check.max_abs_error == 0 ? 0 : check.max_abs_error / (scale > 0 ? scale : 1e-30);
    if (std::isnan(check.max_abs_error)) check.max_abs_error = check.max_rel_error = INFINITY;
    check.passed = check.max_rel_error <= check.tolerance;
}

// Median milliseconds of `repeats` calls of `run` (host to device copies included: a call is what
// the kernel table's entry costs).
template <typename Run>
static double median_milliseconds(int repeats, const Run& run) {
    std::vector<double> times;
    for (int i = 0; i < repeats; ++i) {
        const auto start = std::chrono::steady_clock::now();
        run();
        times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

// The same call on the emulator's build of a kernel or on CUDA's (check_kernels refuses cuda in a
// build without it, through backend_kernels).
#if SEEK_HAVE_CUDA
#define SEEK_ON_DEVICE(device, call) ((device) == Device::Cuda ? cuda::call : emu::call)
#else
#define SEEK_ON_DEVICE(device, call) emu::call
#endif

// ---- the ops ----------------------------------------------------------------------------------

static void check_rms_norm(const KernelCheckOptions& o, std::vector<KernelCheck>& out,
                           const std::function<void(const KernelCheck&)>& on_check) {
    const int64_t rows = o.scale == "v3" ? 4096 : 37, cols = o.scale == "v3" ? 7168 : 64;
    const Mat x = random_matrix(rows, cols, o.seed + 1);
    const Vec weight = Vec::Ones(cols) + random_matrix(cols, 1, o.seed + 2, 0.1f);
    const float eps = 1e-6f;
    const Mat expected = rms_norm_forward<float>(x, weight, eps);
    const char* names[] = {"", "a thread per row", "a block per row, shared-memory tree", "a warp per row, shuffles"};
    for (int variant = 1; variant <= 3; ++variant) {
        KernelCheck check;
        check.op = "rms_norm";
        check.variant = variant;
        check.variant_name = names[variant];
        check.shape = "rows " + std::to_string(rows) + ", cols " + std::to_string(cols);
        check.tolerance = trace_tolerance("attn_norm", DType::F32, "f32");
        check.bytes = 4.0 * (2 * rows * cols + cols);  // x in, y out, the weight once
        check.flops = 4.0 * rows * cols;               // square, add; two products per output
        auto run = [&] { return SEEK_ON_DEVICE(o.device, rms_norm_forward(x, weight, eps, variant)); };
        measure(check, expected, run());
        if (o.device == Device::Cuda) check.milliseconds = median_milliseconds(o.repeats, run);
        out.push_back(check);
        if (on_check) on_check(check);
    }
}

using CheckOp = void (*)(const KernelCheckOptions&, std::vector<KernelCheck>&,
                         const std::function<void(const KernelCheck&)>&);
struct OpCheck {
    const char* op;
    CheckOp check;
};
static const std::vector<OpCheck> kOpChecks = {
    {"rms_norm", check_rms_norm},
};

std::vector<std::string> checked_ops() {
    std::vector<std::string> ops;
    for (const OpCheck& op : kOpChecks) ops.push_back(op.op);
    return ops;
}

std::vector<KernelCheck> check_kernels(const KernelCheckOptions& options,
                                       const std::function<void(const KernelCheck&)>& on_check) {
    if (options.device == Device::Cpu) throw std::invalid_argument("check_kernels: --device emu or cuda (cpu is the reference)");
    if (options.scale != "small" && options.scale != "v3")
        throw std::invalid_argument("scale must be small or v3, got '" + options.scale + "'");
    for (const std::string& op : options.ops)
        if (std::none_of(kOpChecks.begin(), kOpChecks.end(), [&](const OpCheck& c) { return op == c.op; }))
            throw std::invalid_argument("no kernel for op '" + op + "' (seek kernels --help lists them)");
    backend_kernels(options.device);  // throws when the device cannot run, saying why
    std::vector<KernelCheck> checks;
    for (const OpCheck& op : kOpChecks)
        if (options.ops.empty() || std::find(options.ops.begin(), options.ops.end(), op.op) != options.ops.end())
            op.check(options, checks, on_check);
    return checks;
}

}  // namespace seek
