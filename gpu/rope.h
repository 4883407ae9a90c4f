// RoPE with YaRN on a GPU backend (gpu/rope.cu), with core/rope.h's rope_forward signature:
//   seek::emu::rope_forward(x, positions, table, lanes, variant)   the kernels in the emulator (seek_gpu_emu)
//   seek::cuda::rope_forward(x, positions, table, lanes, variant)  the kernels on a GPU (seek_gpu, nvcc)
// Variants 1 (a thread per (row, head, pair), in double like core) and 2 (a block per row, the
// row's cos/sin table in shared memory from an exactly reduced angle, the rotation in float).
#pragma once

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/rope.h"
#include "core/tensor.h"
#include "gpu/for_each_backend.h"

namespace seek {

namespace gpu_detail {
template <typename HostFunction>
void rope_forward(HostFunction host_function, Mat& x, const std::vector<int64_t>& positions, const RopeTable& table,
                  const RopeLanes& lanes, int variant) {
    // The lanes, resolved and checked as core's rope_forward does.
    const int64_t pairs = static_cast<int64_t>(table.inv_freq.size()), dr = 2 * pairs;
    const int64_t stride = lanes.stride ? lanes.stride : dr;
    const int64_t heads = lanes.heads ? lanes.heads : (stride > 0 ? (x.cols() - lanes.first) / stride : 0);
    if (static_cast<int64_t>(positions.size()) != x.rows())
        throw std::invalid_argument("rope_forward: " + std::to_string(positions.size()) + " positions for " +
                                    std::to_string(x.rows()) + " rows");
    if (pairs < 1 || lanes.first < 0 || stride < dr || heads < 1 || lanes.first + (heads - 1) * stride + dr > x.cols() ||
        (!lanes.heads && lanes.first + heads * stride != x.cols()))
        throw std::invalid_argument("rope_forward: " + std::to_string(x.cols()) + " columns do not hold " +
                                    (lanes.heads ? std::to_string(heads) : std::string("whole")) + " heads of " +
                                    std::to_string(dr) + " rope lanes from column " + std::to_string(lanes.first) +
                                    " every " + std::to_string(stride));
    // Variant 1 numbers its threads rows · heads · pairs with an int.
    if (x.rows() > INT_MAX || x.cols() > INT_MAX || x.rows() * heads * pairs > INT_MAX)
        throw std::invalid_argument("rope_forward: " + std::to_string(x.rows()) + " rows of " + std::to_string(heads) +
                                    " heads of " + std::to_string(pairs) +
                                    " pairs: more than the kernels' int indices hold (2^31 - 1)");
    if (x.rows() == 0) return;
    host_function(x.data(), positions.data(), table.inv_freq.data(), table.magnitude, static_cast<int>(x.rows()),
                  static_cast<int>(x.cols()), static_cast<int>(lanes.first), static_cast<int>(stride),
                  static_cast<int>(heads), static_cast<int>(pairs), variant);
}
}  // namespace gpu_detail

// One backend's names (gpu/for_each_backend.h): the .cu's host function (x [rows, cols] row-major,
// rotated in place; positions [rows]; inv_freq [pairs]) and the wrapper with core's signature.
#define SEEK_ROPE_API(backend)                                                                                    \
    namespace backend {                                                                                           \
    void rope_forward_gpu(float* x, const int64_t* positions, const double* inv_freq, double magnitude, int rows, \
                          int cols, int first, int stride, int heads, int pairs, int variant);                    \
    inline void rope_forward(Mat& x, const std::vector<int64_t>& positions, const RopeTable& table,               \
                             const RopeLanes& lanes, int variant) {                                               \
        gpu_detail::rope_forward(rope_forward_gpu, x, positions, table, lanes, variant);                          \
    }                                                                                                             \
    }
SEEK_FOR_EACH_GPU_BACKEND(SEEK_ROPE_API)
#undef SEEK_ROPE_API

}  // namespace seek
