// The FP8 block-scaled GEMM of DeepSeek-V3 on a GPU, on CUDA cores (variants 1-2: core/fp8_gemm.h's
// Exact model, bit for bit) and on tensor cores (variants 3-5: compiled only, see below):
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
//   3. mma.sync (sm_89+: Ada and Hopper): a block of 8 warps owns a 128 x 128 tile of C. Per K
//      block, cp.async brings the 128 x 128 codes of A and of B into shared memory (two stages:
//      the next block's copy overlaps this block's MMAs), each warp loads its fragments into
//      registers and issues 4 x 4 mma.sync.m16n8k32 e4m3 instructions per 32 of K into a fresh
//      FP32 partial tile, and promote() adds it, scaled, into the accumulators. Which lane holds
//      which bytes and sums is gpu/fp8_mma_layout.h, checked on the CPU against the PTX ISA's
//      layout (tests/gpu/test_fp8_mma_layout.cpp).
//   4. wgmma (sm_90a: Hopper): a warpgroup of 128 threads owns a 64 x 128 tile; the tensor core
//      reads both operands from 128B-swizzled shared memory through descriptors, asynchronously
//      (4 wgmma.m64n128k32 e4m3 per K block, then a wait), and the promotion is the same. Loads
//      are cp.async, each thread computing swizzled addresses.
//      The swizzled offsets, the descriptors and which thread holds which sum are
//      gpu/fp8_wgmma_layout.h, checked on the CPU against a host model of the PTX ISA's wgmma
//      addressing and fragment layout (tests/gpu/test_fp8_wgmma_layout.cpp).
//   5. wgmma fed by the Tensor Memory Accelerator (sm_90a), DeepGEMM's loading: one thread asks
//      TMA for whole boxes of A and B (tensor maps built on the host), the copy engine swizzles
//      them into a ring of 4 stages and counts their bytes on an mbarrier per stage; the MMAs and
//      promotion are variant 4's. DeepGEMM adds producer/consumer warpgroups, a persistent
//      schedule and cluster multicast: what a GPU must be here to tune. The test runs a host
//      model of TMA's swizzled placement into variant 4's descriptors.
//   Variants 3 to 5 are compiled only (nvcc for sm_89 / sm_90a; a trap on the other
//   architectures, refused by the host code there and in the emulator): no GPU has run them.
//   The tensor core sums each 32-product step in its own order and precision, so they are not
//   core's Exact model bit for bit; core's TensorCore accumulation model describes them.
//
// The grouped form (fp8_grouped_gemm_gpu, every variant): the MoE's contiguous per-expert layout,
// group g's rows of A times its own B_g, a third grid dimension over the groups.
//
// Bytes per call: M K + N K (codes; grouped: groups N K) + 4 M ceil(K/128) + 4 ceil(N/128)
// ceil(K/128) (scales; grouped: times groups) + 4 M N (C), with B re-read from L2 per tile row.
// FLOPs: 2 M N K (grouped: 2 M N K with M the total rows).
//
// Variants 1 and 2 give core's fp8_gemm (Exact) bit for bit: the same products, summed in the same
// order, promoted with the same two rounded multiplications and one rounded addition (promote
// uses __fmul_rn / __fadd_rn so that nvcc cannot fuse them into an FMA). Padding past the edges
// adds products 0 x 0 = +0, which change no sum that started at +0. Every output is one thread's
// fixed-order sum: deterministic.
//
// fp8_linear_forward_gpu is core's linear_forward at fp8 precision: quantize x in 1x128 tiles and
// W in 128x128 blocks (quantize.cu), then this GEMM, all in device memory.
#include "gpu/seek_cuda.h"
#include "gpu/fp8_mma_layout.h"
#include "gpu/fp8_wgmma_layout.h"
#include "gpu/emulated_mma.h"

#include <cuda_fp16.h>
#include <cuda_fp8.h>
#if defined(__CUDACC__)
#include <cuda.h>  // CUtensorMap and its enums (types only: the driver's encode function comes through the runtime)
#include <cudaTypedefs.h>
#endif

#include <algorithm>
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

// The grouped form, over the MoE's contiguous per-expert layout (DeepGEMM's "contiguous" grouped
// GEMM): group g's rows of A are rows group_offsets[g] .. group_offsets[g + 1] - 1, and they meet
// their own B_g [N, K]; B holds the groups' matrices one after another, [groups, N, K], their
// scales likewise, [groups, ceil(N / 128), ceil(K / 128)]. blockIdx.z is the group, and every
// kernel starts by moving its pointers to the group's rows: from there on it is the plain GEMM of
// that group. Without group_offsets (null) the one group is all M rows.
struct GroupOperands {
    float* c;
    const uint8_t* a;
    const float* a_scales;
    const uint8_t* b;
    const float* b_scales;
    int M;
};
static __device__ __forceinline__ GroupOperands group_operands(float* c, const uint8_t* a, const float* a_scales,
                                                               const uint8_t* b, const float* b_scales,
                                                               const int* group_offsets, int M, int N, int K) {
    if (!group_offsets) return {c, a, a_scales, b, b_scales, M};
    const int group = blockIdx.z, begin = group_offsets[group];
    const size_t k_blocks = (K + scale_block - 1) / scale_block, n_blocks = (N + scale_block - 1) / scale_block;
    return {c + static_cast<size_t>(begin) * N,
            a + static_cast<size_t>(begin) * K,
            a_scales + static_cast<size_t>(begin) * k_blocks,
            b + static_cast<size_t>(group) * N * K,
            b_scales + static_cast<size_t>(group) * n_blocks * k_blocks,
            group_offsets[group + 1] - begin};
}
// Every kernel's first lines: this block's group, and whether the block has rows in it (the grid
// is sized for the largest group; a whole block leaves at once, before any barrier).
#define SEEK_ENTER_GROUP(rows_per_block)                                                                 \
    const GroupOperands group = group_operands(c, a, a_scales, b, b_scales, group_offsets, M, N, K);     \
    if (static_cast<int>(blockIdx.y) * (rows_per_block) >= group.M) return;                              \
    c = group.c;                                                                                         \
    a = group.a;                                                                                         \
    a_scales = group.a_scales;                                                                           \
    b = group.b;                                                                                         \
    b_scales = group.b_scales;                                                                           \
    M = group.M

// ---- variant 1: one thread per output -----------------------------------------------------------
constexpr int block1_n = 32, block1_m = 8;

