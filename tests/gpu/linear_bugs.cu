// A copy of gpu/linear.cu's linear_kernel2 (32 x 32 shared-memory tiles) into which a bug can be
// planted: each of its two barriers removed, or its tile edge off by one. test_linear_gpu.cpp runs
// it with no bug (it must then equal variant 2 bit for bit, so the copy stays faithful) and with
// each bug (the emulator test must then fail). nvcc compiles this file too (gpu.budget.linear_bugs).
#include "gpu/seek_cuda.h"
#include "tests/gpu/linear_bugs.h"

namespace SEEK_GPU_NAMESPACE {

using demo::LinearBug;

constexpr int tile = 32;

// budget: linear_kernel2_with_bug regs<=48 smem<=9K spills=0
__global__ void __launch_bounds__(tile* tile)
linear_kernel2_with_bug(float* y, const float* x, const float* weight, int M, int N, int K, LinearBug bug) {
    __shared__ float x_tile[tile][tile];
    __shared__ float w_tile[tile][tile + 1];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int m0 = blockIdx.y * tile, n0 = blockIdx.x * tile;
    // The off-by-one: columns up to K (one past the row's end) count as inside. When K is not a
    // multiple of 32, the last tile's column K - k0 then holds x[m, K] = x[m + 1, 0] and W[n + 1, 0]
    // instead of zeros, and every output adds their product (for the last row: the guard bytes past
    // the allocation, NaN in the emulator). When K is a multiple of 32 it never shows.
    const int k_end = bug == LinearBug::tile_edge_off_by_one ? K + 1 : K;
    float sum = 0.0f;
    for (int k0 = 0; k0 < K; k0 += tile) {
        const int k = k0 + tx;
        x_tile[ty][tx] = m0 + ty < M && k < k_end ? x[static_cast<size_t>(m0 + ty) * K + k] : 0.0f;
        w_tile[ty][tx] = n0 + ty < N && k < k_end ? weight[static_cast<size_t>(n0 + ty) * K + k] : 0.0f;
        // Without it, a thread may read elements of the tile its neighbours have not loaded yet
        // (the previous tile's, or the previous block's).
        if (bug != LinearBug::missing_load_barrier) __syncthreads();
        for (int j = 0; j < tile; ++j) sum += x_tile[ty][j] * w_tile[tx][j];
        // Without it, a thread that is done with this tile loads its element of the next one while
        // its neighbours still read this one.
        if (bug != LinearBug::missing_reuse_barrier) __syncthreads();
    }
    const int m = m0 + ty, n = n0 + tx;
    if (m < M && n < N) y[static_cast<size_t>(m) * N + n] = sum;
}

std::vector<float> tiled_linear_with_bug(const std::vector<float>& x, const std::vector<float>& weight, int M, int N,
                                         int K, LinearBug bug) {
    DeviceArray<float> d_x(x.size()), d_weight(weight.size()), d_y(static_cast<size_t>(M) * N);
    d_x.copy_from_host(x.data());
    d_weight.copy_from_host(weight.data());
    SEEK_LAUNCH(linear_kernel2_with_bug, dim3(ceil_div(N, tile), ceil_div(M, tile)), dim3(tile, tile), 0)
    (d_y.data, d_x.data, d_weight.data, M, N, K, bug);
    SEEK_CUDA_CHECK(cudaGetLastError());
    std::vector<float> y(d_y.count);
    d_y.copy_to_host(y.data());
    return y;
}

}  // namespace SEEK_GPU_NAMESPACE
