// gpu/fp8_gemm.cu's kernels, run in the emulator: the FP8 block-scaled GEMM against core's
// fp8_gemm with Exact accumulation (bit for bit), and the whole FP8 linear layer against core's
// linear_forward at fp8 precision (bit for bit against quantize + fp8_gemm; within a stated FP32
// bound against linear_forward, which runs it as dequantize + an FP32 GEMM).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/fp8_gemm.h"
#include "core/linear.h"
#include "core/quantize.h"
#include "gpu/emulator/runtime_api.h"
#include "gpu/fp8_gemm.h"
#include "tests/gpu/differing_bits.h"
#include "tests/gpu/random_inputs.h"

using seek::Mat;
using seek::MatD;
using seek::QuantizedMatrix;
using seek::test::differing_bits;

namespace {

// Rows from std / 4 to 4 std: the 1x128 scales differ by row.
Mat random_matrix(int rows, int cols, uint64_t seed, float std) {
    return seek::test::rows_of_varied_magnitude(rows, cols, seed, 2.0f, 5, std);
}

struct Shape {
    int M, N, K;
};

// The grid: M tokens {1, 3, 37}, K {64, 128, 200, 300} (200 and 300 cross the 128-wide
// K blocks and end in a partial one), N {5, 64, 130} (130: a second, partial 128-row block of B).
// And K not a multiple of 4 (variant 2 copies codes byte by byte): 1, 130, 257.
std::vector<Shape> gemm_shapes() {
    std::vector<Shape> shapes;
    for (int M : {1, 3, 37})
        for (int K : {64, 128, 200, 300})
            for (int N : {5, 64, 130}) shapes.push_back({M, N, K});
    for (Shape shape : {Shape{2, 3, 1}, Shape{37, 130, 130}, Shape{5, 33, 257}}) shapes.push_back(shape);
    return shapes;
}

}  // namespace

TEST_CASE("gpu fp8_gemm: every variant is core's fp8_gemm (Exact) bit for bit in the emulator", "[gpu][fp8_gemm]") {
    for (const Shape& shape : gemm_shapes()) {
        Mat a_values = random_matrix(shape.M, shape.K, 10 + shape.K, 1.0f);
        const Mat b_values = random_matrix(shape.N, shape.K, 20 + shape.N, 0.05f);
        a_values.row(0).head(std::min(shape.K, 128)).setZero();  // a zero tile: the amax floor's scale
        const QuantizedMatrix a = seek::quantize(a_values, seek::kActivationTile);
        const QuantizedMatrix b = seek::quantize(b_values, seek::kWeightTile);
        const Mat expected = seek::fp8_gemm(a, b, seek::AccumulationModel{});
        for (int variant = 1; variant <= 2; ++variant) {
            seek::emu::set_seed(variant);
            const Mat got = seek::emu::fp8_gemm(a, b, seek::AccumulationModel{}, variant);
            REQUIRE(got.rows() == shape.M);
            REQUIRE(got.cols() == shape.N);
            INFO("variant " << variant << ", M " << shape.M << ", N " << shape.N << ", K " << shape.K);
            CHECK(differing_bits(got, expected) == 0);
        }
    }
}

TEST_CASE("gpu fp8_gemm: a NaN code poisons its row and column only, as in core", "[gpu][fp8_gemm]") {
    const Mat a_values = random_matrix(3, 200, 1, 1.0f), b_values = random_matrix(64, 200, 2, 0.05f);
    QuantizedMatrix a = seek::quantize(a_values, seek::kActivationTile);
    const QuantizedMatrix b = seek::quantize(b_values, seek::kWeightTile);
    a.codes[1 * 200 + 150] = 0x7F;  // E4M3's NaN, in A's row 1, second K block
    const Mat expected = seek::fp8_gemm(a, b, seek::AccumulationModel{});
    REQUIRE(std::isnan(expected(1, 0)));
    for (int variant = 1; variant <= 2; ++variant) {
        const Mat got = seek::emu::fp8_gemm(a, b, seek::AccumulationModel{}, variant);
        CHECK(differing_bits(got, expected) == 0);
        CHECK(got.row(1).array().isNaN().all());
        CHECK(!got.row(0).array().isNaN().any());
    }
}

