// RMSNorm on a GPU backend (gpu/rms_norm.cu), with core/norm.h's signature:
//   seek::emu::rms_norm_forward(x, weight, eps, variant)   the kernels in the emulator (seek_gpu_emu)
//   seek::cuda::rms_norm_forward(x, weight, eps, variant)  the kernels on a GPU (seek_gpu, nvcc)
// Variants 1 (a thread per row), 2 (a block per row, shared-memory tree), 3 (a warp per row,
// shuffles); all compute what seek::rms_norm_forward<float> does, up to FP32 summation order.
#pragma once

#include <climits>
#include <stdexcept>
#include <string>

#include "core/tensor.h"
#include "gpu/for_each_backend.h"

namespace seek {

namespace gpu_detail {
template <typename HostFunction>
Mat rms_norm_forward(HostFunction host_function, const Mat& x, const Vec& weight, float eps, int variant) {
    if (weight.size() != x.cols()) {
        throw std::invalid_argument("rms_norm_forward: weight has " + std::to_string(weight.size()) + " entries, x has " +
                                    std::to_string(x.cols()) + " columns");
    }
    if (x.rows() > INT_MAX || x.cols() > INT_MAX) {
        throw std::invalid_argument("rms_norm_forward: x is " + std::to_string(x.rows()) + " x " + std::to_string(x.cols()) +
                                    ", the kernels index rows and columns with int");
    }
    Mat y(x.rows(), x.cols());
    host_function(y.data(), x.data(), weight.data(), static_cast<int>(x.rows()), static_cast<int>(x.cols()), eps, variant);
    return y;
}
}  // namespace gpu_detail

// One backend's names (gpu/for_each_backend.h): the .cu's host function (y, x [rows, cols]
// row-major host arrays, weight [cols]) and the wrapper with core's signature.
#define SEEK_RMS_NORM_API(backend)                                                                          \
    namespace backend {                                                                                     \
    void rms_norm_forward_gpu(float* y, const float* x, const float* weight, int rows, int cols, float eps, \
                              int variant);                                                                 \
    inline Mat rms_norm_forward(const Mat& x, const Vec& weight, float eps, int variant) {                  \
        return gpu_detail::rms_norm_forward(rms_norm_forward_gpu, x, weight, eps, variant);                 \
    }                                                                                                       \
    }
SEEK_FOR_EACH_GPU_BACKEND(SEEK_RMS_NORM_API)
#undef SEEK_RMS_NORM_API

}  // namespace seek
