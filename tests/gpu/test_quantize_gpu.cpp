// gpu/quantize.cu's kernels, run in the emulator, against core's quantize: the same E4M3 codes
// and the same scales, bit for bit (core/fp8.h's encoder is itself checked bit for bit against
// cuda_fp8.h, which the kernels call: tests/fp8_oracle.cpp).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/quantize.h"
#include "gpu/emulator/runtime_api.h"
#include "gpu/quantize.h"
#include "tests/gpu/random_inputs.h"

using seek::Mat;
using seek::QuantizedMatrix;
using seek::ScaleFormat;
using seek::Tile;

namespace {

// Rows from 10^-3 to 10^3.
Mat random_matrix(int rows, int cols, uint64_t seed) {
    return seek::test::rows_of_varied_magnitude(rows, cols, seed, 10.0f, 7);
}

// A float a in [1, 2) whose tile scale s = a / 448 makes a / s round above 448 in float: E4M3
// would overflow without satfinite. Searched for, not assumed.
float amax_that_overflows() {
    for (float a = 1.0f; a < 2.0f; a = std::nextafter(a, 2.0f)) {
        if (a / (a / 448.0f) > 448.0f) return a;
    }
    return 0.0f;
}

uint32_t bits_of(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    return bits;
}

// Codes equal, and scales equal bit for bit (an infinity included).
void check_identical(const QuantizedMatrix& got, const QuantizedMatrix& expected) {
    REQUIRE(got.rows == expected.rows);
    REQUIRE(got.cols == expected.cols);
    REQUIRE(got.scales.rows() == expected.scales.rows());
    REQUIRE(got.scales.cols() == expected.scales.cols());
    int64_t wrong_codes = 0, first_wrong = -1;
    for (size_t i = 0; i < expected.codes.size(); ++i) {
        if (got.codes[i] != expected.codes[i]) {
            if (first_wrong < 0) first_wrong = static_cast<int64_t>(i);
            ++wrong_codes;
        }
    }
    int64_t wrong_scales = 0;
    for (int64_t i = 0; i < expected.scales.size(); ++i)
        wrong_scales += bits_of(got.scales.data()[i]) != bits_of(expected.scales.data()[i]);
    INFO(wrong_codes << " codes differ (the first at " << first_wrong << "), " << wrong_scales << " scales differ");
    CHECK(wrong_codes == 0);
    CHECK(wrong_scales == 0);
}

}  // namespace

TEST_CASE("gpu quantize: every variant gives core's codes and scales bit for bit", "[gpu][quantize]") {
    struct Shape {
        int rows, cols;
    };
    std::vector<Shape> shapes;
    for (int rows : {1, 3, 37})
        for (int cols : {64, 128, 200, 300}) shapes.push_back({rows, cols});
    // Weights: 128-row blocks, full and partial; one column; fewer columns than a warp.
    for (Shape shape : {Shape{130, 200}, Shape{5, 130}, Shape{129, 1}, Shape{2, 31}, Shape{1, 1}})
        shapes.push_back(shape);

    for (const Shape& shape : shapes) {
        Mat x = random_matrix(shape.rows, shape.cols, 1000 * shape.rows + shape.cols);
        // Row 0's first 1x128 tile: all zeros, one of them negative (the amax floor, a -0 code).
        for (int c = 0; c < std::min(shape.cols, 128); ++c) x(0, c) = 0.0f;
        x(0, 0) = -0.0f;
        // Outside that tile, in the last row: values far beyond 448 and a subnormal float.
        if (shape.rows > 1 || shape.cols > 128) {
            const int last = shape.rows - 1;
            x(last, shape.cols - 1) = 1.0e6f;
            if (shape.cols > 2) {
                x(last, shape.cols - 2) = -3.0e38f;
                x(last, shape.cols - 3) = 1.0e-40f;
            }
        }
        for (const Tile& tile : {seek::kActivationTile, seek::kWeightTile}) {
            for (ScaleFormat format : {ScaleFormat::Float32, ScaleFormat::PowerOfTwo}) {
                const QuantizedMatrix expected = seek::quantize(x, tile, format);
                for (int variant = 1; variant <= 2; ++variant) {
                    seek::emu::set_seed(variant + shape.cols);
                    INFO(shape.rows << " x " << shape.cols << ", " << seek::tile_name(tile) << " tiles, "
                                    << (format == ScaleFormat::Float32 ? "FP32" : "UE8M0") << " scales, variant "
                                    << variant);
                    check_identical(seek::emu::quantize(x, tile, format, variant), expected);
                }
            }
        }
    }
}

