// Small kernels that show, and test, what the thread-block emulator does (demo_kernels.cu).
// Each host function allocates, copies in, launches and copies back, as gpu/*.cu's do.
#pragma once

#include <cstddef>
#include <vector>

namespace seek::demo {

// A bug planted in a kernel, to show that the emulator exposes it.
enum class Bug {
    none,
    missing_barrier,  // block_sums: the __syncthreads() between writing shared memory and reading it
    off_by_one,       // differences: the tile loaded into shared memory is one element short
    writes_past_end,  // fill_index: `i <= n` instead of `i < n`
};

struct Dim {
    unsigned x = 1, y = 1, z = 1;
};

struct AtomicsResult {
    std::vector<int> histogram;  // 16 bins of value % 16
    int max_value = 0;
    int min_value = 0;
    int winner = 0;          // the first thread whose atomicCAS found the slot empty
    std::vector<int> won;    // 1 for that thread, 0 for every other
    int last_exchanged = 0;  // the last thread's atomicExch
};

struct ArrivalOrder {
    std::vector<int> block_order;   // block b ran as the block_order[b]-th
    std::vector<int> thread_order;  // thread t of block b reached the atomic as the
                                    // thread_order[b * threads + t]-th of its block
};

constexpr int warp_op_results = 10;  // per thread, from warp_ops

}  // namespace seek::demo

namespace seek::emu {

// One sum per block of `threads` (a power of two, at most 256) consecutive values, by a tree in shared memory.
std::vector<float> block_sums(const std::vector<float>& x, int threads, demo::Bug bug);
// x[i + 1] - x[i] for i < n - 1, each block through a shared-memory tile of its inputs.
std::vector<float> differences(const std::vector<float>& x, int threads, demo::Bug bug);
// out[i] = i * step for i < n.
std::vector<float> fill_index(int n, float step, demo::Bug bug);
// Threads at or past `active_threads` return before the block's __syncthreads().
void barrier_after_early_exit(int threads, int active_threads);
// Odd and even threads wait at two different __syncthreads().
void divergent_barriers(int threads);
// __syncthreads_count / _and / _or of the flags (one per thread): {count, and, or}.
std::vector<int> barrier_votes(const std::vector<int>& flags);
// Per thread, demo::warp_op_results ints: warp sums by xor and by down shuffles, an inclusive scan,
// broadcasts, segment sums, ballot, any, all (see demo_kernels.cu).
std::vector<int> warp_ops(const std::vector<int>& values);
// Lanes 16..31 of each warp return before a full-mask __shfl_xor_sync.
void shuffle_after_early_exit(int threads);
demo::AtomicsResult atomics(const std::vector<int>& values, int threads);
float atomic_float_sum(const std::vector<float>& x, int threads);
demo::ArrivalOrder arrival_order(int blocks, int threads);
// Reverses each block's `threads` values through dynamic shared memory: shared_bytes of it, after
// cudaFuncSetAttribute(..., MaxDynamicSharedMemorySize, max_dynamic_shared).
std::vector<int> reverse_blocks(const std::vector<int>& x, int threads, size_t shared_bytes, int max_dynamic_shared);
// Every thread writes {threadIdx.x, .y, .z, blockIdx.x, .y, .z} at its global linear index.
std::vector<int> thread_indices(demo::Dim grid, demo::Dim block);
// Launches an empty kernel with this configuration.
void launch_empty(demo::Dim grid, demo::Dim block, size_t shared_bytes);
// Passes a host array to a kernel.
void launch_with_host_pointer();
// cudaMemcpy with destination and source swapped.
void copy_with_swapped_arguments();
// E4M3 (satfinite) and BF16 codes of x by cuda_fp8.h / cuda_bf16.h in a kernel
// (fp8_demo_kernels.cu: built only with the CUDA toolkit's headers).
void fp8_codes(const std::vector<float>& x, std::vector<unsigned char>& e4m3, std::vector<unsigned short>& bf16);

}  // namespace seek::emu