// budget: fp8_gemm_kernel1 regs<=40 smem<=0 spills=0
__global__ void fp8_gemm_kernel1(float* __restrict__ c, const uint8_t* __restrict__ a,
                                 const float* __restrict__ a_scales, const uint8_t* __restrict__ b,
                                 const float* __restrict__ b_scales, const int* __restrict__ group_offsets, int M,
                                 int N, int K) {
    SEEK_ENTER_GROUP(block1_m);
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
                 const uint8_t* __restrict__ b, const float* __restrict__ b_scales, const int* __restrict__ group_offsets,
                 int M, int N, int K) {
    SEEK_ENTER_GROUP(tile2);
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

// ---- the tensor-core variants (3: mma.sync, sm_89+; 4 and 5: wgmma, sm_90a) --------------------
// Variants 4 and 5 are built by nvcc only: the emulator does not run warpgroup MMAs, TMA or
// mbarriers, and there the host functions refuse them ("needs a GPU"). Variant 3 runs in the
// emulator too, on its model of the two instructions it uses: mma.sync (the PTX ISA's fragment
// layout, gpu/mma_isa.h, with exact sums: not the hardware's arithmetic) and cp.async (copied at
// once: a missing wait goes unseen there). For architectures without the instructions (sm_80 for
// both, sm_89 for wgmma) the kernels compile to a trap, and the host functions refuse to launch
// them (check_tensor_core_support). No GPU has run them yet.
//
// Both keep the V3 recipe of variants 1-2: per 128-wide K block the tensor core sums the block's
// products into a fresh FP32 fragment (`partial`), then promote() multiplies it by the two scales
// on the CUDA cores and adds it into the FP32 accumulator. Unlike variants 1-2 the partial sums
// are the tensor core's, in its own order and precision (the V3 report measured ~14 bits kept on
// H800), so they are not core's Exact model bit for bit: core's TensorCore accumulation model is
// the reference for them on a GPU.
#if defined(__CUDACC__)
// For an architecture without the instructions the kernels are a trap and their helpers go unused:
// nvcc's "declared but never referenced" (177) is expected there.
#pragma nv_diag_suppress 177
#endif

// cp.async (sm_80+): 16 (or 4) bytes from global to shared memory through the load/store unit
// without passing through a register; the thread goes on while the bytes travel. With
// source_bytes = 0 nothing is read and the destination is zero-filled: the tile's edges.
// In the emulator the bytes arrive at once.
template <int bytes>
static __device__ __forceinline__ void copy_async(void* shared, const void* global, int source_bytes) {
#if defined(__CUDACC__)
    const unsigned address = static_cast<unsigned>(__cvta_generic_to_shared(shared));
    if constexpr (bytes == 16)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(address), "l"(global), "r"(source_bytes));
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(address), "l"(global), "r"(source_bytes));
#else
    for (int i = 0; i < bytes; ++i)
        static_cast<uint8_t*>(shared)[i] = i < source_bytes ? static_cast<const uint8_t*>(global)[i] : uint8_t(0);
#endif
}
static __device__ __forceinline__ void copy_async_16(void* shared, const void* global, int source_bytes) {
    copy_async<16>(shared, global, source_bytes);
}
static __device__ __forceinline__ void copy_async_4(void* shared, const void* global, int source_bytes) {
    copy_async<4>(shared, global, source_bytes);
}
// The copies issued since the last commit form one group; wait<n> returns once at most n of this
// thread's groups are still in flight (its own copies only: a __syncthreads follows for the rest).
static __device__ __forceinline__ void copy_async_commit() {
#if defined(__CUDACC__)
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}
template <int in_flight>
static __device__ __forceinline__ void copy_async_wait() {
#if defined(__CUDACC__)
    asm volatile("cp.async.wait_group %0;\n" ::"n"(in_flight));
#endif
}

// The row and column limits of a tile copy, and where its scales come from.
struct TileSource {
    const uint8_t* a;          // [M, K] codes
    const float* a_scales;     // [M, k_blocks]
    const uint8_t* b;          // [N, K] codes
    const float* b_scales;     // [ceil(N / 128), k_blocks]
    int M, N, K, k_blocks;
};

// 16 bytes of row `row` (of `rows`), columns k .. k + 15, into shared memory; zeros past the
// edges. K is a multiple of 16 (checked on the host), so a chunk is wholly inside or outside.
static __device__ __forceinline__ void copy_code_chunk(uint8_t* shared, const uint8_t* codes, int row, int rows,
                                                       int k, int K) {
    const bool inside = row < rows && k < K;
    copy_async_16(shared, inside ? codes + static_cast<size_t>(row) * K + k : codes, inside ? 16 : 0);
}

// ---- variant 3: mma.sync.m16n8k32 e4m3 (sm_89+) ---------------------------------------------------
// A block of 256 threads (8 warps) owns a 128 x 128 tile of C; gpu/fp8_mma_layout.h says which
// warp, lane and register holds what (and tests/gpu/test_fp8_mma_layout.cpp checks it on the CPU
// against the PTX ISA's fragment layout). Two pipeline stages in dynamic shared memory: while the
// tensor cores work on K block kb, cp.async brings in block kb + 1.
namespace layout3 = ::seek::mma_layout;
constexpr int stages3 = 2;
constexpr int codes3_bytes = layout3::tile_m * layout3::row_bytes;                 // 18,432 per operand
constexpr int stage3_bytes = 2 * codes3_bytes + layout3::tile_m * 4 + 16;         // + a's and b's scales
constexpr int shared3_bytes = stages3 * stage3_bytes;                              // 74,784: dynamic
static_assert(stage3_bytes % 16 == 0, "each stage starts 16-byte aligned for cp.async");

struct Stage3 {
    uint8_t* a;        // [128][144] codes of A rows m0.., K block kb
    uint8_t* b;        // [128][144] codes of B rows n0..
    float* a_scales;   // [128]: a_scale[m0 + i, kb] (0 past M)
    float* b_scale;    // b_scale[n0 / 128, kb]
};
static __device__ __forceinline__ Stage3 stage3(uint8_t* shared, int stage) {
    uint8_t* base = shared + stage * stage3_bytes;
    return {base, base + codes3_bytes, reinterpret_cast<float*>(base + 2 * codes3_bytes),
            reinterpret_cast<float*>(base + 2 * codes3_bytes + layout3::tile_m * 4)};
}

// Load: the codes and scales of K block kb for this block's tile, issued as cp.async copies (the
// caller commits them as one group). Each thread copies 4 chunks of A and 4 of B.
static __device__ __forceinline__ void load_stage3(const Stage3& stage, const TileSource& source, int m0, int n0,
                                                   int kb) {
    const int k0 = kb * scale_block;
    for (int i = 0; i < layout3::chunks_per_thread; ++i) {
        const layout3::Chunk chunk = layout3::copy_chunk(threadIdx.x, i);
        const int offset = layout3::tile_offset(chunk.row, chunk.column);
        copy_code_chunk(stage.a + offset, source.a, m0 + chunk.row, source.M, k0 + chunk.column, source.K);
        copy_code_chunk(stage.b + offset, source.b, n0 + chunk.row, source.N, k0 + chunk.column, source.K);
    }
    const int tid = threadIdx.x;
    if (tid < layout3::tile_m) {
        const bool inside = m0 + tid < source.M;
        copy_async_4(stage.a_scales + tid,
                     inside ? source.a_scales + static_cast<size_t>(m0 + tid) * source.k_blocks + kb : source.a_scales,
                     inside ? 4 : 0);
    } else if (tid == layout3::tile_m) {
        copy_async_4(stage.b_scale, source.b_scales + static_cast<size_t>(n0 / scale_block) * source.k_blocks + kb, 4);
    }
}

