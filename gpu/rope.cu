// RoPE with YaRN on MLA's decoupled rope lanes, in place, on a GPU (core/rope.h rope_forward):
//   x'[2i]   = m (x[2i] cos(p θ_i) - x[2i+1] sin(p θ_i))
//   x'[2i+1] = m (x[2i] sin(p θ_i) + x[2i+1] cos(p θ_i))
// for each of a row's `heads` groups of dr = 2·pairs lanes (from column `first`, one group every
// `stride` columns: core's RopeLanes), p = positions[row]; θ_i (after YaRN) and m come from core's
// RopeTable, in double.
//
// The angle is where the precision goes. p θ_i reaches 163,839 rad at V3's last position
// (θ_0 = 1). Formed in float, p θ is rounded to a multiple of 2^-6 near 163,839 (half an ulp: 7.8e-3
// rad) after θ itself was rounded (p θ 2^-24: up to 9.8e-3 rad), so cos and sin would be off by up
// to 1.8e-2: the rotation of the last positions would be wrong in the second digit (the planted
// "float angle" copy in tests/gpu/rope_bugs.cu shows it). Both variants form a = p θ_i in double
// (one rounding, 1.8e-11 rad at 163,839: the same product core forms) and differ after that:
//   1. a thread per (row, head, pair): sin, cos and the rotation in double, rounded to float once,
//      exactly what core does. Every head recomputes its row's sines and cosines (128 heads on V3's
//      q: 128 times the same double sincos), and double is slow on most GPUs (1/64 of float's rate
//      on sm_89), so this is the reference port, not the fast one;
//   2. a block per row: the row's `pairs` (cos, sin) · m are computed once, into shared memory,
//      and every head's lanes are rotated from that table in float. The angle is reduced exactly:
//      k = rint(a / 2π), r = a - k·2π with 2π split in two doubles (Cody and Waite), the first
//      product subtracted by an FMA, which is exact here (a and k·2π_hi are multiples of 2^-51 and
//      |r| < 4, so r fits 53 bits), the second (k·2π_lo < 6.4e-12) rounded at 4.4e-16. Only then is
//      r rounded to float (|r| <= π: at most π 2^-24 = 1.9e-7 rad) and sincosf taken (2 ulp on a
//      GPU, 1.2e-7 below 1). So cos and sin are within 3.1e-7 of cos(a), sin(a) at every position, 163,839
//      included, and the double work is a multiply and two FMAs per (row, pair) instead of a
//      double sincos per (row, head, pair). The error bound of the result, against core:
//      |x' - core| <= 11 · 2^-24 · m (|x[2i]| + |x[2i+1]|), derived in tests/gpu/test_rope_gpu.cpp.
//
// Bytes per call (both variants): 2 · rows · heads · dr · 4 (each rope lane read and written once)
// + rows · 8 (positions) + pairs · 8 (θ); FLOPs: 6 per pair of lanes, rows · heads · pairs · 6,
// plus the table: rows · pairs sincos (variant 2) or rows · heads · pairs (variant 1).
#include "gpu/seek_cuda.h"

#include <cstdint>

