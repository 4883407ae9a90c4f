// FP8 (E4M3) quantization with fine-grained scales on a GPU, DeepSeek-V3's recipe (core/quantize.h):
// x [rows, cols] is cut into tiles (1 x 128 for activations: per token, 128 consecutive channels;
// 128 x 128 for weights; any tile shape works, and edge tiles stop at the border), and per tile
//     amax = max(|x| over the tile's elements, 1e-4)
//     s    = amax / 448                          (or, UE8M0, the power of two at or above it)
//     code = E4M3(x / s), saturating              (cuda_fp8.h: __NV_SATFINITE, __NV_E4M3)
// codes [rows, cols] bytes, row-major; scales [ceil(rows / tile_rows), ceil(cols / tile_cols)]
// floats, row-major: multipliers (x ~= decode(code) * s), as the checkpoint's weight_scale_inv.
// Each tile is a max-reduction followed by an element-wise map; the variants differ in who reduces:
//   1. one thread per tile: a plain port of core's loop. A thread walks its 128 (or 16384)
//      elements twice, alone; neighbouring threads read addresses 128 floats apart (uncoalesced),
//      and there are few tiles, so few threads: most of the GPU idles;
//   2. many threads per tile, reducing the amax in registers and shared memory:
//      1 x C tiles (activations): one warp per tile. Lane l reads columns l, l + 32, ... (a warp
//        reads 32 consecutive floats: coalesced), keeps its own max, and five __shfl_xor_sync
//        butterflies give every lane the tile's max; each lane then encodes its own columns;
//      R x C tiles (weights): one block of 256 threads per tile. Warp w takes rows w, w + 8, ...,
//        its lanes the columns as above; each warp reduces by shuffles, lane 0 writes the warp's
//        max to shared memory, and after a __syncthreads every thread reads the 8 maxima.
// The max is exact in any order (fmaxf just picks one of its arguments), and a NaN loses to any
// number in fmaxf as in core's std::max, so every variant gives core's scales and codes bit for bit.
//
// quantize_gpu works on host arrays; quantize_on_device on device arrays (fp8_gemm.cu's FP8
// linear quantizes its operands in place without copying them back).
#include "gpu/seek_cuda.h"

#include <cuda_fp8.h>

#include <climits>
#include <cstdint>

