// Warp- and block-wide reductions for gpu/*.cu kernels (in namespace SEEK_GPU_NAMESPACE, as the
// kernels that include it). Deterministic by construction: a butterfly of __shfl_xor_sync
// within each warp, then every thread combines the warps' results in warp order. No atomics, so
// the same inputs give the same bits whatever order the threads and blocks run in.
//
// `combine` must be commutative (max, +, the (max, sum) merge of an online softmax): in a
// butterfly lane i computes combine(v_i, v_j) while lane j computes combine(v_j, v_i), and every
// lane must end with the same value.
#pragma once

#include "gpu/seek_cuda.h"

namespace SEEK_GPU_NAMESPACE {

constexpr unsigned full_warp_mask = 0xffffffffu;

__device__ __forceinline__ float shuffle_xor(float value, int lane_mask) {
    return __shfl_xor_sync(full_warp_mask, value, lane_mask);
}
__device__ __forceinline__ double shuffle_xor(double value, int lane_mask) {
    return __shfl_xor_sync(full_warp_mask, value, lane_mask);
}

struct MaxOf {
    __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};
struct SumOf {
    template <typename T>
    __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};

// Every lane of the warp (all 32 must call it) gets the combination of the 32 values.
template <typename T, typename Combine>
__device__ __forceinline__ T warp_reduce(T value, Combine combine) {
    for (int offset = 16; offset > 0; offset /= 2) value = combine(value, shuffle_xor(value, offset));
    return value;
}

// Every thread of the block (all must call it; blockDim.x a multiple of 32) gets the combination
// of the block's values. scratch: blockDim.x / 32 values of shared memory, free for reuse when it
// returns to the next call's first barrier.
template <typename T, typename Combine>
__device__ __forceinline__ T block_reduce(T value, Combine combine, T* scratch) {
    value = warp_reduce(value, combine);
    __syncthreads();  // every thread has read scratch from the previous reduction
    if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = value;
    __syncthreads();  // every warp's value written
    T result = scratch[0];
    for (int warp = 1; warp < static_cast<int>(blockDim.x / 32); ++warp) result = combine(result, scratch[warp]);
    return result;
}

}  // namespace SEEK_GPU_NAMESPACE
