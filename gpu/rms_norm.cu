// RMSNorm forward on a GPU, per row t:  y_t = x_t * w / sqrt(mean_i(x_ti^2) + eps)   (core/norm.h)
//
// Three variants, the simplest first; each computes r = 1 / sqrt(mean(x^2) + eps) for a row, then
// y = x r w. They differ in how the threads share the row's sum of squares:
//   1. one thread per row: a plain port of the CPU loop. Each thread walks a whole row alone, and
//      neighbouring threads read addresses `cols` floats apart, so loads do not coalesce: slow;
//   2. one block of 256 threads per row: each thread sums a strided slice (thread k reads columns
//      k, k + 256, ...: neighbours read neighbouring floats, coalesced), then the block adds the
//      256 partial sums in shared memory by a tree, halving the active threads each step, with a
//      __syncthreads() between steps;
//   3. one warp (32 lanes) per row: the same strided slices, then the 32 partial sums are added by
//      five __shfl_xor_sync butterflies in registers, with no shared memory and no block barrier.
//
// The host function allocates device memory, copies x and w in, launches, and copies y back.
#include "gpu/seek_cuda.h"

namespace SEEK_GPU_NAMESPACE {

// ---- variant 1: one thread per row --------------------------------------------------------------
constexpr int rms_norm_threads1 = 256;

// budget: rms_norm_kernel1 regs<=48 smem<=0 spills=0
__global__ void rms_norm_kernel1(float* __restrict__ y, const float* __restrict__ x,
                                 const float* __restrict__ weight, int rows, int cols, float eps) {
    const int row = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= rows) return;
    const float* x_row = x + static_cast<size_t>(row) * cols;
    float* y_row = y + static_cast<size_t>(row) * cols;
    float sum_sq = 0.0f;
    for (int i = 0; i < cols; ++i) sum_sq += x_row[i] * x_row[i];
    const float r = rsqrtf(sum_sq / cols + eps);
    for (int i = 0; i < cols; ++i) y_row[i] = x_row[i] * r * weight[i];
}

// ---- variant 2: one block per row, tree reduction in shared memory ------------------------------
constexpr int rms_norm_threads2 = 256;  // a power of two: the tree halves it down to 1

// budget: rms_norm_kernel2 regs<=24 smem<=1K spills=0
__global__ void __launch_bounds__(rms_norm_threads2)
rms_norm_kernel2(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ weight, int rows,
                 int cols, float eps) {
    __shared__ float partial_sums[rms_norm_threads2];
    const int tid = threadIdx.x;
    const float* x_row = x + static_cast<size_t>(blockIdx.x) * cols;
    float* y_row = y + static_cast<size_t>(blockIdx.x) * cols;
    (void)rows;  // the grid has exactly one block per row

    float sum_sq = 0.0f;
    for (int i = tid; i < cols; i += blockDim.x) sum_sq += x_row[i] * x_row[i];
    partial_sums[tid] = sum_sq;
    __syncthreads();  // every partial sum written before any is read
    // Step s: thread k < s adds partial k + s into partial k; the barrier ends the step, so step
    // s / 2 reads only finished sums.
    for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (tid < stride) partial_sums[tid] += partial_sums[tid + stride];
        __syncthreads();
    }
    const float r = rsqrtf(partial_sums[0] / cols + eps);
    for (int i = tid; i < cols; i += blockDim.x) y_row[i] = x_row[i] * r * weight[i];
}

// ---- variant 3: one warp per row, butterfly reduction with shuffles -----------------------------
constexpr int rms_norm_warps3 = 4;  // rows per block

// budget: rms_norm_kernel3 regs<=32 smem<=0 spills=0
__global__ void rms_norm_kernel3(float* __restrict__ y, const float* __restrict__ x,
                                 const float* __restrict__ weight, int rows, int cols, float eps) {
    const int lane = threadIdx.x % warpSize;
    const int row = blockIdx.x * rms_norm_warps3 + threadIdx.x / warpSize;
    if (row >= rows) return;  // whole warps leave together, so every shuffle below has all 32 lanes
    const float* x_row = x + static_cast<size_t>(row) * cols;
    float* y_row = y + static_cast<size_t>(row) * cols;

    float sum_sq = 0.0f;
    for (int i = lane; i < cols; i += warpSize) sum_sq += x_row[i] * x_row[i];
    // Butterfly: lane k adds lane k ^ 16's sum, then k ^ 8's, ...; after five steps every lane
    // holds the sum of all 32.
    for (int offset = warpSize / 2; offset > 0; offset /= 2) sum_sq += __shfl_xor_sync(0xffffffffu, sum_sq, offset);
    const float r = rsqrtf(sum_sq / cols + eps);
    for (int i = lane; i < cols; i += warpSize) y_row[i] = x_row[i] * r * weight[i];
}

// ---- host ---------------------------------------------------------------------------------------
// y, x: [rows, cols] row-major host arrays; weight: [cols]. variant: 1, 2 or 3.
void rms_norm_forward_gpu(float* y, const float* x, const float* weight, int rows, int cols, float eps, int variant) {
    if (variant < 1 || variant > 3) {
        throw std::invalid_argument("rms_norm_forward: variant " + std::to_string(variant) + " does not exist (1, 2, 3)");
    }
    if (rows < 0 || cols < 0) throw std::invalid_argument("rms_norm_forward: negative shape");
    if (rows == 0 || cols == 0) return;
    const size_t count = static_cast<size_t>(rows) * cols;
    DeviceArray<float> d_x(count), d_weight(cols), d_y(count);
    d_x.copy_from_host(x);
    d_weight.copy_from_host(weight);
    switch (variant) {
        case 1:
            SEEK_LAUNCH(rms_norm_kernel1, ceil_div(rows, rms_norm_threads1), rms_norm_threads1, 0)
            (d_y.data, d_x.data, d_weight.data, rows, cols, eps);
            break;
        case 2:
            SEEK_LAUNCH(rms_norm_kernel2, rows, rms_norm_threads2, 0)(d_y.data, d_x.data, d_weight.data, rows, cols, eps);
            break;
        case 3:
            SEEK_LAUNCH(rms_norm_kernel3, ceil_div(rows, rms_norm_warps3), rms_norm_warps3 * 32, 0)
            (d_y.data, d_x.data, d_weight.data, rows, cols, eps);
            break;
    }
    SEEK_CUDA_CHECK(cudaGetLastError());
    d_y.copy_to_host(y);
}

}  // namespace SEEK_GPU_NAMESPACE
