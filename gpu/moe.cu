// The routed experts on a GPU (core/moe.h): the dispatch plan, the grouped expert SwiGLU, the
// weighted combine. One layout joins them, the "contiguous" layout of a grouped GEMM: the T x K
// (token, k) assignments sorted by expert, expert e's in rows offsets[e] .. offsets[e+1] - 1, each
// row holding t K + k, tokens in order within an expert.
//
// ---- dispatch (core's moe_dispatch): a stable counting sort -------------------------------------
// A histogram of assignments per expert, its exclusive prefix sum (the offsets), then placement.
// Stability is what a GPU makes hard: atomicAdd-ing a per-expert cursor hands out slots in
// whatever order threads arrive, which changes from run to run. Neither variant does that; both
// rank each assignment by counting, so the plan is a pure function of topk_idx, equal to core's.
//   1. one block, a thread per expert: each thread walks all T K assignments in order, counting its
//      expert's; the block scans the E counts (shared memory, below); each thread walks the
//      assignments again and places its expert's in order. Stable by construction, but every thread
//      reads all T K assignments: E T K reads, one block on one SM;
//   2. a radix-sort pass over tiles of 256 assignments, a block per tile: (a) each assignment's rank
//      among the same expert's earlier ones in its tile (the tile's experts in shared memory, each
//      thread counting matches before its own: the whole warp reads the same word, a broadcast),
//      and each tile's count per expert, stored expert-major: counts[e][tile]; (b) one exclusive
//      scan of those E x tiles counts. Expert-major order lists expert 0's tiles first, in tile
//      (token) order, then expert 1's...: exactly the sorted order, so base[e][tile] is the slot
//      of the tile's first assignment to e; (c) slot = base[e][tile] + rank, for every assignment
//      at once. No atomics; work T K x 256 + E x tiles.
// The scan (both variants): thread k sums a contiguous chunk, the block scans the chunk sums in
// shared memory by Hillis-Steele (step d: k adds k - d's; a barrier between the step's reads and
// writes and another after them), each chunk then adds its prefix. One block: a V3 batch of 4,096
// tokens has 256 x 128 counts to scan, a few microseconds; a production sort (CUB) scans across
// blocks with decoupled look-back.
//
// ---- grouped expert SwiGLU (core's moe_experts) -------------------------------------------------
// Per expert e, its rows r of the plan: H[r] = silu(x[token(r)] Wg_e^T) * (x[token(r)] Wu_e^T), then
// out[r] = H[r] Wd_e^T: two grouped GEMMs, the first with its A rows gathered through the plan and
// silu * up fused in its epilogue. The same kernel (template Gated) runs both.
//   1. a thread per output element: finds its row's expert (a binary search of the offsets), then a
//      plain dot product of length hidden (or width). Every thread reads its A row and weight row
//      from global memory: no reuse, memory bound;
//   2. tiled: a block computes a 32 x 32 output tile, walking the inner dimension 32 at a time
//      through shared-memory tiles of A and of the expert's weights (each element loaded once per
//      block instead of once per thread: 32x less traffic); a thread computes 4 rows of one column.
//      A block never straddles two experts: its rows are one expert's, so it reads one weight
//      matrix. DeepGEMM's contiguous grouped GEMM gets this by padding each expert's rows to a
//      multiple of the block's M in memory (TMA loads whole boxes; a per-row expert index then
//      names every block's expert). Here the rows stay unpadded and a tile table (built from the
//      offsets: expert, first row, end row) lists each expert's ceil(count / 32) row tiles; the
//      last tile of an expert is masked (rows past its end load zeros and store nothing). The cost
//      is the same as padding's (at most 31 idle rows an expert) without the padded copy.
// Both sum each dot product in order from inner index 0 up (variant 2's zero padding adds exact
// zeros), so they agree bit for bit in the emulator (the test checks it); nvcc contracts each
// product and sum into an FMA in both. Core's Eigen GEMM sums in its own blocked order: the tests
// derive the bound between the two.
//
// ---- combine (core's moe_combine) ---------------------------------------------------------------
// out[t] = sum_k topk_weight[t, k] expert_out[slot of (t, k)], with the inverse of the plan (a
// kernel writes slot_of[t K + k] = its row: a permutation, each entry written once). No atomics:
// each output element is one thread's (or lane's) sum.
//   1. a thread per output element, summing over k = 0 .. K-1: the gate's order, not core's (core
//      adds a token's K rows in plan order, i.e. by expert): the same terms, another order;
//   2. a warp per token: lanes 0..K-1 rank the token's K rows (shuffles), so the warp adds them in
//      plan order, as core does, with the product and the sum rounded separately (__fmul_rn,
//      __fadd_rn: nvcc may not contract them into an FMA; core's build, without -mfma, has none):
//      core's bits. Lanes span the hidden features, four at a time (float4) when hidden is a
//      multiple of 4.
#include "gpu/seek_cuda.h"

