// Small kernels that show, and test, what the thread-block emulator does (test_emulator.cpp).
// Some take a planted bug (demo::Bug) that the emulator must expose. nvcc compiles this file too
// (the gpu.budget.demo_kernels test), so everything here is valid CUDA.
#include "gpu/seek_cuda.h"
#include "tests/gpu/demo_kernels.h"

namespace SEEK_GPU_NAMESPACE {

using demo::Bug;

// ---- a block sum in shared memory, and the same with a barrier missing ------------------------
constexpr int max_sum_threads = 256;

// budget: block_sum_kernel regs<=32 smem<=1K spills=0
__global__ void block_sum_kernel(float* sums, const float* x, int n, Bug bug) {
    __shared__ float partial[max_sum_threads];
    const int tid = threadIdx.x;
    const int i = blockIdx.x * blockDim.x + tid;
    partial[tid] = i < n ? x[i] : 0.0f;
    // Without this barrier, thread k may add partial[k + stride] before thread k + stride wrote it.
    if (bug != Bug::missing_barrier) __syncthreads();
    for (int stride = blockDim.x / 2; stride > 0; stride /= 2) {
        if (tid < stride) partial[tid] += partial[tid + stride];
        __syncthreads();
    }
    if (tid == 0) sums[blockIdx.x] = partial[0];
}

std::vector<float> block_sums(const std::vector<float>& x, int threads, Bug bug) {
    const int n = static_cast<int>(x.size()), blocks = ceil_div(n, threads);
    DeviceArray<float> d_x(x.size()), d_sums(blocks);
    d_x.copy_from_host(x.data());
    SEEK_LAUNCH(block_sum_kernel, blocks, threads, 0)(d_sums.data, d_x.data, n, bug);
    SEEK_CUDA_CHECK(cudaGetLastError());
    std::vector<float> sums(blocks);
    d_sums.copy_to_host(sums.data());
    return sums;
}

// ---- a tiled stencil, and the same with a tile one element short ------------------------------
// Output i needs inputs i and i + 1, so a block of T threads loads T + 1 inputs (its own T and the
// first of the next block's) into shared memory.

// budget: difference_kernel regs<=32 smem<=0 spills=0
__global__ void difference_kernel(float* differences, const float* x, int n, Bug bug) {
    SEEK_DYNAMIC_SHARED(float, tile);  // blockDim.x + 1 floats
    const int base = blockIdx.x * blockDim.x;
    const int tile_size = bug == Bug::off_by_one ? blockDim.x : blockDim.x + 1;  // the bug: no right neighbour
    for (int j = threadIdx.x; j < tile_size; j += blockDim.x) {
        if (base + j < n) tile[j] = x[base + j];
    }
    __syncthreads();
    const int i = base + threadIdx.x;
    if (i < n - 1) differences[i] = tile[threadIdx.x + 1] - tile[threadIdx.x];
}

std::vector<float> differences(const std::vector<float>& x, int threads, Bug bug) {
    const int n = static_cast<int>(x.size());
    DeviceArray<float> d_x(n), d_differences(n - 1);
    d_x.copy_from_host(x.data());
    SEEK_LAUNCH(difference_kernel, ceil_div(n, threads), threads, (threads + 1) * sizeof(float))
    (d_differences.data, d_x.data, n, bug);
    SEEK_CUDA_CHECK(cudaGetLastError());
    std::vector<float> result(n - 1);
    d_differences.copy_to_host(result.data());
    return result;
}

// ---- a bounds check off by one: a write past the end of the output ------------------------------
// budget: fill_index_kernel regs<=32 smem<=0 spills=0
__global__ void fill_index_kernel(float* out, int n, float step, Bug bug) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const bool inside = bug == Bug::writes_past_end ? i <= n : i < n;
    if (inside) out[i] = i * step;
}

std::vector<float> fill_index(int n, float step, Bug bug) {
    DeviceArray<float> d_out(n);
    SEEK_LAUNCH(fill_index_kernel, ceil_div(n + 1, 128), 128, 0)(d_out.data, n, step, bug);
    SEEK_CUDA_CHECK(cudaGetLastError());
    std::vector<float> out(n);
    d_out.copy_to_host(out.data());
    return out;
}

