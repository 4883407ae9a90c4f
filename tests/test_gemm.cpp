// gemm.h: every kernel (scalar, AVX2, AVX-512) gives the bits of the definition, a chain of fused
// multiply-adds in the order of the sum, written out naively here; the result is as accurate as a
// float sum can be against a float64 re-derivation; and threads and row splits change no bit.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "core/gemm.h"
#include "core/parallel.h"
#include "core/random.h"

using namespace seek;

namespace {

// A [rows, cols] matrix of values from the project's generator, stored with a row stride of
// `stride` (>= cols; the gap holds NaNs, which a kernel reading past a row would spread).
struct Stored {
    int64_t rows, cols, stride;
    std::vector<float> values;
};

Stored stored(uint64_t seed, int64_t rows, int64_t cols, int64_t stride) {
    Stored matrix{rows, cols, stride, std::vector<float>(static_cast<size_t>(std::max<int64_t>(rows * stride, 1)), NAN)};
    Rng rng(seed);
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) matrix.values[static_cast<size_t>(i * stride + j)] = static_cast<float>(rng.normal());
    return matrix;
}

// The definition: C[i, j] = (C0[i, j] or 0) + A[i, 0] B[0, j] + ... in order, each step one fma.
std::vector<float> naive(int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, std::vector<float> c,
                         int64_t c_stride, bool accumulate) {
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            float sum = accumulate ? c[static_cast<size_t>(i * c_stride + j)] : 0.0f;
            for (int64_t p = 0; p < k; ++p)
                sum = std::fma(a.data[i * a.row_stride + p * a.col_stride], b.data[p * b.row_stride + j * b.col_stride], sum);
            c[static_cast<size_t>(i * c_stride + j)] = sum;
        }
    return c;
}

bool same_bits(const std::vector<float>& x, const std::vector<float>& y) {
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

}  // namespace

TEST_CASE("gemm: every kernel gives the bits of the naive fused multiply-add chain", "[gemm]") {
    std::vector<SimdLevel> kernels;
    for (SimdLevel kernel : {SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512})
        if (simd_level_available(kernel)) kernels.push_back(kernel);
    CHECK(simd_level_available(simd_level()));
    // Shapes around the kernels' edges: rows around 4 and 8 (micro-kernels) and 48 and 96 (blocks),
    // columns around 16 and 32 (panels), depths around 256 (passes), the empty sum, and strides of
    // A past kPackedAStride (gemm_kernel.inc).
    const std::vector<std::tuple<int64_t, int64_t, int64_t>> shapes = {
        {1, 1, 1}, {1, 1, 0}, {3, 5, 7}, {4, 16, 8}, {5, 17, 9}, {8, 32, 64}, {9, 33, 255}, {7, 31, 256},
        {13, 48, 257}, {47, 24, 100}, {49, 64, 48}, {96, 96, 16}, {97, 40, 513}, {200, 70, 30}, {1, 100, 300},
        // A's rows or steps 1 KB floats apart or more, which the kernels copy into strips first.
        {1030, 40, 300}, {20, 40, 1100}};
    uint64_t seed = 1;
    for (const auto& [m, n, k] : shapes)
        for (bool a_transposed : {false, true})
            for (bool b_transposed : {false, true})
                for (bool accumulate : {false, true}) {
                    // A [m, k] and B [k, n], each stored either way, with padded rows.
                    const Stored a = a_transposed ? stored(++seed, k, m, m + 3) : stored(++seed, m, k, k + 5);
                    const Stored b = b_transposed ? stored(++seed, n, k, k + 2) : stored(++seed, k, n, n + 7);
                    const MatrixView a_view = a_transposed ? MatrixView{a.values.data(), 1, a.stride} : MatrixView{a.values.data(), a.stride, 1};
                    const MatrixView b_view = b_transposed ? MatrixView{b.values.data(), 1, b.stride} : MatrixView{b.values.data(), b.stride, 1};
                    const int64_t c_stride = n + 1;
                    const Stored c_start = stored(++seed, m, n, c_stride);  // its padding must stay NaN
                    const std::vector<float> expected = naive(m, n, k, a_view, b_view, c_start.values, c_stride, accumulate);
                    for (SimdLevel kernel : kernels) {
                        std::vector<float> c = c_start.values;
                        gemm_with(kernel, m, n, k, a_view, b_view, c.data(), c_stride, accumulate);
                        INFO(simd_level_name(kernel) << ": m " << m << ", n " << n << ", k " << k << (a_transposed ? ", A^T" : "")
                                                      << (b_transposed ? ", B^T" : "") << (accumulate ? ", +=" : ""));
                        CHECK(same_bits(c, expected));
                    }
                }
}

TEST_CASE("gemm: within a float sum's error bound of the float64 product", "[gemm]") {
    // |fl(sum) - sum| <= k u sum |a_p b_p| (to first order; u = 2^-24) for any order of k additions.
    const int64_t m = 37, n = 45, k = 700;
    const Stored a = stored(11, m, k, k), b = stored(12, k, n, n);
    std::vector<float> c(static_cast<size_t>(m * n));
    gemm(m, n, k, {a.values.data(), k, 1}, {b.values.data(), n, 1}, c.data(), n, false);
    double worst = 0;
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            double exact = 0, magnitude = 0;
            for (int64_t p = 0; p < k; ++p) {
                const double term = double(a.values[size_t(i * k + p)]) * double(b.values[size_t(p * n + j)]);
                exact += term;
                magnitude += std::fabs(term);
            }
            worst = std::max(worst, std::fabs(c[size_t(i * n + j)] - exact) / (k * 0x1p-24 * magnitude));
        }
    CHECK(worst <= 1.0);
    CHECK(worst > 0.0);  // the float sum rounds somewhere: the check above is not vacuous
}

TEST_CASE("gemm: threads and row splits change no bit", "[gemm]") {
    // Large enough to share out the threads (parallel.h's kParallelWork).
    const int64_t m = 1000, n = 72, k = 300;
    REQUIRE(worth_threads(2.0 * m * n * 256));
    const Stored a = stored(21, m, k, k), b = stored(22, n, k, k);  // B = W^T, as y = x W^T reads it
    const MatrixView a_view{a.values.data(), k, 1}, b_view{b.values.data(), 1, k};
    const int threads = thread_count();
    std::vector<float> one(static_cast<size_t>(m * n)), two(one.size()), split(one.size());
    set_thread_count(1);
    gemm(m, n, k, a_view, b_view, one.data(), n, false);
    set_thread_count(2);
    gemm(m, n, k, a_view, b_view, two.data(), n, false);
    set_thread_count(threads);
    CHECK(same_bits(one, two));
    // Rows 0..332, 333..998, 999 computed as three products.
    for (const auto& [first, count] : {std::pair<int64_t, int64_t>{0, 333}, {333, 666}, {999, 1}})
        gemm(count, n, k, {a.values.data() + first * k, k, 1}, b_view, split.data() + first * n, n, false);
    CHECK(same_bits(one, split));
}
