// The emulator's host side: the part of the CUDA runtime API that host code in gpu/*.cu uses
// (memory, copies, errors, events, launches), so a host function reads as ordinary CUDA code.
//
// "Device memory" is host memory the emulator keeps a list of. That list lets it catch what a GPU
// would turn into a crash or garbage: a copy in the wrong direction or past an allocation, a host
// pointer passed to a kernel, a kernel writing past the end of an allocation (each allocation is
// followed by guard bytes that are checked after every launch). Fresh allocations and the bytes
// just past them hold 0xFF, which reads as NaN in a float and -1 in an int, so reading memory
// nobody wrote, or one element past the end, shows in the result.
//
// Launches run at once, to completion (a GPU runs them later, asynchronously), so
// cudaDeviceSynchronize has nothing to wait for. Errors the GPU would report through a later API
// call (a bad launch configuration, a barrier not all threads reach, a kernel writing out of
// bounds) are thrown at once as seek::emu::Error, naming the kernel, block and threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <tuple>
#include <type_traits>
#include <utility>

#include "gpu/emulator/kernel_api.h"

namespace seek::emu {

// A kernel bug or a launch the emulator refuses, described in words.
class Error : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The seed of the schedule: the order of blocks and of threads between barriers. The same seed
// gives the same order, so the same bytes. Initially SEEK_EMU_SEED from the environment, else 1.
void set_seed(uint64_t seed);
uint64_t get_seed();

// ---- the CUDA runtime API ----------------------------------------------------------------------
// Names and numeric values are the CUDA toolkit's (driver_types.h).
enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorInvalidResourceHandle = 400,
};
using cudaError_t = cudaError;

enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4,
};

enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize = 8 };

struct CUevent_st;
using cudaEvent_t = CUevent_st*;
struct CUstream_st;
using cudaStream_t = CUstream_st*;  // only the default stream (0) exists here

cudaError_t cudaMalloc(void** pointer, size_t bytes);
template <typename T>
cudaError_t cudaMalloc(T** pointer, size_t bytes) {  // as cuda_runtime.h: no cast needed
    return cudaMalloc(reinterpret_cast<void**>(pointer), bytes);
}
cudaError_t cudaFree(void* pointer);
cudaError_t cudaMemcpy(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemset(void* destination, int value, size_t bytes);
cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();   // returns the last error and resets it
cudaError_t cudaPeekAtLastError();  // returns it and keeps it
const char* cudaGetErrorString(cudaError_t error);
const char* cudaGetErrorName(cudaError_t error);

// Timing: events hold the host clock, so cudaEventElapsedTime gives how long the emulator took,
// which says nothing about a GPU's speed.
cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* milliseconds, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaEventDestroy(cudaEvent_t event);

// More than 48 KB of dynamic shared memory needs this opt-in, as on a GPU; the most a block can
// have is 227 KB (H100/H200).
constexpr size_t default_dynamic_shared_limit = 48 * 1024;
constexpr size_t max_shared_per_block = 227 * 1024;
cudaError_t cudaFuncSetAttribute(const void* kernel, cudaFuncAttribute attribute, int value);
template <typename Kernel>
cudaError_t cudaFuncSetAttribute(Kernel* kernel, cudaFuncAttribute attribute, int value) {
    return cudaFuncSetAttribute(reinterpret_cast<const void*>(kernel), attribute, value);
}

// __constant__ variables are ordinary globals here.
template <typename T>
cudaError_t cudaMemcpyToSymbol(T& symbol, const void* source, size_t bytes, size_t offset = 0,
                               cudaMemcpyKind = cudaMemcpyHostToDevice) {
    if (offset + bytes > sizeof(T)) return cudaErrorInvalidValue;
    std::memcpy(reinterpret_cast<unsigned char*>(&symbol) + offset, source, bytes);
    return cudaSuccess;
}

// ---- launches ----------------------------------------------------------------------------------
namespace detail {

const char* last_error_detail();  // what the last failing runtime call found, in words

struct LaunchConfig {
    const char* kernel_name;
    const void* kernel_address;  // for the cudaFuncSetAttribute opt-in
    dim3 grid;
    dim3 block;
    size_t shared_bytes;
};

// Runs every block of the grid, each thread calling `thread_body` (the kernel with its arguments).
void run_grid(const LaunchConfig& config, const std::function<void()>& thread_body);

// A pointer argument must point into memory from cudaMalloc (or be null): on a GPU a host pointer
// faults. Other arguments are not checked.
void check_pointer_argument(const LaunchConfig& config, int index, const void* pointer);
template <typename T>
void check_argument(const LaunchConfig& config, int index, const T& argument) {
    if constexpr (std::is_pointer<T>::value && !std::is_function<std::remove_pointer_t<T>>::value) {
        check_pointer_argument(config, index, argument);
    } else {
        (void)config, (void)index, (void)argument;
    }
}

// SEEK_LAUNCH(kernel, grid, block, shared_bytes)(args...): what kernel<<<grid, block, shared_bytes>>>(args...)
// is under nvcc. The arguments are converted to the kernel's parameter types and copied once, as a
// launch copies them to the GPU; every thread then gets its own copy of each.
template <typename... Params>
struct Launch {
    LaunchConfig config;
    void (*kernel)(Params...);

    template <typename... Args>
    void operator()(Args&&... args) const {
        static_assert(sizeof...(Args) == sizeof...(Params), "wrong number of kernel arguments");
        std::tuple<std::decay_t<Params>...> params(std::forward<Args>(args)...);
        std::apply([this](const auto&... param) {
            int index = 0;
            (check_argument(config, index++, param), ...);
            (void)index;
        }, params);
        run_grid(config, [this, &params] { std::apply(kernel, params); });
    }
};

template <typename... Params>
Launch<Params...> make_launch(const char* name, void (*kernel)(Params...), dim3 grid, dim3 block,
                              size_t shared_bytes) {
    return Launch<Params...>{{name, reinterpret_cast<const void*>(kernel), grid, block, shared_bytes}, kernel};
}

}  // namespace detail
}  // namespace seek::emu