// ---- barriers not every thread reaches --------------------------------------------------------
// budget: early_exit_barrier_kernel regs<=32 smem<=0 spills=0
__global__ void early_exit_barrier_kernel(int* out, int active_threads) {
    if (static_cast<int>(threadIdx.x) >= active_threads) return;  // these threads never reach the barrier
    __syncthreads();
    out[threadIdx.x] = 1;
}

void barrier_after_early_exit(int threads, int active_threads) {
    DeviceArray<int> d_out(threads);
    SEEK_LAUNCH(early_exit_barrier_kernel, 1, threads, 0)(d_out.data, active_threads);
    SEEK_CUDA_CHECK(cudaGetLastError());
}

// budget: divergent_barrier_kernel regs<=32 smem<=0 spills=0
__global__ void divergent_barrier_kernel(int* out) {
    if (threadIdx.x % 2) {
        out[threadIdx.x] = 1;
        __syncthreads();
    } else {
        __syncthreads();
        out[threadIdx.x] = 2;
    }
}

void divergent_barriers(int threads) {
    DeviceArray<int> d_out(threads);
    SEEK_LAUNCH(divergent_barrier_kernel, 1, threads, 0)(d_out.data);
    SEEK_CUDA_CHECK(cudaGetLastError());
}

// budget: barrier_votes_kernel regs<=32 smem<=0 spills=0
__global__ void barrier_votes_kernel(int* out, const int* flags) {
    const int flag = flags[threadIdx.x];
    const int count = __syncthreads_count(flag);
    const int all = __syncthreads_and(flag);
    const int any = __syncthreads_or(flag);
    if (threadIdx.x == 0) {
        out[0] = count;
        out[1] = all;
        out[2] = any;
    }
}

std::vector<int> barrier_votes(const std::vector<int>& flags) {
    DeviceArray<int> d_flags(flags.size()), d_out(3);
    d_flags.copy_from_host(flags.data());
    SEEK_LAUNCH(barrier_votes_kernel, 1, static_cast<int>(flags.size()), 0)(d_out.data, d_flags.data);
    SEEK_CUDA_CHECK(cudaGetLastError());
    std::vector<int> out(3);
    d_out.copy_to_host(out.data());
    return out;
}

// ---- warp shuffles and votes --------------------------------------------------------------------
// budget: warp_ops_kernel regs<=32 smem<=0 spills=0
__global__ void warp_ops_kernel(int* out, const int* values) {
    const unsigned full = 0xffffffffu;
    const int lane = threadIdx.x % warpSize;
    const int v = values[threadIdx.x];
    int* mine = out + threadIdx.x * demo::warp_op_results;

    int sum = v;  // butterfly: every lane ends with the warp's sum
    for (int offset = warpSize / 2; offset > 0; offset /= 2) sum += __shfl_xor_sync(full, sum, offset);
    mine[0] = sum;
    int down = v;  // tree towards lane 0: lane 0 ends with the warp's sum
    for (int offset = warpSize / 2; offset > 0; offset /= 2) down += __shfl_down_sync(full, down, offset);
    mine[1] = down;
    int scan = v;  // Hillis-Steele inclusive prefix sum
    for (int offset = 1; offset < warpSize; offset *= 2) {
        const int before = __shfl_up_sync(full, scan, offset);
        if (lane >= offset) scan += before;
    }
    mine[2] = scan;
    mine[3] = __shfl_sync(full, v, 5);         // lane 5's value, broadcast
    mine[4] = __shfl_sync(full, v, lane + 1);  // the next lane's; lane 31 reads lane 32 % 32 = 0
    int segment = v;  // butterfly within 8-lane segments
    for (int offset = 4; offset > 0; offset /= 2) segment += __shfl_xor_sync(full, segment, offset, 8);
    mine[5] = segment;
    mine[6] = static_cast<int>(__ballot_sync(full, v % 3 == 0));
    mine[7] = __any_sync(full, v == 7);
    mine[8] = __all_sync(full, v < 100);
    mine[9] = __shfl_down_sync(full, v, 3, 8);  // lanes whose source leaves the 8-lane segment keep v
}

