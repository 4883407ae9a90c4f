// The linear layers (core/linear.h): the training GEMMs in BF16 and FP8 against the references they
// emulate, and the FP32 paths' summation order, which makes results independent of batching and threads.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "core/fp8.h"
#include "core/fp8_gemm.h"
#include "core/linear.h"
#include "core/parallel.h"
#include "core/quantize.h"
#include "core/random.h"

using namespace seek;

// Bit for bit (memcmp on empty matrices' null data would be undefined).
static bool same_bits(const Mat& a, const Mat& b) {
    return a.rows() == b.rows() && a.cols() == b.cols() &&
           (a.size() == 0 || std::memcmp(a.data(), b.data(), sizeof(float) * a.size()) == 0);
}

static double max_rel(const Mat& a, const Mat& b) { return (a - b).cwiseAbs().maxCoeff() / b.cwiseAbs().maxCoeff(); }

// Dequantize + FP32 GEMM is fp8_gemm's Exact accumulation (each 128-wide K block summed in FP32,
// then scaled) up to the order of FP32 additions: ~K ulp, 1e-6 relative at K = 300.
TEST_CASE("linear: fp8 Fprop, Dgrad and Wgrad equal fp8_gemm's exact accumulation on the same tiles", "[linear]") {
    const Mat x = generated_matrix(1, "x", 200, 300, 1.0f), w = generated_matrix(1, "w", 150, 300, 0.05f);
    const Mat dy = generated_matrix(1, "dy", 200, 150, 1.0f);
    LinearPrecision fp8{GemmPrecision::FP8, {}};
    const AccumulationModel exact;

    const Mat y = linear_forward(x, w, fp8);
    CHECK(max_rel(y, fp8_gemm(quantize(x, kActivationTile), quantize(w, kWeightTile), exact)) < 1e-6);

    Mat dx = Mat::Zero(200, 300), dw = Mat::Zero(150, 300);
    linear_backward(dx, dw, dy, x, w, fp8);
    const Mat w_t = w.transpose();
    CHECK(max_rel(dx, fp8_gemm(quantize(dy, kActivationTile), quantize(w_t, kWeightTile), exact)) < 1e-6);
    const Mat dy_t = dy.transpose(), x_t = x.transpose();  // Wgrad: K is the 200 tokens, 128x1 tiles
    CHECK(max_rel(dw, fp8_gemm(quantize(dy_t, kActivationTile), quantize(x_t, kActivationTile), exact)) < 1e-6);

    // And FP8's departure from FP32 is what the rounding of the operands explains. With the
    // operands' actual rounding errors dx = Q(x) - x and dw = Q(w) - w, each output moves by
    //   Q(x) Q(w)^T - x w^T = dx w^T + x dw^T + dx dw^T
    // bounded element by element by |dx| |w|^T + |x| |dw|^T + |dx| |dw|^T (plus FP32 rounding), and,
    // the errors being nearly independent, its root mean square is that of the first-order sum.
    // A wrong scale, a missing one or an unrounded operand breaks one or the other.
    const Mat dx_q = quantize_dequantize(x, kActivationTile) - x, dw_q = quantize_dequantize(w, kWeightTile) - w;
    const Mat departure = y - x * w.transpose();
    const Mat bound = dx_q.cwiseAbs() * w.cwiseAbs().transpose() + x.cwiseAbs() * dw_q.cwiseAbs().transpose() +
                      dx_q.cwiseAbs() * dw_q.cwiseAbs().transpose();
    CHECK((departure.cwiseAbs().array() <= bound.array() + 1e-5f * y.cwiseAbs().maxCoeff()).all());
    const Mat first_order = dx_q * w.transpose() + x * dw_q.transpose();
    const double rms = std::sqrt(departure.squaredNorm() / departure.size());
    const double predicted = std::sqrt(first_order.squaredNorm() / first_order.size());
    INFO("rms departure " << rms << ", first-order prediction " << predicted);
    CHECK(rms == Approx(predicted).epsilon(0.05));
    // For random operands, each output's relative departure is about the operands' relative rounding
    // errors added in quadrature: sqrt(rel(x)^2 + rel(w)^2), E4M3's 3 mantissa bits (about 3% each).
    auto rel = [](const Mat& error, const Mat& value) { return std::sqrt(error.squaredNorm() / value.squaredNorm()); };
    const double expected_rel = std::hypot(rel(dx_q, x), rel(dw_q, w));
    INFO("relative departure " << rel(departure, y) << ", expected " << expected_rel);
    CHECK(rel(departure, y) == Approx(expected_rel).epsilon(0.25));
    CHECK(expected_rel > 0.01);  // the rounding is visible
}

