#include "gpu/backend.h"

#include <stdexcept>

#include "core/linear.h"
#include "core/moe.h"
#include "gpu/embedding.h"
#include "gpu/gate.h"
#include "gpu/linear.h"
#include "gpu/mla_decode.h"
#include "gpu/moe.h"
#include "gpu/rms_norm.h"
#include "gpu/rope.h"
#if SEEK_BACKEND_FP8
#include "gpu/fp8_gemm.h"
#endif

namespace seek {

// The gpu/ kernel, and its variant, each table entry uses: the most optimized variant, all of
// which are checked against core in the emulator (tests/gpu/, `seek kernels --device emu`). An op
// may have one kernel per case of its arguments (`when`: linear's GEMM precision).
struct TableKernel {
    const char* op;
    const char* file;
    int variant;
    const char* when;  // "" for every call; else the case this kernel takes
};
static const std::vector<TableKernel> kVariants = {
    {"embedding", "gpu/embedding.cu", 2, ""},          // a warp per row, float4
    {"rms_norm", "gpu/rms_norm.cu", 3, ""},            // a warp per row, shuffles
    {"rope", "gpu/rope.cu", 2, ""},                    // a block per row, the row's cos/sin in shared memory
    {"linear", "gpu/linear.cu", 3, "fp32"},            // 64 x 64 tiles, 4 x 4 outputs per thread
#if SEEK_BACKEND_FP8
    {"linear", "gpu/fp8_gemm.cu", 2, "fp8"},           // quantize, then shared-memory tiles, promotion per 128 of K
#endif
    {"attention", "gpu/mla_decode.cu", 1, ""},         // a block per (head, query) row: the naive form's only one
    {"latent_attention", "gpu/mla_decode.cu", 2, ""},  // split-KV and its combine, as FlashMLA
    {"route", "gpu/gate.cu", 2, ""},                   // a warp per token
    {"moe_dispatch", "gpu/moe.cu", 2, ""},             // tile ranks, one scan, placement
    {"moe_experts", "gpu/moe.cu", 2, "fp32"},          // shared-memory tiles within one expert
    {"moe_combine", "gpu/moe.cu", 2, ""},              // a warp per token, in plan order (core's bits)
    {"swiglu", "gpu/moe.cu", 2, "fp32"},               // the grouped kernel with one group
};

// What stays on core's reference even on a GPU backend, per op (the kernels do not model it).
struct CoreCase {
    const char* op;
    const char* what;
};
static const std::vector<CoreCase> kCoreCases = {
#if SEEK_BACKEND_FP8
    {"linear", "bf16 GEMMs and fp8's tensor-core accumulation model"},
#else
    {"linear", "bf16 and fp8 GEMMs (this build has no cuda_fp8.h)"},
#endif
    {"moe_experts", "bf16 and fp8 GEMMs"},
    {"swiglu", "bf16 and fp8 GEMMs"},
};

static int variant_of(const std::string& op, const std::string& when = "") {
    for (const TableKernel& kernel : kVariants)
        if (op == kernel.op && when == kernel.when) return kernel.variant;
    throw std::logic_error("backend: no gpu/ kernel for " + op + (when.empty() ? "" : " (" + when + ")"));
}

// Every entry of core/kernels.h, in its order.
static const std::vector<const char*> kTableOps = {"embedding", "rms_norm", "rope", "linear", "attention",
                                                   "latent_attention", "route", "moe_dispatch", "moe_experts",
                                                   "moe_combine", "swiglu"};

}  // namespace seek

#define SEEK_BACKEND_NS emu
#include "gpu/backend_entries.inc"
#undef SEEK_BACKEND_NS
#if SEEK_HAVE_CUDA
#define SEEK_BACKEND_NS cuda
#include "gpu/backend_entries.inc"
#undef SEEK_BACKEND_NS
#endif

namespace seek {

namespace emu {
std::string device_description(bool* available);  // gpu/device.cu
}
#if SEEK_HAVE_CUDA
namespace cuda {
std::string device_description(bool* available);
bool device_peaks(double* bytes_per_second, double* flops_per_second);
double& device_milliseconds();
}
#endif

double device_kernel_milliseconds(Device device) {
#if SEEK_HAVE_CUDA
    if (device == Device::Cuda) return cuda::device_milliseconds();
#endif
    (void)device;
    return 0;
}

bool device_peaks(Device device, double* bytes_per_second, double* flops_per_second) {
#if SEEK_HAVE_CUDA
    if (device == Device::Cuda) return cuda::device_peaks(bytes_per_second, flops_per_second);
#endif
    (void)device;
    (void)bytes_per_second;
    (void)flops_per_second;
    return false;
}

Device device_from_name(const std::string& name) {
    if (name == "cpu") return Device::Cpu;
    if (name == "emu") return Device::Emulator;
    if (name == "cuda") return Device::Cuda;
    throw std::invalid_argument("device must be cpu, emu or cuda, got '" + name + "'");
}

const char* device_name(Device device) {
    switch (device) {
        case Device::Cpu: return "cpu";
        case Device::Emulator: return "emu";
        case Device::Cuda: return "cuda";
    }
    return "?";
}

std::string device_description(Device device, bool* available) {
    switch (device) {
        case Device::Cpu: *available = true; return "core's reference on this CPU";
        case Device::Emulator: return emu::device_description(available);
        case Device::Cuda:
#if SEEK_HAVE_CUDA
            return cuda::device_description(available);
#else
            *available = false;
            return "this build has no CUDA kernels (nvcc was not found when it was configured)";
#endif
    }
    *available = false;
    return "?";
}

const Kernels& backend_kernels(Device device) {
    bool available = false;
    const std::string description = device_description(device, &available);
    if (!available) throw std::runtime_error(std::string("--device ") + device_name(device) + ": " + description);
    switch (device) {
        case Device::Cpu: return cpu_kernels();
        case Device::Emulator: {
            static const Kernels table = emu::make_table("emu");
            return table;
        }
        case Device::Cuda: {
#if SEEK_HAVE_CUDA
            static const Kernels table = cuda::make_table("cuda");
            return table;
#endif
        }
    }
    throw std::logic_error("backend_kernels: no table");
}

std::vector<BackendOp> backend_ops(Device device) {
    std::vector<BackendOp> ops;
    for (const char* op : kTableOps) {
        BackendOp entry{op, false, "core", ""};
        if (device != Device::Cpu) {
            std::string kernels;
            for (const TableKernel& kernel : kVariants) {
                if (entry.op != kernel.op) continue;
                if (!kernels.empty()) kernels += ", ";
                kernels += std::string(kernel.file) + " variant " + std::to_string(kernel.variant);
                if (*kernel.when) kernels += std::string(" (") + kernel.when + ")";
            }
            if (!kernels.empty()) {
                entry.on_device = true;
                entry.kernel = kernels;
                for (const CoreCase& core_case : kCoreCases)
                    if (entry.op == core_case.op) entry.on_core = core_case.what;
            }
        }
        ops.push_back(entry);
    }
    return ops;
}

}  // namespace seek