#include <algorithm>
#include <vector>

namespace SEEK_GPU_NAMESPACE {

constexpr unsigned moe_full_warp = 0xffffffffu;

// ---- the scan -------------------------------------------------------------------------------------
constexpr int scan_threads = 256;

// values[0 .. n) becomes its exclusive prefix sum; returns the total to every thread. All threads
// of the block call it; `totals` is blockDim.x ints of shared memory. It ends with a barrier, so
// every thread may read any of the new values.
__device__ int block_exclusive_scan(int* values, int n, int* totals) {
    const int tid = threadIdx.x, threads = blockDim.x;
    const int chunk = (n + threads - 1) / threads;
    const int begin = min(tid * chunk, n), end = min(begin + chunk, n);
    int chunk_sum = 0;
    for (int i = begin; i < end; ++i) chunk_sum += values[i];
    totals[tid] = chunk_sum;
    __syncthreads();
    // Hillis-Steele: after the step of distance d, totals[k] is the sum of chunks k - 2d + 1 .. k.
    for (int distance = 1; distance < threads; distance *= 2) {
        const int earlier = tid >= distance ? totals[tid - distance] : 0;
        __syncthreads();  // every read of this step before any write
        totals[tid] += earlier;
        __syncthreads();  // every write before the next step's reads
    }
    int running = totals[tid] - chunk_sum;  // the sum of the chunks before this one
    for (int i = begin; i < end; ++i) {
        const int count = values[i];
        values[i] = running;
        running += count;
    }
    const int total = totals[threads - 1];
    __syncthreads();
    return total;
}

// values[0 .. n) -> its exclusive prefix sum, values[n] -> the total: one block.
// budget: exclusive_scan_kernel regs<=40 smem<=1K spills=0
__global__ void __launch_bounds__(scan_threads) exclusive_scan_kernel(int* values, int n) {
    __shared__ int totals[scan_threads];
    const int total = block_exclusive_scan(values, n, totals);
    if (threadIdx.x == 0) values[n] = total;
}

// ---- dispatch, variant 1: one block, a thread per expert ----------------------------------------
// budget: dispatch_kernel1 regs<=40 smem<=1K spills=0
__global__ void __launch_bounds__(scan_threads)
dispatch_kernel1(int* __restrict__ offsets, int* __restrict__ slots, const int* __restrict__ topk_idx, int assignments,
                 int experts) {
    __shared__ int totals[scan_threads];
    for (int e = threadIdx.x; e < experts; e += blockDim.x) {
        int count = 0;
        for (int i = 0; i < assignments; ++i) count += topk_idx[i] == e;
        offsets[e] = count;
    }
    __syncthreads();  // the scan reads counts other threads wrote
    const int total = block_exclusive_scan(offsets, experts, totals);
    if (threadIdx.x == 0) offsets[experts] = total;
    for (int e = threadIdx.x; e < experts; e += blockDim.x) {
        int next = offsets[e];
        for (int i = 0; i < assignments; ++i)
            if (topk_idx[i] == e) slots[next++] = i;  // i = t K + k, in token order
    }
}

// ---- dispatch, variant 2: ranks within tiles, one scan, placement -------------------------------
constexpr int dispatch_tile = 256;  // assignments per tile = threads per block

// ranks[i]: how many assignments before i in its tile chose the same expert; tile_counts[e * tiles
// + tile]: how many in the tile chose e (written by the tile's last assignment to e; the others
// stay zero from the memset).
// budget: dispatch_rank_kernel regs<=32 smem<=1K spills=0
__global__ void __launch_bounds__(dispatch_tile)
dispatch_rank_kernel(int* __restrict__ ranks, int* __restrict__ tile_counts, const int* __restrict__ topk_idx,
                     int assignments, int tiles) {
    __shared__ int tile_experts[dispatch_tile];
    const int first = blockIdx.x * dispatch_tile;
    const int size = min(dispatch_tile, assignments - first);
    const int tid = threadIdx.x;
    if (tid < size) tile_experts[tid] = topk_idx[first + tid];
    __syncthreads();
    if (tid >= size) return;
    const int expert = tile_experts[tid];
    int before = 0, after = 0;
    for (int j = 0; j < size; ++j) {
        if (tile_experts[j] != expert || j == tid) continue;
        if (j < tid) ++before;
        else ++after;
    }
    ranks[first + tid] = before;
    if (after == 0) tile_counts[static_cast<size_t>(expert) * tiles + blockIdx.x] = before + 1;
}

// budget: dispatch_place_kernel regs<=32 smem<=0 spills=0
__global__ void dispatch_place_kernel(int* __restrict__ slots, const int* __restrict__ tile_bases,
                                      const int* __restrict__ ranks, const int* __restrict__ topk_idx, int assignments,
                                      int tiles) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= assignments) return;
    const int tile = i / dispatch_tile;
    slots[tile_bases[static_cast<size_t>(topk_idx[i]) * tiles + tile] + ranks[i]] = i;
}