// MMA: one tensor-core instruction. The warp's 32 lanes together hand in a 16 x 32 tile of A (4
// registers of 4 E4M3 codes per lane), a 32 x 8 tile of B (2 registers) and a 16 x 8 FP32 tile
// (4 floats per lane); the tensor core returns D = A B + C in those 4 floats.
static __device__ __forceinline__ void mma_m16n8k32_e4m3(float (&d)[4], const uint32_t (&a)[4],
                                                         const uint32_t (&b)[2]) {
#if defined(__CUDACC__)
#if __CUDA_ARCH__ >= 890
    asm volatile(
        "mma.sync.aligned.m16n8k32.row.col.f32.e4m3.e4m3.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
#else
    emulated_mma_sync<32>(
        d, a, b, [](uint32_t word, int i) { return double(e4m3_value(static_cast<uint8_t>(word >> (8 * i)))); },
        ::seek::mma_isa::a_element, ::seek::mma_isa::b_element);  // gpu/emulated_mma.h
#endif
}

// MMA over one K block: 4 steps of 32; in each, the warp reads its A fragments (4 tiles of 16 rows)
// and B fragments (4 tiles of 8 columns) from shared memory into registers, 32-bit words at the
// offsets fp8_mma_layout.h gives, and issues 4 x 4 instructions into the partial sums.
static __device__ __forceinline__ void mma_k_block3(float (&partial)[layout3::mmas_m][layout3::mmas_n][4],
                                                    const Stage3& stage, int warp, int lane) {
    for (int ks = 0; ks < layout3::k_steps; ++ks) {
        uint32_t a_fragment[layout3::mmas_m][4], b_fragment[layout3::mmas_n][2];
        for (int mi = 0; mi < layout3::mmas_m; ++mi)
            for (int reg = 0; reg < 4; ++reg)
                a_fragment[mi][reg] = *reinterpret_cast<const uint32_t*>(
                    stage.a + layout3::a_fragment_offset(warp, mi, ks, lane, reg));
        for (int ni = 0; ni < layout3::mmas_n; ++ni)
            for (int reg = 0; reg < 2; ++reg)
                b_fragment[ni][reg] = *reinterpret_cast<const uint32_t*>(
                    stage.b + layout3::b_fragment_offset(warp, ni, ks, lane, reg));
        for (int mi = 0; mi < layout3::mmas_m; ++mi)
            for (int ni = 0; ni < layout3::mmas_n; ++ni) mma_m16n8k32_e4m3(partial[mi][ni], a_fragment[mi], b_fragment[ni]);
    }
}

// Promote: the tensor core's partial sums of this K block, times a_scale[row] b_scale, into the
// FP32 accumulators, on the CUDA cores (each lane its 64 values).
static __device__ __forceinline__ void promote_k_block3(float (&accumulator)[layout3::mmas_m][layout3::mmas_n][4],
                                                        const float (&partial)[layout3::mmas_m][layout3::mmas_n][4],
                                                        const Stage3& stage, int warp, int lane) {
    const float b_scale = *stage.b_scale;
    for (int mi = 0; mi < layout3::mmas_m; ++mi)
        for (int ni = 0; ni < layout3::mmas_n; ++ni)
            for (int i = 0; i < 4; ++i) {
                const layout3::Element element = layout3::c_fragment_element(warp, mi, ni, lane, i);
                accumulator[mi][ni][i] =
                    promote(accumulator[mi][ni][i], partial[mi][ni][i], stage.a_scales[element.row], b_scale);
            }
}

// Store: each lane writes its 64 outputs to C (rows and columns past M, N skipped).
static __device__ __forceinline__ void store_tile3(float* c, const float (&accumulator)[layout3::mmas_m][layout3::mmas_n][4],
                                                   int m0, int n0, int M, int N, int warp, int lane) {
    for (int mi = 0; mi < layout3::mmas_m; ++mi)
        for (int ni = 0; ni < layout3::mmas_n; ++ni)
            for (int i = 0; i < 4; ++i) {
                const layout3::Element element = layout3::c_fragment_element(warp, mi, ni, lane, i);
                const int m = m0 + element.row, n = n0 + element.column;
                if (m < M && n < N) c[static_cast<size_t>(m) * N + n] = accumulator[mi][ni][i];
            }
}

// Measured (nvcc 13, -O3): 216 registers on sm_89, 248 on sm_90a (128 of them the partial and
// promoted accumulators), 0 spilled; 73 KB of dynamic shared memory (shared3_bytes, two stages),
// which ptxas does not see. 255 is the most a thread of a 256-thread block can have: what this
// budget guards is spills=0 (a smaller tile per warp, 32 x 32, would halve the accumulators).
// budget: fp8_gemm_kernel3 regs<=255 smem<=0 spills=0 archs=sm_89,sm_90a
__global__ void __launch_bounds__(layout3::threads)
fp8_gemm_kernel3(float* __restrict__ c, const uint8_t* __restrict__ a, const float* __restrict__ a_scales,
                 const uint8_t* __restrict__ b, const float* __restrict__ b_scales, const int* __restrict__ group_offsets,
                 int M, int N, int K) {
#if !defined(__CUDACC__) || __CUDA_ARCH__ >= 890
    SEEK_ENTER_GROUP(layout3::tile_m);
    SEEK_DYNAMIC_SHARED(uint8_t, shared);
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const int m0 = blockIdx.y * layout3::tile_m, n0 = blockIdx.x * layout3::tile_n;
    const int k_blocks = (K + scale_block - 1) / scale_block;
    const TileSource source{a, a_scales, b, b_scales, M, N, K, k_blocks};

    float accumulator[layout3::mmas_m][layout3::mmas_n][4] = {};
    load_stage3(stage3(shared, 0), source, m0, n0, 0);
    copy_async_commit();
    for (int kb = 0; kb < k_blocks; ++kb) {
        if (kb + 1 < k_blocks) load_stage3(stage3(shared, (kb + 1) % stages3), source, m0, n0, kb + 1);
        copy_async_commit();     // (an empty group after the last block keeps the count uniform)
        copy_async_wait<1>();    // all but the newest group done: block kb's copies from this thread
        __syncthreads();         // ... and from every thread
        const Stage3 stage = stage3(shared, kb % stages3);
        float partial[layout3::mmas_m][layout3::mmas_n][4] = {};
        mma_k_block3(partial, stage, warp, lane);
        promote_k_block3(accumulator, partial, stage, warp, lane);
        __syncthreads();         // nobody reads this stage when the next iteration's copies refill it
    }
    store_tile3(c, accumulator, m0, n0, M, N, warp, lane);
#else
    __trap();  // no FP8 mma.sync before sm_89; the host never launches this build
#endif
}

#if defined(__CUDACC__)
// ---- variant 4: wgmma.m64n128k32 e4m3 (sm_90a, Hopper) ---------------------------------------------
// One warpgroup (4 warps, 128 threads) owns a 64 x 128 tile of C. Hopper's warpgroup MMA reads
// both operands straight from shared memory, described by 64-bit matrix descriptors, and runs
// asynchronously: the threads issue it, then wait for it (wgmma.commit_group / wait_group).
// Shared memory holds each operand K-major in the 128-byte swizzle: a row of 128 codes is one
// 128-byte line, and 16-byte chunk j of row r is stored at chunk j ^ (r % 8), so that the tensor
// core's reads of 8 rows at the same K spread over all banks. The swizzle repeats every 8 rows
// (1,024 bytes, the descriptor's stride) and needs 1,024-byte aligned tiles.
// The swizzled offsets, the descriptors and the accumulator ownership are gpu/fp8_wgmma_layout.h,
// checked on the CPU against a host model of the PTX ISA's addressing and fragment layout
// (tests/gpu/test_fp8_wgmma_layout.cpp).
// Loads use cp.async (each thread computing swizzled addresses); variant 5 below loads the same
// tiles through the Tensor Memory Accelerator.
namespace layout4 = ::seek::wgmma_layout;
constexpr int tile4_m = layout4::tile_m, tile4_n = layout4::tile_n, threads4 = layout4::threads;
constexpr int stages4 = 2;
constexpr int stage4_bytes = 25 * 1024;                            // A, B, 64 a scales, b's: 24,848 -> 25K
constexpr int shared4_bytes = stages4 * stage4_bytes + layout4::swizzle_repeat_bytes;  // + alignment slack
static_assert(layout4::a_tile_bytes + layout4::b_tile_bytes + tile4_m * 4 + 16 <= stage4_bytes,
              "a stage holds its codes and scales");
static_assert(stage4_bytes % layout4::swizzle_repeat_bytes == 0 && layout4::a_tile_bytes % layout4::swizzle_repeat_bytes == 0,
              "every stage's A and B tiles start on a 1,024-byte boundary: the descriptors' base offset is 0");

struct Stage4 {
    uint8_t* a;       // [64 rows][128 codes], swizzled
    uint8_t* b;       // [128 rows][128 codes], swizzled
    float* a_scales;  // [64]
    float* b_scale;
};
static __device__ __forceinline__ Stage4 stage4(uint8_t* aligned_shared, int stage) {
    uint8_t* base = aligned_shared + stage * stage4_bytes;
    uint8_t* scales = base + layout4::a_tile_bytes + layout4::b_tile_bytes;
    return {base, base + layout4::a_tile_bytes, reinterpret_cast<float*>(scales),
            reinterpret_cast<float*>(scales + tile4_m * 4)};
}

// Load: K block kb's codes (4 chunks of A and 8 of B per thread, swizzled) and scales, as cp.async.
static __device__ __forceinline__ void load_stage4(const Stage4& stage, const TileSource& source, int m0, int n0,
                                                   int kb) {
    const int k0 = kb * scale_block;
    for (int index = threadIdx.x; index < tile4_m * layout4::chunks_per_row; index += threads4) {
        const layout4::CopyChunk chunk = layout4::copy_chunk(index);
        copy_code_chunk(stage.a + layout4::swizzled_offset(chunk.row, chunk.chunk), source.a, m0 + chunk.row, source.M,
                        k0 + layout4::chunk_bytes * chunk.chunk, source.K);
    }
    for (int index = threadIdx.x; index < tile4_n * layout4::chunks_per_row; index += threads4) {
        const layout4::CopyChunk chunk = layout4::copy_chunk(index);
        copy_code_chunk(stage.b + layout4::swizzled_offset(chunk.row, chunk.chunk), source.b, n0 + chunk.row, source.N,
                        k0 + layout4::chunk_bytes * chunk.chunk, source.K);
    }
    const int tid = threadIdx.x;
    if (tid < tile4_m) {
        const bool inside = m0 + tid < source.M;
        copy_async_4(stage.a_scales + tid,
                     inside ? source.a_scales + static_cast<size_t>(m0 + tid) * source.k_blocks + kb : source.a_scales,
                     inside ? 4 : 0);
    } else if (tid == tile4_m) {
        copy_async_4(stage.b_scale, source.b_scales + static_cast<size_t>(n0 / scale_block) * source.k_blocks + kb, 4);
    }
}

// The descriptor of wgmma number ks's slice of a swizzled tile (layout4::swizzled_descriptor: start
// address, leading byte offset 1 (unused), stride byte offset 1,024, 128B swizzle).
static __device__ __forceinline__ uint64_t swizzled_descriptor(const uint8_t* tile, int ks) {
    const uint32_t address = static_cast<uint32_t>(__cvta_generic_to_shared(tile));
    return layout4::swizzled_descriptor(layout4::k_step_address(address, ks));
}

// Generic-proxy writes to shared memory (cp.async's, here) made visible to the async proxy
// through which wgmma reads its operands.
static __device__ __forceinline__ void fence_shared_for_tensor_core() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// Pins the accumulator registers at this point of the program: the compiler may not move their
// reads or writes across it (they are read and written by the asynchronous wgmma).
static __device__ __forceinline__ void fence_accumulators(float (&d)[64]) {
    for (int i = 0; i < 64; ++i) asm volatile("" : "+f"(d[i])::"memory");
}

// MMA: one asynchronous warpgroup instruction, D (64 x 128, FP32, 64 registers per thread) =
// A (64 x 32 of K) B^T (32 of K x 128) [+ D when `accumulate`]; the tensor core reads A and B from
// shared memory through their descriptors.
static __device__ __forceinline__ void wgmma_m64n128k32_e4m3(float (&d)[64], uint64_t a_descriptor,
                                                             uint64_t b_descriptor, int accumulate) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile(
        "{\n.reg .pred accumulate;\nsetp.ne.b32 accumulate, %66, 0;\n"
        "wgmma.mma_async.sync.aligned.m64n128k32.f32.e4m3.e4m3 {"
        "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, "
        "%32, %33, %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63}, "
        "%64, %65, accumulate, 1, 1;\n}\n"
        :
          "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]), "+f"(d[7]),
          "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]), "+f"(d[14]), "+f"(d[15]),
          "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), "+f"(d[21]), "+f"(d[22]), "+f"(d[23]),
          "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]),
          "+f"(d[32]), "+f"(d[33]), "+f"(d[34]), "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]),
          "+f"(d[40]), "+f"(d[41]), "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]),
          "+f"(d[48]), "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
          "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]), "+f"(d[63])
        : "l"(a_descriptor), "l"(b_descriptor), "r"(accumulate));
#endif
}

