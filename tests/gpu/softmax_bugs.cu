// Planted bugs in a copy of gpu/softmax.cu's variant 3 (the online softmax: a running max and sum
// per thread, merged across the block), computing each row's log-sum-exp, to show that the
// emulator tests catch them (test_softmax_gpu.cpp). The lines marked "the bug" differ.
//   missing_rescale  when a larger logit arrives, the sum so far is not rescaled by
//                    e^(old max - new max): right only for rows whose largest logit comes first
//                    in every thread's slice;
//   missing_barrier  the block merge reads the warps' partial results from shared memory without
//                    the __syncthreads() after they are written: it reads what was there before.
#include "gpu/seek_cuda.h"

#include <cmath>
#include <vector>

namespace SEEK_GPU_NAMESPACE {
namespace softmax_bugs {

enum class Bug { none, missing_rescale, missing_barrier };

struct MaxSum {
    float max;
    double sum;
};

__device__ __forceinline__ MaxSum merge(MaxSum a, MaxSum b) {
    const float max = fmaxf(a.max, b.max);
    if (max == -INFINITY) return {max, 0.0};
    return {max, a.sum * exp(static_cast<double>(a.max) - max) + b.sum * exp(static_cast<double>(b.max) - max)};
}

// budget: lse_kernel3_planted regs<=56 smem<=256 spills=0
template <Bug bug>
__global__ void lse_kernel3_planted(double* lse, const float* x, int cols) {
    __shared__ MaxSum scratch[8];  // 256 threads: 8 warps
    const float* x_row = x + static_cast<size_t>(blockIdx.x) * cols;
    MaxSum stats{-INFINITY, 0.0};
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        const float value = x_row[i];
        if (value > stats.max) {
            const double rescale = bug == Bug::missing_rescale ? 1.0 : exp(static_cast<double>(stats.max) - value);  // the bug
            stats.sum = stats.sum * rescale + 1.0;
            stats.max = value;
        } else if (stats.max > -INFINITY) {
            stats.sum += expf(value - stats.max);
        }
    }
    for (int offset = 16; offset > 0; offset /= 2) {
        const MaxSum other{__shfl_xor_sync(0xffffffffu, stats.max, offset), __shfl_xor_sync(0xffffffffu, stats.sum, offset)};
        stats = merge(stats, other);
    }
    __syncthreads();
    if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = stats;
    if (bug != Bug::missing_barrier) __syncthreads();  // the bug: no barrier
    MaxSum result = scratch[0];
    for (int warp = 1; warp < static_cast<int>(blockDim.x / 32); ++warp) result = merge(result, scratch[warp]);
    if (threadIdx.x == 0) lse[blockIdx.x] = result.max + log(result.sum);
}

// Each row's log-sum-exp of x [rows, cols].
template <Bug bug>
std::vector<double> lse_planted(const std::vector<float>& x, int rows, int cols) {
    DeviceArray<float> d_x(x.size());
    DeviceArray<double> d_lse(rows);
    d_x.copy_from_host(x.data());
    SEEK_LAUNCH(lse_kernel3_planted<bug>, rows, 256, 0)(d_lse.data, d_x.data, cols);
    SEEK_CUDA_CHECK(cudaGetLastError());
    std::vector<double> lse(rows);
    d_lse.copy_to_host(lse.data());
    return lse;
}

// Every planted kernel, instantiated, so that nvcc compiles them too (a template alone is not).
template std::vector<double> lse_planted<Bug::none>(const std::vector<float>&, int, int);
template std::vector<double> lse_planted<Bug::missing_rescale>(const std::vector<float>&, int, int);
template std::vector<double> lse_planted<Bug::missing_barrier>(const std::vector<float>&, int, int);

}  // namespace softmax_bugs
}  // namespace SEEK_GPU_NAMESPACE