// offsets[e] = the base of expert e's first tile; tile_bases[experts * tiles] holds the total.
// budget: dispatch_offsets_kernel regs<=32 smem<=0 spills=0
__global__ void dispatch_offsets_kernel(int* __restrict__ offsets, const int* __restrict__ tile_bases, int experts,
                                        int tiles) {
    const int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e <= experts) offsets[e] = tile_bases[static_cast<size_t>(e) * tiles];
}

// ---- grouped GEMM, variant 1: a thread per output element ----------------------------------------
// Gated (the first GEMM): out [rows, width] = silu(x[token] Wg_e^T) * (x[token] Wu_e^T), the A row
// gathered through the plan (token = slots[row] / top_k); otherwise (the second): out [rows,
// hidden] = H[row] Wd_e^T. w1, w2: the used experts' weights packed [used, out_cols, inner];
// weight_index[e] is expert e's place in them.
__device__ __forceinline__ float silu_times(float gate, float up) { return gate / (1.0f + expf(-gate)) * up; }

constexpr int gemm_threads1 = 256;

// budget: grouped_gemm_kernel1 regs<=40 smem<=0 spills=0
template <bool Gated>
__global__ void grouped_gemm_kernel1(float* __restrict__ out, const float* __restrict__ a, const int* __restrict__ slots,
                                     int top_k, const float* __restrict__ w1, const float* __restrict__ w2,
                                     const int* __restrict__ weight_index, const int* __restrict__ offsets, int experts,
                                     int rows, int inner, int out_cols) {
    const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= static_cast<size_t>(rows) * out_cols) return;
    const int row = static_cast<int>(i / out_cols), col = static_cast<int>(i % out_cols);
    // The row's expert: the e with offsets[e] <= row < offsets[e + 1] (empty experts have
    // offsets[e] == offsets[e + 1] and never hold it). Invariant: offsets[lo] <= row < offsets[hi].
    int lo = 0, hi = experts;
    while (hi - lo > 1) {
        const int mid = (lo + hi) / 2;
        if (offsets[mid] <= row) lo = mid;
        else hi = mid;
    }
    const size_t weight_row = (static_cast<size_t>(weight_index[lo]) * out_cols + col) * inner;
    const int a_row = Gated ? slots[row] / top_k : row;
    const float* a_values = a + static_cast<size_t>(a_row) * inner;
    float acc1 = 0.0f, acc2 = 0.0f;
    for (int d = 0; d < inner; ++d) {
        acc1 += a_values[d] * w1[weight_row + d];
        if constexpr (Gated) acc2 += a_values[d] * w2[weight_row + d];
    }
    out[i] = Gated ? silu_times(acc1, acc2) : acc1;
}