// The FP8 linear: y = x W^T with x in 1x128 tiles and W in 128x128 blocks, quantized on the device.
//   - against quantize() + fp8_gemm (Exact): the same codes (test_quantize_gpu.cpp) and the same
//     GEMM (above), so the same bits;
//   - against core's linear_forward(x, W, fp8), which computes sum_k ~a_k ~b_k in FP32 (gemm.h:
//     one fused chain in k order), ~a = fl(code_a s_a) and ~b = fl(code_b s_b) its dequantized operands. Let
//     S = sum_k |~a_k| |~b_k| and R = sum_k (code_a s_a)(code_b s_b) the exact scaled sum.
//     core:   |y_core - R| <= (gamma_K + gamma_2) S   (K-term sum; ~a ~b is the exact term to 2 roundings)
//     kernel: |y_gpu - R|  <= gamma_(B + 2 + n_b) S   (each block of B <= 128 exact products summed in FP32,
//                                                      times two scales, then n_b = ceil(K / 128) blocks added)
//     so |y_gpu - y_core| <= (K + min(K, 128) + n_b + 8) u S, with u = 2^-24 (the +8 covers the
//     gamma's 1 / (1 - n u) and S's own roundings, all below 1e-4 relative at these K).
TEST_CASE("gpu fp8_gemm: the FP8 linear matches core's linear_forward at fp8 precision", "[gpu][fp8_gemm][linear]") {
    const seek::LinearPrecision fp8{seek::GemmPrecision::FP8, {}};
    const double u = std::ldexp(1.0, -24);
    // Part of the grid (the pieces are tested on all of it above and in test_quantize_gpu.cpp).
    std::vector<Shape> shapes;
    for (int M : {1, 37})
        for (int K : {128, 300})
            for (int N : {5, 130}) shapes.push_back({M, N, K});
    shapes.push_back({5, 33, 257});
    for (const Shape& shape : shapes) {
        const Mat x = random_matrix(shape.M, shape.K, 30 + shape.K, 1.0f);
        const Mat weight = random_matrix(shape.N, shape.K, 40 + shape.N, 0.05f);
        const Mat exact_model = seek::fp8_gemm(seek::quantize(x, seek::kActivationTile),
                                               seek::quantize(weight, seek::kWeightTile), seek::AccumulationModel{});
        const Mat core = seek::linear_forward(x, weight, fp8);
        const MatD x_magnitude = seek::quantize_dequantize(x, seek::kActivationTile).cast<double>().cwiseAbs();
        const MatD w_magnitude = seek::quantize_dequantize(weight, seek::kWeightTile).cast<double>().cwiseAbs();
        const MatD magnitude = x_magnitude * w_magnitude.transpose();  // S
        const int k_blocks = (shape.K + 127) / 128;
        const double bound_per_s = (shape.K + std::min(shape.K, 128) + k_blocks + 8) * u;
        for (int variant = 1; variant <= 2; ++variant) {
            seek::emu::set_seed(variant);
            const Mat got = seek::emu::linear_forward(x, weight, fp8, variant);
            INFO("variant " << variant << ", M " << shape.M << ", N " << shape.N << ", K " << shape.K);
            CHECK(differing_bits(got, exact_model) == 0);
            CHECK(differing_bits(seek::emu::fp8_linear_forward(x, weight, variant), got) == 0);
            double excess = 0;
            for (int m = 0; m < shape.M; ++m)
                for (int n = 0; n < shape.N; ++n)
                    excess = std::max(excess,
                                      std::fabs(double(got(m, n)) - core(m, n)) / (bound_per_s * magnitude(m, n)));
            CHECK(excess <= 1.0);
            const double rel = (got - core).cwiseAbs().maxCoeff() / core.cwiseAbs().maxCoeff();
            CHECK(rel <= 1e-5);  // core/tolerance.h's fp32 rule: the same math in another order
        }
    }
}

TEST_CASE("gpu fp8_gemm: linear_forward by precision runs fp32 and fp8, and refuses the rest",
          "[gpu][fp8_gemm][linear]") {
    const Mat x = random_matrix(3, 200, 1, 1.0f), weight = random_matrix(5, 200, 2, 0.05f);
    for (int variant = 1; variant <= 3; ++variant) {  // fp32: gpu/linear.cu's three variants
        CHECK(differing_bits(seek::emu::linear_forward(x, weight, seek::LinearPrecision{}, variant),
                             seek::emu::linear_forward(x, weight, variant)) == 0);
    }
    seek::LinearPrecision bf16{seek::GemmPrecision::BF16, {}};
    CHECK_THROWS_WITH(seek::emu::linear_forward(x, weight, bf16, 1),
                      Catch::Matchers::Contains("bf16 GEMMs have no GPU kernel"));
    seek::LinearPrecision tensor_core{seek::GemmPrecision::FP8, {}};
    tensor_core.accumulation.mode = seek::AccumulationMode::TensorCore;
    CHECK_THROWS_WITH(seek::emu::linear_forward(x, weight, tensor_core, 1), Catch::Matchers::Contains("Exact model"));
    CHECK_THROWS_WITH(seek::emu::linear_forward(x, weight, seek::LinearPrecision{seek::GemmPrecision::FP8, {}}, 6),
                      Catch::Matchers::Contains("variant 6 does not exist"));
}

