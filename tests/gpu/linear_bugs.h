// gpu/linear.cu's tiled kernel (variant 2) with bugs planted in it, to show that the emulator test
// catches them (linear_bugs.cu, test_linear_gpu.cpp).
#pragma once

#include <vector>

namespace seek::demo {

enum class LinearBug {
    none,
    missing_load_barrier,   // no __syncthreads() between loading a tile and reading it
    missing_reuse_barrier,  // no __syncthreads() between reading a tile and loading the next over it
    tile_edge_off_by_one,   // the load guard `k < K` written `k <= K`: the last partial tile reads one column too many
};

}  // namespace seek::demo

namespace seek::emu {

// y [M, N] = x [M, K] weight [N, K]^T (row-major) by the copy of linear_kernel2 with `bug` planted.
std::vector<float> tiled_linear_with_bug(const std::vector<float>& x, const std::vector<float>& weight, int M, int N,
                                         int K, demo::LinearBug bug);

}  // namespace seek::emu