// ---- grouped GEMM, variant 2: shared-memory tiles, a block per (expert row tile, column tile) ----
constexpr int tile_rows = 32, tile_cols = 32, tile_depth = 32;
constexpr int gemm_threads2 = 256;                                // thread (ty, tx): ty in 0..7, tx in 0..31
constexpr int row_step = gemm_threads2 / tile_cols;               // 8
constexpr int rows_per_thread = tile_rows / row_step;             // 4: rows ty, ty + 8, ty + 16, ty + 24

// tiles: 3 ints per block row: expert, first row, end row (exclusive), all rows one expert's.
// budget: grouped_gemm_kernel2 regs<=48 smem<=13K spills=0
template <bool Gated>
__global__ void __launch_bounds__(gemm_threads2)
grouped_gemm_kernel2(float* __restrict__ out, const float* __restrict__ a, const int* __restrict__ slots, int top_k,
                     const float* __restrict__ w1, const float* __restrict__ w2, const int* __restrict__ weight_index,
                     const int* __restrict__ tiles, int inner, int out_cols) {
    // +1 column: thread tx reads w_tile[tx][k], 33 words apart, 32 different banks.
    __shared__ float a_tile[tile_rows][tile_depth + 1];
    __shared__ float w1_tile[tile_cols][tile_depth + 1];
    __shared__ float w2_tile[Gated ? tile_cols : 1][tile_depth + 1];
    __shared__ int a_rows[tile_rows];  // the row of `a` each tile row reads; -1 past the expert's end
    const int expert = tiles[3 * blockIdx.x], first = tiles[3 * blockIdx.x + 1], end = tiles[3 * blockIdx.x + 2];
    const int col0 = blockIdx.y * tile_cols;
    const int tx = threadIdx.x % tile_cols, ty = threadIdx.x / tile_cols;
    const size_t weight_offset = static_cast<size_t>(weight_index[expert]) * out_cols * inner;
    const float* w1_expert = w1 + weight_offset;
    const float* w2_expert = Gated ? w2 + weight_offset : nullptr;

    if (threadIdx.x < tile_rows) {
        const int row = first + threadIdx.x;
        a_rows[threadIdx.x] = row < end ? (Gated ? slots[row] / top_k : row) : -1;
    }
    __syncthreads();

    float acc1[rows_per_thread] = {}, acc2[rows_per_thread] = {};
    for (int depth0 = 0; depth0 < inner; depth0 += tile_depth) {
        // Each thread loads element tx of 4 rows of each tile: a warp reads 32 consecutive floats.
        // Outside the matrices (past inner, past out_cols, past the expert's rows): zeros.
        const int d = depth0 + tx;
        for (int q = 0; q < rows_per_thread; ++q) {
            const int r = ty + q * row_step;
            const int a_row = a_rows[r], col = col0 + r;
            a_tile[r][tx] = a_row >= 0 && d < inner ? a[static_cast<size_t>(a_row) * inner + d] : 0.0f;
            w1_tile[r][tx] = col < out_cols && d < inner ? w1_expert[static_cast<size_t>(col) * inner + d] : 0.0f;
            if constexpr (Gated)
                w2_tile[r][tx] = col < out_cols && d < inner ? w2_expert[static_cast<size_t>(col) * inner + d] : 0.0f;
        }
        __syncthreads();  // the tiles are full
        for (int k = 0; k < tile_depth; ++k) {
            const float w1_value = w1_tile[tx][k];
            const float w2_value = Gated ? w2_tile[tx][k] : 0.0f;
            for (int q = 0; q < rows_per_thread; ++q) {
                const float a_value = a_tile[ty + q * row_step][k];  // one address per warp: a broadcast
                acc1[q] += a_value * w1_value;
                if constexpr (Gated) acc2[q] += a_value * w2_value;
            }
        }
        __syncthreads();  // everyone is done with the tiles before the next loads
    }
    for (int q = 0; q < rows_per_thread; ++q) {
        const int row = first + ty + q * row_step, col = col0 + tx;
        if (row < end && col < out_cols)
            out[static_cast<size_t>(row) * out_cols + col] = Gated ? silu_times(acc1[q], acc2[q]) : acc1[q];
    }
}

