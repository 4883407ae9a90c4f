// MLA's attention core on a GPU: the absorbed form over the latent cache (core/mla.h
// latent_attention_forward), which decoding runs, and the naive form (attention_forward).
//
// Absorbed, every head attends to the one latent cache: keys [c_kv ; k_pe] (r + dr columns) and
// values c_kv (its first r columns), per query row h·T + s (heads stacked as core stacks them):
//   scores = scale (q_absorbed c_kv^T + q_pe k_pe^T),  P = causal softmax(scores),  o = P c_kv
// The query at s sees keys 0 .. start + s. That is multi-query attention: one key/value row serves
// all H heads, so the cache (V3: 576 floats per token) is what a decode step reads, and a kernel
// should read it once for as many heads as it can.
//
// Variants, the simplest first:
//   1. a block per (head, query) row: the row's scores in shared memory, a block-wide max, the
//      exponentials and a block-wide sum (warp shuffles, then the warps' results in a fixed order),
//      then each thread one output column, summing over the keys in order. Plain, but every head
//      reads the whole cache (H times the bytes), a decode step (T = 1) has only H blocks to fill
//      the GPU with, and the S scores must fit in shared memory (about 56K keys). It takes any
//      operand layout, so it also runs the naive form, where each head has its own keys and values.
//   2. split-KV, as FlashMLA: the keys are cut into `splits` chunks; a block takes one chunk for
//      one query and a tile of 16 heads. It walks its chunk 16 keys at a time: the tile of
//      [c_kv ; k_pe] rows is loaded into shared memory once for the 16 heads (rows padded to an odd
//      pitch so the 16 threads reading one column of 16 rows hit 16 banks), each of 256 threads
//      scores one (head, key), and an online softmax keeps per head a running max m, running sum l
//      and an unnormalized output: when a tile raises the max, what was accumulated is rescaled by
//      e^(m_old - m_new). The values are the keys' first r columns, already in shared memory. The
//      block writes its chunk's output (normalized) and log-sum-exp m + log l. A second kernel
//      combines the chunks of a row: lse = log Σ_c e^(lse_c), o = Σ_c e^(lse_c - lse) o_c, in the
//      order of the chunks, so the result does not depend on which block finished first.
//      splits · T · ceil(H/16) blocks fill the GPU even at T = 1, and the cache is read H/16 times.
//      The FlashMLA kernel keeps the accumulator in registers and multiplies on tensor cores (64
//      heads per block); here it is in shared memory (any r) and the products are SIMT.
//   3. variant 2 over a BF16 latent cache: half the bytes of FP32, each value widened exactly (a
//      shift) as the tile is loaded into shared memory; the rest is variant 2 unchanged.
//   4. variant 2 over an FP8 latent cache, FlashMLA's FP8 layout in spirit: c_kv as E4M3 codes
//      with a scale per token per 128 columns, k_pe in BF16; widened to FP32 on load (a 256-entry
//      table of code values, then the scale). V3: 656 bytes a token instead of 2,304.
//   5. variant 3 on tensor cores (BF16 mma.sync.m16n8k16, sm_80+): scores, softmax and P V per tile
//      of 16 heads x 16 keys in a warp's registers, FlashMLA's arithmetic (queries and P in BF16);
//      below, before the kernel. In the emulator on its model of mma.sync (gpu/mma_isa.h).
//   Variants 3 and 4 give variant 2's result on the cache's values bit for bit (the same
//   arithmetic from the same FP32 values); against core on the FP32 cache they differ by what
//   the cache's rounding does to the attention (tests/gpu/test_mla_decode_cache_gpu.cpp derives
//   the bound).
// Scores and probabilities, when asked for (the traced forward records them), come from one more
// simple kernel: each entry recomputed with the same score function and e^(score - lse), the
// row's log-sum-exp both variants write. No variant uses float atomics: every sum has a fixed
// order, so the bytes are the same run after run.
//
// Bytes per call, absorbed: the cache S (r + dr) 4 (variant 3: S (r + dr) 2; variant 4:
// S (r + 4 ceil(r/128) + 2 dr)), read once per (query, head tile) by variants 2-4,
// T ceil(H/16) times (from L2 after the first; once per decode step at H <= 16), once per row by
// variant 1 (H T times), + queries H T (r + dr) 4 + output H T r 4, + for variant 2 the partials
// written and read back, 2 · splits H T (r + 1) 4. FLOPs: 2 H T S (2r + dr) (per key r + dr
// multiply-adds for the score, r for the output), less what the causal mask skips.
// Naive (variant 1): each row reads its head's keys and values, H T S (dq + dv) 4 bytes, and
// 2 H T S (dq + dv) FLOPs.
#include "gpu/seek_cuda.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "gpu/block_reduce.h"
#include "gpu/emulated_mma.h"

namespace SEEK_GPU_NAMESPACE {

// Where an operand's rows are: row i of head h at data + h·head_stride + i·row_stride.
// head_stride 0: every head reads the same rows (the latent cache).
struct HeadRows {
    const float* data;
    long long head_stride, row_stride;

