// Fine-grained scaling: scale layouts, the half-ulp bound, the amax floor, UE8M0 scales, and
// what 1x128 tiles buy over one scale per tensor when activations have outliers.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

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

// quantize_dequantize (training's fake quantization) must be dequantize(quantize()) exactly:
// the same bits for every element, on inputs made to hit every corner of the rounding.
static bool same_float(float a, float b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    uint32_t bits_a, bits_b;
    std::memcpy(&bits_a, &a, 4);
    std::memcpy(&bits_b, &b, 4);
    return bits_a == bits_b;  // tells -0 from +0
}

static float float_from_bits(uint32_t bits) {
    float value;
    std::memcpy(&value, &bits, 4);
    return value;
}

TEST_CASE("quantize: round_to_e4m3 is fp8_decode(fp8_encode()) for every bf16 value, ties and random floats", "[quantize]") {
    auto reference = [](float v) { return fp8_decode(fp8_encode(v, Fp8Format::E4M3), Fp8Format::E4M3); };
    std::vector<float> values;
    for (uint32_t high = 0; high < 0x10000; ++high) values.push_back(float_from_bits(high << 16));  // every bf16
    // Every E4M3 value, the midpoints between neighbours (ties) and one float either side of them.
    for (int code = 0; code < 0x7E; ++code) {
        const float low = fp8_decode(static_cast<uint8_t>(code), Fp8Format::E4M3);
        const float mid = (low + fp8_decode(static_cast<uint8_t>(code + 1), Fp8Format::E4M3)) / 2;
        for (float v : {low, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1000.0f)}) {
            values.push_back(v);
            values.push_back(-v);
        }
    }
    for (float v : {448.0f, 464.0f, 479.0f, 480.0f, 1e30f, std::numeric_limits<float>::infinity(), 0x1p-10f,
                    std::nextafter(0x1p-10f, 1.0f), std::numeric_limits<float>::denorm_min(), -0.0f})
        values.insert(values.end(), {v, -v});
    Rng rng(5);
    for (int i = 0; i < 1000000; ++i) values.push_back(float_from_bits(static_cast<uint32_t>(rng.next_u64())));
    int64_t mismatches = 0;
    for (float v : values) {
        if (same_float(round_to_e4m3(v), reference(v))) continue;
        if (++mismatches <= 5) FAIL_CHECK("round_to_e4m3(" << v << ") = " << round_to_e4m3(v) << ", reference " << reference(v));
    }
    CHECK(mismatches == 0);
}

TEST_CASE("quantize: quantize_dequantize equals dequantize(quantize()) bit for bit", "[quantize]") {
    Rng rng(2024);
    const std::vector<Tile> tiles = {kActivationTile, kWeightTile, {3, 5}, {1, 7}, {128, 1}};
    int64_t compared = 0, mismatches = 0;
    for (int trial = 0; trial < 60; ++trial) {
        // Partial edge tiles: sizes that are rarely multiples of the tile.
        const int64_t rows = 1 + static_cast<int64_t>(rng.uniform() * 300);
        const int64_t cols = 1 + static_cast<int64_t>(rng.uniform() * 300);
        Mat x(rows, cols);
        const int kind = trial % 6;
        for (int64_t i = 0; i < x.size(); ++i) {
            const double u = rng.uniform();
            float v = rng.normal();
            if (kind == 0) v *= static_cast<float>(std::exp(8 * rng.normal()));  // heavy tails over many binades
            if (kind == 1) v = u < 0.5 ? 0.0f : (u < 0.6 ? -0.0f : v * 1e-6f);    // zeros and tiny values
            if (kind == 2) v *= 1e-38f;                                          // float subnormals: amax floored
            if (kind == 3) {
                // Ties at a power-of-two scale: the tile's amax 448 x 2^-3, the rest E4M3 midpoints.
                const int code = static_cast<int>(u * 0x7D);
                const float a = fp8_decode(static_cast<uint8_t>(code), Fp8Format::E4M3);
                const float b = fp8_decode(static_cast<uint8_t>(code + 1), Fp8Format::E4M3);
                v = (rng.uniform() < 0.5 ? -1 : 1) * (a + b) / 2 * 0.125f;
                if (i % 7 == 0) v = 448.0f * 0.125f;
            }
            if (kind == 4) v = static_cast<float>(std::ldexp(std::round(rng.normal() * 64), -static_cast<int>(u * 20)));
            if (kind == 5) {
                // Quotients next to E4M3 midpoints at a scale that is not a power of two: where x / s
                // must be the correctly rounded division (quantize_dequantize does not divide).
                const int code = static_cast<int>(u * 0x7D);
                const float a = fp8_decode(static_cast<uint8_t>(code), Fp8Format::E4M3);
                const float b = fp8_decode(static_cast<uint8_t>(code + 1), Fp8Format::E4M3);
                const float c = 1.2345678f * std::ldexp(1.0f, trial % 17 - 8);
                v = (a + b) / 2 * c;
                const double nudge = rng.uniform();
                if (nudge < 0.3) v = std::nextafter(v, 0.0f);
                if (nudge > 0.7) v = std::nextafter(v, 1e30f);
                if (rng.uniform() < 0.5) v = -v;
                if (i % 7 == 0) v = 448.0f * c;
            }
            x.data()[i] = v;
        }
        if (trial % 10 == 9) x(0, 0) = std::numeric_limits<float>::quiet_NaN();  // NaN stays NaN
        if (trial % 20 == 19) x(rows - 1, cols - 1) = -std::numeric_limits<float>::infinity();
        std::vector<Tile> trial_tiles = tiles;
        trial_tiles.push_back(whole_matrix_tile(x));
        for (const Tile& tile : trial_tiles) {
            for (ScaleFormat format : {ScaleFormat::Float32, ScaleFormat::PowerOfTwo}) {
                const Mat reference = dequantize(quantize(x, tile, format));
                // At every vector width this build and CPU have (simd.h): the same bits at each.
                for (SimdLevel level : {SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512}) {
                    if (!simd_level_available(level)) continue;
                    const Mat fast = quantize_dequantize_with(level, x, tile, format);
                    REQUIRE(fast.rows() == rows);
                    REQUIRE(fast.cols() == cols);
                    for (int64_t i = 0; i < x.size(); ++i) {
                        ++compared;
                        if (same_float(fast.data()[i], reference.data()[i])) continue;
                        if (++mismatches <= 5)
                            FAIL_CHECK(simd_level_name(level) << ": trial " << trial << ", tile " << tile_name(tile) << ", element "
                                                              << i << ": x = " << x.data()[i] << ", fast " << fast.data()[i]
                                                              << ", reference " << reference.data()[i]);
                    }
                }
            }
        }
    }
    INFO(compared << " elements compared");
    CHECK(mismatches == 0);
    CHECK(compared > 1000000);
}

