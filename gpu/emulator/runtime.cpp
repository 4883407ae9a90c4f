// The emulator's CUDA runtime: device memory as host memory with a list of allocations, copies
// checked against that list, errors, events, and the shared-memory opt-in.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

#include "gpu/emulator/runtime_api.h"

namespace seek::emu {

namespace {

constexpr size_t allocation_alignment = 256;  // what cudaMalloc guarantees
constexpr size_t guard_bytes = 256;           // checked after every launch
constexpr unsigned char poison = 0xFF;        // NaN as a float, -1 as an int

struct Allocation {
    size_t bytes;          // what was asked for
    size_t guarded_bytes;  // bytes rounded up to the alignment, plus the guard
};

std::mutex registry_mutex;                       // host threads may allocate at the same time
std::map<uintptr_t, Allocation> allocations;     // by start address
std::map<const void*, size_t> dynamic_shared_limits;  // kernel -> cudaFuncSetAttribute's bytes

thread_local cudaError_t last_error = cudaSuccess;
thread_local std::string last_detail;

// A failing runtime call: the error code CUDA would return, which also becomes the last error,
// and what went wrong in words (SEEK_CUDA_CHECK prints it).
cudaError_t fail(cudaError_t error, std::string detail) {
    last_error = error;
    last_detail = std::move(detail);
    return error;
}

std::string pointer_text(const void* pointer) {
    char text[32];
    std::snprintf(text, sizeof text, "%p", pointer);
    return text;
}

// Is [pointer, pointer + bytes) inside one allocation? (registry_mutex held)
bool is_device_range(const void* pointer, size_t bytes) {
    const uintptr_t address = reinterpret_cast<uintptr_t>(pointer);
    auto next = allocations.upper_bound(address);
    if (next == allocations.begin()) return false;
    const auto& [start, allocation] = *std::prev(next);
    return address - start <= allocation.bytes && bytes <= allocation.bytes - (address - start);
}

size_t host_memory_bytes() {
    return static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGE_SIZE));
}

}  // namespace

cudaError_t cudaMalloc(void** pointer, size_t bytes) {
    if (!pointer) return fail(cudaErrorInvalidValue, "cudaMalloc: the address to store the pointer at is null");
    *pointer = nullptr;
    if (bytes == 0) return cudaSuccess;
    if (bytes > host_memory_bytes() / 2) {
        return fail(cudaErrorMemoryAllocation, "cudaMalloc of " + std::to_string(bytes) +
                                                   " bytes: the emulator allocates at most half of this machine's memory");
    }
    const size_t guarded_bytes = (bytes + allocation_alignment - 1) / allocation_alignment * allocation_alignment + guard_bytes;
    void* memory = std::aligned_alloc(allocation_alignment, guarded_bytes);
    if (!memory) return fail(cudaErrorMemoryAllocation, "cudaMalloc of " + std::to_string(bytes) + " bytes");
    std::memset(memory, poison, guarded_bytes);
    std::lock_guard<std::mutex> lock(registry_mutex);
    allocations[reinterpret_cast<uintptr_t>(memory)] = {bytes, guarded_bytes};
    *pointer = memory;
    return cudaSuccess;
}

cudaError_t cudaFree(void* pointer) {
    if (!pointer) return cudaSuccess;
    std::lock_guard<std::mutex> lock(registry_mutex);
    if (!allocations.erase(reinterpret_cast<uintptr_t>(pointer))) {
        return fail(cudaErrorInvalidValue, "cudaFree(" + pointer_text(pointer) + "): not a pointer cudaMalloc returned");
    }
    std::free(pointer);
    return cudaSuccess;
}

cudaError_t cudaMemcpy(void* destination, const void* source, size_t bytes, cudaMemcpyKind kind) {
    if (kind < cudaMemcpyHostToHost || kind > cudaMemcpyDefault) {
        return fail(cudaErrorInvalidMemcpyDirection, "cudaMemcpy: kind " + std::to_string(kind) + " does not exist");
    }
    if (bytes == 0) return cudaSuccess;
    if (!destination || !source) return fail(cudaErrorInvalidValue, "cudaMemcpy: a null pointer");
    static const char* const kind_names[] = {"cudaMemcpyHostToHost", "cudaMemcpyHostToDevice", "cudaMemcpyDeviceToHost",
                                             "cudaMemcpyDeviceToDevice", "cudaMemcpyDefault"};
    const bool to_device = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
    const bool from_device = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
    {
        std::lock_guard<std::mutex> lock(registry_mutex);
        const std::string call = "cudaMemcpy(" + pointer_text(destination) + ", " + pointer_text(source) + ", " +
                                 std::to_string(bytes) + ", " + kind_names[kind] + "): ";
        if (to_device && !is_device_range(destination, bytes)) {
            return fail(cudaErrorInvalidValue, call + "the destination is not " + std::to_string(bytes) +
                                                   " bytes of memory from cudaMalloc (are destination and source swapped?)");
        }
        if (from_device && !is_device_range(source, bytes)) {
            return fail(cudaErrorInvalidValue, call + "the source is not " + std::to_string(bytes) +
                                                   " bytes of memory from cudaMalloc (are destination and source swapped?)");
        }
    }
    std::memmove(destination, source, bytes);
    return cudaSuccess;
}

