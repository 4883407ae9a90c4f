// gpu/linear.cu's kernels, run in the emulator, against core's linear_forward at fp32 precision;
// and the tiled kernel with a barrier removed or its tile edge off by one (linear_bugs.cu), which
// the same check must catch.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "core/linear.h"
#include "gpu/emulator/runtime_api.h"
#include "gpu/linear.h"
#include "tests/gpu/linear_bugs.h"
#include "tests/gpu/random_inputs.h"

using seek::Mat;
using seek::MatD;

namespace {

// Rows from 10^-2 to 10^2.
Mat random_matrix(int rows, int cols, uint64_t seed) { return seek::test::rows_of_varied_magnitude(rows, cols, seed); }

// The bound, per element, on how far two FP32 evaluations of y = x W^T may be apart:
//     |y_a[m, n] - y_b[m, n]| <= 2 gamma_K S[m, n],   S[m, n] = sum_k |x[m, k]| |W[n, k]|,
// gamma_K = K u / (1 - K u), u = 2^-24. A dot product of length K computed in float in ANY order,
// with or without fused multiply-adds, is within gamma_K S of the exact value (Higham, Accuracy and
// Stability of Numerical Algorithms, §3.1: each product and each addition rounds at most once, and
// no term passes through more than K roundings). The kernels sum in k order (nvcc fusing the
// multiply-adds on a GPU); core is gemm.h's chain of fused multiply-adds, also in k order but not
// necessarily fused where the kernel's are: both within gamma_K S of
// the truth, so within 2 gamma_K S of each other. A dropped or doubled term x_k w_k, about S / K,
// or a term read from the wrong place, is far above 2 K u S for every K here.
struct Comparison {
    double worst_excess = 0;  // max over elements of |got - expected| / (gammas gamma_K S): <= 1 passes
    double max_rel = 0;       // max |got - expected| / max |expected|: the trace rule's measure
};

Comparison compare(const Mat& got, const Mat& expected, const Mat& x, const Mat& weight, double gammas = 2) {
    const int64_t K = x.cols();
    const double u = std::ldexp(1.0, -24), gamma = K * u / (1 - K * u);
    const MatD magnitude = x.cast<double>().cwiseAbs() * weight.cast<double>().cwiseAbs().transpose();
    Comparison comparison;
    double max_expected = 0, max_error = 0;
    for (int64_t m = 0; m < got.rows(); ++m) {
        for (int64_t n = 0; n < got.cols(); ++n) {
            const double error = std::fabs(double(got(m, n)) - double(expected(m, n)));
            // NaN (a read past the end, in the emulator) must fail, so it is an infinite excess.
            const double excess = std::isnan(error) ? INFINITY : error / (gammas * gamma * magnitude(m, n));
            comparison.worst_excess = std::max(comparison.worst_excess, excess);
            max_error = std::isnan(error) ? INFINITY : std::max(max_error, error);
            max_expected = std::max(max_expected, std::fabs(double(expected(m, n))));
        }
    }
    comparison.max_rel = max_expected > 0 ? max_error / max_expected : max_error;
    return comparison;
}

struct Shape {
    int M, N, K;
};

}  // namespace

TEST_CASE("gpu linear: every variant matches core's fp32 linear_forward in the emulator", "[gpu][linear]") {
    std::vector<Shape> shapes;
    // The tokens M, output features N and input features K of the grid: one token, tiles
    // of 32 (variant 2) and 64 (variant 3) not filled, crossed, K not a multiple of the tiles.
    for (int M : {1, 3, 37})
        for (int K : {64, 128, 200, 300})
            for (int N : {5, 64, 130}) shapes.push_back({M, N, K});
    // Awkward ones: K not a multiple of 4 (variant 3 loads float by float), K = 1, one column,
    // M and N just past a tile.
    const size_t grid_shapes = shapes.size();
    for (Shape shape : {Shape{2, 3, 1}, Shape{1, 1, 7}, Shape{65, 67, 33}, Shape{5, 129, 130}, Shape{33, 1, 301}})
        shapes.push_back(shape);

    for (size_t s = 0; s < shapes.size(); ++s) {
        const Shape& shape = shapes[s];
        const Mat x = random_matrix(shape.M, shape.K, 100 + shape.K);
        const Mat weight = random_matrix(shape.N, shape.K, 200 + shape.N);
        const Mat expected = seek::linear_forward(x, weight, seek::LinearPrecision{});
        // A float64 re-derivation, independent of core's float GEMM: products of floats are exact
        // in double, and double's own summation error (K 2^-53 S) is far below the bound. Each
        // kernel output is within gamma_K S of it, plus half an ulp for rounding it to float:
        // gamma_K S + u S / 2 <= (1 + 1 / (2K)) gamma_K S.
        const Mat exact = (x.cast<double>() * weight.cast<double>().transpose()).cast<float>();
        const double exact_gammas = 1.0 + 0.5 / shape.K;
        for (int variant = 1; variant <= 3; ++variant) {
            // Two orders of the threads (emulator seeds) for the awkward shapes, one for the grid.
            for (uint64_t seed = 1; seed <= (s < grid_shapes ? 1u : 2u); ++seed) {
                seek::emu::set_seed(seed);
                const Mat got = seek::emu::linear_forward(x, weight, variant);
                REQUIRE(got.rows() == shape.M);
                REQUIRE(got.cols() == shape.N);
                const Comparison against_core = compare(got, expected, x, weight);
                const Comparison against_exact = compare(got, exact, x, weight, exact_gammas);
                INFO("variant " << variant << ", M " << shape.M << ", N " << shape.N << ", K " << shape.K << ", seed "
                                << seed << ": against core " << against_core.worst_excess << " of the bound (max rel "
                                << against_core.max_rel << "), against float64 " << against_exact.worst_excess);
                CHECK(against_core.worst_excess <= 1.0);
                CHECK(against_exact.worst_excess <= 1.0);
                CHECK(against_core.max_rel <= 1e-5);  // core/tolerance.h's fp32 rule
                // Every variant sums each output in k order from zero (linear.cu), but whether a
                // product and its addition are fused into one FMA is the compiler's choice per
                // variant (nvcc fuses by default; so does the host compiler at x86-64-v3): the
                // variants agree within the bound above, not bit for bit.
            }
        }
    }
}