TEST_CASE("linear: bf16 rounds both operands to nearest even, then multiplies in fp32", "[linear]") {
    const Mat x = generated_matrix(2, "x", 20, 64, 1.0f), w = generated_matrix(2, "w", 30, 64, 0.1f);
    Mat x_bf16 = x, w_bf16 = w;
    for (Eigen::Index i = 0; i < x.size(); ++i) x_bf16.data()[i] = bf16_decode(bf16_encode(x.data()[i]));
    for (Eigen::Index i = 0; i < w.size(); ++i) w_bf16.data()[i] = bf16_decode(bf16_encode(w.data()[i]));
    const Mat y = linear_forward(x, w, LinearPrecision{GemmPrecision::BF16, {}});
    CHECK(max_rel(y, x_bf16 * w_bf16.transpose()) < 1e-6);
    CHECK(max_rel(y, x * w.transpose()) > 1e-4);  // it did round
}

TEST_CASE("linear: precision names round-trip and unknown ones are refused", "[linear]") {
    for (const char* name : {"fp32", "bf16", "fp8"}) CHECK(gemm_precision_name(gemm_precision_from_name(name)) == std::string(name));
    CHECK_THROWS_WITH(gemm_precision_from_name("fp4"), Catch::Contains("'fp4'"));
    MatD x = MatD::Ones(2, 2), w = MatD::Ones(2, 2);
    CHECK_THROWS(linear_forward(x, w, LinearPrecision{GemmPrecision::FP8, {}}));
}

// The matrix-vector path's order, re-derived one element at a time: lane r of 8 sums the products
// of k = r, r + 8, ... in order with fused multiply-adds (plain ones in a build without FMA), then
// the lanes are added ((0 + 4) + (2 + 6)) + ((1 + 5) + (3 + 7)).
static float dot_in_lanes(const float* x, const float* w, int64_t k) {
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t i = 0; i < k; ++i) {
#ifdef __FMA__
        lanes[i % 8] = std::fma(x[i], w[i], lanes[i % 8]);
#else
        lanes[i % 8] += x[i] * w[i];
#endif
    }
    return ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
}

TEST_CASE("linear: the matrix-vector path sums every output in one fixed order, whatever rows come with it", "[linear]") {
    for (const auto& [m, n, k] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {1, 8, 64}, {1, 13, 5}, {2, 7, 16}, {3, 16, 24}, {5, 9, 130}, {8, 67, 203}, {kFewRows, 4, 8},
             {20, 48, 64}, {64, 24, 48}}) {
        INFO("m " << m << ", n " << n << ", k " << k);
        const Mat x = generated_matrix(3, "x", m, k, 1.0f), w = generated_matrix(3, "w", n, k, 0.3f);
        // Beyond kFewRows rows only row_by_row keeps the path (decoding a batch of sequences).
        LinearPrecision precision;
        precision.row_by_row = m > kFewRows;
        const Mat y = linear_forward(x, w, precision);
        bool same = true;
        for (int64_t i = 0; i < m; ++i)
            for (int64_t j = 0; j < n; ++j) same &= y(i, j) == dot_in_lanes(&x(i, 0), &w(j, 0), k);
        CHECK(same);
        // A row alone gives the bytes it gives among the others (batched decoding relies on it).
        for (int64_t i = 0; i < m; ++i) CHECK(linear_forward(Mat(x.row(i)), w) == y.row(i));
        // And the sums are the true products to float accuracy.
        const MatD exact = x.cast<double>() * w.cast<double>().transpose();
        CHECK((y.cast<double>() - exact).cwiseAbs().maxCoeff() < 1e-5 * (1 + exact.cwiseAbs().maxCoeff()));
    }
}

TEST_CASE("linear: a product too large for one thread gives the same bytes on any thread count", "[linear]") {
    // 2 x 40 x 1500 x 500 = 60 MFLOP: above kParallelWork, so both paths split their work.
    const Mat x = generated_matrix(4, "x", 40, 500, 1.0f), w = generated_matrix(4, "w", 1500, 500, 0.05f);
    const Mat few = x.topRows(3);
    const int threads = thread_count();
    set_thread_count(1);
    const Mat one = linear_forward(x, w), one_few = linear_forward(few, w);
    set_thread_count(2);
    const Mat two = linear_forward(x, w), two_few = linear_forward(few, w);
    set_thread_count(threads);
    CHECK(one == two);
    CHECK(one_few == two_few);
    CHECK((one.cast<double>() - x.cast<double>() * w.cast<double>().transpose()).cwiseAbs().maxCoeff() < 1e-4);
}

