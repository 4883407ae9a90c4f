// gpu/rms_norm.cu's kernels, run in the emulator, against core's rms_norm_forward.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <stdexcept>

#include "core/norm.h"
#include "core/random.h"
#include "gpu/emulator/runtime_api.h"
#include "gpu/rms_norm.h"

using seek::Mat;
using seek::Vec;

namespace {

// Rows of N(0, 1) values scaled by 10^-2 .. 10^2 (row by row), so rows differ in magnitude.
Mat random_rows(int rows, int cols, uint64_t seed) {
    seek::Rng rng(seed);
    Mat x(rows, cols);
    for (int t = 0; t < rows; ++t) {
        const float scale = std::pow(10.0f, static_cast<float>(t % 5 - 2));
        for (int i = 0; i < cols; ++i) x(t, i) = scale * rng.normal();
    }
    return x;
}

Vec random_weight(int cols, uint64_t seed) {
    seek::Rng rng(seed);
    Vec weight(cols);
    for (int i = 0; i < cols; ++i) weight[i] = 1.0f + 0.1f * rng.normal();
    return weight;
}

}  // namespace

// Tolerance, per element, relative to core's y: (cols / 2 + 10) u, u = 2^-24.
// core sums the squares in double and rounds r = 1/sqrt(mean + eps) once to float; the kernels sum
// in float, each in its own order. For a sum of n non-negative rounded squares, any order, the
// relative error is at most gamma_n ~ n u; r = S^(-1/2) halves it, to n u / 2. Then come a few
// roundings on each side: the mean, + eps, the square root and the reciprocal in the kernel (rsqrtf
// is within 2 ulp on a GPU), r's rounding in core, and x r w's two products on both sides: at most
// 10 u in all. This is a worst-case bound, typically far from reached; a kernel that drops or
// repeats one of n squares is off by about 1 / (2n), above the bound for every n below 4096.
TEST_CASE("gpu rms_norm: every variant matches core in the emulator", "[gpu][rms_norm]") {
    struct Shape {
        int rows, cols;
    };
    // one row; cols below 32, not a multiple of 32, of 256, of the block; 1000+ columns;
    // rows not a multiple of variant 3's four rows per block.
    const Shape shapes[] = {{1, 1}, {1, 7}, {3, 31}, {2, 32}, {5, 33}, {13, 64}, {4, 255},
                            {4, 257}, {9, 100}, {7, 1000}, {2, 1537}, {1, 7168}};
    const float eps = 1e-6f;
    const double u = std::ldexp(1.0, -24);
    for (int variant = 1; variant <= 3; ++variant) {
        for (const Shape& shape : shapes) {
            for (uint64_t seed : {uint64_t(1), uint64_t(2)}) {
                const Mat x = random_rows(shape.rows, shape.cols, 100 * seed + shape.cols);
                const Vec weight = random_weight(shape.cols, 200 * seed + shape.cols);
                const Mat expected = seek::rms_norm_forward<float>(x, weight, eps);
                seek::emu::set_seed(seed);
                const Mat got = seek::emu::rms_norm_forward(x, weight, eps, variant);
                REQUIRE(got.rows() == expected.rows());
                REQUIRE(got.cols() == expected.cols());
                const double tolerance = (shape.cols / 2.0 + 10.0) * u;
                double worst = 0;
                for (int t = 0; t < shape.rows; ++t) {
                    for (int i = 0; i < shape.cols; ++i) {
                        const double error = std::fabs(double(got(t, i)) - double(expected(t, i)));
                        worst = std::max(worst, error / std::fabs(double(expected(t, i))));
                    }
                }
                INFO("variant " << variant << ", " << shape.rows << " x " << shape.cols << ", seed " << seed
                                << ": worst relative error " << worst << ", tolerance " << tolerance);
                CHECK(worst <= tolerance);
            }
        }
    }
}

TEST_CASE("gpu rms_norm: bad arguments are refused", "[gpu][rms_norm]") {
    const Mat x = random_rows(2, 8, 1);
    CHECK_THROWS_WITH(seek::emu::rms_norm_forward(x, random_weight(8, 1), 1e-6f, 4),
                      Catch::Matchers::Contains("variant 4 does not exist"));
    CHECK_THROWS_WITH(seek::emu::rms_norm_forward(x, random_weight(7, 1), 1e-6f, 1),
                      Catch::Matchers::Contains("weight has 7 entries, x has 8 columns"));
    CHECK(seek::emu::rms_norm_forward(Mat(0, 8), random_weight(8, 1), 1e-6f, 2).rows() == 0);
}