// MMA over one K block: 4 wgmmas, each 32 of K further along the rows (a 32-byte step of the
// descriptors' start address; the swizzle is applied by the hardware to the final addresses, so
// it composes with the step), then wait for them to finish.
static __device__ __forceinline__ void mma_k_block4(float (&partial)[64], const uint8_t* a_tile, const uint8_t* b_tile) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    fence_accumulators(partial);
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");  // earlier register writes before the MMAs
    for (int ks = 0; ks < layout4::k_steps; ++ks) {
        wgmma_m64n128k32_e4m3(partial, swizzled_descriptor(a_tile, ks), swizzled_descriptor(b_tile, ks),
                              ks > 0);  // the first starts the partial sums from zero: a fresh K block
    }
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
    fence_accumulators(partial);
#endif
}

// Promote: this K block's partial sums, times a_scale[row] b_scale, into the FP32 accumulators.
static __device__ __forceinline__ void promote_k_block4(float (&accumulator)[64], const float (&partial)[64],
                                                        const Stage4& stage) {
    const float b_scale = *stage.b_scale;
    for (int i = 0; i < 64; ++i) {
        const layout4::Element element = layout4::accumulator_element(threadIdx.x, i);
        accumulator[i] = promote(accumulator[i], partial[i], stage.a_scales[element.row], b_scale);
    }
}

