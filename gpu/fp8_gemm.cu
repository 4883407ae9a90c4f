// The FP8 block-scaled GEMM of DeepSeek-V3 on a GPU's CUDA cores (core/fp8_gemm.h, Exact model):
//     C = (A_fp8 · a_scale) (B_fp8 · b_scale)^T
//     C[m, n] = sum_kb ( sum_{k in kb} A[m, k] B[n, k] ) · a_scale[m, kb] · b_scale[n / 128, kb]
// A [M, K] E4M3 codes with 1x128 scales [M, ceil(K / 128)] (activations, per token per 128
// channels); B [N, K] E4M3 codes with 128x128 scales [ceil(N / 128), ceil(K / 128)] (weights);
// C [M, N] FP32. Both share the 128-wide blocks kb along K; the last may be partial.
//
// In each 128-wide K block the products of two E4M3 values (exact in FP32: 4 x 4 significant
// bits) are summed in FP32 from zero, k in order; at the block's end the partial sum is
// multiplied by the two scales and added into the FP32 accumulator: `promote`. On Hopper
// (DeepGEMM) the block's products are summed by the tensor core in its ~14-bit accumulator, and
// promotion is where that partial sum moves to FP32 on the CUDA cores. Here the whole computation
// is on CUDA cores, so the partial sums are exact FP32 sums: core's Exact model, bit for bit.
//   1. one thread per output: reads its row of A and its row of B from global memory, decodes
//      each byte (cuda_fp8.h), and promotes every 128 products. Like linear.cu's variant 1, a
//      warp's 32 rows of B are K bytes apart: uncoalesced;
//   2. shared-memory tiles: a block of 256 threads owns a 32 x 32 tile of C, 4 outputs per
//      thread. Per K block it copies the 32 x 128 codes of A and of B (bytes: a quarter of what
//      FP32 operands take; 4-byte words when K is a multiple of 4) and their scales into shared
//      memory, waits, sums the block's products for its 4 outputs, and promotes them.
// The SIMT decode of each byte costs more than the multiply-add it feeds (on sm_89 and later one
// cvt instruction per two codes; on sm_80 a few integer operations): the reason FP8 GEMMs are
// tensor-core kernels. These variants are for reading and checking, not for speed.
//
// Both variants give core's fp8_gemm (Exact) bit for bit: the same products, summed in the same
// order, promoted with the same two rounded multiplications and one rounded addition (promote
// uses __fmul_rn / __fadd_rn so that nvcc cannot fuse them into an FMA). Padding past the edges
// adds products 0 x 0 = +0, which change no sum that started at +0. Every output is one thread's
// fixed-order sum: deterministic.
//
// fp8_linear_forward_gpu is core's linear_forward at fp8 precision: quantize x in 1x128 tiles and
// W in 128x128 blocks (quantize.cu), then this GEMM, all in device memory.
#include "gpu/seek_cuda.h"

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <climits>
#include <cstdint>