TEST_CASE("gpu quantize: an x / s that rounds above 448 saturates to 448 as in core", "[gpu][quantize]") {
    // Every row holds +-v, v the largest magnitude of its 1x128 tile and of its 128x128 block, with
    // v / (v / 448) > 448 in float; the rest is N(0, 1), far below v.
    const float v = amax_that_overflows() * 1024.0f;  // times a power of two: the same roundings
    REQUIRE(v > 0.0f);
    Mat x = random_matrix(130, 300, 3) / 1000.0f;
    for (int r = 0; r < x.rows(); ++r) {
        for (int c0 = 0; c0 < x.cols(); c0 += 128) {
            x(r, c0 + (r % 40)) = v;
            x(r, c0 + (r % 40) + 1) = -v;
        }
    }
    for (const Tile& tile : {seek::kActivationTile, seek::kWeightTile}) {
        const QuantizedMatrix expected = seek::quantize(x, tile, ScaleFormat::Float32);
        int above = 0;  // elements whose x / s rounds above 448: satfinite decides their code
        for (int r = 0; r < x.rows(); ++r)
            for (int c = 0; c < x.cols(); ++c) above += std::fabs(x(r, c) / expected.scale_at(r, c)) > 448.0f;
        CHECK(above == 2 * 3 * x.rows());  // +-v in each of the 3 column tiles of every row
        for (int variant = 1; variant <= 2; ++variant) {
            INFO(seek::tile_name(tile) << ", variant " << variant);
            check_identical(seek::emu::quantize(x, tile, ScaleFormat::Float32, variant), expected);
        }
        // 0x7E / 0xFE: +-448, the largest finite E4M3 value.
        CHECK(expected.codes[static_cast<size_t>(0 * x.cols() + 0)] == 0x7E);
        CHECK(expected.codes[static_cast<size_t>(0 * x.cols() + 1)] == 0xFE);
    }
}

TEST_CASE("gpu quantize: infinities and NaNs as core handles them", "[gpu][quantize]") {
    // Row 0: an infinity (the tile's scale is then infinite: every finite x / s is 0, inf / inf NaN);
    // row 1: a NaN, which the amax skips (fmaxf like std::max) and which encodes to 0x7F;
    // row 2: every element NaN (amax 0: the floor).
    Mat x = random_matrix(3, 200, 5);
    x(0, 10) = std::numeric_limits<float>::infinity();
    x(0, 150) = -std::numeric_limits<float>::infinity();
    x(1, 3) = std::numeric_limits<float>::quiet_NaN();
    x.row(2).setConstant(std::numeric_limits<float>::quiet_NaN());
    for (const Tile& tile : {seek::kActivationTile, seek::kWeightTile}) {
        for (ScaleFormat format : {ScaleFormat::Float32, ScaleFormat::PowerOfTwo}) {
            const QuantizedMatrix expected = seek::quantize(x, tile, format);
            for (int variant = 1; variant <= 2; ++variant) {
                INFO(seek::tile_name(tile) << ", format " << static_cast<int>(format) << ", variant " << variant);
                check_identical(seek::emu::quantize(x, tile, format, variant), expected);
            }
        }
    }
}

TEST_CASE("gpu quantize: other tile shapes, as core's quantize takes any", "[gpu][quantize]") {
    const Mat x = random_matrix(37, 300, 9);
    // Per tensor, a 32-wide row tile (variant 2: a warp, one column per lane), 16 x 8 (variant 2:
    // a block whose lanes past column 8 have nothing to do), one bigger than the matrix.
    for (const Tile& tile : {seek::whole_matrix_tile(x), Tile{1, 32}, Tile{16, 8}, Tile{40, 500}}) {
        const QuantizedMatrix expected = seek::quantize(x, tile, ScaleFormat::Float32);
        for (int variant = 1; variant <= 2; ++variant) {
            INFO(seek::tile_name(tile) << ", variant " << variant);
            check_identical(seek::emu::quantize(x, tile, ScaleFormat::Float32, variant), expected);
        }
    }
}

TEST_CASE("gpu quantize: empty shapes and bad arguments", "[gpu][quantize]") {
    const Mat x = random_matrix(2, 8, 1);
    CHECK_THROWS_WITH(seek::emu::quantize(x, seek::kActivationTile, ScaleFormat::Float32, 3),
                      Catch::Matchers::Contains("variant 3 does not exist"));
    CHECK_THROWS_WITH(seek::emu::quantize(x, Tile{0, 128}, ScaleFormat::Float32, 1),
                      Catch::Matchers::Contains("tile 0x128 is empty"));
    const QuantizedMatrix empty = seek::emu::quantize(Mat(0, 300), seek::kActivationTile, ScaleFormat::Float32, 2);
    CHECK(empty.codes.empty());
    CHECK(empty.scales.rows() == 0);
    CHECK(empty.scales.cols() == 3);
}