// Store: each thread writes its 64 outputs (pairs of neighbouring columns) to C.
static __device__ __forceinline__ void store_tile4(float* c, const float (&accumulator)[64], int m0, int n0, int M,
                                                   int N) {
    for (int i = 0; i < 64; ++i) {
        const layout4::Element element = layout4::accumulator_element(threadIdx.x, i);
        const int m = m0 + element.row, n = n0 + element.column;
        if (m < M && n < N) c[static_cast<size_t>(m) * N + n] = accumulator[i];
    }
}

// Measured (nvcc 13, -O3): 168 registers on sm_90a; 51 KB of dynamic shared memory (shared4_bytes:
// two 25 KB stages and the alignment slack), which ptxas does not see.
// budget: fp8_gemm_kernel4 regs<=176 smem<=0 spills=0 archs=sm_90a
__global__ void __launch_bounds__(threads4)
fp8_gemm_kernel4(float* __restrict__ c, const uint8_t* __restrict__ a, const float* __restrict__ a_scales,
                 const uint8_t* __restrict__ b, const float* __restrict__ b_scales, const int* __restrict__ group_offsets,
                 int M, int N, int K) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    SEEK_ENTER_GROUP(tile4_m);
    SEEK_DYNAMIC_SHARED(uint8_t, shared);
    // The swizzle's 1,024-byte alignment (the launch asks for 1,024 bytes more than the stages use).
    const unsigned misalignment = static_cast<unsigned>(__cvta_generic_to_shared(shared)) % layout4::swizzle_repeat_bytes;
    uint8_t* aligned_shared = shared + (misalignment == 0 ? 0 : layout4::swizzle_repeat_bytes - misalignment);
    const int m0 = blockIdx.y * tile4_m, n0 = blockIdx.x * tile4_n;
    const int k_blocks = (K + scale_block - 1) / scale_block;
    const TileSource source{a, a_scales, b, b_scales, M, N, K, k_blocks};

    float accumulator[64] = {}, partial[64] = {};
    load_stage4(stage4(aligned_shared, 0), source, m0, n0, 0);
    copy_async_commit();
    for (int kb = 0; kb < k_blocks; ++kb) {
        if (kb + 1 < k_blocks) load_stage4(stage4(aligned_shared, (kb + 1) % stages4), source, m0, n0, kb + 1);
        copy_async_commit();
        copy_async_wait<1>();             // this thread's copies of block kb are in shared memory
        fence_shared_for_tensor_core();   // ... visible to the tensor core's reads
        __syncthreads();                  // ... and every other thread's too
        const Stage4 stage = stage4(aligned_shared, kb % stages4);
        mma_k_block4(partial, stage.a, stage.b);
        promote_k_block4(accumulator, partial, stage);
        __syncthreads();                  // this stage is free for the copies of block kb + 2
    }
    store_tile4(c, accumulator, m0, n0, M, N);
#else
    __trap();  // wgmma exists only on sm_90a; the host never launches this build
#endif
}

// ---- variant 5: wgmma fed by the Tensor Memory Accelerator (sm_90a, Hopper) --------------------------
// Variant 4's warpgroup, tile, MMAs and promotion, with DeepGEMM's way of loading: instead of 128
// threads each computing swizzled addresses and issuing cp.async for 16 bytes, one thread asks the
// Tensor Memory Accelerator for a whole box (A: 64 rows x 128 codes, B: 128 x 128) and the copy
// engine writes it, swizzled, while every thread goes on. The host describes each operand once in
// a tensor map (code_tensor_map below: the codes as a [rows, K] tensor of bytes, the box, the
// 128-byte swizzle), passed to the kernel as a __grid_constant__ parameter.
//
// Arrival is counted in bytes on an mbarrier in shared memory, one per stage: the issuing thread
// tells the barrier how many bytes to expect (expect_tx) and the copies count them down as they
// land (complete_tx); the threads that need the stage wait on the barrier's phase. Four stages in
// a ring: while the tensor cores work on K block kb, the boxes of blocks kb + 1 .. kb + 3 are in
// flight. A stage is reloaded (with block kb + 4) once all four warps have finished its MMAs, so
// each barrier completes one phase per use and a waiter asks for phase parity (kb / 4) % 2.
// Edges cost nothing: a box reaching past the tensor is filled with zeros, whose products add
// nothing, and whose rows and columns the store skips. The scales (a few bytes per K block) are
// read by each thread from global memory for the two rows it holds.
//
// Not here, and what DeepGEMM adds on top: producer and consumer warpgroups (one issuing copies,
// two computing) with "empty" barriers in the other direction, a persistent grid walking the
// tiles, TMA multicast across a cluster, and TMA for the scales too. Compiled only, like 3 and 4.
constexpr int stages5 = 4;
constexpr int stage5_bytes = layout4::a_tile_bytes + layout4::b_tile_bytes;  // 24,576: both tiles, no scales
constexpr int shared5_bytes = stages5 * stage5_bytes + layout4::swizzle_repeat_bytes;  // + alignment slack
static_assert(stage5_bytes % layout4::swizzle_repeat_bytes == 0,
              "every stage's A and B tiles start on a 1,024-byte boundary, as the 128B swizzle asks");

static __device__ __forceinline__ unsigned shared_address(const void* pointer) {
    return static_cast<unsigned>(__cvta_generic_to_shared(pointer));
}

// An mbarrier expecting one arrival per phase: the thread that issues the copies.
static __device__ __forceinline__ void barrier_init(uint64_t* barrier) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(shared_address(barrier)) : "memory");
#endif
}
// The initialized barriers made visible to the copy engine (the async proxy) before any copy
// signals them (a __syncthreads follows for the other threads).
static __device__ __forceinline__ void barrier_init_fence() {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
#endif
}
// The issuing thread's arrival, telling the barrier that `bytes` more bytes will land this phase.
static __device__ __forceinline__ void barrier_arrive_expecting(uint64_t* barrier, unsigned bytes) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(shared_address(barrier)), "r"(bytes)
                 : "memory");
