// The token embedding on a GPU (core/embedding.h's embedding_forward): out[t] = table[tokens[t]],
// a gather. It moves bytes and computes nothing, so both variants copy bit for bit; they differ in
// how the copy uses the memory system:
//   1. a thread per output element: consecutive threads copy consecutive floats of a row
//      (coalesced), but each thread looks up its token and moves 4 bytes;
//   2. a warp per row: the lanes read the token once (one load, broadcast), then copy the row four
//      floats at a time (float4: 16-byte loads and stores, a quarter of the instructions) when the
//      row length is a multiple of 4, so that every row starts 16-byte aligned; one float at a time
//      otherwise.
// The host function trusts the tokens: the header's wrapper refuses a token outside the table
// before the launch, as core does (a GPU would read whatever lies there).
#include "gpu/seek_cuda.h"

namespace SEEK_GPU_NAMESPACE {

constexpr int embedding_threads1 = 256;

// budget: embedding_kernel1 regs<=32 smem<=0 spills=0
__global__ void embedding_kernel1(float* __restrict__ out, const float* __restrict__ table,
                                  const int* __restrict__ tokens, int count, int dim) {
    const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= static_cast<size_t>(count) * dim) return;
    const size_t t = i / dim, j = i % dim;
    out[i] = table[static_cast<size_t>(tokens[t]) * dim + j];
}

constexpr int embedding_warps2 = 4;  // rows per block

// budget: embedding_kernel2 regs<=32 smem<=0 spills=0
__global__ void embedding_kernel2(float* __restrict__ out, const float* __restrict__ table,
                                  const int* __restrict__ tokens, int count, int dim) {
    const int lane = threadIdx.x % warpSize;
    const int t = blockIdx.x * embedding_warps2 + threadIdx.x / warpSize;
    if (t >= count) return;
    const float* source = table + static_cast<size_t>(tokens[t]) * dim;
    float* target = out + static_cast<size_t>(t) * dim;
    if (dim % 4 == 0) {
        const float4* source4 = reinterpret_cast<const float4*>(source);
        float4* target4 = reinterpret_cast<float4*>(target);
        for (int j = lane; j < dim / 4; j += warpSize) target4[j] = source4[j];
    } else {
        for (int j = lane; j < dim; j += warpSize) target[j] = source[j];
    }
}

// table [vocab, dim]; tokens [count], each in [0, vocab) (the caller checks); out [count, dim].
// variant: 1 or 2.
void embedding_forward_gpu(float* out, const float* table, int vocab, int dim, const int* tokens, int count, int variant) {
    if (variant < 1 || variant > 2) {
        throw std::invalid_argument("embedding_forward: variant " + std::to_string(variant) + " does not exist (1, 2)");
    }
    if (count == 0 || dim == 0) return;
    const size_t out_count = static_cast<size_t>(count) * dim;
    DeviceArray<float> d_table(static_cast<size_t>(vocab) * dim), d_out(out_count);
    DeviceArray<int> d_tokens(count);
    d_table.copy_from_host(table);
    d_tokens.copy_from_host(tokens);
    if (variant == 1) {
        SEEK_LAUNCH(embedding_kernel1, ceil_div(static_cast<int>(out_count), embedding_threads1), embedding_threads1, 0)
        (d_out.data, d_table.data, d_tokens.data, count, dim);
    } else {
        SEEK_LAUNCH(embedding_kernel2, ceil_div(count, embedding_warps2), embedding_warps2 * 32, 0)
        (d_out.data, d_table.data, d_tokens.data, count, dim);
    }
    SEEK_CUDA_CHECK(cudaGetLastError());
    d_out.copy_to_host(out);
}

}  // namespace SEEK_GPU_NAMESPACE