std::vector<int> warp_ops(const std::vector<int>& values) {
    const int threads = static_cast<int>(values.size());
    DeviceArray<int> d_values(threads), d_out(threads * demo::warp_op_results);
    d_values.copy_from_host(values.data());
    SEEK_LAUNCH(warp_ops_kernel, 1, threads, 0)(d_out.data, d_values.data);
    SEEK_CUDA_CHECK(cudaGetLastError());
    std::vector<int> out(d_out.count);
    d_out.copy_to_host(out.data());
    return out;
}

// budget: early_exit_shuffle_kernel regs<=32 smem<=0 spills=0
__global__ void early_exit_shuffle_kernel(int* out) {
    const int lane = threadIdx.x % warpSize;
    if (lane >= 16) return;  // the bug: the mask below names all 32 lanes
    out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, lane, 1);
}

void shuffle_after_early_exit(int threads) {
    DeviceArray<int> d_out(threads);
    SEEK_LAUNCH(early_exit_shuffle_kernel, 1, threads, 0)(d_out.data);
    SEEK_CUDA_CHECK(cudaGetLastError());
}

// ---- atomics ------------------------------------------------------------------------------------
// budget: atomics_kernel regs<=32 smem<=0 spills=0
__global__ void atomics_kernel(int* histogram, int* extremes, int* winner, int* won, int* last, const int* values,
                               int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const int v = values[i];
    atomicAdd(&histogram[v % 16], 1);
    atomicMax(&extremes[0], v);
    atomicMin(&extremes[1], v);
    won[i] = atomicCAS(winner, -1, i) == -1;  // only the first thread finds -1
    atomicExch(last, i);
}

demo::AtomicsResult atomics(const std::vector<int>& values, int threads) {
    const int n = static_cast<int>(values.size());
    DeviceArray<int> d_values(n), d_histogram(16), d_extremes(2), d_winner(1), d_won(n), d_last(1);
    d_values.copy_from_host(values.data());
    const int extremes[2] = {-2147483647 - 1, 2147483647};
    d_extremes.copy_from_host(extremes);
    SEEK_CUDA_CHECK(cudaMemset(d_histogram.data, 0, 16 * sizeof(int)));
    SEEK_CUDA_CHECK(cudaMemset(d_winner.data, 0xFF, sizeof(int)));  // -1: nobody yet
    SEEK_LAUNCH(atomics_kernel, ceil_div(n, threads), threads, 0)
    (d_histogram.data, d_extremes.data, d_winner.data, d_won.data, d_last.data, d_values.data, n);
    SEEK_CUDA_CHECK(cudaGetLastError());
    demo::AtomicsResult result;
    result.histogram.resize(16);
    result.won.resize(n);
    int extremes_out[2];
    d_histogram.copy_to_host(result.histogram.data());
    d_extremes.copy_to_host(extremes_out);
    d_winner.copy_to_host(&result.winner);
    d_won.copy_to_host(result.won.data());
    d_last.copy_to_host(&result.last_exchanged);
    result.max_value = extremes_out[0];
    result.min_value = extremes_out[1];
    return result;
}

// budget: float_sum_kernel regs<=32 smem<=0 spills=0
__global__ void float_sum_kernel(float* sum, const float* x, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) atomicAdd(sum, x[i]);
}

float atomic_float_sum(const std::vector<float>& x, int threads) {
    const int n = static_cast<int>(x.size());
    DeviceArray<float> d_x(n), d_sum(1);
    d_x.copy_from_host(x.data());
    SEEK_CUDA_CHECK(cudaMemset(d_sum.data, 0, sizeof(float)));
    SEEK_LAUNCH(float_sum_kernel, ceil_div(n, threads), threads, 0)(d_sum.data, d_x.data, n);
    SEEK_CUDA_CHECK(cudaGetLastError());
    float sum = 0.0f;
    d_sum.copy_to_host(&sum);
    return sum;
}

// budget: arrival_order_kernel regs<=32 smem<=0 spills=0
__global__ void arrival_order_kernel(int* block_order, int* thread_order, int* counters) {
    if (threadIdx.x == 0) block_order[blockIdx.x] = atomicAdd(&counters[0], 1);
    thread_order[blockIdx.x * blockDim.x + threadIdx.x] = atomicAdd(&counters[1 + blockIdx.x], 1);
}

