#include "gpu/backend.h"

#include <stdexcept>

#include "gpu/rms_norm.h"

namespace seek {

// The gpu/ kernel, and its variant, each table entry uses: the most optimized variant, all of
// which are checked against core in the emulator (tests/gpu/).
struct TableKernel {
    const char* op;
    const char* file;
    int variant;
};
static const std::vector<TableKernel> kTableKernels = {
    {"rms_norm", "gpu/rms_norm.cu", 3},
};

static int variant_of(const std::string& op) {
    for (const TableKernel& kernel : kTableKernels)
        if (op == kernel.op) return kernel.variant;
    throw std::logic_error("backend: no gpu/ kernel for " + op);
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
}
#endif

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
        BackendOp entry{op, false, "core"};
        if (device != Device::Cpu)
            for (const TableKernel& kernel : kTableKernels)
                if (entry.op == kernel.op)
                    entry = {op, true, std::string(kernel.file) + " variant " + std::to_string(kernel.variant)};
        ops.push_back(entry);
    }
    return ops;
}

}  // namespace seek