TEST_CASE("quantize: rows and columns in one pass equal the two quantize_dequantize calls bit for bit", "[quantize]") {
    Rng rng(77);
    int64_t compared = 0, mismatches = 0;
    for (int trial = 0; trial < 40; ++trial) {
        // Bands and strips that rarely end at a multiple of 16 or of the group.
        const int64_t rows = 1 + static_cast<int64_t>(rng.uniform() * 300);
        const int64_t cols = 1 + static_cast<int64_t>(rng.uniform() * 300);
        Mat x(rows, cols);
        for (int64_t i = 0; i < x.size(); ++i) {
            float v = rng.normal() * static_cast<float>(std::exp(6 * rng.normal()));  // many binades
            if (trial % 4 == 1 && rng.uniform() < 0.5) v = rng.uniform() < 0.5 ? 0.0f : -0.0f;
            if (trial % 4 == 2) v *= 1e-38f;  // float subnormals: amax floored
            x.data()[i] = v;
        }
        if (trial % 8 == 5) x(rows / 2, cols / 3) = std::numeric_limits<float>::quiet_NaN();
        if (trial % 8 == 7) x(rows - 1, 0) = std::numeric_limits<float>::infinity();
        for (int64_t group : {int64_t(128), int64_t(16), int64_t(48), int64_t(7)}) {
            for (ScaleFormat format : {ScaleFormat::Float32, ScaleFormat::PowerOfTwo}) {
                const Mat by_rows = quantize_dequantize(x, {1, group}, format);
                const Mat by_columns = quantize_dequantize(x, {group, 1}, format);
                for (SimdLevel level : {SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512}) {
                    if (!simd_level_available(level)) continue;
                    const RowAndColumnTiles both = quantize_dequantize_rows_and_columns_with(level, x, group, format);
                    REQUIRE(both.row_tiles.rows() == rows);
                    REQUIRE(both.column_tiles.cols() == cols);
                    for (int64_t i = 0; i < x.size(); ++i) {
                        compared += 2;
                        const bool same = same_float(both.row_tiles.data()[i], by_rows.data()[i]) &&
                                          same_float(both.column_tiles.data()[i], by_columns.data()[i]);
                        if (!same && ++mismatches <= 5)
                            FAIL_CHECK(simd_level_name(level) << ": trial " << trial << ", group " << group << ", element " << i
                                                              << ": x = " << x.data()[i] << ", rows " << both.row_tiles.data()[i]
                                                              << " vs " << by_rows.data()[i] << ", columns "
                                                              << both.column_tiles.data()[i] << " vs " << by_columns.data()[i]);
                    }
                }
            }
        }
    }
    INFO(compared << " elements compared");
    CHECK(mismatches == 0);
    CHECK(compared > 1000000);
}

TEST_CASE("quantize: a tile smaller than 1x1 is refused, naming the function and the tile", "[quantize]") {
    const Mat x = Mat::Ones(4, 4);
    CHECK_THROWS_WITH(quantize(x, {0, 128}), Catch::Contains("quantize") && Catch::Contains("0x128"));
    CHECK_THROWS_WITH(quantize_dequantize(x, {1, -3}), Catch::Contains("1x-3"));
    CHECK_THROWS_WITH(quantize_dequantize_rows_and_columns(x, 0), Catch::Contains("rows_and_columns"));
}
