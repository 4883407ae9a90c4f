// One thread block's share of an FP8 block-scaled GEMM, for the tensor-core layout tests
// (test_fp8_mma_layout.cpp: variant 3's 128 x 128 tile; test_fp8_wgmma_layout.cpp: variant 4's
// 64 x 128): random E4M3 codes and scales for the block's rows of A and of B over whole 128-wide
// K blocks, and the plain block-scaled matmul they are compared with.
//
// Exactness: an E4M3 value is a multiple of 2^-9 below 2^9 in magnitude, so a product is a
// multiple of 2^-18 below 2^18, and a sum of 128 of them needs at most 18 + 18 + 7 = 43 bits: in
// double every such sum is exact in any order. The plain matmul sums a K block in double and
// rounds it to float once, then promotes; a simulated kernel that does the same (any order) gives
// the same bits exactly when the same codes meet and the same scales apply.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/fp8.h"

namespace seek::test {

constexpr int fp8_block = 128;  // the scales' K block (and B's N block)

struct Fp8BlockProblem {
    int rows_a, rows_b, K;          // K a multiple of 128: whole K blocks
    std::vector<uint8_t> a, b;      // [rows_a, K] and [rows_b, K] codes
    std::vector<float> a_scales;    // [rows_a, K / 128]: 1 x 128 tiles
    std::vector<float> b_scales;    // [K / 128]: the block's rows of B (at most 128) share one row of scales
};

inline double e4m3(uint8_t code) { return fp8_decode(code, Fp8Format::E4M3); }

inline Fp8BlockProblem random_fp8_block_problem(int rows_a, int rows_b, int K, uint32_t seed) {
    Fp8BlockProblem problem{rows_a, rows_b, K, {}, {}, {}, {}};
    uint32_t state = seed;
    auto next = [&state] {
        state = state * 1664525u + 1013904223u;
        return state >> 8;
    };
    auto code = [&] {
        uint8_t c;
        do c = static_cast<uint8_t>(next()); while ((c & 0x7F) == 0x7F);  // no NaN codes
        return c;
    };
    auto scale = [&] { return std::ldexp(1.0f + (next() % 1000) / 1000.0f, -int(next() % 12)); };
    const int blocks = K / fp8_block;
    for (int i = 0; i < rows_a * K; ++i) problem.a.push_back(code());
    for (int i = 0; i < rows_b * K; ++i) problem.b.push_back(code());
    for (int i = 0; i < rows_a * blocks; ++i) problem.a_scales.push_back(scale());
    for (int i = 0; i < blocks; ++i) problem.b_scales.push_back(scale());
    return problem;
}

// core's promotion (core/fp8_gemm.cpp, and the kernels' promote): accumulator + partial * a_scale *
// b_scale, rounded in that order.
inline float promote(float accumulator, float partial, float a_scale, float b_scale) {
    const float scaled = (partial * a_scale) * b_scale;
    return accumulator + scaled;
}

// The plain block-scaled matmul, [rows_a, rows_b] row-major: per K block, the exact sum rounded
// to float once, then promoted.
inline std::vector<float> plain_block_matmul(const Fp8BlockProblem& problem) {
    const int blocks = problem.K / fp8_block;
    std::vector<float> c(static_cast<size_t>(problem.rows_a) * problem.rows_b, 0.0f);
    for (int m = 0; m < problem.rows_a; ++m)
        for (int n = 0; n < problem.rows_b; ++n)
            for (int kb = 0; kb < blocks; ++kb) {
                double sum = 0.0;
                for (int k = kb * fp8_block; k < (kb + 1) * fp8_block; ++k)
                    sum += e4m3(problem.a[m * problem.K + k]) * e4m3(problem.b[n * problem.K + k]);
                float& out = c[static_cast<size_t>(m) * problem.rows_b + n];
                out = promote(out, static_cast<float>(sum), problem.a_scales[m * blocks + kb], problem.b_scales[kb]);
            }
    return c;
}

// Outputs whose bits differ from the reference (NaN counts as different).
inline int differing_outputs(const std::vector<float>& got, const std::vector<float>& expected) {
    int differing = 0;
    for (size_t i = 0; i < expected.size(); ++i) differing += std::memcmp(&got[i], &expected[i], 4) != 0;
    return differing;
}

}  // namespace seek::test