    __device__ __forceinline__ const float* row(int head, int i) const {
        return data + head * head_stride + i * row_stride;
    }
};

// One attention: per head, queries [q_a ; q_b] against keys [k_a ; k_b], values v; query s at
// position start + s sees keys 0 .. start + s. Absorbed MLA: q_a = q_absorbed, q_b = q_pe,
// k_a = v = c_kv, k_b = k_pe. Naive: q_a, k_a, v each head's columns, dim_b = 0.
struct AttentionProblem {
    HeadRows q_a, q_b, k_a, k_b, v;
    int dim_a, dim_b, dim_v;
    int heads, queries, keys, start;
    float scale;
};

// scale (q_a · k_a + q_b · k_b), in float, in a fixed order: every kernel here scores with it, so
// they give the same score for the same (query, key).
__device__ __forceinline__ float attention_score(const float* q_a, const float* k_a, int dim_a, const float* q_b,
                                                 const float* k_b, int dim_b, float scale) {
    float dot_a = 0.0f, dot_b = 0.0f;
    for (int i = 0; i < dim_a; ++i) dot_a += q_a[i] * k_a[i];
    for (int i = 0; i < dim_b; ++i) dot_b += q_b[i] * k_b[i];
    return (dot_a + dot_b) * scale;
}

// ---- variant 1: a block per (head, query) row, the row's scores in shared memory ----------------
constexpr int attention_threads1 = 128;

// Dynamic shared memory: the query (dim_a + dim_b), the scores (keys), one float per warp.
inline size_t attention_shared_bytes1(int dim_a, int dim_b, int keys) {
    return (static_cast<size_t>(dim_a) + dim_b + keys + attention_threads1 / 32) * sizeof(float);
}

// budget: attention_row_kernel regs<=48 smem<=0 spills=0
__global__ void __launch_bounds__(attention_threads1)
attention_row_kernel(float* __restrict__ out, long long out_head_stride, long long out_row_stride,
                     float* __restrict__ lse, AttentionProblem p) {
    SEEK_DYNAMIC_SHARED(float, shared);
    float* query = shared;                         // [q_a ; q_b] of this row
    float* weights = query + p.dim_a + p.dim_b;    // the scores, then e^(score - max)
    float* scratch = weights + p.keys;             // one float per warp (block_reduce)
    const int row = blockIdx.x, head = row / p.queries, s = row % p.queries;
    const int visible = p.start + s + 1;

    const float* q_a = p.q_a.row(head, s);
    const float* q_b = p.q_b.row(head, s);
    for (int i = threadIdx.x; i < p.dim_a; i += blockDim.x) query[i] = q_a[i];
    for (int i = threadIdx.x; i < p.dim_b; i += blockDim.x) query[p.dim_a + i] = q_b[i];
    __syncthreads();  // the query is in shared memory before anyone scores against it

    float local_max = -INFINITY;
    for (int t = threadIdx.x; t < visible; t += blockDim.x) {
        const float score = attention_score(query, p.k_a.row(head, t), p.dim_a, query + p.dim_a, p.k_b.row(head, t),
                                            p.dim_b, p.scale);
        weights[t] = score;
        local_max = fmaxf(local_max, score);
    }
    const float max = block_reduce(local_max, MaxOf(), scratch);
    float local_sum = 0.0f;
    for (int t = threadIdx.x; t < visible; t += blockDim.x) {
        const float e = expf(weights[t] - max);  // no exponent is positive: nothing overflows
        weights[t] = e;
        local_sum += e;
    }
    const float sum = block_reduce(local_sum, SumOf(), scratch);  // its barriers also publish every weights[t]

    float* out_row = out + head * out_head_stride + s * out_row_stride;
    for (int j = threadIdx.x; j < p.dim_v; j += blockDim.x) {  // neighbouring threads, neighbouring columns
        float acc = 0.0f;
        for (int t = 0; t < visible; ++t) acc += weights[t] * p.v.row(head, t)[j];
        out_row[j] = acc / sum;
    }
    if (threadIdx.x == 0) lse[row] = max + logf(sum);
}

// ---- variant 2: split-KV with an online softmax, then a combine ---------------------------------
constexpr int mla_heads_per_block = 16;
constexpr int mla_keys_per_tile = 16;
constexpr int mla_split_threads = mla_heads_per_block * mla_keys_per_tile;  // a thread per (head, key) of a tile

// Row pitch of the query and key tiles in shared memory: r + dr rounded up to odd, so that the
// 16 threads reading column i of 16 different rows fall in 16 different banks.
inline __host__ __device__ int mla_tile_pitch(int rank, int rope_dim) { return (rank + rope_dim) | 1; }

// Dynamic shared memory: queries and keys (16 rows each, at the pitch), the tile's probabilities,
// per head the rescale factor, sum and max, and the accumulator (16 heads x r).
inline size_t mla_split_shared_bytes(int rank, int rope_dim) {
    const size_t pitch = mla_tile_pitch(rank, rope_dim);
    return ((mla_heads_per_block + mla_keys_per_tile) * pitch + mla_heads_per_block * mla_keys_per_tile +
            3 * mla_heads_per_block + static_cast<size_t>(mla_heads_per_block) * rank) *
           sizeof(float);
}

// The latent cache as variant 2's kernels read it: a row per key, c_kv (r columns) and k_pe (dr).
// Variants 3 and 4 are the same kernels over a cache stored in fewer bytes (a decode step is
// memory-bound: the bytes of the cache are its time); each value is widened to FP32 as it is
// loaded into shared memory, and from there on everything is variant 2's arithmetic.
struct FloatCache {  // variant 2: FP32, 4 bytes a value
    const float* c_kv;
    const float* k_pe;
    int rank, rope_dim;
    __device__ __forceinline__ float latent(int key, int i) const { return c_kv[static_cast<size_t>(key) * rank + i]; }
    __device__ __forceinline__ float rope(int key, int i) const { return k_pe[static_cast<size_t>(key) * rope_dim + i]; }
};

// A bfloat16 is the upper half of a float32: widening it is a shift, exact.
__device__ __forceinline__ float bf16_value(uint16_t bits) { return __uint_as_float(static_cast<unsigned>(bits) << 16); }

struct Bf16Cache {  // variant 3: BF16, 2 bytes a value
    const uint16_t* c_kv;
    const uint16_t* k_pe;
    int rank, rope_dim;
    __device__ __forceinline__ float latent(int key, int i) const {
        return bf16_value(c_kv[static_cast<size_t>(key) * rank + i]);
    }
    __device__ __forceinline__ float rope(int key, int i) const {
        return bf16_value(k_pe[static_cast<size_t>(key) * rope_dim + i]);
    }
};

// Variant 4, FlashMLA's FP8 cache in spirit: c_kv as E4M3 codes with one FP32 scale per key per
// 128 columns (core's 1x128 activation tiles: value = decode(code) scale), k_pe kept in BF16 (the
// rotated part is small and precision-sensitive). About r + 4 r/128 + 2 dr bytes a key (V3: 656
// against 2,304 in FP32). The 256 code values come from the host (core's fp8_decode) as a table.
struct Fp8Cache {
    const uint8_t* c_kv_codes;   // [S, r]
    const float* c_kv_scales;    // [S, ceil(r / 128)]
    const uint16_t* k_pe;        // [S, dr] BF16
    const float* e4m3_values;    // [256]
    int rank, rope_dim;
    __device__ __forceinline__ float latent(int key, int i) const {
        const int scale_cols = (rank + 127) / 128;
        return __ldg(e4m3_values + c_kv_codes[static_cast<size_t>(key) * rank + i]) *
               c_kv_scales[static_cast<size_t>(key) * scale_cols + i / 128];
    }
    __device__ __forceinline__ float rope(int key, int i) const {
        return bf16_value(k_pe[static_cast<size_t>(key) * rope_dim + i]);
    }
};

// The first key of chunk `split` and one past its last (chunk = ceil(keys / splits)).
__device__ __forceinline__ int chunk_begin(int split, int keys, int splits) {
    const int chunk = (keys + splits - 1) / splits;
    return min(split * chunk, keys);
}

// Grid (splits, T, ceil(H/16)). Partials: o_partial [splits, H·T, r], lse_partial [splits, H·T].
// Cache: FloatCache (variant 2), Bf16Cache (3) or Fp8Cache (4).
// budget: mla_split_kernel regs<=48 smem<=0 spills=0
template <typename Cache>
__global__ void __launch_bounds__(mla_split_threads)
mla_split_kernel(float* __restrict__ o_partial, float* __restrict__ lse_partial, const float* __restrict__ q_absorbed,
                 const float* __restrict__ q_pe, Cache cache, int heads, int queries, int keys, int start, int rank,
                 int rope_dim, int splits, float scale) {
    const int split = blockIdx.x, s = blockIdx.y, head0 = blockIdx.z * mla_heads_per_block;
    const int rows = heads * queries, width = rank + rope_dim, pitch = mla_tile_pitch(rank, rope_dim);
    const int begin = chunk_begin(split, keys, splits);
    const int end = min(chunk_begin(split + 1, keys, splits), start + s + 1);  // the causal limit of query s

    if (begin >= end) {  // a chunk this query does not see (or an empty one): weight 0 in the combine
        for (int index = threadIdx.x; index < mla_heads_per_block * rank; index += blockDim.x) {
            const int head = head0 + index / rank;
            if (head < heads) o_partial[(static_cast<size_t>(split) * rows + head * queries + s) * rank + index % rank] = 0.0f;
        }
        const int head = head0 + static_cast<int>(threadIdx.x);
        if (threadIdx.x < mla_heads_per_block && head < heads) lse_partial[split * rows + head * queries + s] = -INFINITY;
        return;  // the whole block: begin and end depend on the block alone
    }

    SEEK_DYNAMIC_SHARED(float, shared);
    float* q_tile = shared;                                                // [16 heads][pitch]
    float* kv_tile = q_tile + mla_heads_per_block * pitch;                 // [16 keys][pitch]: [c_kv ; k_pe]
    float* p_tile = kv_tile + mla_keys_per_tile * pitch;                   // [16 heads][16 keys]
    float* rescale = p_tile + mla_heads_per_block * mla_keys_per_tile;     // [16]: e^(m_old - m_new)
    float* row_sum = rescale + mla_heads_per_block;                        // [16]
    float* row_max = row_sum + mla_heads_per_block;                        // [16]
    float* acc = row_max + mla_heads_per_block;                            // [16 heads][r], unnormalized

    // The tile's queries (heads past H get zeros: they score, but nothing of theirs is written).
    for (int index = threadIdx.x; index < mla_heads_per_block * width; index += blockDim.x) {
        const int h = index / width, i = index % width, head = head0 + h;
        float value = 0.0f;
        if (head < heads) {
            const size_t q_row = static_cast<size_t>(head) * queries + s;
            value = i < rank ? q_absorbed[q_row * rank + i] : q_pe[q_row * rope_dim + i - rank];
        }
        q_tile[h * pitch + i] = value;
    }
    for (int index = threadIdx.x; index < mla_heads_per_block * rank; index += blockDim.x) acc[index] = 0.0f;

    const int my_head = threadIdx.x / mla_keys_per_tile, my_key = threadIdx.x % mla_keys_per_tile;
    float running_max = -INFINITY, running_sum = 0.0f;  // of my_head; the same in its 16 threads
    for (int tile = begin; tile < end; tile += mla_keys_per_tile) {
        __syncthreads();  // the previous tile's keys and probabilities used up (first tile: queries loaded)
        // Keys past the chunk's end load as zeros: their probability is 0, and 0 times a zero stays 0.
        for (int index = threadIdx.x; index < mla_keys_per_tile * width; index += blockDim.x) {
            const int t = index / width, i = index % width, key = tile + t;
            float value = 0.0f;
            if (key < end) value = i < rank ? cache.latent(key, i) : cache.rope(key, i - rank);
            kv_tile[t * pitch + i] = value;
        }
        __syncthreads();  // the whole tile loaded

        const bool valid = tile + my_key < end;
        const float* query = q_tile + my_head * pitch;
        const float* key_row = kv_tile + my_key * pitch;
        const float score = valid ? attention_score(query, key_row, rank, query + rank, key_row + rank, rope_dim, scale)
                                  : -INFINITY;
        // The 16 threads of a head are lanes 0-15 or 16-31 of a warp: xor shuffles of width 16.
        float tile_max = score;
        for (int offset = mla_keys_per_tile / 2; offset > 0; offset /= 2)
            tile_max = fmaxf(tile_max, __shfl_xor_sync(full_warp_mask, tile_max, offset, mla_keys_per_tile));
        const float new_max = fmaxf(running_max, tile_max);  // finite: key `tile` is valid
        const float alpha = expf(running_max - new_max);     // 0 on the first tile
        const float prob = valid ? expf(score - new_max) : 0.0f;
        float tile_sum = prob;
        for (int offset = mla_keys_per_tile / 2; offset > 0; offset /= 2)
            tile_sum += __shfl_xor_sync(full_warp_mask, tile_sum, offset, mla_keys_per_tile);
        running_sum = running_sum * alpha + tile_sum;
        running_max = new_max;
        p_tile[my_head * mla_keys_per_tile + my_key] = prob;
        if (my_key == 0) rescale[my_head] = alpha;
        __syncthreads();  // every probability and rescale factor written

        // o_h <- e^(m_old - m_new) o_h + Σ_t p_ht c_kv[t]: a thread per (head, column), keys in order.
        for (int index = threadIdx.x; index < mla_heads_per_block * rank; index += blockDim.x) {
            const int h = index / rank, j = index % rank;
            float value = acc[index] * rescale[h];
            for (int t = 0; t < mla_keys_per_tile; ++t) value += p_tile[h * mla_keys_per_tile + t] * kv_tile[t * pitch + j];
            acc[index] = value;
        }
    }
    if (my_key == 0) {
        row_sum[my_head] = running_sum;
        row_max[my_head] = running_max;
    }
    __syncthreads();  // every head's sum and max written

    for (int index = threadIdx.x; index < mla_heads_per_block * rank; index += blockDim.x) {
        const int h = index / rank, head = head0 + h;
        if (head < heads)
            o_partial[(static_cast<size_t>(split) * rows + head * queries + s) * rank + index % rank] = acc[index] / row_sum[h];
    }
    const int head = head0 + static_cast<int>(threadIdx.x);
    if (threadIdx.x < mla_heads_per_block && head < heads)
        lse_partial[split * rows + head * queries + s] = row_max[threadIdx.x] + logf(row_sum[threadIdx.x]);
}

constexpr int mla_combine_threads = 128;

// A block per row h·T + s: warp 0 turns the chunks' log-sum-exps into weights e^(lse_c - lse)
// (shared memory, one per split), then every thread combines its columns in chunk order.
// budget: mla_combine_kernel regs<=48 smem<=0 spills=0
__global__ void __launch_bounds__(mla_combine_threads)
mla_combine_kernel(float* __restrict__ out, float* __restrict__ lse, const float* __restrict__ o_partial,
                   const float* __restrict__ lse_partial, int rows, int rank, int splits) {
    SEEK_DYNAMIC_SHARED(float, weights);  // [splits]
    const int row = blockIdx.x;
    if (threadIdx.x < 32) {  // warp 0, all its lanes: the shuffles need them
        const int lane = threadIdx.x;
        float max = -INFINITY;
        for (int c = lane; c < splits; c += 32) max = fmaxf(max, lse_partial[c * rows + row]);
        max = warp_reduce(max, MaxOf());
        // finite: chunk 0 starts at key 0, which every query sees
        float sum = 0.0f;
        for (int c = lane; c < splits; c += 32) sum += expf(lse_partial[c * rows + row] - max);  // e^-inf = 0
        sum = warp_reduce(sum, SumOf());
        const float total = max + logf(sum);
        for (int c = lane; c < splits; c += 32) weights[c] = expf(lse_partial[c * rows + row] - total);
        if (lane == 0) lse[row] = total;
    }
    __syncthreads();  // every weight written before any is used
    for (int j = threadIdx.x; j < rank; j += blockDim.x) {
        float value = 0.0f;
        for (int c = 0; c < splits; ++c) value += weights[c] * o_partial[(static_cast<size_t>(c) * rows + row) * rank + j];
        out[static_cast<size_t>(row) * rank + j] = value;
    }
}

// ---- variant 5: variant 3's split-KV over the BF16 cache, its products on tensor cores -------------
// FlashMLA's arithmetic on sm_80's BF16 mma.sync.m16n8k16: a warp multiplies a 16 x 16 BF16 tile by a
// 16 x 8 one into 16 x 8 FP32 sums in one instruction (gpu/mma_isa.h says which lane holds what).
// A block of 4 warps takes, like variant 2, one chunk of keys for one query and a tile of 16 heads,
// and walks the chunk 16 keys at a time:
//   scores  S = Q K^T, 16 heads x 16 keys over the r + dr columns: the 4 warps take every fourth
//           16-column step and add their partial tiles through shared memory in a fixed order
//           (every warp then holds the same S);
//   softmax online per head, in registers: each lane holds two heads' rows (g and g + 8) of S,
//           their max and sum over the tile across the 4 lanes sharing them (shuffles);
//   output  O += P V, P the probabilities rounded to BF16 (as FlashMLA does), V the tile's c_kv:
//           each warp owns a quarter of the r output columns, 8 at a time, and keeps them in
//           registers. The accumulator layout of the score mmas is the operand layout of the next
//           mma (FlashAttention-2's register reuse): P needs no trip through shared memory.
// The queries are taken in BF16 (the host rounds them: FlashMLA's inputs are BF16). Columns past
// r + dr up to a multiple of 16, and output columns past r up to a multiple of 32, are zeros.
// Against core on the same BF16 queries and cache, the output differs by what rounding P does:
// at most 2^-9 of sum_t p_t |v_t| / l <= 2^-9 max |c_kv| per column (and FP32 rounding).
constexpr int mla_tc_warps = 4;
constexpr int mla_tc_threads = 32 * mla_tc_warps;
constexpr int mla_tc_max_rank = 512;  // V3's r: 16 output tiles of 8 columns per warp
constexpr int mla_tc_max_column_tiles = mla_tc_max_rank / (8 * mla_tc_warps);

inline __host__ __device__ int round_up(int value, int multiple) { return (value + multiple - 1) / multiple * multiple; }
// Row pitch of the BF16 query and key tiles, in 16-bit values: the columns rounded up to 16, plus 8
// so that rows start 16 bytes apart in the banks (the 8 lanes reading one column of 8 rows).
inline __host__ __device__ int mla_tc_pitch(int rank, int rope_dim) { return round_up(rank + rope_dim, 16) + 8; }
inline size_t mla_tc_shared_bytes(int rank, int rope_dim) {
    return 2 * mla_keys_per_tile * static_cast<size_t>(mla_tc_pitch(rank, rope_dim)) * sizeof(uint16_t) +
           mla_tc_warps * mla_heads_per_block * mla_keys_per_tile * sizeof(float);
}

// A float rounded to BF16 (to nearest, ties to even), as its 16 bits. The values here are finite.
__device__ __forceinline__ uint16_t bf16_bits(float value) {
    const unsigned bits = __float_as_uint(value);
    return static_cast<uint16_t>((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}
__device__ __forceinline__ uint32_t pack_bf16(uint16_t low, uint16_t high) {
    return static_cast<uint32_t>(low) | (static_cast<uint32_t>(high) << 16);
}

// MMA: D = A B + D, A 16 x 16 and B 16 x 8 in BF16, D in FP32 (4 floats a lane).
static __device__ __forceinline__ void mma_m16n8k16_bf16(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
#if defined(__CUDACC__)
#if __CUDA_ARCH__ >= 800
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
#endif
#else
    emulated_mma_sync<16>(
        d, a, b, [](uint32_t word, int i) { return double(bf16_value(static_cast<uint16_t>(word >> (16 * i)))); },
        ::seek::mma_isa::bf16_a_element, ::seek::mma_isa::bf16_b_element);  // gpu/emulated_mma.h
#endif
}

// Grid (splits, T, ceil(H/16)), 128 threads. Partials as variant 2's: o_partial [splits, H·T, r],
// lse_partial [splits, H·T]; the combine kernel follows. rank <= 512.
// Measured (nvcc 13, -O3): 120 registers on sm_80 and sm_89, 117 on sm_90a (64 of them the output
// tile), none spilled; 41 KB of dynamic shared memory at V3's r = 512, dr = 64.
// budget: mla_tensor_core_kernel regs<=128 smem<=0 spills=0
__global__ void __launch_bounds__(mla_tc_threads)
mla_tensor_core_kernel(float* __restrict__ o_partial, float* __restrict__ lse_partial,
                       const float* __restrict__ q_absorbed, const float* __restrict__ q_pe, Bf16Cache cache,
                       int heads, int queries, int keys, int start, int rank, int rope_dim, int splits, float scale) {
#if !defined(__CUDACC__) || __CUDA_ARCH__ >= 800
    const int split = blockIdx.x, s = blockIdx.y, head0 = blockIdx.z * mla_heads_per_block;
    const int rows = heads * queries, width = rank + rope_dim, pitch = mla_tc_pitch(rank, rope_dim);
    const int begin = chunk_begin(split, keys, splits);
    const int end = min(chunk_begin(split + 1, keys, splits), start + s + 1);  // the causal limit of query s
    if (begin >= end) {  // a chunk this query does not see: weight 0 in the combine (as variant 2)
        for (int index = threadIdx.x; index < mla_heads_per_block * rank; index += blockDim.x) {
            const int head = head0 + index / rank;
            if (head < heads) o_partial[(static_cast<size_t>(split) * rows + head * queries + s) * rank + index % rank] = 0.0f;
        }
        const int head = head0 + static_cast<int>(threadIdx.x);
        if (threadIdx.x < mla_heads_per_block && head < heads) lse_partial[split * rows + head * queries + s] = -INFINITY;
        return;
    }

    SEEK_DYNAMIC_SHARED(uint16_t, shared);
    uint16_t* q_tile = shared;                                   // [16 heads][pitch]: [q_absorbed ; q_pe], BF16
    uint16_t* kv_tile = q_tile + mla_heads_per_block * pitch;    // [16 keys][pitch]: [c_kv ; k_pe], BF16
    float* s_partial = reinterpret_cast<float*>(kv_tile + mla_keys_per_tile * pitch);  // [4 warps][16][16]
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
    const int k_steps = round_up(width, 16) / 16;
    const int columns_per_warp = round_up(rank, 8 * mla_tc_warps) / mla_tc_warps;  // output columns, 8 a tile
    const int column_tiles = columns_per_warp / 8, column0 = warp * columns_per_warp;

    for (int index = threadIdx.x; index < mla_heads_per_block * pitch; index += blockDim.x) {
        const int h = index / pitch, i = index % pitch, head = head0 + h;
        float value = 0.0f;  // heads past H, columns past r + dr: zeros
        if (head < heads && i < width) {
            const size_t q_row = static_cast<size_t>(head) * queries + s;
            value = i < rank ? q_absorbed[q_row * rank + i] : q_pe[q_row * rope_dim + i - rank];
        }
        q_tile[index] = bf16_bits(value);
    }
    // Two 16-bit values at (row, column), (row, column + 1) of a tile as one register (low first).
    auto pair = [pitch](const uint16_t* tile, int row, int column) {
        return pack_bf16(tile[row * pitch + column], tile[row * pitch + column + 1]);
    };

    float output[mla_tc_max_column_tiles][4] = {};           // O for rows g, g + 8 of this warp's columns
    float running_max[2] = {-INFINITY, -INFINITY}, running_sum[2] = {0.0f, 0.0f};  // rows g, g + 8
    for (int tile = begin; tile < end; tile += mla_keys_per_tile) {
        __syncthreads();  // the previous tile's keys and partial scores used up (first: queries loaded)
        for (int index = threadIdx.x; index < mla_keys_per_tile * pitch; index += blockDim.x) {
            const int k = index / pitch, i = index % pitch, key = tile + k;
            uint16_t bits = 0;  // keys past the chunk, columns past r + dr: zeros
            if (key < end && i < width)
                bits = i < rank ? cache.c_kv[static_cast<size_t>(key) * rank + i]
                                : cache.k_pe[static_cast<size_t>(key) * rope_dim + i - rank];
            kv_tile[index] = bits;
        }
        __syncthreads();  // the whole tile loaded

        // Scores: this warp's share of the 16-column steps, keys 0-7 and 8-15 of the tile.
        float scores[2][4] = {};
        for (int step = warp; step < k_steps; step += mla_tc_warps) {
            const int c0 = 16 * step;
            const uint32_t a[4] = {pair(q_tile, g, c0 + 2 * t), pair(q_tile, g + 8, c0 + 2 * t),
                                   pair(q_tile, g, c0 + 2 * t + 8), pair(q_tile, g + 8, c0 + 2 * t + 8)};
            for (int n = 0; n < 2; ++n) {  // B = K^T: column (key) 8n + g, rows (columns of K) 2t ...
                const uint32_t b[2] = {pair(kv_tile, 8 * n + g, c0 + 2 * t), pair(kv_tile, 8 * n + g, c0 + 2 * t + 8)};
                mma_m16n8k16_bf16(scores[n], a, b);
            }
        }
        for (int n = 0; n < 2; ++n)
            for (int i = 0; i < 4; ++i) {
                const int row = g + 8 * (i / 2), key = 8 * n + 2 * t + i % 2;
                s_partial[(warp * mla_heads_per_block + row) * mla_keys_per_tile + key] = scores[n][i];
            }
        __syncthreads();  // every warp's partial scores written
        // The whole scores, the warps' partials added in warp order: the same in every warp.
        for (int n = 0; n < 2; ++n)
            for (int i = 0; i < 4; ++i) {
                const int row = g + 8 * (i / 2), key = 8 * n + 2 * t + i % 2;
                float sum = 0.0f;
                for (int w = 0; w < mla_tc_warps; ++w) sum += s_partial[(w * mla_heads_per_block + row) * mla_keys_per_tile + key];
                scores[n][i] = tile + key < end ? sum * scale : -INFINITY;
            }

        // Online softmax for rows g (i = 0, 1) and g + 8 (i = 2, 3): the tile's max and sum over the
        // 4 lanes holding the row (lanes 4g .. 4g + 3: xor shuffles 1 and 2).
        float alpha[2];
        uint32_t probabilities[4];  // P as the next mma's A operand: rows g, g + 8; keys 2t, 2t + 8
        for (int half = 0; half < 2; ++half) {
            float tile_max = fmaxf(fmaxf(scores[0][2 * half], scores[0][2 * half + 1]),
                                   fmaxf(scores[1][2 * half], scores[1][2 * half + 1]));
            for (int offset = 1; offset < 4; offset *= 2) tile_max = fmaxf(tile_max, __shfl_xor_sync(full_warp_mask, tile_max, offset));
            const float new_max = fmaxf(running_max[half], tile_max);  // finite: key `tile` is visible
            alpha[half] = expf(running_max[half] - new_max);             // 0 on the first tile
            float p[2][2], tile_sum = 0.0f;
            for (int n = 0; n < 2; ++n)
                for (int j = 0; j < 2; ++j) {
                    p[n][j] = expf(scores[n][2 * half + j] - new_max);  // e^-inf = 0 past the chunk
                    tile_sum += p[n][j];
                }
            for (int offset = 1; offset < 4; offset *= 2) tile_sum += __shfl_xor_sync(full_warp_mask, tile_sum, offset);
            running_sum[half] = running_sum[half] * alpha[half] + tile_sum;
            running_max[half] = new_max;
            probabilities[half] = pack_bf16(bf16_bits(p[0][0]), bf16_bits(p[0][1]));      // keys 2t, 2t + 1
            probabilities[2 + half] = pack_bf16(bf16_bits(p[1][0]), bf16_bits(p[1][1]));  // keys 8 + 2t, 9 + 2t
        }

        // O <- alpha O + P V over this warp's columns: B = V, rows (keys) 2t .., column c of c_kv.
        for (int ct = 0; ct < mla_tc_max_column_tiles; ++ct) {
            if (ct >= column_tiles) break;
            const int column = column0 + 8 * ct + g;
            auto value = [&](int key) { return column < rank ? kv_tile[key * pitch + column] : uint16_t(0); };
            const uint32_t b[2] = {pack_bf16(value(2 * t), value(2 * t + 1)), pack_bf16(value(2 * t + 8), value(2 * t + 9))};
            for (int i = 0; i < 4; ++i) output[ct][i] *= alpha[i / 2];
            mma_m16n8k16_bf16(output[ct], probabilities, b);
        }
    }

    // This chunk's normalized output and log-sum-exp, rows g and g + 8 of the head tile.
    for (int ct = 0; ct < mla_tc_max_column_tiles; ++ct) {
        if (ct >= column_tiles) break;
        for (int i = 0; i < 4; ++i) {
            const int head = head0 + g + 8 * (i / 2), column = column0 + 8 * ct + 2 * t + i % 2;
            if (head < heads && column < rank)
                o_partial[(static_cast<size_t>(split) * rows + head * queries + s) * rank + column] =
                    output[ct][i] / running_sum[i / 2];
        }
    }
    if (warp == 0 && t == 0)
        for (int half = 0; half < 2; ++half) {
            const int head = head0 + g + 8 * half;
            if (head < heads) lse_partial[split * rows + head * queries + s] = running_max[half] + logf(running_sum[half]);
        }
#else
    __trap();  // no BF16 mma.sync before sm_80; the host never launches this build
#endif
}

// ---- scores and probabilities, when asked for ---------------------------------------------------
constexpr int attention_probs_threads = 128;

// A block per row h·T + s; a thread per key: scores (-inf past the causal limit) and
// P = e^(score - lse) (0 there). Either output may be null.
// budget: attention_probs_kernel regs<=48 smem<=0 spills=0
__global__ void __launch_bounds__(attention_probs_threads)
attention_probs_kernel(float* __restrict__ scores, float* __restrict__ probs, const float* __restrict__ lse,
                       AttentionProblem p) {
    const int row = blockIdx.x, head = row / p.queries, s = row % p.queries;
    const int visible = p.start + s + 1;
    const float* q_a = p.q_a.row(head, s);
    const float* q_b = p.q_b.row(head, s);
    for (int t = threadIdx.x; t < p.keys; t += blockDim.x) {
        float score = -INFINITY, prob = 0.0f;
        if (t < visible) {
            score = attention_score(q_a, p.k_a.row(head, t), p.dim_a, q_b, p.k_b.row(head, t), p.dim_b, p.scale);
            prob = expf(score - lse[row]);
        }
        const size_t at = static_cast<size_t>(row) * p.keys + t;
        if (scores) scores[at] = score;
        if (probs) probs[at] = prob;
    }
}

// ---- host ---------------------------------------------------------------------------------------
int mla_default_splits(int heads, int queries, int keys);  // below

namespace {

// Raises the kernel's dynamic shared memory limit when it needs more than the default 48 KB.
template <typename Kernel>
void allow_shared_bytes(Kernel* kernel, size_t bytes) {
    if (bytes > 48 * 1024)
        SEEK_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
}

// Scores and probabilities [H·T, S] of `p` into host arrays (either may be null), from the rows' lse.
void scores_and_probs(float* scores, float* probs, const AttentionProblem& p, const float* d_lse) {
    if (!scores && !probs) return;
    const size_t count = static_cast<size_t>(p.heads) * p.queries * p.keys;
    DeviceArray<float> d_scores(scores ? count : 0), d_probs(probs ? count : 0);
    {
        const DeviceTimer timer;  // the kernel alone, for seek kernels
        SEEK_LAUNCH(attention_probs_kernel, p.heads * p.queries, attention_probs_threads, 0)
        (d_scores.data, d_probs.data, d_lse, p);
        SEEK_CUDA_CHECK(cudaGetLastError());
    }
    if (scores) d_scores.copy_to_host(scores);
    if (probs) d_probs.copy_to_host(probs);
}

// Variant 1 on `p`, output rows at out_head_stride, out_row_stride in an [out_count] array.
void attention_rows(float* out, size_t out_count, long long out_head_stride, long long out_row_stride, float* scores,
                    float* probs, const AttentionProblem& p) {
    const size_t shared_bytes = attention_shared_bytes1(p.dim_a, p.dim_b, p.keys);
    allow_shared_bytes(attention_row_kernel, shared_bytes);
    DeviceArray<float> d_out(out_count), d_lse(static_cast<size_t>(p.heads) * p.queries);
    {
        const DeviceTimer timer;  // the kernel alone, for seek kernels
        SEEK_LAUNCH(attention_row_kernel, p.heads * p.queries, attention_threads1, shared_bytes)
        (d_out.data, out_head_stride, out_row_stride, d_lse.data, p);
        SEEK_CUDA_CHECK(cudaGetLastError());
    }
    d_out.copy_to_host(out);
    scores_and_probs(scores, probs, p, d_lse.data);
}

// The absorbed form as an attention over device arrays: query rows h·T + s; every head the same
// cache rows (head stride 0); values = c_kv.
AttentionProblem latent_problem(const float* d_q_absorbed, const float* d_q_pe, const float* d_c_kv,
                                const float* d_k_pe, int heads, int queries, int start, int rank, int rope_dim,
                                float scale) {
    return {{d_q_absorbed, static_cast<long long>(queries) * rank, rank},
            {d_q_pe, static_cast<long long>(queries) * rope_dim, rope_dim},
            {d_c_kv, 0, rank},
            {d_k_pe, 0, rope_dim},
            {d_c_kv, 0, rank},
            rank, rope_dim, rank, heads, queries, start + queries, start, scale};
}

// Variant 2's two kernels (split-KV, then the combine) over `cache` on device, for the queries of
// `p`; out [H·T, r] and, when asked for, scores and probabilities from `p` (host arrays).
template <typename Cache>
void split_kv_attention(float* out, float* scores, float* probs, const AttentionProblem& p, const Cache& cache,
                        const float* d_q_absorbed, const float* d_q_pe, int splits, bool tensor_cores = false) {
    const int rows = p.heads * p.queries, rank = cache.rank, rope_dim = cache.rope_dim;
    if (splits == 0) splits = mla_default_splits(p.heads, p.queries, p.keys);
    if (splits < 1 || splits > 4096) {
        throw std::invalid_argument("latent_attention_forward: " + std::to_string(splits) + " splits (1 .. 4096, or 0 for the default)");
    }
    DeviceArray<float> d_o_partial(static_cast<size_t>(splits) * rows * rank), d_lse_partial(static_cast<size_t>(splits) * rows);
    DeviceArray<float> d_out(static_cast<size_t>(rows) * rank), d_lse(rows);
    const dim3 grid(splits, p.queries, (p.heads + mla_heads_per_block - 1) / mla_heads_per_block);
    {
        const DeviceTimer timer;  // the two kernels alone, for seek kernels
        if constexpr (std::is_same_v<Cache, Bf16Cache>) {
            if (tensor_cores) {  // variant 5
                const size_t shared_bytes = mla_tc_shared_bytes(rank, rope_dim);
                allow_shared_bytes(mla_tensor_core_kernel, shared_bytes);
                SEEK_LAUNCH(mla_tensor_core_kernel, grid, mla_tc_threads, shared_bytes)
                (d_o_partial.data, d_lse_partial.data, d_q_absorbed, d_q_pe, cache, p.heads, p.queries, p.keys, p.start, rank,
                 rope_dim, splits, p.scale);
            }
        }
        if (!tensor_cores) {
            const size_t shared_bytes = mla_split_shared_bytes(rank, rope_dim);
            allow_shared_bytes(mla_split_kernel<Cache>, shared_bytes);
            SEEK_LAUNCH(mla_split_kernel<Cache>, grid, mla_split_threads, shared_bytes)
            (d_o_partial.data, d_lse_partial.data, d_q_absorbed, d_q_pe, cache, p.heads, p.queries, p.keys, p.start, rank,
             rope_dim, splits, p.scale);
        }
        SEEK_CUDA_CHECK(cudaGetLastError());
        SEEK_LAUNCH(mla_combine_kernel, rows, mla_combine_threads, splits * sizeof(float))
        (d_out.data, d_lse.data, d_o_partial.data, d_lse_partial.data, rows, rank, splits);
        SEEK_CUDA_CHECK(cudaGetLastError());
    }
    d_out.copy_to_host(out);
    scores_and_probs(scores, probs, p, d_lse.data);
}

}  // namespace

// The most keys variant 1 holds in shared memory (227 KB, the most a block may have).
int attention_max_keys1(int dim_a, int dim_b) {
    const long long floats = 227 * 1024 / static_cast<long long>(sizeof(float)) - dim_a - dim_b - attention_threads1 / 32;
    return floats > 0 ? static_cast<int>(floats) : 0;
}

// The largest r + dr variant 2's shared memory holds.
bool mla_split_fits(int rank, int rope_dim) { return mla_split_shared_bytes(rank, rope_dim) <= 227 * 1024; }

// The splits variant 2 uses when asked for 0: enough blocks for two per SM of a 132-SM GPU, with at
// least 64 keys per chunk, at most 256 chunks.
int mla_default_splits(int heads, int queries, int keys) {
    const int blocks = queries * ((heads + mla_heads_per_block - 1) / mla_heads_per_block);
    const int wanted = (2 * 132 + blocks - 1) / blocks;
    const int most = std::max(1, std::min(256, keys / 64));
    return std::max(1, std::min(wanted, most));
}

// Absorbed: q_absorbed [H·T, r], q_pe [H·T, dr], c_kv [S, r], k_pe [S, dr] host arrays (S = start + T);
// out [H·T, r]; scores, probs [H·T, S] or null. variant 1 or 2 (3 and 4: below); splits (variant 2): 0 for the
// default, else 1 .. 4096. Shapes are checked by the caller (gpu/mla_decode.h).
void latent_attention_forward_gpu(float* out, float* scores, float* probs, const float* q_absorbed, const float* q_pe,
                                  const float* c_kv, const float* k_pe, int heads, int queries, int start, int rank,
                                  int rope_dim, float scale, int variant, int splits) {
    if (variant < 1 || variant > 2) {
        throw std::invalid_argument("latent_attention_forward: variant " + std::to_string(variant) +
                                    " does not exist (1, 2; 3 and 4 over a BF16 or FP8 cache, 5 over BF16 on tensor cores)");
    }
    const int keys = start + queries, rows = heads * queries;
    if (rows == 0) return;
    DeviceArray<float> d_q_absorbed(static_cast<size_t>(rows) * rank), d_q_pe(static_cast<size_t>(rows) * rope_dim);
    DeviceArray<float> d_c_kv(static_cast<size_t>(keys) * rank), d_k_pe(static_cast<size_t>(keys) * rope_dim);
    d_q_absorbed.copy_from_host(q_absorbed);
    d_q_pe.copy_from_host(q_pe);
    d_c_kv.copy_from_host(c_kv);
    d_k_pe.copy_from_host(k_pe);
    const AttentionProblem p =
        latent_problem(d_q_absorbed.data, d_q_pe.data, d_c_kv.data, d_k_pe.data, heads, queries, start, rank, rope_dim, scale);
    if (variant == 1) {
        attention_rows(out, static_cast<size_t>(rows) * rank, static_cast<long long>(queries) * rank, rank, scores, probs, p);
        return;
    }
    split_kv_attention(out, scores, probs, p, FloatCache{d_c_kv.data, d_k_pe.data, rank, rope_dim}, d_q_absorbed.data,
                       d_q_pe.data, splits);
}

// Variants 3 to 5 of the absorbed form: variant 2 over a BF16 (3) or FP8 (4) latent cache, or its
// tensor-core form over the BF16 cache (5, r <= 512; the queries given already rounded to BF16),
// host arrays as stored (gpu/mla_decode.h makes them with core's bf16_encode and quantize):
//   variants 3 and 5: c_kv_bf16 [S, r];
//   variant 4: c_kv_codes [S, r] E4M3 with c_kv_scales [S, ceil(r / 128)] and e4m3_values [256];
//   all: k_pe_bf16 [S, dr].
// scores, probs [H·T, S] or null; when asked for, they are computed from c_kv_values [S, r] and
// k_pe_values [S, dr], the cache's values widened to FP32 (null otherwise). Other arguments as
// latent_attention_forward_gpu's.
void latent_attention_forward_cache_gpu(float* out, float* scores, float* probs, const float* q_absorbed,
                                        const float* q_pe, const uint16_t* c_kv_bf16, const uint8_t* c_kv_codes,
                                        const float* c_kv_scales, const float* e4m3_values, const uint16_t* k_pe_bf16,
                                        const float* c_kv_values, const float* k_pe_values, int heads, int queries,
                                        int start, int rank, int rope_dim, float scale, int variant, int splits) {
    if (variant < 3 || variant > 5) {
        throw std::invalid_argument("latent_attention_forward: variant " + std::to_string(variant) +
                                    " is not a low-precision cache variant (3: BF16, 4: FP8, 5: BF16 on tensor cores)");
    }
    if (variant == 5 && rank > mla_tc_max_rank) {
        throw std::invalid_argument("latent_attention_forward: variant 5 keeps at most " + std::to_string(mla_tc_max_rank) +
                                    " output columns in registers, r is " + std::to_string(rank));
    }
    const int keys = start + queries, rows = heads * queries;
    if (rows == 0) return;
    DeviceArray<float> d_q_absorbed(static_cast<size_t>(rows) * rank), d_q_pe(static_cast<size_t>(rows) * rope_dim);
    d_q_absorbed.copy_from_host(q_absorbed);
    d_q_pe.copy_from_host(q_pe);
    DeviceArray<uint16_t> d_k_pe(static_cast<size_t>(keys) * rope_dim);
    d_k_pe.copy_from_host(k_pe_bf16);
    // The FP32 cache for the scores and probabilities kernel only when they are asked for.
    const bool traced = scores || probs;
    DeviceArray<float> d_c_kv_values(traced ? static_cast<size_t>(keys) * rank : 0),
        d_k_pe_values(traced ? static_cast<size_t>(keys) * rope_dim : 0);
    if (traced) {
        d_c_kv_values.copy_from_host(c_kv_values);
        d_k_pe_values.copy_from_host(k_pe_values);
    }
    const AttentionProblem p = latent_problem(d_q_absorbed.data, d_q_pe.data, d_c_kv_values.data, d_k_pe_values.data,
                                              heads, queries, start, rank, rope_dim, scale);
    if (variant == 3 || variant == 5) {
        DeviceArray<uint16_t> d_c_kv(static_cast<size_t>(keys) * rank);
        d_c_kv.copy_from_host(c_kv_bf16);
        split_kv_attention(out, scores, probs, p, Bf16Cache{d_c_kv.data, d_k_pe.data, rank, rope_dim}, d_q_absorbed.data,
                           d_q_pe.data, splits, variant == 5);
        return;
    }
    DeviceArray<uint8_t> d_c_kv(static_cast<size_t>(keys) * rank);
    DeviceArray<float> d_c_kv_scales(static_cast<size_t>(keys) * ((rank + 127) / 128)), d_e4m3_values(256);
    d_c_kv.copy_from_host(c_kv_codes);
    d_c_kv_scales.copy_from_host(c_kv_scales);
    d_e4m3_values.copy_from_host(e4m3_values);
    split_kv_attention(out, scores, probs, p,
                       Fp8Cache{d_c_kv.data, d_c_kv_scales.data, d_k_pe.data, d_e4m3_values.data, rank, rope_dim},
                       d_q_absorbed.data, d_q_pe.data, splits);
}

// Naive: q [T, H·dq], k [S, H·dq], v [S, H·dv] host arrays (S = start + T); out [T, H·dv];
// scores, probs [H·T, S] or null. variant 1 only.
void attention_forward_gpu(float* out, float* scores, float* probs, const float* q, const float* k, const float* v,
                           int heads, int queries, int start, int qk_dim, int v_dim, float scale, int variant) {
    if (variant != 1) {
        throw std::invalid_argument("attention_forward: variant " + std::to_string(variant) + " does not exist (1)");
    }
    const int keys = start + queries;
    if (heads == 0 || queries == 0) return;
    const long long q_width = static_cast<long long>(heads) * qk_dim, v_width = static_cast<long long>(heads) * v_dim;
    DeviceArray<float> d_q(static_cast<size_t>(queries) * q_width), d_k(static_cast<size_t>(keys) * q_width);
    DeviceArray<float> d_v(static_cast<size_t>(keys) * v_width);
    d_q.copy_from_host(q);
    d_k.copy_from_host(k);
    d_v.copy_from_host(v);
    // Head h's columns of every row; no second query part (q_b = q_a with dim_b = 0).
    const AttentionProblem p{{d_q.data, qk_dim, q_width}, {d_q.data, qk_dim, q_width}, {d_k.data, qk_dim, q_width},
                             {d_k.data, qk_dim, q_width}, {d_v.data, v_dim, v_width}, qk_dim, 0, v_dim, heads,
                             queries, keys, start, scale};
    attention_rows(out, static_cast<size_t>(queries) * v_width, v_dim, v_width, scores, probs, p);
}

}  // namespace SEEK_GPU_NAMESPACE