cudaError_t cudaMemset(void* destination, int value, size_t bytes) {
    if (bytes == 0) return cudaSuccess;
    {
        std::lock_guard<std::mutex> lock(registry_mutex);
        if (!is_device_range(destination, bytes)) {
            return fail(cudaErrorInvalidValue, "cudaMemset(" + pointer_text(destination) + ", " + std::to_string(value) +
                                                   ", " + std::to_string(bytes) + "): not memory from cudaMalloc");
        }
    }
    std::memset(destination, value, bytes);
    return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }  // every launch has already finished

cudaError_t cudaGetLastError() {
    const cudaError_t error = last_error;
    last_error = cudaSuccess;
    return error;
}

cudaError_t cudaPeekAtLastError() { return last_error; }

// The toolkit's own texts.
const char* cudaGetErrorString(cudaError_t error) {
    switch (error) {
        case cudaSuccess: return "no error";
        case cudaErrorInvalidValue: return "invalid argument";
        case cudaErrorMemoryAllocation: return "out of memory";
        case cudaErrorInvalidConfiguration: return "invalid configuration argument";
        case cudaErrorInvalidDevicePointer: return "invalid device pointer";
        case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
        case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    }
    return "unrecognized error code";
}

const char* cudaGetErrorName(cudaError_t error) {
    switch (error) {
        case cudaSuccess: return "cudaSuccess";
        case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
        case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
        case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
        case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
        case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
        case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    }
    return "cudaErrorUnknown";
}

// ---- events ----------------------------------------------------------------------------------
struct CUevent_st {
    std::chrono::steady_clock::time_point time;
    bool recorded = false;
};

cudaError_t cudaEventCreate(cudaEvent_t* event) {
    if (!event) return fail(cudaErrorInvalidValue, "cudaEventCreate: null");
    *event = new CUevent_st;
    return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
    if (!event) return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord: null event");
    event->time = std::chrono::steady_clock::now();
    event->recorded = true;
    return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
    if (!event) return fail(cudaErrorInvalidResourceHandle, "cudaEventSynchronize: null event");
    return cudaSuccess;
}

cudaError_t cudaEventElapsedTime(float* milliseconds, cudaEvent_t start, cudaEvent_t end) {
    if (!milliseconds) return fail(cudaErrorInvalidValue, "cudaEventElapsedTime: null result");
    if (!start || !end || !start->recorded || !end->recorded) {
        return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event that was never recorded");
    }
    *milliseconds = std::chrono::duration<float, std::milli>(end->time - start->time).count();
    return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
    delete event;
    return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* kernel, cudaFuncAttribute attribute, int value) {
    if (attribute != cudaFuncAttributeMaxDynamicSharedMemorySize) {
        return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: only cudaFuncAttributeMaxDynamicSharedMemorySize is emulated");
    }
    if (value < 0 || static_cast<size_t>(value) > max_shared_per_block) {
        return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: " + std::to_string(value) +
                                               " bytes of dynamic shared memory; a block has at most " +
                                               std::to_string(max_shared_per_block));
    }
    std::lock_guard<std::mutex> lock(registry_mutex);
    dynamic_shared_limits[kernel] = static_cast<size_t>(value);
    return cudaSuccess;
}

namespace detail {

const char* last_error_detail() { return last_detail.c_str(); }

size_t dynamic_shared_limit(const void* kernel_address) {
    std::lock_guard<std::mutex> lock(registry_mutex);
    const auto found = dynamic_shared_limits.find(kernel_address);
    return found == dynamic_shared_limits.end() ? default_dynamic_shared_limit : found->second;
}

void check_pointer_argument(const LaunchConfig& config, int index, const void* pointer) {
    if (!pointer) return;
    std::lock_guard<std::mutex> lock(registry_mutex);
    if (is_device_range(pointer, 0)) return;
    throw Error("launch of " + std::string(config.kernel_name) + ": argument " + std::to_string(index + 1) + " (" +
                pointer_text(pointer) +
                ") does not point into memory from cudaMalloc; a kernel cannot read host memory (on a GPU it faults)");
}

// After a launch: the bytes past the end of every allocation must still be 0xFF. (The guard is
// refilled before reporting, so the next launch does not report the same bytes again.)
void check_guard_bytes(const char* kernel_name) {
    std::lock_guard<std::mutex> lock(registry_mutex);
    for (const auto& [start, allocation] : allocations) {
        unsigned char* bytes = reinterpret_cast<unsigned char*>(start);
        for (size_t offset = allocation.bytes; offset < allocation.guarded_bytes; ++offset) {
            if (bytes[offset] == poison) continue;
            std::memset(bytes + allocation.bytes, poison, allocation.guarded_bytes - allocation.bytes);
            throw Error("kernel " + std::string(kernel_name) + " wrote past the end of a cudaMalloc allocation of " +
                        std::to_string(allocation.bytes) + " bytes at " + pointer_text(bytes) + ": byte " +
                        std::to_string(offset) + " changed (" + std::to_string(offset - allocation.bytes) +
                        " bytes past the end)");
        }
    }
}

}  // namespace detail
}  // namespace seek::emu
