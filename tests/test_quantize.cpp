// Fine-grained scaling: scale layouts, the half-ulp bound, the amax floor, UE8M0 scales, and
// what 1x128 tiles buy over one scale per tensor when activations have outliers.
#include <catch2/catch.hpp>

#include <cmath>

#include "core/quantize.h"
#include "core/random.h"

using namespace seek;

TEST_CASE("quantize: scale layouts per tensor, 1x128 and 128x128, with partial edge tiles", "[quantize]") {
    const Mat x = generated_matrix(1, "x", 576, 300, 1.0f);  // 576 = 4.5 blocks, like kv_a_proj_with_mqa
    const QuantizedMatrix per_tensor = quantize(x, whole_matrix_tile(x));
    const QuantizedMatrix tokens = quantize(x, kActivationTile);
    const QuantizedMatrix blocks = quantize(x, kWeightTile);
    CHECK(per_tensor.scales.rows() == 1);
    CHECK(per_tensor.scales.cols() == 1);
    CHECK(tokens.scales.rows() == 576);  // [T, ceil(K / 128)]
    CHECK(tokens.scales.cols() == 3);
    CHECK(blocks.scales.rows() == 5);    // [ceil(out / 128), ceil(in / 128)]
    CHECK(blocks.scales.cols() == 3);
    CHECK(blocks.codes.size() == size_t(576 * 300));

    // The last block (rows 512..575, columns 256..299) is scaled by its own amax only.
    const float edge_amax = x.block(512, 256, 64, 44).cwiseAbs().maxCoeff();
    CHECK(blocks.scales(4, 2) == edge_amax / 448.0f);
    CHECK(blocks.scale_at(575, 299) == blocks.scales(4, 2));
    CHECK(tokens.scale_at(7, 130) == tokens.scales(7, 1));
    CHECK(tile_name(kActivationTile) == "1x128");
}

TEST_CASE("quantize: every element is within half an E4M3 ulp at its scale", "[quantize]") {
    const Mat x = outlier_activations(64, 700, 3, 500.0f, 11);
    for (const Tile& tile : {whole_matrix_tile(x), kActivationTile, kWeightTile}) {
        for (ScaleFormat format : {ScaleFormat::Float32, ScaleFormat::PowerOfTwo}) {
            const QuantizedMatrix q = quantize(x, tile, format);
            const Mat back = dequantize(q);
            for (int64_t r = 0; r < x.rows(); ++r) {
                for (int64_t c = 0; c < x.cols(); ++c) {
                    const double s = q.scale_at(r, c);
                    double bound = fp8_ulp(x(r, c) / s, Fp8Format::E4M3) / 2 * s;
                    // A float scale adds two float roundings (x / s and code * s), each 2^-24
                    // relative; a power-of-two scale makes both exact.
                    if (format == ScaleFormat::Float32) bound += std::ldexp(std::fabs(x(r, c)), -23);
                    INFO(tile_name(tile) << " element [" << r << ", " << c << "] = " << x(r, c) << ", scale " << s);
                    REQUIRE(std::fabs(double(back(r, c)) - x(r, c)) <= bound);
                }
            }
        }
    }
}

TEST_CASE("quantize: the tile's amax lands on 448, and the amax floor keeps zero tiles finite", "[quantize]") {
    Mat x = Mat::Zero(2, 256);
    x(0, 5) = -3.0f;   // row 0, first group: amax 3
    x(0, 200) = 0.5f;  // row 0, second group: amax 0.5
    const QuantizedMatrix q = quantize(x, kActivationTile);
    CHECK(q.codes[5] == 0xFE);  // -448
    CHECK(q.codes[200] == 0x7E);
    CHECK(q.scales(0, 0) == 3.0f / 448.0f);
    CHECK(q.scales(1, 0) == kAmaxFloor / 448.0f);  // an all-zero group: 1e-4 / 448, not 0 / 0
    CHECK(dequantize(q).row(1).isZero());
    CHECK(dequantize(q)(0, 5) == -3.0f);
}