TEST_CASE("gpu fp8_gemm: bad arguments are refused", "[gpu][fp8_gemm]") {
    const QuantizedMatrix a = seek::quantize(random_matrix(3, 200, 1, 1.0f), seek::kActivationTile);
    const QuantizedMatrix b = seek::quantize(random_matrix(5, 200, 2, 1.0f), seek::kWeightTile);
    const QuantizedMatrix b_short = seek::quantize(random_matrix(5, 199, 2, 1.0f), seek::kWeightTile);
    const QuantizedMatrix b_per_row = seek::quantize(random_matrix(5, 200, 2, 1.0f), seek::kActivationTile);
    const seek::AccumulationModel exact;
    CHECK_THROWS_WITH(seek::emu::fp8_gemm(a, b, exact, 6), Catch::Matchers::Contains("variant 6 does not exist"));
    CHECK_THROWS_WITH(seek::emu::fp8_gemm(a, b, exact, 0), Catch::Matchers::Contains("variant 0 does not exist"));
    CHECK_THROWS_WITH(seek::emu::fp8_gemm(a, b_short, exact, 1), Catch::Matchers::Contains("the K extents differ"));
    CHECK_THROWS_WITH(seek::emu::fp8_gemm(a, b_per_row, exact, 1), Catch::Matchers::Contains("128x128 blocks"));
    QuantizedMatrix a_truncated = a;
    a_truncated.codes.pop_back();
    CHECK_THROWS_WITH(seek::emu::fp8_gemm(a_truncated, b, exact, 2), Catch::Matchers::Contains("599 codes"));
    CHECK_THROWS_WITH(seek::emu::fp8_linear_forward(random_matrix(3, 8, 1, 1.0f), random_matrix(4, 7, 1, 1.0f), 1),
                      Catch::Matchers::Contains("the input features differ"));
    const Mat empty = seek::emu::fp8_gemm(seek::quantize(Mat(0, 200), seek::kActivationTile), b, exact, 2);
    CHECK(empty.rows() == 0);
    CHECK(empty.cols() == 5);
}