// ---- combine --------------------------------------------------------------------------------------
// slot_of[slots[i]] = i: for each (t, k), its row of the plan.
// budget: inverse_slots_kernel regs<=32 smem<=0 spills=0
__global__ void inverse_slots_kernel(int* __restrict__ slot_of, const int* __restrict__ slots, int count) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < count) slot_of[slots[i]] = i;
}

constexpr int combine_threads1 = 256;

// budget: combine_kernel1 regs<=32 smem<=0 spills=0
__global__ void combine_kernel1(float* __restrict__ out, const float* __restrict__ expert_out,
                                const int* __restrict__ slot_of, const float* __restrict__ topk_weight, int tokens,
                                int top_k, int dim) {
    const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
    if (i >= static_cast<size_t>(tokens) * dim) return;
    const size_t t = i / dim, j = i % dim;
    float sum = 0.0f;
    for (int k = 0; k < top_k; ++k)
        sum += topk_weight[t * top_k + k] * expert_out[static_cast<size_t>(slot_of[t * top_k + k]) * dim + j];
    out[i] = sum;
}

constexpr int combine_warps2 = 4;  // tokens per block
constexpr int combine_max_k = 32;  // a lane per pick

// budget: combine_kernel2 regs<=40 smem<=1K spills=0
__global__ void __launch_bounds__(combine_warps2 * 32)
combine_kernel2(float* __restrict__ out, const float* __restrict__ expert_out, const int* __restrict__ slot_of,
                const float* __restrict__ topk_weight, int tokens, int top_k, int dim) {
    __shared__ int sorted_rows[combine_warps2][combine_max_k];  // the token's rows, ascending
    __shared__ float sorted_weights[combine_warps2][combine_max_k];
    const int lane = threadIdx.x % warpSize, warp = threadIdx.x / warpSize;
    const int t = blockIdx.x * combine_warps2 + warp;
    if (t >= tokens) return;  // whole warps leave together
    // Lane k < K holds pick k; its rank is the number of the token's rows below its own (rows are distinct).
    const int my_row = lane < top_k ? slot_of[static_cast<size_t>(t) * top_k + lane] : 0x7fffffff;
    const float my_weight = lane < top_k ? topk_weight[static_cast<size_t>(t) * top_k + lane] : 0.0f;
    int rank = 0;
    for (int k = 0; k < top_k; ++k) rank += __shfl_sync(moe_full_warp, my_row, k) < my_row;
    if (lane < top_k) {
        sorted_rows[warp][rank] = my_row;
        sorted_weights[warp][rank] = my_weight;
    }
    __syncwarp();  // the sorted picks are visible to every lane
    float* out_row = out + static_cast<size_t>(t) * dim;
    if (dim % 4 == 0) {  // rows start 16-byte aligned: four features per load
        for (int j = lane; j < dim / 4; j += warpSize) {
            float4 sum = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
            for (int r = 0; r < top_k; ++r) {
                const float w = sorted_weights[warp][r];
                const float4 y = reinterpret_cast<const float4*>(expert_out + static_cast<size_t>(sorted_rows[warp][r]) * dim)[j];
                sum.x = __fadd_rn(sum.x, __fmul_rn(w, y.x));
                sum.y = __fadd_rn(sum.y, __fmul_rn(w, y.y));
                sum.z = __fadd_rn(sum.z, __fmul_rn(w, y.z));
                sum.w = __fadd_rn(sum.w, __fmul_rn(w, y.w));
            }
            reinterpret_cast<float4*>(out_row)[j] = sum;
        }
    } else {
        for (int j = lane; j < dim; j += warpSize) {
            float sum = 0.0f;
            for (int r = 0; r < top_k; ++r)
                sum = __fadd_rn(sum, __fmul_rn(sorted_weights[warp][r], expert_out[static_cast<size_t>(sorted_rows[warp][r]) * dim + j]));
            out_row[j] = sum;
        }
    }
}

