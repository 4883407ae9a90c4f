// The linear layer in FP32 on a GPU (core/linear.h's linear_forward at fp32 precision):
//     y = x W^T,   y[m, n] = sum_k x[m, k] W[n, k]
// x [M, K] row-major (M tokens, K input features), W [N, K] row-major (the HF checkpoint's
// [out, in]), y [M, N].
//
// A GEMM does 2 M N K FLOPs on M K + N K inputs: each x is used N times, each W M times. What
// separates the variants is how many of those uses fetch the value from global memory again:
//   1. one thread per output. Each thread reads its row of x and its row of W from global memory:
//      2 loads per multiply-add, K of them per output. The 32 threads of a warp share m and take
//      consecutive n, so at each k they read one x (a broadcast) and 32 W values K floats apart:
//      32 separate memory transactions for one warp-wide load (uncoalesced). The caches are all
//      that keeps it from being slower still;
//   2. shared-memory tiles. A block of 32 x 32 threads owns a 32 x 32 tile of y. Step by step
//      along K it copies a 32 x 32 tile of x and one of W into shared memory (each thread one
//      element of each; a warp reads 32 consecutive floats of a row: coalesced), waits for the
//      whole tile (__syncthreads), and then each thread reads 32 pairs from shared memory. Each
//      value fetched from global memory now serves 32 outputs: 32 times less global traffic.
//      Now shared memory is the limit: still 2 shared loads per multiply-add;
//   3. register blocking. A block of 256 threads owns a 64 x 64 tile of y, each thread a 4 x 4
//      block of outputs in registers. At each k a thread reads 4 x values and 4 W values from
//      shared memory (two float4 loads) and does 16 multiply-adds with them: a quarter of a shared
//      load per multiply-add instead of 2, and 64 uses per global load. Tiles are 16 deep in K.
//      Global loads are float4 (16 bytes, 4 consecutive k) when K is a multiple of 4, so every
//      row starts on a 16-byte boundary; otherwise one float at a time. Both stop at the edges.
//
// Every output is summed by one thread, from 0, k = 0, 1, ..., K - 1 in order (tile after tile,
// and within a tile in k order). Tiles are padded with zeros past the matrix edges, so every
// padded step adds 0 x 0 = +0, which changes no sum that started at +0. So the three variants do
// the same float operations in the same order: the same bits in the emulator (the test checks
// it), and a run is deterministic. They differ from core (Eigen's blocked GEMM) in summation order
// only. On a GPU, nvcc fuses each multiply-add into an FMA (one rounding instead of two), which
// the test's bound allows for.
//
// The host function allocates device memory, copies x and W in, launches, and copies y back.
#include "gpu/seek_cuda.h"

