// Planted bugs in a copy of gpu/mla_decode.cu's combine kernel (variant 2's second step), to show
// that the emulator tests catch them (test_mla_decode_gpu.cpp). The copy differs from
// mla_combine_kernel in the lines marked "the bug".
//   unnormalized     each chunk weighted by e^(lse_c - max_c lse_c) instead of e^(lse_c - lse): the
//                    chunks' maxima are lined up, but the weights no longer sum to 1. Invisible
//                    with one split (the weight is e^0 = 1), wrong with several;
//   missing_barrier  no __syncthreads() between warp 0 writing the weights to shared memory and
//                    the other warps reading them: they read the 0xFF NaN the emulator fills
//                    dynamic shared memory with (on a GPU, whatever was there).
#include "gpu/seek_cuda.h"

#include <vector>

namespace SEEK_GPU_NAMESPACE {
namespace mla_decode_bugs {

enum class Bug { none, unnormalized, missing_barrier };

// budget: mla_combine_kernel_planted regs<=48 smem<=0 spills=0
template <Bug bug>
__global__ void mla_combine_kernel_planted(float* out, const float* o_partial, const float* lse_partial, int rows,
                                           int rank, int splits) {
    SEEK_DYNAMIC_SHARED(float, weights);
    const int row = blockIdx.x;
    if (threadIdx.x < 32) {
        const int lane = threadIdx.x;
        float max = -INFINITY;
        for (int c = lane; c < splits; c += 32) max = fmaxf(max, lse_partial[c * rows + row]);
        for (int offset = 16; offset > 0; offset /= 2) max = fmaxf(max, __shfl_xor_sync(0xffffffffu, max, offset));
        float sum = 0.0f;
        for (int c = lane; c < splits; c += 32) sum += expf(lse_partial[c * rows + row] - max);
        for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
        const float total = bug == Bug::unnormalized ? max : max + logf(sum);  // the bug: no log Σ
        for (int c = lane; c < splits; c += 32) weights[c] = expf(lse_partial[c * rows + row] - total);
    }
    if (bug != Bug::missing_barrier) __syncthreads();  // the bug: no barrier
    for (int j = threadIdx.x; j < rank; j += blockDim.x) {
        float value = 0.0f;
        for (int c = 0; c < splits; ++c) value += weights[c] * o_partial[(static_cast<size_t>(c) * rows + row) * rank + j];
        out[static_cast<size_t>(row) * rank + j] = value;
    }
}

// The combine of partials o_partial [splits, rows, rank], lse_partial [splits, rows]: out [rows, rank].
template <Bug bug>
std::vector<float> mla_combine_planted(const std::vector<float>& o_partial, const std::vector<float>& lse_partial,
                                       int rows, int rank, int splits) {
    DeviceArray<float> d_o_partial(o_partial.size()), d_lse_partial(lse_partial.size()), d_out(static_cast<size_t>(rows) * rank);
    d_o_partial.copy_from_host(o_partial.data());
    d_lse_partial.copy_from_host(lse_partial.data());
    SEEK_LAUNCH(mla_combine_kernel_planted<bug>, rows, 128, splits * sizeof(float))
    (d_out.data, d_o_partial.data, d_lse_partial.data, rows, rank, splits);
    SEEK_CUDA_CHECK(cudaGetLastError());
    std::vector<float> out(static_cast<size_t>(rows) * rank);
    d_out.copy_to_host(out.data());
    return out;
}

// Every planted kernel, instantiated, so that nvcc compiles them too (a template alone is not).
template std::vector<float> mla_combine_planted<Bug::none>(const std::vector<float>&, const std::vector<float>&, int,
                                                           int, int);
template std::vector<float> mla_combine_planted<Bug::unnormalized>(const std::vector<float>&, const std::vector<float>&,
                                                                   int, int, int);
template std::vector<float> mla_combine_planted<Bug::missing_barrier>(const std::vector<float>&,
                                                                      const std::vector<float>&, int, int, int);

}  // namespace mla_decode_bugs
}  // namespace SEEK_GPU_NAMESPACE