// ---- host -----------------------------------------------------------------------------------------
// values [n + 1]: values[0 .. n) -> their exclusive prefix sum, values[n] -> the total (the
// dispatch's scan, on its own).
void exclusive_scan_gpu(int* values, int n) {
    if (n < 0) throw std::invalid_argument("exclusive_scan: negative length");
    DeviceArray<int> d_values(static_cast<size_t>(n) + 1);
    SEEK_CUDA_CHECK(cudaMemcpy(d_values.data, values, n * sizeof(int), cudaMemcpyHostToDevice));
    SEEK_LAUNCH(exclusive_scan_kernel, 1, scan_threads, 0)(d_values.data, n);
    SEEK_CUDA_CHECK(cudaGetLastError());
    d_values.copy_to_host(values);
}

// topk_idx [tokens, top_k], every entry in [0, experts) (the caller checks); offsets [experts + 1],
// slots [tokens top_k] as core's MoePlan. variant: 1 or 2.
void moe_dispatch_gpu(int* offsets, int* slots, const int* topk_idx, int tokens, int top_k, int experts, int variant) {
    if (variant < 1 || variant > 2) {
        throw std::invalid_argument("moe_dispatch: variant " + std::to_string(variant) + " does not exist (1, 2)");
    }
    const int assignments = tokens * top_k;  // the caller checked it fits
    DeviceArray<int> d_offsets(static_cast<size_t>(experts) + 1), d_slots(assignments), d_topk(assignments);
    if (assignments > 0) d_topk.copy_from_host(topk_idx);
    if (variant == 1) {
        SEEK_LAUNCH(dispatch_kernel1, 1, scan_threads, 0)(d_offsets.data, d_slots.data, d_topk.data, assignments, experts);
        SEEK_CUDA_CHECK(cudaGetLastError());
    } else {
        const int tiles = ceil_div(assignments, dispatch_tile);
        const size_t count_entries = static_cast<size_t>(experts) * tiles + 1;  // + the total
        DeviceArray<int> d_ranks(assignments), d_counts(count_entries);
        SEEK_CUDA_CHECK(cudaMemset(d_counts.data, 0, count_entries * sizeof(int)));
        if (tiles > 0) {
            SEEK_LAUNCH(dispatch_rank_kernel, tiles, dispatch_tile, 0)(d_ranks.data, d_counts.data, d_topk.data, assignments, tiles);
            SEEK_CUDA_CHECK(cudaGetLastError());
        }
        SEEK_LAUNCH(exclusive_scan_kernel, 1, scan_threads, 0)(d_counts.data, static_cast<int>(count_entries - 1));
        SEEK_CUDA_CHECK(cudaGetLastError());
        if (tiles > 0) {
            SEEK_LAUNCH(dispatch_place_kernel, tiles, dispatch_tile, 0)(d_slots.data, d_counts.data, d_ranks.data, d_topk.data, assignments, tiles);
            SEEK_CUDA_CHECK(cudaGetLastError());
        }
        SEEK_LAUNCH(dispatch_offsets_kernel, ceil_div(experts + 1, 256), 256, 0)(d_offsets.data, d_counts.data, experts, tiles);
        SEEK_CUDA_CHECK(cudaGetLastError());
    }
    d_offsets.copy_to_host(offsets);
    if (assignments > 0) d_slots.copy_to_host(slots);
}

int grouped_gemm_tile_rows() { return tile_rows; }

// The row tiles of the tiled grouped GEMM: for each expert with rows, ceil(count / 32) tiles of
// (expert, first row, end row), the last one ending at the expert's end.
std::vector<int> grouped_gemm_tiles(const int* offsets, int experts) {
    std::vector<int> tiles;
    for (int e = 0; e < experts; ++e)
        for (int first = offsets[e]; first < offsets[e + 1]; first += tile_rows)
            tiles.insert(tiles.end(), {e, first, std::min(first + tile_rows, offsets[e + 1])});
    return tiles;
}