demo::ArrivalOrder arrival_order(int blocks, int threads) {
    DeviceArray<int> d_block_order(blocks), d_thread_order(blocks * threads), d_counters(1 + blocks);
    SEEK_CUDA_CHECK(cudaMemset(d_counters.data, 0, (1 + blocks) * sizeof(int)));
    SEEK_LAUNCH(arrival_order_kernel, blocks, threads, 0)(d_block_order.data, d_thread_order.data, d_counters.data);
    SEEK_CUDA_CHECK(cudaGetLastError());
    demo::ArrivalOrder order;
    order.block_order.resize(blocks);
    order.thread_order.resize(blocks * threads);
    d_block_order.copy_to_host(order.block_order.data());
    d_thread_order.copy_to_host(order.thread_order.data());
    return order;
}

// ---- dynamic shared memory ----------------------------------------------------------------------
// budget: reverse_kernel regs<=32 smem<=0 spills=0
__global__ void reverse_kernel(int* out, const int* x) {
    SEEK_DYNAMIC_SHARED(int, tile);  // blockDim.x ints
    const int base = blockIdx.x * blockDim.x;
    tile[threadIdx.x] = x[base + threadIdx.x];
    __syncthreads();
    out[base + threadIdx.x] = tile[blockDim.x - 1 - threadIdx.x];
}

std::vector<int> reverse_blocks(const std::vector<int>& x, int threads, size_t shared_bytes, int max_dynamic_shared) {
    const int n = static_cast<int>(x.size());
    DeviceArray<int> d_x(n), d_out(n);
    d_x.copy_from_host(x.data());
    SEEK_CUDA_CHECK(cudaFuncSetAttribute(reverse_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, max_dynamic_shared));
    SEEK_LAUNCH(reverse_kernel, n / threads, threads, shared_bytes)(d_out.data, d_x.data);
    SEEK_CUDA_CHECK(cudaGetLastError());
    std::vector<int> out(n);
    d_out.copy_to_host(out.data());
    return out;
}

// ---- 3D grids and blocks -------------------------------------------------------------------------
// budget: index_kernel regs<=32 smem<=0 spills=0
__global__ void index_kernel(int* out) {
    const int block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
    const int thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
    const int threads_per_block = blockDim.x * blockDim.y * blockDim.z;
    int* mine = out + 6 * (block * threads_per_block + thread);
    mine[0] = threadIdx.x;
    mine[1] = threadIdx.y;
    mine[2] = threadIdx.z;
    mine[3] = blockIdx.x;
    mine[4] = blockIdx.y;
    mine[5] = blockIdx.z;
}

std::vector<int> thread_indices(demo::Dim grid, demo::Dim block) {
    const size_t threads = size_t(grid.x) * grid.y * grid.z * block.x * block.y * block.z;
    DeviceArray<int> d_out(6 * threads);
    SEEK_CUDA_CHECK(cudaMemset(d_out.data, 0xFF, 6 * threads * sizeof(int)));
    SEEK_LAUNCH(index_kernel, dim3(grid.x, grid.y, grid.z), dim3(block.x, block.y, block.z), 0)(d_out.data);
    SEEK_CUDA_CHECK(cudaGetLastError());
    std::vector<int> out(6 * threads);
    d_out.copy_to_host(out.data());
    return out;
}

// ---- misuse the emulator refuses -----------------------------------------------------------------
// budget: empty_kernel regs<=32 smem<=0 spills=0
__global__ void empty_kernel() {}

void launch_empty(demo::Dim grid, demo::Dim block, size_t shared_bytes) {
    SEEK_LAUNCH(empty_kernel, dim3(grid.x, grid.y, grid.z), dim3(block.x, block.y, block.z), shared_bytes)();
    SEEK_CUDA_CHECK(cudaGetLastError());
}

void launch_with_host_pointer() {
    std::vector<float> host(64, 1.0f);
    SEEK_LAUNCH(fill_index_kernel, 1, 64, 0)(host.data(), 64, 1.0f, Bug::none);
    SEEK_CUDA_CHECK(cudaGetLastError());
}

void copy_with_swapped_arguments() {
    std::vector<float> host(64, 1.0f);
    DeviceArray<float> device(64);
    SEEK_CUDA_CHECK(cudaMemcpy(host.data(), device.data, 64 * sizeof(float), cudaMemcpyHostToDevice));
}

}  // namespace SEEK_GPU_NAMESPACE