// The backward GEMMs read their operands in place (dy^T and x^T are not copied) and, in low
// precision, round dy and x in 128x1 tiles instead of rounding transposed copies in 1x128 ones.
// Each must give the bits of the plain formulation: the materialized transposes, rounded as
// low_precision_gemm rounds them, summed as gemm.h defines (a naive fused multiply-add chain from
// dx's and dW's own values).
static Mat naive_add_product(const Mat& start, const Mat& a, const Mat& b) {  // start + a b
    Mat sum = start;
    for (Eigen::Index i = 0; i < a.rows(); ++i)
        for (Eigen::Index j = 0; j < b.cols(); ++j)
            for (Eigen::Index p = 0; p < a.cols(); ++p) sum(i, j) = std::fma(a(i, p), b(p, j), sum(i, j));
    return sum;
}

TEST_CASE("linear: the backward GEMMs give the bits of their plain formulation", "[linear]") {
    for (const auto& [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {7, 9, 5}, {8, 8, 8}, {17, 48, 64},
                                  {256, 64, 48}, {300, 150, 130}, {1024, 24, 64}}) {
        const Mat x = generated_matrix(5, "x", m, k, 1.0f), w = generated_matrix(5, "w", n, k, 0.1f);
        const Mat dy = generated_matrix(5, "dy", m, n, 1.0f);
        const Mat dx_start = generated_matrix(6, "dx", m, k, 0.01f), dw_start = generated_matrix(6, "dw", n, k, 0.01f);
        INFO("m " << m << ", n " << n << ", k " << k);
        for (GemmPrecision gemm : {GemmPrecision::FP32, GemmPrecision::BF16, GemmPrecision::FP8}) {
            INFO(gemm_precision_name(gemm));
            const LinearPrecision precision{gemm, {}};
            Mat dx = dx_start, dw = dw_start;
            linear_backward(dx, dw, dy, x, w, precision);
            // The operands as the low-precision GEMMs read them: 1x128 tiles of the transposes.
            auto rounded = [&](const Mat& operand, const Tile& tile) -> Mat {
                if (gemm == GemmPrecision::FP32) return operand;
                if (gemm == GemmPrecision::FP8) return quantize_dequantize(operand, tile);
                return operand.unaryExpr([](float v) { return bf16_decode(bf16_encode(v)); });
            };
            const Mat w_t = w.transpose(), dy_t = dy.transpose(), x_t = x.transpose();
            const Mat dy_fprop = rounded(dy, kActivationTile), w_blocks = rounded(w_t, kWeightTile).transpose();
            const Mat dy_t_rounded = rounded(dy_t, kActivationTile), x_t_rounded = rounded(x_t, kActivationTile);
            CHECK(same_bits(dx, naive_add_product(dx_start, dy_fprop, w_blocks)));
            CHECK(same_bits(dw, naive_add_product(dw_start, dy_t_rounded, Mat(x_t_rounded.transpose()))));
            // The same with x rounded once by the caller (gate_proj and up_proj share it).
            const Mat x_fprop = rounded_input(x, precision, kActivationTile), x_wgrad = rounded_input(x, precision, kTokenTile);
            CHECK((x_fprop.size() == 0) == (gemm == GemmPrecision::FP32));
            Mat dx_shared = dx_start, dw_shared = dw_start;
            linear_backward(dx_shared, dw_shared, dy, x, w, precision, x_wgrad.size() ? &x_wgrad : nullptr);
            CHECK(same_bits(dx_shared, dx));
            CHECK(same_bits(dw_shared, dw));
            CHECK(same_bits(linear_forward(x, w, precision, x_fprop.size() ? &x_fprop : nullptr), linear_forward(x, w, precision)));
        }
    }
}

TEST_CASE("linear: a backward with mismatched shapes is refused, naming them", "[linear]") {
    const Mat x = Mat::Ones(4, 6), w = Mat::Ones(5, 6), dy = Mat::Ones(4, 3);
    Mat dx = Mat::Zero(4, 6), dw = Mat::Zero(5, 6);
    CHECK_THROWS_WITH(linear_backward(dx, dw, dy, x, w), Catch::Contains("dy 4x3") && Catch::Contains("weight 5x6"));
}
