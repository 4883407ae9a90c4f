// The FP32 linear layer y = x W^T on a GPU backend (gpu/linear.cu), with core/linear.h's
// linear_forward at fp32 precision:
//   seek::emu::linear_forward(x, weight, variant)   the kernels in the emulator (seek_gpu_emu)
//   seek::cuda::linear_forward(x, weight, variant)  the kernels on a GPU (seek_gpu, nvcc)
// Variants 1 (a thread per output), 2 (32 x 32 shared-memory tiles), 3 (64 x 64 tiles, 4 x 4
// outputs per thread in registers, float4 loads); all compute x W^T in FP32, each output summed in
// k order by one thread, so they agree with core up to FP32 summation order.
// The kernel table's `linear` entry, which also takes a LinearPrecision (FP8: the V3 recipe), is
// gpu/fp8_gemm.h's linear_forward: it needs cuda_fp8.h, which this header does not.
#pragma once

#include <climits>
#include <stdexcept>
#include <string>

#include "core/tensor.h"
#include "gpu/for_each_backend.h"

namespace seek {

namespace gpu_detail {
template <typename HostFunction>
Mat linear_forward(HostFunction host_function, const Mat& x, const Mat& weight, int variant) {
    if (weight.cols() != x.cols()) {
        throw std::invalid_argument("linear_forward: x is [" + std::to_string(x.rows()) + ", " +
                                    std::to_string(x.cols()) + "] but the weight is [" + std::to_string(weight.rows()) +
                                    ", " + std::to_string(weight.cols()) + "]: the input features differ");
    }
    if (x.rows() > INT_MAX || x.cols() > INT_MAX || weight.rows() > INT_MAX) {
        throw std::invalid_argument("linear_forward: x is [" + std::to_string(x.rows()) + ", " +
                                    std::to_string(x.cols()) + "], the weight [" + std::to_string(weight.rows()) +
                                    ", " + std::to_string(weight.cols()) +
                                    "]: the kernels index rows and columns with int");
    }
    Mat y(x.rows(), weight.rows());
    host_function(y.data(), x.data(), weight.data(), static_cast<int>(x.rows()), static_cast<int>(weight.rows()),
                  static_cast<int>(x.cols()), variant);
    return y;
}
}  // namespace gpu_detail

// One backend's names (gpu/for_each_backend.h): the .cu's host function (y [M, N], x [M, K],
// weight [N, K] row-major host arrays) and the wrapper with core's signature.
#define SEEK_LINEAR_API(backend)                                                                              \
    namespace backend {                                                                                       \
    void linear_forward_gpu(float* y, const float* x, const float* weight, int M, int N, int K, int variant); \
    inline Mat linear_forward(const Mat& x, const Mat& weight, int variant) {                                 \
        return gpu_detail::linear_forward(linear_forward_gpu, x, weight, variant);                            \
    }                                                                                                         \
    }
SEEK_FOR_EACH_GPU_BACKEND(SEEK_LINEAR_API)
#undef SEEK_LINEAR_API

}  // namespace seek
