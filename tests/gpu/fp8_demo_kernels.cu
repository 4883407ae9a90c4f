// FP8 and BF16 in a kernel, through NVIDIA's cuda_fp8.h / cuda_bf16.h. Under the emulator these
// are the CUDA toolkit's own host code (no GPU needed, but the toolkit's headers are), so this
// file is built only when they are found (tests/gpu/CMakeLists.txt).
#include "gpu/seek_cuda.h"

#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include "tests/gpu/demo_kernels.h"

namespace SEEK_GPU_NAMESPACE {

// budget: fp8_codes_kernel regs<=32 smem<=0 spills=0
__global__ void fp8_codes_kernel(unsigned char* e4m3, unsigned short* bf16, const float* x, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    e4m3[i] = __nv_cvt_float_to_fp8(x[i], __NV_SATFINITE, __NV_E4M3);
    bf16[i] = __bfloat16_as_ushort(__float2bfloat16_rn(x[i]));
}

void fp8_codes(const std::vector<float>& x, std::vector<unsigned char>& e4m3, std::vector<unsigned short>& bf16) {
    const int n = static_cast<int>(x.size());
    DeviceArray<float> d_x(n);
    DeviceArray<unsigned char> d_e4m3(n);
    DeviceArray<unsigned short> d_bf16(n);
    d_x.copy_from_host(x.data());
    SEEK_LAUNCH(fp8_codes_kernel, ceil_div(n, 256), 256, 0)(d_e4m3.data, d_bf16.data, d_x.data, n);
    SEEK_CUDA_CHECK(cudaGetLastError());
    e4m3.resize(n);
    bf16.resize(n);
    d_e4m3.copy_to_host(e4m3.data());
    d_bf16.copy_to_host(bf16.data());
}

}  // namespace SEEK_GPU_NAMESPACE