namespace SEEK_GPU_NAMESPACE {

// quantize.cu's entry point on device arrays.
void quantize_on_device(uint8_t* d_codes, float* d_scales, const float* d_x, int rows, int cols, int tile_rows,
                        int tile_cols, bool power_of_two_scales, int variant);

constexpr int scale_block = 128;  // the K block of both operands' scales; B's N block too

// An E4M3 code's value, through cuda_fp8.h (exact: every E4M3 value is a half).
static __device__ __forceinline__ float e4m3_value(uint8_t code) {
    return __half2float(__half(__nv_cvt_fp8_to_halfraw(code, __NV_E4M3)));
}

// Promotion: the K block's partial sum, scaled by its two scales, into the FP32 accumulator.
// This is where, in DeepGEMM, the tensor core's partial sums go to FP32: every N_C = 128 products
// (4 WGMMAs) the limited-precision accumulator is read out into CUDA-core registers, multiplied
// by a_scale · b_scale, added to the FP32 accumulator, and restarted (V3 report §3.3.2).
// core/fp8_gemm.cpp: accumulator += block_sum * a_scale * b_scale, rounded in that order.
static __device__ __forceinline__ float promote(float accumulator, float partial, float a_scale, float b_scale) {
    return __fadd_rn(accumulator, __fmul_rn(__fmul_rn(partial, a_scale), b_scale));
}

// ---- variant 1: one thread per output -----------------------------------------------------------
constexpr int block1_n = 32, block1_m = 8;

// budget: fp8_gemm_kernel1 regs<=40 smem<=0 spills=0
__global__ void fp8_gemm_kernel1(float* __restrict__ c, const uint8_t* __restrict__ a,
                                 const float* __restrict__ a_scales, const uint8_t* __restrict__ b,
                                 const float* __restrict__ b_scales, int M, int N, int K) {
    const int n = blockIdx.x * blockDim.x + threadIdx.x;
    const int m = blockIdx.y * blockDim.y + threadIdx.y;
    if (m >= M || n >= N) return;
    const int k_blocks = (K + scale_block - 1) / scale_block;
    const uint8_t* a_row = a + static_cast<size_t>(m) * K;
    const uint8_t* b_row = b + static_cast<size_t>(n) * K;
    const float* a_row_scales = a_scales + static_cast<size_t>(m) * k_blocks;
    const float* b_row_scales = b_scales + static_cast<size_t>(n / scale_block) * k_blocks;
    float accumulator = 0.0f;
    for (int kb = 0; kb < k_blocks; ++kb) {
        const int k_end = min(K, (kb + 1) * scale_block);
        float partial = 0.0f;
        for (int k = kb * scale_block; k < k_end; ++k) partial += e4m3_value(a_row[k]) * e4m3_value(b_row[k]);
        accumulator = promote(accumulator, partial, a_row_scales[kb], b_row_scales[kb]);
    }
    c[static_cast<size_t>(m) * N + n] = accumulator;
}

// ---- variant 2: shared-memory tiles of codes and scales ------------------------------------------
constexpr int tile2 = 32;                   // a block's tile of C: 32 x 32
constexpr int threads2 = 256;               // 32 across n, 8 down m
constexpr int rows_per_thread2 = tile2 / (threads2 / tile2);  // 4: rows ty, ty + 8, ty + 16, ty + 24
// 132 bytes a row: thread tx reads row tx of the B tile, so a warp reads a column; at 33 words a
// row the 32 rows' bytes lie in 32 different banks (at 128 bytes, all in one: 32-way conflict).
constexpr int tile2_row_bytes = scale_block + 4;
static_assert(scale_block % tile2 == 0, "an N tile lies in one 128-row scale block of B");

// The codes of rows row0 .. row0 + 31, columns k0 .. k0 + 127 of a [rows, K] matrix into tile;
// zeros past the edges. With `aligned` (K a multiple of 4, so each row and k0 start on a 4-byte
// boundary) thread t copies 4-byte words, t % 32 of rows t / 32 + 8i; otherwise single bytes,
// column t % 128 of rows t / 128 + 2i. Either way a warp reads consecutive bytes of a row.
static __device__ __forceinline__ void load_code_tile(uint8_t (*tile)[tile2_row_bytes], const uint8_t* codes,
                                                      int row0, int rows, int k0, int K, bool aligned) {
    const int tid = threadIdx.x;
    if (aligned) {
        const int word = tid % 32;
        for (int r = tid / 32; r < tile2; r += threads2 / 32) {
            const int row = row0 + r, k = k0 + 4 * word;
            const bool inside = row < rows && k < K;  // k < K: then k + 3 < K too, K being a multiple of 4
            *reinterpret_cast<uint32_t*>(&tile[r][4 * word]) =
                inside ? *reinterpret_cast<const uint32_t*>(codes + static_cast<size_t>(row) * K + k) : 0u;
        }
    } else {
        const int column = tid % scale_block;
        for (int r = tid / scale_block; r < tile2; r += threads2 / scale_block) {
            const int row = row0 + r, k = k0 + column;
            tile[r][column] = row < rows && k < K ? codes[static_cast<size_t>(row) * K + k] : uint8_t(0);
        }
    }
}

// budget: fp8_gemm_kernel2 regs<=48 smem<=9K spills=0
__global__ void __launch_bounds__(threads2)
fp8_gemm_kernel2(float* __restrict__ c, const uint8_t* __restrict__ a, const float* __restrict__ a_scales,
                 const uint8_t* __restrict__ b, const float* __restrict__ b_scales, int M, int N, int K) {
    __shared__ __align__(4) uint8_t a_tile[tile2][tile2_row_bytes];  // A[m0 + i, k0 + j]
    __shared__ __align__(4) uint8_t b_tile[tile2][tile2_row_bytes];  // B[n0 + i, k0 + j]
    __shared__ float a_tile_scales[tile2];                           // a_scale[m0 + i, kb]
    __shared__ float b_tile_scale;                                   // b_scale[n0 / 128, kb]
    const int tx = threadIdx.x % tile2, ty = threadIdx.x / tile2;
    const int m0 = blockIdx.y * tile2, n0 = blockIdx.x * tile2;
    const int k_blocks = (K + scale_block - 1) / scale_block;
    const bool aligned = K % 4 == 0;

    float accumulator[rows_per_thread2] = {};
    for (int kb = 0; kb < k_blocks; ++kb) {
        const int k0 = kb * scale_block;
        load_code_tile(a_tile, a, m0, M, k0, K, aligned);
        load_code_tile(b_tile, b, n0, N, k0, K, aligned);
        const int tid = threadIdx.x;
        if (tid < tile2) {
            a_tile_scales[tid] = m0 + tid < M ? a_scales[static_cast<size_t>(m0 + tid) * k_blocks + kb] : 0.0f;
        } else if (tid == tile2) {
            b_tile_scale = b_scales[static_cast<size_t>(n0 / scale_block) * k_blocks + kb];
        }
        __syncthreads();  // codes and scales all in shared memory before anyone reads them

        // The block's 128 products per output, summed in FP32 from zero, k in order (the tensor
        // core's job in DeepGEMM: one WGMMA takes 32 of them).
        float partial[rows_per_thread2] = {};
        for (int j = 0; j < scale_block; ++j) {
            const float b_value = e4m3_value(b_tile[tx][j]);
            for (int i = 0; i < rows_per_thread2; ++i) partial[i] += e4m3_value(a_tile[ty + 8 * i][j]) * b_value;
        }
        for (int i = 0; i < rows_per_thread2; ++i)
            accumulator[i] = promote(accumulator[i], partial[i], a_tile_scales[ty + 8 * i], b_tile_scale);
        __syncthreads();  // nobody still reads these tiles when the next K block overwrites them
    }
    const int n = n0 + tx;
    for (int i = 0; i < rows_per_thread2; ++i) {
        const int m = m0 + ty + 8 * i;
        if (m < M && n < N) c[static_cast<size_t>(m) * N + n] = accumulator[i];
    }
}

// ---- host ---------------------------------------------------------------------------------------
static void check_gemm_arguments(const char* op, int M, int N, int K, int variant) {
    if (variant < 1 || variant > 2) {
        throw std::invalid_argument(std::string(op) + ": variant " + std::to_string(variant) +
                                    " does not exist (1, 2)");
    }
    if (M < 0 || N < 0 || K < 0) throw std::invalid_argument(std::string(op) + ": negative shape");
    // Output tiles: n across gridDim.x, m down gridDim.y (at most 65535 blocks).
    const int rows_per_block = variant == 1 ? block1_m : tile2;
    if ((static_cast<long long>(M) + rows_per_block - 1) / rows_per_block > 65535) {
        throw std::invalid_argument(std::string(op) + ": A has " + std::to_string(M) + " rows, variant " +
                                    std::to_string(variant) + " takes at most " +
                                    std::to_string(65535 * rows_per_block));
    }
    if (N > INT_MAX - scale_block || K > INT_MAX - scale_block) {  // the kernels' ceil_divs must not overflow
        throw std::invalid_argument(std::string(op) + ": N = " + std::to_string(N) + ", K = " + std::to_string(K) +
                                    ": too large for the kernels' int indices");
    }
}

// Device arrays: d_c [M, N]; d_a [M, K] codes, d_a_scales [M, ceil(K / 128)]; d_b [N, K] codes,
// d_b_scales [ceil(N / 128), ceil(K / 128)]. M, N, K > 0.
static void fp8_gemm_on_device(float* d_c, const uint8_t* d_a, const float* d_a_scales, const uint8_t* d_b,
                               const float* d_b_scales, int M, int N, int K, int variant) {
    if (variant == 1) {
        SEEK_LAUNCH(fp8_gemm_kernel1, dim3(ceil_div(N, block1_n), ceil_div(M, block1_m)), dim3(block1_n, block1_m), 0)
        (d_c, d_a, d_a_scales, d_b, d_b_scales, M, N, K);
    } else {
        SEEK_LAUNCH(fp8_gemm_kernel2, dim3(ceil_div(N, tile2), ceil_div(M, tile2)), threads2, 0)
        (d_c, d_a, d_a_scales, d_b, d_b_scales, M, N, K);
    }
    SEEK_CUDA_CHECK(cudaGetLastError());
}

// Host arrays, with the layouts above. variant: 1 or 2.
void fp8_gemm_gpu(float* c, const uint8_t* a, const float* a_scales, const uint8_t* b, const float* b_scales, int M,
                  int N, int K, int variant) {
    check_gemm_arguments("fp8_gemm", M, N, K, variant);
    if (M == 0 || N == 0) return;
    const size_t output_count = static_cast<size_t>(M) * N;
    if (K == 0) {  // an empty sum
        for (size_t i = 0; i < output_count; ++i) c[i] = 0.0f;
        return;
    }
    const int k_blocks = ceil_div(K, scale_block);
    DeviceArray<uint8_t> d_a(static_cast<size_t>(M) * K), d_b(static_cast<size_t>(N) * K);
    DeviceArray<float> d_a_scales(static_cast<size_t>(M) * k_blocks),
        d_b_scales(static_cast<size_t>(ceil_div(N, scale_block)) * k_blocks), d_c(output_count);
    d_a.copy_from_host(a);
    d_a_scales.copy_from_host(a_scales);
    d_b.copy_from_host(b);
    d_b_scales.copy_from_host(b_scales);
    fp8_gemm_on_device(d_c.data, d_a.data, d_a_scales.data, d_b.data, d_b_scales.data, M, N, K, variant);
    d_c.copy_to_host(c);
}

// y [M, N] = x [M, K] W [N, K]^T at fp8 precision, as core's linear_forward: x quantized in 1x128
// tiles and W in 128x128 blocks (FP32 scales), then the GEMM. Host arrays; variant 1 or 2 picks
// both the quantization's and the GEMM's variant.
void fp8_linear_forward_gpu(float* y, const float* x, const float* weight, int M, int N, int K, int variant) {
    check_gemm_arguments("fp8_linear_forward", M, N, K, variant);
    if (M == 0 || N == 0) return;
    const size_t output_count = static_cast<size_t>(M) * N;
    if (K == 0) {
        for (size_t i = 0; i < output_count; ++i) y[i] = 0.0f;
        return;
    }
    const int k_blocks = ceil_div(K, scale_block);
    DeviceArray<float> d_x(static_cast<size_t>(M) * K), d_weight(static_cast<size_t>(N) * K), d_y(output_count);
    DeviceArray<uint8_t> d_x_codes(d_x.count), d_weight_codes(d_weight.count);
    DeviceArray<float> d_x_scales(static_cast<size_t>(M) * k_blocks),
        d_weight_scales(static_cast<size_t>(ceil_div(N, scale_block)) * k_blocks);
    d_x.copy_from_host(x);
    d_weight.copy_from_host(weight);
    quantize_on_device(d_x_codes.data, d_x_scales.data, d_x.data, M, K, 1, scale_block, false, variant);
    quantize_on_device(d_weight_codes.data, d_weight_scales.data, d_weight.data, N, K, scale_block, scale_block, false,
                       variant);
    fp8_gemm_on_device(d_y.data, d_x_codes.data, d_x_scales.data, d_weight_codes.data, d_weight_scales.data, M, N, K,
                       variant);
    d_y.copy_to_host(y);
}

}  // namespace SEEK_GPU_NAMESPACE
