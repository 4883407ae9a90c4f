// The training GEMMs in BF16 and FP8 (core/linear.h) against the references they emulate.
#include <catch2/catch.hpp>

#include "core/fp8.h"
#include "core/fp8_gemm.h"
#include "core/linear.h"
#include "core/quantize.h"
#include "core/random.h"

using namespace seek;

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

    // And FP8 is a visible but small departure from FP32: E4M3 keeps 3 mantissa bits.
    const double fp8_error = max_rel(y, x * w.transpose());
    CHECK(fp8_error > 1e-3);
    CHECK(fp8_error < 0.1);
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
