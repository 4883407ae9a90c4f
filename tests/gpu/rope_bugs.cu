// Planted bugs in copies of gpu/rope.cu's variant 2, to show that the emulator tests catch them
// (test_rope_gpu.cpp). Each copy differs from rope_kernel2 in the lines marked "the bug".
//   missing_barrier  the __syncthreads() between filling the (cos, sin) table and reading it is
//                    gone: a thread rotates with an entry its neighbour has not written yet (the
//                    0xFF NaN the emulator fills dynamic shared memory with, on a GPU garbage);
//   float_angle      the angle formed in float, p θ rounded to 24 bits: fine near position 0,
//                    off by up to 1.8e-2 rad near 163,839 (gpu/rope.cu's top comment).
#include "gpu/seek_cuda.h"

#include <cstdint>
#include <vector>

namespace SEEK_GPU_NAMESPACE {
namespace rope_bugs {

enum class Bug { none, missing_barrier, float_angle };

__device__ __forceinline__ double reduced_angle(int64_t position, double inv_freq) {
    const double two_pi_hi = 6.283185307179586, two_pi_lo = 2.4492935982947064e-16;
    const double angle = static_cast<double>(position) * inv_freq;
    const double k = rint(angle * (1.0 / two_pi_hi));
    return fma(-k, two_pi_lo, fma(-k, two_pi_hi, angle));
}

// budget: rope_kernel2_planted regs<=32 smem<=0 spills=0
template <Bug bug>
__global__ void rope_kernel2_planted(float* x, const int64_t* positions, const double* inv_freq, double magnitude,
                                     int cols, int first, int stride, int heads, int pairs) {
    SEEK_DYNAMIC_SHARED(float, table);
    float* cos_m = table;
    float* sin_m = table + pairs;
    const int row = blockIdx.x;
    const int64_t position = positions[row];
    for (int pair = threadIdx.x; pair < pairs; pair += blockDim.x) {
        float s, c;
        if (bug == Bug::float_angle) {
            sincosf(static_cast<float>(position) * static_cast<float>(inv_freq[pair]), &s, &c);  // the bug
        } else {
            sincosf(static_cast<float>(reduced_angle(position, inv_freq[pair])), &s, &c);
        }
        cos_m[pair] = static_cast<float>(c * magnitude);
        sin_m[pair] = static_cast<float>(s * magnitude);
    }
    if (bug != Bug::missing_barrier) __syncthreads();  // the bug: no barrier
    float* x_row = x + static_cast<size_t>(row) * cols + first;
    for (int index = threadIdx.x; index < heads * pairs; index += blockDim.x) {
        const int head = index / pairs, pair = index % pairs;
        float* lanes = x_row + static_cast<size_t>(head) * stride + 2 * pair;
        const float even = lanes[0], odd = lanes[1];
        lanes[0] = even * cos_m[pair] - odd * sin_m[pair];
        lanes[1] = even * sin_m[pair] + odd * cos_m[pair];
    }
}

// x [rows, cols] in place, as rope_forward_gpu with variant 2.
template <Bug bug>
void rope_planted(std::vector<float>& x, const std::vector<int64_t>& positions, const std::vector<double>& inv_freq,
                  double magnitude, int cols, int first, int stride, int heads) {
    const int rows = static_cast<int>(positions.size()), pairs = static_cast<int>(inv_freq.size());
    DeviceArray<float> d_x(x.size());
    DeviceArray<int64_t> d_positions(rows);
    DeviceArray<double> d_inv_freq(pairs);
    d_x.copy_from_host(x.data());
    d_positions.copy_from_host(positions.data());
    d_inv_freq.copy_from_host(inv_freq.data());
    SEEK_LAUNCH(rope_kernel2_planted<bug>, rows, 128, 2 * pairs * sizeof(float))
    (d_x.data, d_positions.data, d_inv_freq.data, magnitude, cols, first, stride, heads, pairs);
    SEEK_CUDA_CHECK(cudaGetLastError());
    d_x.copy_to_host(x.data());
}

// Every planted kernel, instantiated, so that nvcc compiles them too (a template alone is not).
template void rope_planted<Bug::none>(std::vector<float>&, const std::vector<int64_t>&, const std::vector<double>&,
                                      double, int, int, int, int);
template void rope_planted<Bug::missing_barrier>(std::vector<float>&, const std::vector<int64_t>&,
                                                 const std::vector<double>&, double, int, int, int, int);
template void rope_planted<Bug::float_angle>(std::vector<float>&, const std::vector<int64_t>&, const std::vector<double>&,
                                             double, int, int, int, int);

}  // namespace rope_bugs
}  // namespace SEEK_GPU_NAMESPACE