TEST_CASE("gpu linear: empty shapes and bad arguments", "[gpu][linear]") {
    const Mat x = random_matrix(3, 8, 1), weight = random_matrix(4, 8, 2);
    CHECK_THROWS_WITH(seek::emu::linear_forward(x, weight, 4), Catch::Matchers::Contains("variant 4 does not exist"));
    CHECK_THROWS_WITH(seek::emu::linear_forward(x, random_matrix(4, 7, 2), 1),
                      Catch::Matchers::Contains("the input features differ"));
    for (int variant = 1; variant <= 3; ++variant) {
        CHECK(seek::emu::linear_forward(Mat(0, 8), weight, variant).rows() == 0);
        CHECK(seek::emu::linear_forward(x, Mat(0, 8), variant).cols() == 0);
        const Mat zero_k = seek::emu::linear_forward(Mat(3, 0), Mat(4, 0), variant);  // an empty sum: 0
        CHECK(zero_k.rows() == 3);
        CHECK(zero_k.cols() == 4);
        CHECK((zero_k.array() == 0.0f).all());
    }
}

// The bugs a tiled GEMM invites, planted in a copy of variant 2: the check above must catch each.
TEST_CASE("gpu linear: the emulator test catches a missing barrier and an off-by-one tile edge", "[gpu][linear]") {
    using seek::demo::LinearBug;
    // 37 rows (two row tiles, the second partial), K = 200: six full tiles of 32 and a last one of 8.
    const int M = 37, N = 64;
    auto run = [&](int K, LinearBug bug, uint64_t seed) {
        const Mat x = random_matrix(M, K, 7), weight = random_matrix(N, K, 8);
        seek::emu::set_seed(seed);
        const std::vector<float> x_flat(x.data(), x.data() + x.size());
        const std::vector<float> weight_flat(weight.data(), weight.data() + weight.size());
        const std::vector<float> flat = seek::emu::tiled_linear_with_bug(x_flat, weight_flat, M, N, K, bug);
        const Mat got = Eigen::Map<const Mat>(flat.data(), M, N);
        return std::make_pair(got, compare(got, seek::linear_forward(x, weight, seek::LinearPrecision{}), x, weight));
    };
    for (uint64_t seed : {uint64_t(1), uint64_t(2)}) {
        // Without a bug the copy is variant 2, bit for bit, and passes.
        const auto [clean, clean_check] = run(200, LinearBug::none, seed);
        const Mat x = random_matrix(M, 200, 7), weight = random_matrix(N, 200, 8);
        CHECK((clean.array() == seek::emu::linear_forward(x, weight, 2).array()).all());
        CHECK(clean_check.worst_excess <= 1.0);

        for (LinearBug bug : {LinearBug::missing_load_barrier, LinearBug::missing_reuse_barrier,
                              LinearBug::tile_edge_off_by_one}) {
            const Comparison check = run(200, bug, seed).second;
            INFO("bug " << static_cast<int>(bug) << ", seed " << seed << ": " << check.worst_excess
                        << " of the bound, max rel " << check.max_rel);
            CHECK(check.worst_excess > 1.0);  // caught
        }
    }
    // The off-by-one lives at the last, partial tile: with K a multiple of 32 there is none, and the
    // result is right. This is why the tests use K = 200 and 300, not only powers of two.
    const Comparison aligned = run(128, LinearBug::tile_edge_off_by_one, 1).second;
    CHECK(aligned.worst_excess <= 1.0);
}