// Variant 3 (mma.sync e4m3) in the emulator, whose mma.sync is the PTX ISA's fragment layout
// (gpu/mma_isa.h) with each instruction's 32 products summed exactly and added to the partial sum
// in FP32, and whose cp.async copies at once. Against core's Exact model, both sides start from the
// same exact products P_k = (code_a s_a)(code_b s_b) / (s_a s_b) of a K block of B <= 128: core sums
// them one by one in FP32, |core - sum| <= gamma_B S; the kernel adds 4 exact sums of 32,
// |kernel - sum| <= gamma_4 S (S = sum |P_k|). Both then promote with the same two products and a
// sum over n_b blocks, so |kernel - core| <= (B + 4 + 2 n_b + 8) u S_scaled, u = 2^-24 (the +8 for
// the gammas' 1 / (1 - n u) and the roundings of S itself), S_scaled = sum_k |~a_k| |~b_k| over
// the dequantized operands.
TEST_CASE("gpu fp8_gemm: variant 3 (mma.sync) runs in the emulator within FP32 rounding of core's Exact model",
          "[gpu][fp8_gemm]") {
    const double u = std::ldexp(1.0, -24);
    const Shape shapes[] = {{37, 130, 160}, {1, 5, 304}};  // K multiples of 16; edges in M, N and K
    for (const Shape& shape : shapes) {
        const Mat a_values = random_matrix(shape.M, shape.K, 50 + shape.K, 1.0f);
        const Mat b_values = random_matrix(shape.N, shape.K, 60 + shape.N, 0.05f);
        const QuantizedMatrix a = seek::quantize(a_values, seek::kActivationTile);
        const QuantizedMatrix b = seek::quantize(b_values, seek::kWeightTile);
        const Mat expected = seek::fp8_gemm(a, b, seek::AccumulationModel{});
        const MatD magnitude = seek::quantize_dequantize(a_values, seek::kActivationTile).cast<double>().cwiseAbs() *
                               seek::quantize_dequantize(b_values, seek::kWeightTile).cast<double>().cwiseAbs().transpose();
        const int k_blocks = (shape.K + 127) / 128;
        const double bound_per_s = (std::min(shape.K, 128) + 4 + 2 * k_blocks + 8) * u;
        seek::emu::set_seed(3);
        const Mat got = seek::emu::fp8_gemm(a, b, seek::AccumulationModel{}, 3);
        INFO("M " << shape.M << ", N " << shape.N << ", K " << shape.K);
        REQUIRE(got.rows() == shape.M);
        REQUIRE(got.cols() == shape.N);
        double excess = 0;
        for (int m = 0; m < shape.M; ++m)
            for (int n = 0; n < shape.N; ++n)
                excess = std::max(excess, std::fabs(double(got(m, n)) - expected(m, n)) / (bound_per_s * magnitude(m, n)));
        CHECK(excess <= 1.0);
        CHECK((got - expected).cwiseAbs().maxCoeff() / expected.cwiseAbs().maxCoeff() <= 1e-5);
    }
    // The grouped form: the MoE's per-expert rows, one group empty, against core per group.
    const std::vector<int64_t> group_rows = {5, 0, 17, 9};
    const int K = 144, N = 64;
    const Mat x = random_matrix(31, K, 70, 1.0f);
    const QuantizedMatrix a = seek::quantize(x, seek::kActivationTile);
    std::vector<QuantizedMatrix> b;
    Mat expected(31, N);
    for (size_t g = 0, first = 0; g < group_rows.size(); first += group_rows[g], ++g) {
        b.push_back(seek::quantize(random_matrix(N, K, 80 + g, 0.05f), seek::kWeightTile));
        if (group_rows[g] > 0)
            expected.middleRows(first, group_rows[g]) = seek::fp8_gemm(
                seek::quantize(x.middleRows(first, group_rows[g]), seek::kActivationTile), b[g], seek::AccumulationModel{});
    }
    const Mat got = seek::emu::fp8_grouped_gemm(a, group_rows, b, seek::AccumulationModel{}, 3);
    CHECK((got - expected).cwiseAbs().maxCoeff() / expected.cwiseAbs().maxCoeff() <= 1e-5);
    // And the linear layer through it: quantize on the device, then variant 3.
    const Mat weight = random_matrix(N, K, 90, 0.05f);
    const Mat linear_expected = seek::fp8_gemm(seek::quantize(x, seek::kActivationTile), seek::quantize(weight, seek::kWeightTile),
                                               seek::AccumulationModel{});
    const Mat linear_got = seek::emu::fp8_linear_forward(x, weight, 3);
    CHECK((linear_got - linear_expected).cwiseAbs().maxCoeff() / linear_expected.cwiseAbs().maxCoeff() <= 1e-5);
}

// Variants 4 (wgmma) and 5 (wgmma with TMA loads) are warpgroup tensor-core kernels: the emulator
// refuses them with a clear message (their indexing is checked by test_fp8_wgmma_layout.cpp
// instead), after the argument checks every build makes.
TEST_CASE("gpu fp8_gemm: the wgmma variants need a GPU, and every tensor-core variant K a multiple of 16",
          "[gpu][fp8_gemm]") {
    const seek::AccumulationModel exact;
    const QuantizedMatrix a = seek::quantize(random_matrix(3, 256, 1, 1.0f), seek::kActivationTile);
    const QuantizedMatrix b = seek::quantize(random_matrix(5, 256, 2, 1.0f), seek::kWeightTile);
    CHECK_THROWS_WITH(seek::emu::fp8_gemm(a, b, exact, 4), Catch::Matchers::Contains("needs a GPU with sm_90a"));
    CHECK_THROWS_WITH(seek::emu::fp8_gemm(a, b, exact, 5), Catch::Matchers::Contains("variant 5 (wgmma e4m3, TMA loads) needs a GPU with sm_90a"));
    const Mat x = random_matrix(3, 256, 1, 1.0f), weight = random_matrix(5, 256, 2, 0.05f);
    CHECK_THROWS_WITH(seek::emu::fp8_linear_forward(x, weight, 4), Catch::Matchers::Contains("needs a GPU with sm_90a"));
    const QuantizedMatrix a_odd = seek::quantize(random_matrix(3, 200, 1, 1.0f), seek::kActivationTile);
    const QuantizedMatrix b_odd = seek::quantize(random_matrix(5, 200, 2, 1.0f), seek::kWeightTile);
    CHECK_THROWS_WITH(seek::emu::fp8_gemm(a_odd, b_odd, exact, 3),
                      Catch::Matchers::Contains("K = 200: variant 3 needs K a multiple of 16"));
    CHECK_THROWS_WITH(seek::emu::fp8_gemm(a_odd, b_odd, exact, 5),
                      Catch::Matchers::Contains("K = 200: variant 5 needs K a multiple of 16"));
}

