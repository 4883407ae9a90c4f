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

// The roofline of device 0 from its attributes: peak DRAM bandwidth (bytes/s: two transfers per
// memory clock, times the bus width) and peak FP32 throughput on the CUDA cores (FLOP/s: an FMA per
// lane per clock, 64 lanes an SM on sm_80, 128 on sm_86 and later). False without a device, and
// under the emulator, which has no speed to speak of.
bool device_peaks(double* bytes_per_second, double* flops_per_second) {
#if defined(__CUDACC__)
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        cudaGetLastError();
        return false;
    }
    int memory_khz = 0, bus_bits = 0, clock_khz = 0, sms = 0, major = 0, minor = 0;
    SEEK_CUDA_CHECK(cudaDeviceGetAttribute(&memory_khz, cudaDevAttrMemoryClockRate, 0));
    SEEK_CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0));
    SEEK_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
    SEEK_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
    SEEK_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0));
    SEEK_CUDA_CHECK(cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, 0));
    const int fp32_lanes = major == 8 && minor == 0 ? 64 : 128;
    *bytes_per_second = 2.0 * memory_khz * 1e3 * bus_bits / 8;
    *flops_per_second = 2.0 * fp32_lanes * sms * clock_khz * 1e3;
    return *bytes_per_second > 0 && *flops_per_second > 0;
#else
    (void)bytes_per_second;
    (void)flops_per_second;
    return false;
#endif
}

double& device_milliseconds() {
    static double total = 0;  // host code of one thread (seek kernels): no lock needed
    return total;
}

}  // namespace SEEK_GPU_NAMESPACE
