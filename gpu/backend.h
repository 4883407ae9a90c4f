// The backends a forward pass can run on, as kernel tables (core/kernels.h explains the table):
//
//   cpu   core's reference: the functions the tests hold against float64 and finite differences
//   emu   gpu/'s kernels built by the host compiler and run in the thread-block emulator
//         (gpu/README.md): every SIMT kernel on any CPU, thread by thread. For checking; slow
//   cuda  the same kernels built by nvcc, on an NVIDIA GPU: a build with CUDA (nvcc found) and a
//         device at run time
//
// Every op of the table has a gpu/ kernel; a call the kernels do not model (a bf16 GEMM, fp8's
// tensor-core accumulation model) takes core's reference. backend_ops says which op runs where,
// and which variant of its kernel the table uses. Trace names never depend on the backend,
// so `seek compare cpu.safetensors emu.safetensors --tol auto` lines them up tensor by tensor.
#pragma once

#include <string>
#include <vector>

#include "core/kernels.h"

namespace seek {

enum class Device { Cpu, Emulator, Cuda };
// "cpu", "emu" or "cuda"; anything else throws naming the choices.
Device device_from_name(const std::string& name);
const char* device_name(Device device);

// The device a backend runs on, in words ("NVIDIA H200, sm_90, 132 SMs, 139 GiB", or the
// emulator), and whether it can run now. For cuda without a GPU: false, and the words say why.
std::string device_description(Device device, bool* available);

// The device's roofline: peak DRAM bytes/s and FP32 FLOP/s (CUDA cores), from its attributes.
// False for cpu and emu, and for cuda without a GPU.
bool device_peaks(Device device, double* bytes_per_second, double* flops_per_second);

// The GPU time of every kernel launch a host function has timed so far (DeviceTimer, seek_cuda.h),
// in milliseconds: the kernels alone, no copies. 0 for cpu and emu.
double device_kernel_milliseconds(Device device);

// The table; throws (naming why) when the device cannot run: cuda without CUDA in the build or
// without a GPU.
const Kernels& backend_kernels(Device device);

struct BackendOp {
    std::string op;      // the table entry: "rms_norm"
    bool on_device;      // false: core's reference runs it
    std::string kernel;  // "gpu/rms_norm.cu variant 3", or "core" when not on the device
    std::string on_core; // the calls core's reference still takes ("bf16 GEMMs"), "" when none
};
std::vector<BackendOp> backend_ops(Device device);

}  // namespace seek
