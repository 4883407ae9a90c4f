// Which device a backend runs on. Under nvcc: the first CUDA device, or why there is none (no
// driver, no GPU); under the emulator: the CPU, always there. Host code only: no kernels.
#include "gpu/seek_cuda.h"

#include <string>

namespace SEEK_GPU_NAMESPACE {

std::string device_description(bool* available) {
#if defined(__CUDACC__)
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess || count == 0) {
        cudaGetLastError();  // clear it: asking is not an error of the caller's
        *available = false;
        return status != cudaSuccess ? std::string("no CUDA device: ") + cudaGetErrorString(status)
                                     : std::string("no CUDA device: the driver reports none");
    }
    cudaDeviceProp properties{};
    SEEK_CUDA_CHECK(cudaGetDeviceProperties(&properties, 0));
    *available = true;
    return std::string(properties.name) + ", sm_" + std::to_string(properties.major) + std::to_string(properties.minor) +
           ", " + std::to_string(properties.multiProcessorCount) + " SMs, " +
           std::to_string(properties.totalGlobalMem >> 30) + " GiB";
#else
    *available = true;
    return "the thread-block emulator on this CPU (each CUDA thread a fiber; checks kernels, says nothing of speed)";
#endif
}

}  // namespace SEEK_GPU_NAMESPACE