#endif
}
// Wait until the barrier has completed the phase with this parity (its arrival and all its bytes).
static __device__ __forceinline__ void barrier_wait(uint64_t* barrier, unsigned parity) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    unsigned done = 0;
    while (!done) {
        asm volatile(
            "{\n.reg .pred complete;\n"
            "mbarrier.try_wait.parity.shared::cta.b64 complete, [%1], %2;\n"
            "selp.u32 %0, 1, 0, complete;\n}\n"
            : "=r"(done)
            : "r"(shared_address(barrier)), "r"(parity)
            : "memory");
    }
#endif
}

// Load: one box of a [rows, K] operand, K from k0 and rows from row0, into `tile` (swizzled by the
// copy engine), its bytes counted on `barrier`. Issued by one thread.
static __device__ __forceinline__ void tma_load_box(uint8_t* tile, const CUtensorMap* map, int k0, int row0,
                                                    uint64_t* barrier) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    asm volatile(
        "cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3}], [%4];\n" ::"r"(
            shared_address(tile)),
        "l"(reinterpret_cast<uint64_t>(map)), "r"(k0), "r"(row0), "r"(shared_address(barrier))
        : "memory");
#endif
}

// Promote with the scales read from global memory: a thread's 64 registers hold two rows of the
// tile (registers 4j, 4j + 1 the first, 4j + 2, 4j + 3 the second: layout4::accumulator_element).
static __device__ __forceinline__ void promote_k_block5(float (&accumulator)[64], const float (&partial)[64],
                                                        float a_scale_first_row, float a_scale_second_row,
                                                        float b_scale) {
    for (int i = 0; i < 64; ++i) {
        const float a_scale = (i % 4) < 2 ? a_scale_first_row : a_scale_second_row;
        accumulator[i] = promote(accumulator[i], partial[i], a_scale, b_scale);
    }
}

// Measured (nvcc 13, -O3): 168 registers on sm_90a, 32 bytes of static shared memory (the four
// barriers); the 97 KB of dynamic shared memory (shared5_bytes: four 24 KB stages and the
// alignment slack), which ptxas does not see.
// budget: fp8_gemm_kernel5 regs<=176 smem<=1K spills=0 archs=sm_90a
__global__ void __launch_bounds__(threads4)
fp8_gemm_kernel5(const __grid_constant__ CUtensorMap a_map, const __grid_constant__ CUtensorMap b_map,
                 float* __restrict__ c, const float* __restrict__ a_scales, const float* __restrict__ b_scales,
                 const int* __restrict__ group_offsets, int M, int N, int K) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
    // The group's rows: A's tensor map spans every group's rows and B's every group's matrix, so a
    // group is an offset in the maps' row coordinate (a box reaching into the next group's rows
    // computes outputs the store skips).
    int a_row0 = 0, b_row0 = 0;
    if (group_offsets) {
        a_row0 = group_offsets[blockIdx.z];
        b_row0 = static_cast<int>(blockIdx.z) * N;
        M = group_offsets[blockIdx.z + 1] - a_row0;
    }
    const int m0 = blockIdx.y * tile4_m, n0 = blockIdx.x * tile4_n;
    if (m0 >= M) return;  // the grid is sized for the largest group: a whole block leaves
    const int k_blocks = (K + scale_block - 1) / scale_block;
    c += static_cast<size_t>(a_row0) * N;
    a_scales += static_cast<size_t>(a_row0) * k_blocks;
    if (group_offsets) b_scales += static_cast<size_t>(blockIdx.z) * ((N + scale_block - 1) / scale_block) * k_blocks;

    SEEK_DYNAMIC_SHARED(uint8_t, shared);
    const unsigned misalignment = shared_address(shared) % layout4::swizzle_repeat_bytes;
    uint8_t* aligned_shared = shared + (misalignment == 0 ? 0 : layout4::swizzle_repeat_bytes - misalignment);
    __shared__ uint64_t full[stages5];  // full[s]: stage s's boxes have landed
    auto a_tile = [&](int stage) { return aligned_shared + stage * stage5_bytes; };
    auto b_tile = [&](int stage) { return aligned_shared + stage * stage5_bytes + layout4::a_tile_bytes; };
    auto issue_loads = [&](int kb) {  // one thread: K block kb's two boxes into stage kb % stages5
        const int stage = kb % stages5;
        barrier_arrive_expecting(&full[stage], stage5_bytes);  // whole boxes count, zeros included
        tma_load_box(a_tile(stage), &a_map, kb * scale_block, a_row0 + m0, &full[stage]);
        tma_load_box(b_tile(stage), &b_map, kb * scale_block, b_row0 + n0, &full[stage]);
    };

    const bool issuer = threadIdx.x == 0;
    if (issuer) {
        for (int stage = 0; stage < stages5; ++stage) barrier_init(&full[stage]);
        barrier_init_fence();
    }
    __syncthreads();
    if (issuer)
        for (int kb = 0; kb < min(stages5, k_blocks); ++kb) issue_loads(kb);

    // This thread's two rows of the tile, for their scales.
    const int first_row = m0 + layout4::accumulator_element(threadIdx.x, 0).row;
    const int second_row = m0 + layout4::accumulator_element(threadIdx.x, 2).row;
    const float* b_scale_row = b_scales + static_cast<size_t>(n0 / scale_block) * k_blocks;
    float accumulator[64] = {}, partial[64] = {};
    for (int kb = 0; kb < k_blocks; ++kb) {
        const int stage = kb % stages5;
        const float a_scale_first = first_row < M ? a_scales[static_cast<size_t>(first_row) * k_blocks + kb] : 0.0f;
        const float a_scale_second = second_row < M ? a_scales[static_cast<size_t>(second_row) * k_blocks + kb] : 0.0f;
        const float b_scale = b_scale_row[kb];
        barrier_wait(&full[stage], (kb / stages5) % 2);
        mma_k_block4(partial, a_tile(stage), b_tile(stage));  // returns once the MMAs have read the stage
        promote_k_block5(accumulator, partial, a_scale_first, a_scale_second, b_scale);
        __syncthreads();  // every warp is done with this stage: it may be refilled
        if (issuer && kb + stages5 < k_blocks) issue_loads(kb + stages5);
    }
    store_tile4(c, accumulator, m0, n0, M, N);
#else
    __trap();  // wgmma and TMA exist only on sm_90a; the host never launches this build
#endif
}

#pragma nv_diag_default 177
#endif  // __CUDACC__: variants 4 and 5