namespace {

// The experts' device memory, shared by both variants.
struct DeviceExperts {
    DeviceArray<float> gate, up, down;
    DeviceArray<int> index;
    DeviceExperts(const float* gate_proj, const float* up_proj, const float* down_proj, const int* weight_index,
                  int experts, int used, size_t expert_floats)
        : gate(used * expert_floats), up(used * expert_floats), down(used * expert_floats), index(experts) {
        gate.copy_from_host(gate_proj);
        up.copy_from_host(up_proj);
        down.copy_from_host(down_proj);
        index.copy_from_host(weight_index);
    }
};

// Variant 2's two GEMMs on the tile table `tiles` (tile_count x 3 ints).
void run_tiled(float* d_out, float* d_hidden, const float* d_x, const int* d_slots, int top_k, const DeviceExperts& w,
               const int* tiles, int tile_count, int dim, int width) {
    if (tile_count == 0) return;
    DeviceArray<int> d_tiles(static_cast<size_t>(tile_count) * 3);
    d_tiles.copy_from_host(tiles);
    SEEK_LAUNCH((grouped_gemm_kernel2<true>), dim3(tile_count, ceil_div(width, tile_cols)), gemm_threads2, 0)
    (d_hidden, d_x, d_slots, top_k, w.gate.data, w.up.data, w.index.data, d_tiles.data, dim, width);
    SEEK_CUDA_CHECK(cudaGetLastError());
    SEEK_LAUNCH((grouped_gemm_kernel2<false>), dim3(tile_count, ceil_div(dim, tile_cols)), gemm_threads2, 0)
    (d_out, d_hidden, d_slots, top_k, w.down.data, nullptr, w.index.data, d_tiles.data, width, dim);
    SEEK_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

// x [tokens, dim]; the plan: offsets [experts + 1], slots [rows = offsets[experts]] (checked by the
// caller); the used experts' weights packed: gate_proj and up_proj [used, width, dim], down_proj
// [used, dim, width], weight_index[e] = expert e's place (-1: unused, never read). expert_out
// [rows, dim] in plan order. variant: 1 or 2.
void moe_experts_gpu(float* expert_out, const float* x, int tokens, int dim, const int* offsets, const int* slots,
                     int top_k, int experts, const float* gate_proj, const float* up_proj, const float* down_proj,
                     const int* weight_index, int used, int width, int variant) {
    if (variant < 1 || variant > 2) {
        throw std::invalid_argument("moe_experts: variant " + std::to_string(variant) + " does not exist (1, 2)");
    }
    const int rows = offsets[experts];
    if (rows == 0 || dim == 0) return;
    const size_t expert_floats = static_cast<size_t>(width) * dim;
    DeviceExperts w(gate_proj, up_proj, down_proj, weight_index, experts, used, expert_floats);
    DeviceArray<float> d_x(static_cast<size_t>(tokens) * dim), d_hidden(static_cast<size_t>(rows) * width),
        d_out(static_cast<size_t>(rows) * dim);
    DeviceArray<int> d_slots(rows), d_offsets(static_cast<size_t>(experts) + 1);
    d_x.copy_from_host(x);
    d_slots.copy_from_host(slots);
    d_offsets.copy_from_host(offsets);
    if (variant == 1) {
        if (width > 0) {
            SEEK_LAUNCH((grouped_gemm_kernel1<true>), ceil_div(rows * width, gemm_threads1), gemm_threads1, 0)
            (d_hidden.data, d_x.data, d_slots.data, top_k, w.gate.data, w.up.data, w.index.data, d_offsets.data, experts,
             rows, dim, width);
            SEEK_CUDA_CHECK(cudaGetLastError());
        }
        SEEK_LAUNCH((grouped_gemm_kernel1<false>), ceil_div(rows * dim, gemm_threads1), gemm_threads1, 0)
        (d_out.data, d_hidden.data, d_slots.data, top_k, w.down.data, nullptr, w.index.data, d_offsets.data, experts,
         rows, width, dim);
        SEEK_CUDA_CHECK(cudaGetLastError());
    } else {
        const std::vector<int> tiles = grouped_gemm_tiles(offsets, experts);
        run_tiled(d_out.data, d_hidden.data, d_x.data, d_slots.data, top_k, w, tiles.data(),
                  static_cast<int>(tiles.size() / 3), dim, width);
    }
    d_out.copy_to_host(expert_out);
}

// Variant 2 on a given tile table (3 ints a tile: expert, first row, end row), trusted as given:
// what moe_experts_gpu runs with grouped_gemm_tiles(offsets), open to a test that plants a wrong
// table. Arguments otherwise as moe_experts_gpu's.
void grouped_swiglu_tiles_gpu(float* expert_out, const float* x, int tokens, int dim, const int* slots, int rows,
                              int top_k, int experts, const float* gate_proj, const float* up_proj,
                              const float* down_proj, const int* weight_index, int used, int width, const int* tiles,
                              int tile_count) {
    if (rows == 0 || dim == 0) return;
    const size_t expert_floats = static_cast<size_t>(width) * dim;
    DeviceExperts w(gate_proj, up_proj, down_proj, weight_index, experts, used, expert_floats);
    DeviceArray<float> d_x(static_cast<size_t>(tokens) * dim), d_hidden(static_cast<size_t>(rows) * width),
        d_out(static_cast<size_t>(rows) * dim);
    DeviceArray<int> d_slots(rows);
    d_x.copy_from_host(x);
    d_slots.copy_from_host(slots);
    run_tiled(d_out.data, d_hidden.data, d_x.data, d_slots.data, top_k, w, tiles, tile_count, dim, width);
    d_out.copy_to_host(expert_out);
}

// expert_out [tokens top_k, dim] in plan order; slots [tokens top_k] (a permutation, checked by the
// caller); topk_weight [tokens, top_k]; out [tokens, dim]. variant: 1 or 2 (top_k <= 32).
void moe_combine_gpu(float* out, const float* expert_out, const int* slots, const float* topk_weight, int tokens,
                     int top_k, int dim, int variant) {
    if (variant < 1 || variant > 2) {
        throw std::invalid_argument("moe_combine: variant " + std::to_string(variant) + " does not exist (1, 2)");
    }
    if (variant == 2 && top_k > combine_max_k) {
        throw std::invalid_argument("moe_combine: variant 2 takes at most " + std::to_string(combine_max_k) +
                                    " experts a token, got " + std::to_string(top_k));
    }
    const size_t rows = static_cast<size_t>(tokens) * top_k, out_count = static_cast<size_t>(tokens) * dim;
    if (out_count == 0) return;
    DeviceArray<float> d_out(out_count), d_expert_out(rows * dim), d_weight(rows);
    DeviceArray<int> d_slots(rows), d_slot_of(rows);
    if (rows > 0) {
        d_expert_out.copy_from_host(expert_out);
        d_weight.copy_from_host(topk_weight);
        d_slots.copy_from_host(slots);
        SEEK_LAUNCH(inverse_slots_kernel, ceil_div(static_cast<int>(rows), 256), 256, 0)(d_slot_of.data, d_slots.data, static_cast<int>(rows));
        SEEK_CUDA_CHECK(cudaGetLastError());
    }
    if (variant == 1) {
        SEEK_LAUNCH(combine_kernel1, ceil_div(static_cast<int>(out_count), combine_threads1), combine_threads1, 0)
        (d_out.data, d_expert_out.data, d_slot_of.data, d_weight.data, tokens, top_k, dim);
    } else {
        SEEK_LAUNCH(combine_kernel2, ceil_div(tokens, combine_warps2), combine_warps2 * 32, 0)
        (d_out.data, d_expert_out.data, d_slot_of.data, d_weight.data, tokens, top_k, dim);
    }
    SEEK_CUDA_CHECK(cudaGetLastError());
    d_out.copy_to_host(out);
}

}  // namespace SEEK_GPU_NAMESPACE