TEST_CASE("quantize: UE8M0 scales are the power of two at or above amax / 448", "[quantize]") {
    CHECK(scale_for_amax(448.0f, ScaleFormat::PowerOfTwo) == 1.0f);  // already a power of two
    CHECK(scale_for_amax(449.0f, ScaleFormat::PowerOfTwo) == 2.0f);
    CHECK(scale_for_amax(224.0f, ScaleFormat::PowerOfTwo) == 0.5f);
    CHECK(scale_for_amax(300.0f, ScaleFormat::PowerOfTwo) == 1.0f);
    CHECK(scale_for_amax(0.0f, ScaleFormat::PowerOfTwo) == std::ldexp(1.0f, -22));  // 1e-4 / 448 = 2.2e-7
    CHECK(scale_for_amax(0.0f, ScaleFormat::Float32) == kAmaxFloor / 448.0f);
    // With a power-of-two scale the largest |x / s| is in (224, 448]: never saturated.
    const Mat x = generated_matrix(2, "ue8m0", 4, 512, 3.0f);
    const QuantizedMatrix q = quantize(x, kActivationTile, ScaleFormat::PowerOfTwo);
    for (int64_t i = 0; i < q.scales.size(); ++i) {
        int exponent;
        CHECK(std::frexp(q.scales.data()[i], &exponent) == 0.5f);
    }
}

TEST_CASE("quantize: error statistics", "[quantize]") {
    Mat x(1, 4), y(1, 4);
    x << 3, 4, 0, 1e-6f;
    y << 3, 4, 0, 0;
    const ErrorStats exact = error_stats(x, x);
    CHECK(exact.max_rel == 0);
    CHECK(std::isinf(exact.snr_db));
    const ErrorStats lossy = error_stats(x, y);
    CHECK(lossy.flushed == 1);
    CHECK(lossy.max_abs == Approx(1e-6));
    CHECK(lossy.max_rel == Approx(1e-6 / 5.0));  // |(0, 0, 0, 1e-6)| / |(3, 4, 0, 1e-6)|
}

// The numbers behind `seek fp8 quant` at a smaller size: with four channels 1000x larger than
// the rest, one scale per tensor pushes most values toward E4M3's subnormals and makes only one
// element exact, while 1x128 tiles give each token's outliers an exact code and keep the small
// values in the normal range.
TEST_CASE("quantize: 1x128 tiles beat one scale per tensor by a wide margin on outlier activations", "[quantize]") {
    const Mat x = outlier_activations(64, 1024, 4, 1000.0f, 7);
    const ErrorStats per_tensor = error_stats(x, dequantize(quantize(x, whole_matrix_tile(x))));
    const ErrorStats per_token_group = error_stats(x, dequantize(quantize(x, kActivationTile)));
    INFO("per tensor: SNR " << per_tensor.snr_db << " dB, flushed " << per_tensor.flushed << ", mean rel "
                            << per_tensor.mean_rel);
    INFO("1x128: SNR " << per_token_group.snr_db << " dB, flushed " << per_token_group.flushed << ", mean rel "
                       << per_token_group.mean_rel);
    CHECK(per_token_group.snr_db > per_tensor.snr_db + 20);          // > 100x less error energy
    CHECK(per_tensor.flushed > 10 * std::max<int64_t>(per_token_group.flushed, 1));
    CHECK(per_token_group.mean_rel < per_tensor.mean_rel);
    CHECK(per_token_group.max_rel < per_tensor.max_rel);

    // Gaussian weights have no outliers: the granularity barely matters (within 1 dB).
    const Mat w = generated_matrix(7, "w", 256, 1024, 0.006f);
    const double snr_per_tensor = error_stats(w, dequantize(quantize(w, whole_matrix_tile(w)))).snr_db;
    const double snr_blocks = error_stats(w, dequantize(quantize(w, kWeightTile))).snr_db;
    CHECK(std::fabs(snr_blocks - snr_per_tensor) < 1.0);
}