// ---- host ---------------------------------------------------------------------------------------
static void check_gemm_arguments(const char* op, int M, int N, int K, int variant) {
    if (variant < 1 || variant > 5) {
        throw std::invalid_argument(std::string(op) + ": variant " + std::to_string(variant) +
                                    " does not exist (1, 2; 3, 4 and 5 on tensor cores)");
    }
    if (M < 0 || N < 0 || K < 0) throw std::invalid_argument(std::string(op) + ": negative shape");
    // The tensor-core variants copy rows of codes in 16-byte pieces (cp.async), or through a tensor
    // map whose row stride must be a multiple of 16 bytes (TMA): each row must start on a 16-byte
    // boundary. DeepSeek-V3's K are multiples of 128.
    if (variant >= 3 && K % 16 != 0) {
        throw std::invalid_argument(std::string(op) + ": K = " + std::to_string(K) + ": variant " +
                                    std::to_string(variant) + " needs K a multiple of 16 (16-byte row copies" +
                                    (variant == 5 ? ": a tensor map's row stride)" : ")"));
    }
    // Output tiles: n across gridDim.x, m down gridDim.y (at most 65535 blocks).
    const int rows_per_block = variant == 1 ? block1_m : variant == 2 ? tile2 : variant == 3 ? 128 : 64;
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

// Variants 3 to 5 run only on a GPU with the instructions, from a build that compiled them for it:
// refused here, before any allocation, everywhere else. The emulator runs variant 3 (its model of
// mma.sync and cp.async) and refuses 4 and 5.
static void check_tensor_core_support(const char* op, int variant) {
    if (variant < 3) return;
#if !defined(__CUDACC__)
    if (variant == 3) return;
#endif
    const char* needs = variant == 3   ? "variant 3 (mma.sync e4m3) needs a GPU with sm_89 or later"
                        : variant == 4 ? "variant 4 (wgmma e4m3) needs a GPU with sm_90a (H100/H200)"
                                       : "variant 5 (wgmma e4m3, TMA loads) needs a GPU with sm_90a (H100/H200)";
#if defined(__CUDACC__)
    int device = 0;
    SEEK_CUDA_CHECK(cudaGetDevice(&device));
    cudaDeviceProp properties{};
    SEEK_CUDA_CHECK(cudaGetDeviceProperties(&properties, device));
    const int capability = 10 * properties.major + properties.minor;
    // The machine code the runtime picked for this device: sm_80 code (or PTX) would be the trap.
    cudaFuncAttributes attributes{};
    const void* kernel = variant == 3   ? reinterpret_cast<const void*>(fp8_gemm_kernel3)
                         : variant == 4 ? reinterpret_cast<const void*>(fp8_gemm_kernel4)
                                        : reinterpret_cast<const void*>(fp8_gemm_kernel5);
    SEEK_CUDA_CHECK(cudaFuncGetAttributes(&attributes, kernel));
    const bool device_ok = variant == 3 ? capability >= 89 : capability == 90;
    const bool build_ok = variant == 3 ? attributes.binaryVersion >= 89 : attributes.binaryVersion == 90;
    if (!device_ok || !build_ok) {
        throw std::runtime_error(std::string(op) + ": " + needs + "; this is " + properties.name + " (sm_" +
                                 std::to_string(capability) + "), running code built for sm_" +
                                 std::to_string(attributes.binaryVersion) +
                                 (variant >= 4 ? " (build with CMAKE_CUDA_ARCHITECTURES including 90a)" : ""));
    }
#else
    throw std::runtime_error(std::string(op) + ": " + needs +
                             "; the emulator does not run warpgroup MMAs or TMA (gpu/fp8_wgmma_layout.h's "
                             "indexing is checked on the CPU by tests/gpu/test_fp8_wgmma_layout.cpp)");
#endif
}

#if defined(__CUDACC__)
// Variant 5's tensor map of a [rows, K] matrix of codes on the device (wgmma_layout::code_tensor_map:
// boxes of box_rows x 128 bytes, 128B swizzle, zeros outside). cuTensorMapEncodeTiled is a driver
// function: the runtime hands out its address, so nothing links against libcuda.
static CUtensorMap code_tensor_map(const char* op, const char* operand, const uint8_t* d_codes, uint64_t rows,
                                   uint64_t K, uint32_t box_rows) {
    const layout4::TensorMapShape shape = layout4::code_tensor_map(rows, K, box_rows);
    const std::string problem = layout4::tensor_map_problem(shape, reinterpret_cast<uint64_t>(d_codes));
    if (!problem.empty()) throw std::invalid_argument(std::string(op) + ": variant 5's tensor map of " + operand + ": " + problem);
    static PFN_cuTensorMapEncodeTiled_v12000 encode = nullptr;
    if (!encode) {
        void* function = nullptr;
        cudaDriverEntryPointQueryResult found{};
        SEEK_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &function, 12000, cudaEnableDefault, &found));
        if (found != cudaDriverEntryPointSuccess || !function)
            throw std::runtime_error(std::string(op) + ": the driver has no cuTensorMapEncodeTiled (variant 5 needs CUDA 12+)");
        encode = reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(function);
    }
    CUtensorMap map{};
    const cuuint64_t dims[2] = {shape.global_dim[0], shape.global_dim[1]};
    const cuuint64_t strides[1] = {shape.row_stride_bytes};
    const cuuint32_t box[2] = {shape.box_dim[0], shape.box_dim[1]};
    const cuuint32_t element_strides[2] = {1, 1};
    const CUresult result = encode(&map, CU_TENSOR_MAP_DATA_TYPE_UINT8, 2, const_cast<uint8_t*>(d_codes), dims, strides, box,
                                   element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B,
                                   CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
    if (result != CUDA_SUCCESS)
        throw std::runtime_error(std::string(op) + ": cuTensorMapEncodeTiled refused " + operand + "'s tensor map (CUresult " +
                                 std::to_string(static_cast<int>(result)) + ")");
    return map;
}
#endif

