// The token embedding on a GPU backend (gpu/embedding.cu), with core/embedding.h's signature:
//   seek::emu::embedding_forward(table, tokens, variant)   the kernels in the emulator (seek_gpu_emu)
//   seek::cuda::embedding_forward(table, tokens, variant)  the kernels on a GPU (seek_gpu, nvcc)
// Variants 1 (a thread per element) and 2 (a warp per row, float4); both equal
// seek::embedding_forward<float> bit for bit. A token outside the table is refused before the
// launch with core's message.
#pragma once

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "gpu/for_each_backend.h"

namespace seek {

namespace gpu_detail {
template <typename HostFunction>
Mat embedding_forward(HostFunction host_function, const Mat& table, const std::vector<int32_t>& tokens, int variant) {
    for (size_t t = 0; t < tokens.size(); ++t)
        if (tokens[t] < 0 || tokens[t] >= table.rows())
            throw std::invalid_argument("token " + std::to_string(tokens[t]) + " at position " + std::to_string(t) +
                                        " is outside the vocabulary of " + std::to_string(table.rows()));
    const int64_t elements = static_cast<int64_t>(tokens.size()) * table.cols();
    if (table.rows() > INT_MAX || table.cols() > INT_MAX || elements > INT_MAX)
        throw std::invalid_argument("embedding_forward: " + std::to_string(tokens.size()) + " tokens x " +
                                    std::to_string(table.cols()) + " features of a " + std::to_string(table.rows()) +
                                    "-row table, the kernels index with int");
    Mat out(static_cast<Eigen::Index>(tokens.size()), table.cols());
    host_function(out.data(), table.data(), static_cast<int>(table.rows()), static_cast<int>(table.cols()), tokens.data(),
                  static_cast<int>(tokens.size()), variant);
    return out;
}
}  // namespace gpu_detail

// One backend's names (gpu/for_each_backend.h): the .cu's host function (table [vocab, dim]
// row-major, tokens [count] inside it, out [count, dim]) and the wrapper with core's signature.
#define SEEK_EMBEDDING_API(backend)                                                                              \
    namespace backend {                                                                                          \
    void embedding_forward_gpu(float* out, const float* table, int vocab, int dim, const int* tokens, int count, \
                               int variant);                                                                     \
    inline Mat embedding_forward(const Mat& table, const std::vector<int32_t>& tokens, int variant) {            \
        return gpu_detail::embedding_forward(embedding_forward_gpu, table, tokens, variant);                     \
    }                                                                                                            \
    }
SEEK_FOR_EACH_GPU_BACKEND(SEEK_EMBEDDING_API)
#undef SEEK_EMBEDDING_API

}  // namespace seek