namespace SEEK_GPU_NAMESPACE {

// core/quantize.h's kAmaxFloor and E4M3's largest finite value (this file cannot include core/).
constexpr float amax_floor = 1e-4f;
constexpr float e4m3_max = 448.0f;

// core/quantize.cpp's scale_for_amax on the GPU, the same float operations: s = max(amax, floor)
// / 448; UE8M0: frexpf gives s = f 2^e with f in [0.5, 1), so s is a power of two when f = 0.5,
// else the next one up is 2^e. (frexpf of an infinity gives exponent 0, as the C library's does.)
static __device__ __forceinline__ float scale_for_amax(float amax, bool power_of_two) {
    const float scale = fmaxf(amax, amax_floor) / e4m3_max;
    if (!power_of_two) return scale;
    int exponent;
    const float fraction = frexpf(scale, &exponent);
    return fraction == 0.5f ? scale : ldexpf(1.0f, exponent);
}

// x / s in float, as core (and DeepSeek's act_quant) computes it, to E4M3 with satfinite: |x / s|
// <= 448 by construction, but the division's rounding may land just above it.
static __device__ __forceinline__ uint8_t encode_e4m3(float value, float scale) {
    return __nv_cvt_float_to_fp8(value / scale, __NV_SATFINITE, __NV_E4M3);
}

// A tile's place: tile t of a [tile_grid_rows, tile_grid_cols] grid, row-major as the scales.
struct TileBounds {
    int row_begin, row_end, col_begin, col_end;
};
static __device__ __forceinline__ TileBounds tile_bounds(int tile, int tile_grid_cols, int rows, int cols,
                                                         int tile_rows, int tile_cols) {
    const int row_begin = (tile / tile_grid_cols) * tile_rows, col_begin = (tile % tile_grid_cols) * tile_cols;
    return {row_begin, min(rows, row_begin + tile_rows), col_begin, min(cols, col_begin + tile_cols)};
}

// ---- variant 1: one thread per tile --------------------------------------------------------------
constexpr int threads1 = 128;

// budget: quantize_kernel1 regs<=48 smem<=0 spills=0
__global__ void quantize_kernel1(uint8_t* __restrict__ codes, float* __restrict__ scales, const float* __restrict__ x,
                                 int rows, int cols, int tile_rows, int tile_cols, int tile_grid_cols, int tiles,
                                 bool power_of_two) {
    const int tile = blockIdx.x * blockDim.x + threadIdx.x;
    if (tile >= tiles) return;
    const TileBounds t = tile_bounds(tile, tile_grid_cols, rows, cols, tile_rows, tile_cols);
    float amax = 0.0f;
    for (int r = t.row_begin; r < t.row_end; ++r)
        for (int c = t.col_begin; c < t.col_end; ++c) amax = fmaxf(amax, fabsf(x[static_cast<size_t>(r) * cols + c]));
    const float scale = scale_for_amax(amax, power_of_two);
    scales[tile] = scale;
    for (int r = t.row_begin; r < t.row_end; ++r) {
        for (int c = t.col_begin; c < t.col_end; ++c) {
            const size_t i = static_cast<size_t>(r) * cols + c;
            codes[i] = encode_e4m3(x[i], scale);
        }
    }
}

// ---- variant 2: a warp per 1 x C tile, a block per R x C tile ------------------------------------
constexpr unsigned full_mask = 0xffffffffu;
constexpr int warps2 = 8;  // 1 x C tiles per block; warps per block for R x C tiles
constexpr int threads2 = warps2 * 32;

// The largest of the 32 lanes' values, in every lane: lane l takes the max with lane l ^ 16, then
// l ^ 8, ..., l ^ 1 (a butterfly: after five steps each lane has seen all 32).
static __device__ __forceinline__ float warp_max(float value) {
    for (int offset = 16; offset > 0; offset /= 2) value = fmaxf(value, __shfl_xor_sync(full_mask, value, offset));
    return value;
}

// budget: quantize_row_tiles_kernel2 regs<=48 smem<=0 spills=0
__global__ void __launch_bounds__(threads2)
quantize_row_tiles_kernel2(uint8_t* __restrict__ codes, float* __restrict__ scales, const float* __restrict__ x,
                           int rows, int cols, int tile_cols, int tile_grid_cols, int tiles, bool power_of_two) {
    const int lane = threadIdx.x % 32;
    const int tile = blockIdx.x * warps2 + threadIdx.x / 32;
    if (tile >= tiles) return;  // whole warps leave together, so the shuffles below have all 32 lanes
    const TileBounds t = tile_bounds(tile, tile_grid_cols, rows, cols, 1, tile_cols);
    const float* x_row = x + static_cast<size_t>(t.row_begin) * cols;
    uint8_t* codes_row = codes + static_cast<size_t>(t.row_begin) * cols;

    float amax = 0.0f;
    for (int c = t.col_begin + lane; c < t.col_end; c += 32) amax = fmaxf(amax, fabsf(x_row[c]));
    const float scale = scale_for_amax(warp_max(amax), power_of_two);
    if (lane == 0) scales[tile] = scale;
    for (int c = t.col_begin + lane; c < t.col_end; c += 32) codes_row[c] = encode_e4m3(x_row[c], scale);
}

// budget: quantize_block_tiles_kernel2 regs<=48 smem<=64 spills=0
__global__ void __launch_bounds__(threads2)
quantize_block_tiles_kernel2(uint8_t* __restrict__ codes, float* __restrict__ scales, const float* __restrict__ x,
                             int rows, int cols, int tile_rows, int tile_cols, int tile_grid_cols, bool power_of_two) {
    __shared__ float warp_amax[warps2];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int tile = blockIdx.x;
    const TileBounds t = tile_bounds(tile, tile_grid_cols, rows, cols, tile_rows, tile_cols);

    float amax = 0.0f;
    for (int r = t.row_begin + warp; r < t.row_end; r += warps2) {
        const float* x_row = x + static_cast<size_t>(r) * cols;
        for (int c = t.col_begin + lane; c < t.col_end; c += 32) amax = fmaxf(amax, fabsf(x_row[c]));
    }
    amax = warp_max(amax);
    if (lane == 0) warp_amax[warp] = amax;
    __syncthreads();  // every warp's max written before any thread reads them
    amax = 0.0f;
    for (int w = 0; w < warps2; ++w) amax = fmaxf(amax, warp_amax[w]);
    const float scale = scale_for_amax(amax, power_of_two);
    if (threadIdx.x == 0) scales[tile] = scale;

    for (int r = t.row_begin + warp; r < t.row_end; r += warps2) {
        const float* x_row = x + static_cast<size_t>(r) * cols;
        uint8_t* codes_row = codes + static_cast<size_t>(r) * cols;
        for (int c = t.col_begin + lane; c < t.col_end; c += 32) codes_row[c] = encode_e4m3(x_row[c], scale);
    }
}

// ---- host ---------------------------------------------------------------------------------------
// Argument checks shared by both entry points; returns the number of tiles.
static int check_quantize_arguments(int rows, int cols, int tile_rows, int tile_cols, int variant) {
    if (variant < 1 || variant > 2) {
        throw std::invalid_argument("quantize: variant " + std::to_string(variant) + " does not exist (1, 2)");
    }
    if (rows < 0 || cols < 0) throw std::invalid_argument("quantize: negative shape");
    if (tile_rows < 1 || tile_cols < 1) {
        throw std::invalid_argument("quantize: tile " + std::to_string(tile_rows) + "x" + std::to_string(tile_cols) +
                                    " is empty");
    }
    const long long grid_rows = (static_cast<long long>(rows) + tile_rows - 1) / tile_rows;
    const long long grid_cols = (static_cast<long long>(cols) + tile_cols - 1) / tile_cols;
    // +threads2: the kernels' tile index (blockIdx.x * blockDim.x + threadIdx.x) must not overflow
    // an int; and row_begin + tile_rows, col_begin + tile_cols neither.
    if (grid_rows * grid_cols > INT_MAX - threads1 - threads2 || static_cast<long long>(rows) + tile_rows > INT_MAX ||
        static_cast<long long>(cols) + tile_cols > INT_MAX) {
        throw std::invalid_argument("quantize: " + std::to_string(rows) + " x " + std::to_string(cols) + " in " +
                                    std::to_string(tile_rows) + "x" + std::to_string(tile_cols) +
                                    " tiles: too many for the kernels' int indices");
    }
    return static_cast<int>(grid_rows * grid_cols);
}

// d_codes [rows, cols], d_scales [ceil(rows / tile_rows), ceil(cols / tile_cols)], d_x [rows, cols]:
// device arrays. power_of_two_scales: UE8M0 scales. variant: 1 or 2.
void quantize_on_device(uint8_t* d_codes, float* d_scales, const float* d_x, int rows, int cols, int tile_rows,
                        int tile_cols, bool power_of_two_scales, int variant) {
    const int tiles = check_quantize_arguments(rows, cols, tile_rows, tile_cols, variant);
    if (tiles == 0) return;
    const int tile_grid_cols = ceil_div(cols, tile_cols);
    const DeviceTimer timer;  // the kernel alone, for seek kernels
    if (variant == 1) {
        SEEK_LAUNCH(quantize_kernel1, ceil_div(tiles, threads1), threads1, 0)
        (d_codes, d_scales, d_x, rows, cols, tile_rows, tile_cols, tile_grid_cols, tiles, power_of_two_scales);
    } else if (tile_rows == 1) {
        SEEK_LAUNCH(quantize_row_tiles_kernel2, ceil_div(tiles, warps2), threads2, 0)
        (d_codes, d_scales, d_x, rows, cols, tile_cols, tile_grid_cols, tiles, power_of_two_scales);
    } else {
        SEEK_LAUNCH(quantize_block_tiles_kernel2, tiles, threads2, 0)
        (d_codes, d_scales, d_x, rows, cols, tile_rows, tile_cols, tile_grid_cols, power_of_two_scales);
    }
    SEEK_CUDA_CHECK(cudaGetLastError());
}

// The same on host arrays: copies x in, and the codes and scales out.
void quantize_gpu(uint8_t* codes, float* scales, const float* x, int rows, int cols, int tile_rows, int tile_cols,
                  bool power_of_two_scales, int variant) {
    const int tiles = check_quantize_arguments(rows, cols, tile_rows, tile_cols, variant);
    if (tiles == 0) return;
    const size_t count = static_cast<size_t>(rows) * cols;
    DeviceArray<float> d_x(count), d_scales(tiles);
    DeviceArray<uint8_t> d_codes(count);
    d_x.copy_from_host(x);
    quantize_on_device(d_codes.data, d_scales.data, d_x.data, rows, cols, tile_rows, tile_cols, power_of_two_scales,
                       variant);
    d_codes.copy_to_host(codes);
    d_scales.copy_to_host(scales);
}

}  // namespace SEEK_GPU_NAMESPACE