namespace SEEK_GPU_NAMESPACE {

// ---- variant 1: one thread per output -----------------------------------------------------------
constexpr int block1_n = 32, block1_m = 8;  // a warp: 32 consecutive n of one row m

// budget: linear_kernel1 regs<=40 smem<=0 spills=0
__global__ void linear_kernel1(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ weight,
                               int M, int N, int K) {
    const int n = blockIdx.x * blockDim.x + threadIdx.x;
    const int m = blockIdx.y * blockDim.y + threadIdx.y;
    if (m >= M || n >= N) return;
    const float* x_row = x + static_cast<size_t>(m) * K;
    const float* w_row = weight + static_cast<size_t>(n) * K;
    float sum = 0.0f;
    for (int k = 0; k < K; ++k) sum += x_row[k] * w_row[k];
    y[static_cast<size_t>(m) * N + n] = sum;
}

// ---- variant 2: 32 x 32 tiles of x and W in shared memory ----------------------------------------
constexpr int tile2 = 32;

// budget: linear_kernel2 regs<=48 smem<=9K spills=0
__global__ void __launch_bounds__(tile2* tile2)
linear_kernel2(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ weight, int M, int N,
               int K) {
    __shared__ float x_tile[tile2][tile2];  // x[m0 + i, k0 + j]
    // W[n0 + i, k0 + j]. The +1: thread tx reads row tx, so a warp reads a column; with 33 floats
    // per row the 32 rows' elements lie in 32 different banks (with 32, all in one: 32-way conflict).
    __shared__ float w_tile[tile2][tile2 + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int m0 = blockIdx.y * tile2, n0 = blockIdx.x * tile2;
    float sum = 0.0f;
    for (int k0 = 0; k0 < K; k0 += tile2) {
        // Thread (ty, tx) copies x[m0 + ty, k0 + tx] and W[n0 + ty, k0 + tx]; zeros past the edges.
        const int k = k0 + tx;
        x_tile[ty][tx] = m0 + ty < M && k < K ? x[static_cast<size_t>(m0 + ty) * K + k] : 0.0f;
        w_tile[ty][tx] = n0 + ty < N && k < K ? weight[static_cast<size_t>(n0 + ty) * K + k] : 0.0f;
        __syncthreads();  // the whole tile is in shared memory before anyone reads it
        for (int j = 0; j < tile2; ++j) sum += x_tile[ty][j] * w_tile[tx][j];
        __syncthreads();  // nobody still reads this tile when the next one overwrites it
    }
    const int m = m0 + ty, n = n0 + tx;
    if (m < M && n < N) y[static_cast<size_t>(m) * N + n] = sum;
}

// ---- variant 3: 64 x 64 tiles, a 4 x 4 block of outputs per thread ---------------------------------
constexpr int tile3_mn = 64, tile3_k = 16;  // a block's tile of y is 64 x 64; tiles of x and W 16 deep
constexpr int block3 = 4;                    // each thread's block of y is 4 x 4
constexpr int threads3_n = tile3_mn / block3;  // 16 threads across n, 16 down m
constexpr int threads3 = threads3_n * threads3_n;
static_assert(tile3_mn * tile3_k == 4 * threads3, "each thread loads one float4 of each tile");

// Four consecutive floats of row `row` from column `col` (a multiple of 4) of a [rows, cols]
// row-major matrix, zeros past its edges: one 16-byte load when `aligned` (cols is a multiple of
// 4, so the row, and col within it, start on a 16-byte boundary), else one float at a time.
static __device__ __forceinline__ float4 load_four(const float* matrix, int row, int rows, int col, int cols,
                                                  bool aligned) {
    if (row >= rows) return make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    const float* p = matrix + static_cast<size_t>(row) * cols + col;
    if (aligned && col + 3 < cols) return *reinterpret_cast<const float4*>(p);
    return make_float4(col < cols ? p[0] : 0.0f, col + 1 < cols ? p[1] : 0.0f, col + 2 < cols ? p[2] : 0.0f,
                       col + 3 < cols ? p[3] : 0.0f);
}

// budget: linear_kernel3 regs<=56 smem<=8K spills=0
__global__ void __launch_bounds__(threads3)
linear_kernel3(float* __restrict__ y, const float* __restrict__ x, const float* __restrict__ weight, int M, int N,
               int K) {
    // Both tiles k-major: x_tile[k][i] = x[m0 + i, k0 + k], w_tile[k][j] = W[n0 + j, k0 + k], so a
    // thread's 4 rows (or 4 columns of y) at one k are 4 consecutive floats: one float4 load.
    __shared__ __align__(16) float x_tile[tile3_k][tile3_mn];
    __shared__ __align__(16) float w_tile[tile3_k][tile3_mn];
    const int tid = threadIdx.x;
    const int m_block = (tid / threads3_n) * block3, n_block = (tid % threads3_n) * block3;  // this thread's outputs
    const int m0 = blockIdx.y * tile3_mn, n0 = blockIdx.x * tile3_mn;
    // Loading: a tile is 64 rows x 16 k; thread tid copies row tid / 4, k (tid % 4) * 4 .. + 3.
    const int load_row = tid / 4, load_k = (tid % 4) * 4;
    const bool aligned = K % 4 == 0;

    float sum[block3][block3] = {};
    for (int k0 = 0; k0 < K; k0 += tile3_k) {
        const float4 x_four = load_four(x, m0 + load_row, M, k0 + load_k, K, aligned);
        const float4 w_four = load_four(weight, n0 + load_row, N, k0 + load_k, K, aligned);
        x_tile[load_k + 0][load_row] = x_four.x;
        x_tile[load_k + 1][load_row] = x_four.y;
        x_tile[load_k + 2][load_row] = x_four.z;
        x_tile[load_k + 3][load_row] = x_four.w;
        w_tile[load_k + 0][load_row] = w_four.x;
        w_tile[load_k + 1][load_row] = w_four.y;
        w_tile[load_k + 2][load_row] = w_four.z;
        w_tile[load_k + 3][load_row] = w_four.w;
        __syncthreads();  // the whole tile is in shared memory before anyone reads it
        for (int k = 0; k < tile3_k; ++k) {
            const float4 x_four_k = *reinterpret_cast<const float4*>(&x_tile[k][m_block]);
            const float4 w_four_k = *reinterpret_cast<const float4*>(&w_tile[k][n_block]);
            const float x_values[block3] = {x_four_k.x, x_four_k.y, x_four_k.z, x_four_k.w};
            const float w_values[block3] = {w_four_k.x, w_four_k.y, w_four_k.z, w_four_k.w};
            for (int i = 0; i < block3; ++i) {
                for (int j = 0; j < block3; ++j) sum[i][j] += x_values[i] * w_values[j];
            }
        }
        __syncthreads();  // nobody still reads this tile when the next one overwrites it
    }
    for (int i = 0; i < block3; ++i) {
        const int m = m0 + m_block + i;
        for (int j = 0; j < block3; ++j) {
            const int n = n0 + n_block + j;
            if (m < M && n < N) y[static_cast<size_t>(m) * N + n] = sum[i][j];
        }
    }
}

// ---- host ---------------------------------------------------------------------------------------
// y [M, N], x [M, K], weight [N, K]: row-major host arrays. variant: 1, 2 or 3.
void linear_forward_gpu(float* y, const float* x, const float* weight, int M, int N, int K, int variant) {
    if (variant < 1 || variant > 3) {
        throw std::invalid_argument("linear_forward: variant " + std::to_string(variant) + " does not exist (1, 2, 3)");
    }
    if (M < 0 || N < 0 || K < 0) throw std::invalid_argument("linear_forward: negative shape");
    // Output tiles: n across gridDim.x (up to 2^31 - 1, so any int N), m down gridDim.y (up to 65535).
    const int rows_per_block = variant == 1 ? block1_m : variant == 2 ? tile2 : tile3_mn;
    if ((static_cast<long long>(M) + rows_per_block - 1) / rows_per_block > 65535) {
        throw std::invalid_argument("linear_forward: x has " + std::to_string(M) + " rows, variant " +
                                    std::to_string(variant) + " takes at most " +
                                    std::to_string(65535 * rows_per_block) + " (65535 blocks of " +
                                    std::to_string(rows_per_block) + ")");
    }
    if (N > 2147483647 - tile3_mn) {  // ceil_div(N, tile) below must not overflow
        throw std::invalid_argument("linear_forward: W has " + std::to_string(N) + " rows, at most " +
                                    std::to_string(2147483647 - tile3_mn) + " fit the kernels' int indices");
    }
    if (M == 0 || N == 0) return;
    if (K == 0) {  // an empty sum: y = 0
        for (size_t i = 0; i < static_cast<size_t>(M) * N; ++i) y[i] = 0.0f;
        return;
    }
    DeviceArray<float> d_x(static_cast<size_t>(M) * K), d_weight(static_cast<size_t>(N) * K),
        d_y(static_cast<size_t>(M) * N);
    d_x.copy_from_host(x);
    d_weight.copy_from_host(weight);
    switch (variant) {
        case 1:
            SEEK_LAUNCH(linear_kernel1, dim3(ceil_div(N, block1_n), ceil_div(M, block1_m)), dim3(block1_n, block1_m), 0)
            (d_y.data, d_x.data, d_weight.data, M, N, K);
            break;
        case 2:
            SEEK_LAUNCH(linear_kernel2, dim3(ceil_div(N, tile2), ceil_div(M, tile2)), dim3(tile2, tile2), 0)
            (d_y.data, d_x.data, d_weight.data, M, N, K);
            break;
        case 3:
            SEEK_LAUNCH(linear_kernel3, dim3(ceil_div(N, tile3_mn), ceil_div(M, tile3_mn)), threads3, 0)
            (d_y.data, d_x.data, d_weight.data, M, N, K);
            break;
    }
    SEEK_CUDA_CHECK(cudaGetLastError());
    d_y.copy_to_host(y);
}

}  // namespace SEEK_GPU_NAMESPACE