// Device arrays: d_c [M, N]; d_a [M, K] codes, d_a_scales [M, ceil(K / 128)]; d_b [N, K] codes,
// d_b_scales [ceil(N / 128), ceil(K / 128)]. M, N, K > 0. Grouped (d_group_offsets [groups + 1]
// on device, not null): d_b and d_b_scales hold `groups` matrices, M is the largest group's rows
// (the grid's extent down M) and a_rows all groups' rows together (variant 5's tensor map of A).
static void fp8_gemm_on_device(float* d_c, const uint8_t* d_a, const float* d_a_scales, const uint8_t* d_b,
                               const float* d_b_scales, const int* d_group_offsets, int groups, int M, int N, int K,
                               int variant, int a_rows) {
    const DeviceTimer timer;  // the kernel alone, for seek kernels
    if (variant == 1) {
        SEEK_LAUNCH(fp8_gemm_kernel1, dim3(ceil_div(N, block1_n), ceil_div(M, block1_m), groups),
                    dim3(block1_n, block1_m), 0)
        (d_c, d_a, d_a_scales, d_b, d_b_scales, d_group_offsets, M, N, K);
    } else if (variant == 2) {
        SEEK_LAUNCH(fp8_gemm_kernel2, dim3(ceil_div(N, tile2), ceil_div(M, tile2), groups), threads2, 0)
        (d_c, d_a, d_a_scales, d_b, d_b_scales, d_group_offsets, M, N, K);
    } else if (variant == 3) {
        // More than the 48 KB of shared memory a block gets by default: asked for explicitly.
        SEEK_CUDA_CHECK(cudaFuncSetAttribute(fp8_gemm_kernel3, cudaFuncAttributeMaxDynamicSharedMemorySize, shared3_bytes));
        SEEK_LAUNCH(fp8_gemm_kernel3, dim3(ceil_div(N, layout3::tile_n), ceil_div(M, layout3::tile_m), groups),
                    layout3::threads, shared3_bytes)
        (d_c, d_a, d_a_scales, d_b, d_b_scales, d_group_offsets, M, N, K);
    } else {
#if defined(__CUDACC__)
        if (variant == 4) {
            SEEK_CUDA_CHECK(
                cudaFuncSetAttribute(fp8_gemm_kernel4, cudaFuncAttributeMaxDynamicSharedMemorySize, shared4_bytes));
            SEEK_LAUNCH(fp8_gemm_kernel4, dim3(ceil_div(N, tile4_n), ceil_div(M, tile4_m), groups), threads4,
                        shared4_bytes)
            (d_c, d_a, d_a_scales, d_b, d_b_scales, d_group_offsets, M, N, K);
        } else {
            const CUtensorMap a_map = code_tensor_map("fp8_gemm", "A", d_a, static_cast<uint64_t>(a_rows), K, tile4_m);
            const CUtensorMap b_map =
                code_tensor_map("fp8_gemm", "B", d_b, static_cast<uint64_t>(groups) * static_cast<uint64_t>(N), K, tile4_n);
            SEEK_CUDA_CHECK(
                cudaFuncSetAttribute(fp8_gemm_kernel5, cudaFuncAttributeMaxDynamicSharedMemorySize, shared5_bytes));
            SEEK_LAUNCH(fp8_gemm_kernel5, dim3(ceil_div(N, tile4_n), ceil_div(M, tile4_m), groups), threads4,
                        shared5_bytes)
            (a_map, b_map, d_c, d_a_scales, d_b_scales, d_group_offsets, M, N, K);
        }
#else
        (void)a_rows;
        check_tensor_core_support("fp8_gemm", variant);  // throws: no warpgroup MMAs in the emulator
#endif
    }
    SEEK_CUDA_CHECK(cudaGetLastError());
}

// Host arrays, with the layouts above. variant: 1 to 5 (3 to 5 on a GPU only).
void fp8_gemm_gpu(float* c, const uint8_t* a, const float* a_scales, const uint8_t* b, const float* b_scales, int M,
                  int N, int K, int variant) {
    check_gemm_arguments("fp8_gemm", M, N, K, variant);
    check_tensor_core_support("fp8_gemm", variant);
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
    fp8_gemm_on_device(d_c.data, d_a.data, d_a_scales.data, d_b.data, d_b_scales.data, nullptr, 1, M, N, K, variant, M);
    d_c.copy_to_host(c);
}

// The grouped GEMM over the contiguous per-expert layout, host arrays: c [M, N]; a [M, K] codes with
// a_scales [M, ceil(K / 128)], group g's rows group_offsets[g] .. group_offsets[g + 1] - 1
// (group_offsets [groups + 1], from 0 to M, non-decreasing: empty groups allowed); b [groups, N, K]
// codes with b_scales [groups, ceil(N / 128), ceil(K / 128)]. variant: 1 to 5 (3 to 5 on a GPU).
void fp8_grouped_gemm_gpu(float* c, const uint8_t* a, const float* a_scales, const uint8_t* b, const float* b_scales,
                          const int* group_offsets, int groups, int N, int K, int variant) {
    if (groups < 1 || groups > 65535) {
        throw std::invalid_argument("fp8_grouped_gemm: " + std::to_string(groups) + " groups (1 .. 65535: gridDim.z)");
    }
    int largest = 0;
    for (int g = 0; g < groups; ++g) {
        if (group_offsets[g + 1] < group_offsets[g] || (g == 0 && group_offsets[0] != 0)) {
            throw std::invalid_argument("fp8_grouped_gemm: group_offsets[" + std::to_string(g) + "] = " +
                                        std::to_string(group_offsets[g]) + ", group_offsets[" + std::to_string(g + 1) +
                                        "] = " + std::to_string(group_offsets[g + 1]) +
                                        ": the offsets must start at 0 and not decrease");
        }
        largest = std::max(largest, group_offsets[g + 1] - group_offsets[g]);
    }
    const int M = group_offsets[groups];
    check_gemm_arguments("fp8_grouped_gemm", largest, N, K, variant);
    check_tensor_core_support("fp8_grouped_gemm", variant);
    if (M == 0 || N == 0) return;
    const size_t output_count = static_cast<size_t>(M) * N;
    if (K == 0) {
        for (size_t i = 0; i < output_count; ++i) c[i] = 0.0f;
        return;
    }
    const int k_blocks = ceil_div(K, scale_block);
    DeviceArray<uint8_t> d_a(static_cast<size_t>(M) * K), d_b(static_cast<size_t>(groups) * N * K);
    DeviceArray<float> d_a_scales(static_cast<size_t>(M) * k_blocks),
        d_b_scales(static_cast<size_t>(groups) * ceil_div(N, scale_block) * k_blocks), d_c(output_count);
    DeviceArray<int> d_group_offsets(static_cast<size_t>(groups) + 1);
    d_a.copy_from_host(a);
    d_a_scales.copy_from_host(a_scales);
    d_b.copy_from_host(b);
    d_b_scales.copy_from_host(b_scales);
    d_group_offsets.copy_from_host(group_offsets);
    fp8_gemm_on_device(d_c.data, d_a.data, d_a_scales.data, d_b.data, d_b_scales.data, d_group_offsets.data, groups,
                       largest, N, K, variant, M);
    d_c.copy_to_host(c);
}

// y [M, N] = x [M, K] W [N, K]^T at fp8 precision, as core's linear_forward: x quantized in 1x128
// tiles and W in 128x128 blocks (FP32 scales), then the GEMM. Host arrays; variant 1 or 2 picks
// both the quantization's and the GEMM's variant; 3 to 5 the GEMM's, after quantize.cu's variant 2.
void fp8_linear_forward_gpu(float* y, const float* x, const float* weight, int M, int N, int K, int variant) {
    check_gemm_arguments("fp8_linear_forward", M, N, K, variant);
    check_tensor_core_support("fp8_linear_forward", variant);
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
    const int quantize_variant = variant >= 3 ? 2 : variant;
    quantize_on_device(d_x_codes.data, d_x_scales.data, d_x.data, M, K, 1, scale_block, false, quantize_variant);
    quantize_on_device(d_weight_codes.data, d_weight_scales.data, d_weight.data, N, K, scale_block, scale_block, false,
                       quantize_variant);
    fp8_gemm_on_device(d_y.data, d_x_codes.data, d_x_scales.data, d_weight_codes.data, d_weight_scales.data, nullptr, 1,
                       M, N, K, variant, M);
    d_y.copy_to_host(y);
}

}  // namespace SEEK_GPU_NAMESPACE