// The grouped form over the MoE's contiguous per-expert layout: each group's rows of the result
// are core's fp8_gemm of those rows (A's 1x128 tiles are per row, so quantizing the rows alone
// gives the same codes and scales) with the group's own B, bit for bit. Empty groups, a group of
// one row, and every row in one group.
TEST_CASE("gpu fp8_gemm: the grouped form is core's fp8_gemm per group, bit for bit", "[gpu][fp8_gemm][grouped]") {
    const std::vector<std::vector<int64_t>> groupings{{5, 0, 37, 1, 0}, {0, 0, 40, 0}, {3}};
    for (const std::vector<int64_t>& group_rows : groupings)
        for (const Shape& nk : {Shape{0, 5, 200}, Shape{0, 130, 256}}) {
            int64_t M = 0;
            for (int64_t rows : group_rows) M += rows;
            const Mat x = random_matrix(static_cast<int>(M), nk.K, 30 + nk.K, 1.0f);
            const QuantizedMatrix a = seek::quantize(x, seek::kActivationTile);
            std::vector<QuantizedMatrix> b;
            for (size_t g = 0; g < group_rows.size(); ++g)
                b.push_back(seek::quantize(random_matrix(nk.N, nk.K, 40 + g, 0.05f), seek::kWeightTile));
            Mat expected(M, nk.N);
            int64_t begin = 0;
            for (size_t g = 0; g < group_rows.size(); ++g) {
                if (group_rows[g] > 0) {
                    const QuantizedMatrix a_g = seek::quantize(Mat(x.middleRows(begin, group_rows[g])), seek::kActivationTile);
                    expected.middleRows(begin, group_rows[g]) = seek::fp8_gemm(a_g, b[g], seek::AccumulationModel{});
                }
                begin += group_rows[g];
            }
            for (int variant = 1; variant <= 2; ++variant) {
                seek::emu::set_seed(variant);
                const Mat got = seek::emu::fp8_grouped_gemm(a, group_rows, b, seek::AccumulationModel{}, variant);
                INFO("variant " << variant << ", " << group_rows.size() << " groups, M " << M << ", N " << nk.N
                                << ", K " << nk.K);
                CHECK(differing_bits(got, expected) == 0);
            }
        }
}

TEST_CASE("gpu fp8_gemm: the grouped form's bad arguments are refused", "[gpu][fp8_gemm][grouped]") {
    const seek::AccumulationModel exact;
    const QuantizedMatrix a = seek::quantize(random_matrix(6, 256, 1, 1.0f), seek::kActivationTile);
    const QuantizedMatrix b = seek::quantize(random_matrix(5, 256, 2, 1.0f), seek::kWeightTile);
    const QuantizedMatrix b_wide = seek::quantize(random_matrix(7, 256, 2, 1.0f), seek::kWeightTile);
    CHECK_THROWS_WITH(seek::emu::fp8_grouped_gemm(a, {2, 3}, {b, b}, exact, 1),
                      Catch::Matchers::Contains("the groups hold 5 rows, A has 6"));
    CHECK_THROWS_WITH(seek::emu::fp8_grouped_gemm(a, {7, -1}, {b, b}, exact, 1), Catch::Matchers::Contains("-1 rows"));
    CHECK_THROWS_WITH(seek::emu::fp8_grouped_gemm(a, {3, 3}, {b}, exact, 1),
                      Catch::Matchers::Contains("2 groups of rows but 1 matrices B"));
    CHECK_THROWS_WITH(seek::emu::fp8_grouped_gemm(a, {3, 3}, {b, b_wide}, exact, 1),
                      Catch::Matchers::Contains("B 1 is [7, 256], expected [5, 256]"));
    CHECK_THROWS_WITH(seek::emu::fp8_grouped_gemm(a, {3, 3}, {b, b}, exact, 4),
                      Catch::Matchers::Contains("needs a GPU with sm_90a"));
}
