// gpu/moe.cu's dispatch scan, copied with one barrier removed, for the test that shows the emulator
// catches it (test_moe_gpu.cpp). nvcc compiles this file too (gpu.budget.moe_planted_bugs).
#include "gpu/seek_cuda.h"
#include "tests/gpu/moe_planted_bugs.h"

namespace SEEK_GPU_NAMESPACE {

constexpr int planted_scan_threads = 256;

// exclusive_scan_kernel and block_exclusive_scan of gpu/moe.cu, but in each Hillis-Steele step a
// thread may add totals[k - d] after thread k - d has already added its own step's term to it.
// budget: scan_without_barrier_kernel regs<=40 smem<=1K spills=0
__global__ void __launch_bounds__(planted_scan_threads) scan_without_barrier_kernel(int* values, int n) {
    __shared__ int totals[planted_scan_threads];
    const int tid = threadIdx.x, threads = blockDim.x;
    const int chunk = (n + threads - 1) / threads;
    const int begin = min(tid * chunk, n), end = min(begin + chunk, n);
    int chunk_sum = 0;
    for (int i = begin; i < end; ++i) chunk_sum += values[i];
    totals[tid] = chunk_sum;
    __syncthreads();
    for (int distance = 1; distance < threads; distance *= 2) {
        const int earlier = tid >= distance ? totals[tid - distance] : 0;
        // the bug: no __syncthreads() here, between this step's reads and its writes
        totals[tid] += earlier;
        __syncthreads();
    }
    int running = totals[tid] - chunk_sum;
    for (int i = begin; i < end; ++i) {
        const int count = values[i];
        values[i] = running;
        running += count;
    }
    if (tid == threads - 1) values[n] = totals[tid];
}

std::vector<int> exclusive_scan_without_barrier(const std::vector<int>& values) {
    const int n = static_cast<int>(values.size());
    DeviceArray<int> d_values(values.size() + 1);
    SEEK_CUDA_CHECK(cudaMemcpy(d_values.data, values.data(), n * sizeof(int), cudaMemcpyHostToDevice));
    SEEK_LAUNCH(scan_without_barrier_kernel, 1, planted_scan_threads, 0)(d_values.data, n);
    SEEK_CUDA_CHECK(cudaGetLastError());
    std::vector<int> scanned(values.size() + 1);
    d_values.copy_to_host(scanned.data());
    return scanned;
}

}  // namespace SEEK_GPU_NAMESPACE
