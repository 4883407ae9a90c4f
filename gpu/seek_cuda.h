// What every gpu/*.cu includes first. The same source builds two ways:
//   nvcc           the real thing: CUDA's runtime, FP8 and BF16 headers;
//   host compiler  the thread-block emulator (gpu/emulator/): each CUDA thread a fiber on the CPU,
//                  every CUDA name a kernel and its host code use defined in namespace seek::emu.
// A .cu file puts its code in `namespace SEEK_GPU_NAMESPACE` (seek::cuda under nvcc, seek::emu
// under the emulator), so one program can link both builds of a kernel.
//
// Two things are spelled differently from plain CUDA, through macros both builds understand:
//   SEEK_LAUNCH(kernel, grid, block, shared_bytes)(args...)   is  kernel<<<grid, block, shared_bytes>>>(args...)
//   SEEK_DYNAMIC_SHARED(float, tile);                         is  extern __shared__ float tile[];
// Kernels that use FP8 or BF16 include <cuda_fp8.h> / <cuda_bf16.h> after this header.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)

#include <cuda_runtime.h>

#define SEEK_GPU_NAMESPACE seek::cuda
#define SEEK_LAUNCH(kernel, grid, block, shared_bytes) kernel<<<(grid), (block), (shared_bytes)>>>
// One byte array for all kernels (extern __shared__ arrays of different types in one file clash).
#define SEEK_DYNAMIC_SHARED(type, name)                                        \
    extern __shared__ __align__(16) unsigned char seek_dynamic_shared_bytes[]; \
    type* name = reinterpret_cast<type*>(seek_dynamic_shared_bytes)

#else

// With the CUDA toolkit's headers (SEEK_EMU_HAVE_CUDA_FP8, set by gpu/CMakeLists.txt), kernels get
// NVIDIA's own FP8 / BF16 types and conversions: on the host they are plain C++. They come first
// because the toolkit's host_defines.h defines __shared__ and friends, which the emulator then
// redefines. Without the toolkit, kernels that include them are left out of the emulated build.
#if SEEK_EMU_HAVE_CUDA_FP8
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#endif
#include "gpu/emulator/runtime_api.h"

#define SEEK_GPU_NAMESPACE seek::emu
#define SEEK_LAUNCH(kernel, grid, block, shared_bytes) \
    ::seek::emu::detail::make_launch(#kernel, kernel, (grid), (block), (shared_bytes))
#define SEEK_DYNAMIC_SHARED(type, name) type* name = reinterpret_cast<type*>(::seek::emu::detail::dynamic_shared_memory())

#endif

// Host-code helpers, the same in both builds.
namespace SEEK_GPU_NAMESPACE {

// SEEK_CUDA_CHECK(cudaMalloc(...)): throws std::runtime_error naming the call, file and line
// when a runtime call fails (the emulator adds what exactly it found wrong).
inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
    if (status == cudaSuccess) return;
    cudaGetLastError();  // reported here, so no later cudaGetLastError() reports it again
    std::string message = std::string(file) + ":" + std::to_string(line) + ": " + call + ": " + cudaGetErrorString(status);
#if !defined(__CUDACC__)
    message += std::string(" (") + detail::last_error_detail() + ")";
#endif
    throw std::runtime_error(message);
}
#define SEEK_CUDA_CHECK(call) check_cuda((call), #call, __FILE__, __LINE__)

// An array in device memory, freed when it goes out of scope (also when an exception leaves the
// host function, so an error found in a kernel does not leak it).
template <typename T>
struct DeviceArray {
    T* data = nullptr;
    size_t count = 0;

    explicit DeviceArray(size_t count_) : count(count_) { SEEK_CUDA_CHECK(cudaMalloc(&data, count * sizeof(T))); }
    ~DeviceArray() { cudaFree(data); }
    DeviceArray(const DeviceArray&) = delete;
    DeviceArray& operator=(const DeviceArray&) = delete;

    void copy_from_host(const T* host) {
        SEEK_CUDA_CHECK(cudaMemcpy(data, host, count * sizeof(T), cudaMemcpyHostToDevice));
    }
    void copy_to_host(T* host) const {
        SEEK_CUDA_CHECK(cudaMemcpy(host, data, count * sizeof(T), cudaMemcpyDeviceToHost));
    }
};

inline int ceil_div(int numerator, int denominator) { return (numerator + denominator - 1) / denominator; }

// The GPU's own time for the kernels of a call, without the copies around them. A host function
// puts a DeviceTimer around a run of launches (never around another timer's); its span, measured
// with CUDA events on the default stream, is added to device_milliseconds() (gpu/device.cu), which
// `seek kernels` reads before and after each call. The emulator has no time to tell: there the
// timer does nothing and the total stays 0.
double& device_milliseconds();
#if defined(__CUDACC__)
class DeviceTimer {
  public:
    DeviceTimer() {
        SEEK_CUDA_CHECK(cudaEventCreate(&start_));
        SEEK_CUDA_CHECK(cudaEventCreate(&stop_));
        SEEK_CUDA_CHECK(cudaEventRecord(start_));
    }
    ~DeviceTimer() {  // no throwing here: a failed launch is reported by the caller's own check
        float milliseconds = 0;
        if (cudaEventRecord(stop_) == cudaSuccess && cudaEventSynchronize(stop_) == cudaSuccess &&
            cudaEventElapsedTime(&milliseconds, start_, stop_) == cudaSuccess)
            device_milliseconds() += milliseconds;
        cudaEventDestroy(start_);
        cudaEventDestroy(stop_);
    }
    DeviceTimer(const DeviceTimer&) = delete;
    DeviceTimer& operator=(const DeviceTimer&) = delete;

  private:
    cudaEvent_t start_{}, stop_{};
};
#else
struct DeviceTimer {
    DeviceTimer() {}  // (user-provided: an unused-variable warning would follow a trivial one)
};
#endif

}  // namespace SEEK_GPU_NAMESPACE