namespace SEEK_GPU_NAMESPACE {

// The lanes of one row a kernel rotates: heads groups of 2·pairs lanes, the first at `first`,
// one every `stride` columns, rows `cols` apart (core's RopeLanes, defaults resolved).
struct RopeShape {
    int rows, cols;
    int first, stride, heads, pairs;
};

// a = position θ, reduced to r = a - k·2π in [-π, π], exactly up to 4.4e-16 (see the top).
__device__ __forceinline__ double reduced_angle(int64_t position, double inv_freq) {
    const double two_pi_hi = 6.283185307179586;       // 2π rounded to double
    const double two_pi_lo = 2.4492935982947064e-16;  // 2π - two_pi_hi
    const double angle = static_cast<double>(position) * inv_freq;
    const double k = rint(angle * (1.0 / two_pi_hi));
    return fma(-k, two_pi_lo, fma(-k, two_pi_hi, angle));
}

// ---- variant 1: a thread per (row, head, pair), in double like core ---------------------------
constexpr int rope_threads1 = 256;

// budget: rope_kernel1 regs<=40 smem<=0 spills=0
__global__ void rope_kernel1(float* __restrict__ x, const int64_t* __restrict__ positions,
                             const double* __restrict__ inv_freq, double magnitude, RopeShape shape) {
    const int index = blockIdx.x * blockDim.x + threadIdx.x;  // over rows · heads · pairs (host checks it fits int)
    if (index >= shape.rows * shape.heads * shape.pairs) return;
    const int pair = index % shape.pairs;
    const int head = index / shape.pairs % shape.heads;
    const int row = index / (shape.pairs * shape.heads);
    float* lanes = x + static_cast<size_t>(row) * shape.cols + shape.first + static_cast<size_t>(head) * shape.stride;
    const double angle = static_cast<double>(positions[row]) * inv_freq[pair];
    const double c = cos(angle) * magnitude, s = sin(angle) * magnitude;
    const double even = lanes[2 * pair], odd = lanes[2 * pair + 1];
    lanes[2 * pair] = static_cast<float>(even * c - odd * s);
    lanes[2 * pair + 1] = static_cast<float>(even * s + odd * c);
}

// ---- variant 2: a block per row, the row's (cos, sin) table once in shared memory -------------
constexpr int rope_threads2 = 128;

// budget: rope_kernel2 regs<=32 smem<=0 spills=0
__global__ void __launch_bounds__(rope_threads2)
rope_kernel2(float* __restrict__ x, const int64_t* __restrict__ positions, const double* __restrict__ inv_freq,
             double magnitude, RopeShape shape) {
    SEEK_DYNAMIC_SHARED(float, table);  // pairs cosines · m, then pairs sines · m
    float* cos_m = table;
    float* sin_m = table + shape.pairs;
    const int row = blockIdx.x;
    const int64_t position = positions[row];
    for (int pair = threadIdx.x; pair < shape.pairs; pair += blockDim.x) {
        float s, c;
        sincosf(static_cast<float>(reduced_angle(position, inv_freq[pair])), &s, &c);
        cos_m[pair] = static_cast<float>(c * magnitude);
        sin_m[pair] = static_cast<float>(s * magnitude);
    }
    __syncthreads();  // the whole table written before any head reads it
    float* x_row = x + static_cast<size_t>(row) * shape.cols + shape.first;
    // Neighbouring threads take neighbouring pairs of a head, then the next head's: each warp
    // reads and writes 64 consecutive floats (when stride = dr).
    for (int index = threadIdx.x; index < shape.heads * shape.pairs; index += blockDim.x) {
        const int head = index / shape.pairs, pair = index % shape.pairs;
        float* lanes = x_row + static_cast<size_t>(head) * shape.stride + 2 * pair;
        const float even = lanes[0], odd = lanes[1];
        lanes[0] = even * cos_m[pair] - odd * sin_m[pair];
        lanes[1] = even * sin_m[pair] + odd * cos_m[pair];
    }
}

// ---- host ---------------------------------------------------------------------------------------
// x: [rows, cols] row-major host array, rotated in place; positions: [rows]; inv_freq: [pairs].
// The lanes (first, stride, heads) are checked by the caller (gpu/rope.h). variant: 1 or 2.
void rope_forward_gpu(float* x, const int64_t* positions, const double* inv_freq, double magnitude, int rows,
                      int cols, int first, int stride, int heads, int pairs, int variant) {
    if (variant < 1 || variant > 2) {
        throw std::invalid_argument("rope_forward: variant " + std::to_string(variant) + " does not exist (1, 2)");
    }
    if (rows == 0 || heads == 0 || pairs == 0) return;
    const RopeShape shape{rows, cols, first, stride, heads, pairs};
    const size_t count = static_cast<size_t>(rows) * cols;
    DeviceArray<float> d_x(count);
    DeviceArray<int64_t> d_positions(rows);
    DeviceArray<double> d_inv_freq(pairs);
    d_x.copy_from_host(x);
    d_positions.copy_from_host(positions);
    d_inv_freq.copy_from_host(inv_freq);
    if (variant == 1) {
        SEEK_LAUNCH(rope_kernel1, ceil_div(rows * heads * pairs, rope_threads1), rope_threads1, 0)
        (d_x.data, d_positions.data, d_inv_freq.data, magnitude, shape);
    } else {
        SEEK_LAUNCH(rope_kernel2, rows, rope_threads2, 2 * pairs * sizeof(float))
        (d_x.data, d_positions.data, d_inv_freq.data, magnitude, shape);
    }
    SEEK_CUDA_CHECK(cudaGetLastError());
    d_x.copy_to_host(x);
}

}  // namespace SEEK_GPU_NAMESPACE
