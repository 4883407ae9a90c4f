// gpu/rope.cu's kernels, run in the emulator, against core's rope_forward: V3's YaRN table at
// positions up to 163,839, MLA's layouts (k_pe, q with nope lanes between the heads' rope lanes).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "core/config.h"
#include "core/random.h"
#include "core/rope.h"
#include "gpu/emulator/runtime_api.h"
#include "gpu/rope.h"

// The planted-bug copies (compiled here for the emulator, as gpu/emulator's wrappers compile a .cu).
#include "tests/gpu/rope_bugs.cu"

using seek::Mat;
using seek::RopeLanes;
using seek::RopeTable;

namespace {

const double u = std::ldexp(1.0, -24);  // float's unit roundoff

Mat random_matrix(int rows, int cols, uint64_t seed) {
    seek::Rng rng(seed);
    Mat x(rows, cols);
    for (int t = 0; t < rows; ++t)
        for (int i = 0; i < cols; ++i) x(t, i) = rng.normal();
    return x;
}

// Positions spread over V3's whole context, its first and last included.
std::vector<int64_t> random_positions(int rows, uint64_t seed) {
    seek::Rng rng(seed);
    std::vector<int64_t> positions(rows);
    for (int t = 0; t < rows; ++t) positions[t] = static_cast<int64_t>(rng.next_u64() % 163840);
    if (rows > 0) positions[0] = 163839;
    if (rows > 1) positions[1] = 0;
    if (rows > 2) positions[2] = 163838;
    return positions;
}

struct Layout {
    int rows, cols;
    RopeLanes lanes;
};

// The worst |got - expected| over the rope lanes, in units of u · m (|x[2i]| + |x[2i+1]|) of the
// pair's input; every other column must be untouched (exactly equal).
struct Measured {
    double worst = 0;
    bool others_untouched = true;
};
Measured measure(const Mat& got, const Mat& expected, const Mat& input, const RopeTable& table, const RopeLanes& lanes) {
    const int64_t dr = 2 * static_cast<int64_t>(table.inv_freq.size());
    const int64_t stride = lanes.stride ? lanes.stride : dr;
    const int64_t heads = lanes.heads ? lanes.heads : (input.cols() - lanes.first) / stride;
    Measured m;
    for (Eigen::Index t = 0; t < input.rows(); ++t) {
        std::vector<bool> rope_lane(input.cols(), false);
        for (int64_t h = 0; h < heads; ++h) {
            for (int64_t i = 0; i < dr; i += 2) {
                const int64_t c = lanes.first + h * stride + i;
                rope_lane[c] = rope_lane[c + 1] = true;
                const double size = table.magnitude * (std::fabs(input(t, c)) + std::fabs(input(t, c + 1))) * u;
                for (int64_t j : {c, c + 1}) {
                    const double error = std::fabs(double(got(t, j)) - double(expected(t, j)));
                    m.worst = std::max(m.worst, std::isnan(error) ? INFINITY : error / size);
                }
            }
        }
        for (Eigen::Index c = 0; c < input.cols(); ++c)
            if (!rope_lane[c] && got(t, c) != input(t, c)) m.others_untouched = false;
    }
    return m;
}

RopeTable v3_table() { return seek::rope_table(seek::preset_config("v3")); }

}  // namespace

// Tolerances, per rotated lane, in u = 2^-24 times m (|x[2i]| + |x[2i+1]|) (m: the table's magnitude):
//   variant 1: 2. It forms the same double product a = p θ as core, then sin, cos (within 2 ulp
//     of double on a GPU, 1 in the C library) and the rotation in double: the two doubles agree to
//     ~1e-15 relative, so after each rounds once to float they differ by at most one float ulp of
//     the result, 2u |x'| <= 2u m (|x[2i]| + |x[2i+1]|).
//   variant 2: 11. cos and sin: the reduced angle rounded to float (<= π u), sincosf (2 ulp: <= 2u below 1),
//     times m rounded (u): within (π + 3) u m of m cos(a). The rotation in float: two products
//     and a difference (an FMA or not): <= 2u (|x[2i] c| + |x[2i+1] s|) (1 + 7u). core rounds its
//     double result once: u m (...). In all (π + 3 + 2 + 1) u + O(u^2) < 10 u; 11 with margin.
//   A float angle, instead, is off by up to 1.8e-2 rad at position 163,839: 3e5 u.
TEST_CASE("gpu rope: every variant matches core at positions up to 163,839", "[gpu][rope]") {
    const RopeTable v3 = v3_table();  // 32 pairs, YaRN (factor 40), magnitude 1
    RopeTable v3_scaled = v3;
    v3_scaled.magnitude = 0.8;  // as when mscale != mscale_all_dim
    v3_scaled.cos.clear();      // the cached m cos / m sin were made with magnitude 1: core then
    v3_scaled.sin.clear();      // computes them on demand, with 0.8
    const RopeTable toy = seek::rope_table(seek::preset_config("toy"));  // 4 pairs, no YaRN
    struct Case {
        const char* what;
        const RopeTable* table;
        Layout layout;
    };
    const int dr = 64;
    const Case cases[] = {
        {"k_pe, one row", &v3, {1, dr, {0, dr, 1}}},
        {"k_pe, 37 rows", &v3, {37, dr, {0, dr, 1}}},
        {"q_pe, 3 heads, default lanes", &v3, {5, 3 * dr, {}}},
        {"q: 3 heads of [5 nope ; 64 rope] lanes", &v3, {7, 3 * (5 + dr), {5, 5 + dr, 3}}},
        {"q: 5 heads of [128 nope ; 64 rope], magnitude 0.8", &v3_scaled, {9, 5 * (128 + dr), {128, 128 + dr, 5}}},
        {"q: 2 of 3 heads, lanes mid-row", &v3_scaled, {4, 3 * 70 + 3, {3, 70, 2}}},
        {"toy: 3 heads of [8 nope ; 8 rope]", &toy, {11, 3 * 16, {8, 16, 3}}},
        {"toy: one row, one head", &toy, {1, 8, {}}},
    };
    const double tolerance[] = {0, 2, 11};
    for (int variant = 1; variant <= 2; ++variant) {
        for (const Case& c : cases) {
            for (uint64_t seed : {uint64_t(1), uint64_t(2)}) {
                const Mat input = random_matrix(c.layout.rows, c.layout.cols, 10 * seed + c.layout.cols);
                const std::vector<int64_t> positions = random_positions(c.layout.rows, 20 * seed + c.layout.rows);
                Mat expected = input, got = input;
                seek::rope_forward<float>(expected, positions, *c.table, c.layout.lanes);
                seek::emu::set_seed(seed);
                seek::emu::rope_forward(got, positions, *c.table, c.layout.lanes, variant);
                const Measured m = measure(got, expected, input, *c.table, c.layout.lanes);
                INFO("variant " << variant << ", " << c.what << ", seed " << seed << ": worst error " << m.worst
                                << " u m (|x0| + |x1|), tolerance " << tolerance[variant]);
                CHECK(m.worst <= tolerance[variant]);
                CHECK(m.others_untouched);
            }
        }
    }
}

TEST_CASE("gpu rope: the kernels give the same bytes whatever the thread order", "[gpu][rope]") {
    const RopeTable table = v3_table();
    const Mat input = random_matrix(6, 3 * 192, 5);
    const std::vector<int64_t> positions = random_positions(6, 6);
    for (int variant = 1; variant <= 2; ++variant) {
        Mat first = input, second = input;
        seek::emu::set_seed(1);
        seek::emu::rope_forward(first, positions, table, {128, 192, 3}, variant);
        seek::emu::set_seed(99);
        seek::emu::rope_forward(second, positions, table, {128, 192, 3}, variant);
        CHECK(first == second);
    }
}

// The planted bugs of tests/gpu/rope_bugs.cu, on V3's k_pe layout at V3's positions.
TEST_CASE("gpu rope: a missing barrier and a float angle fail", "[gpu][rope]") {
    namespace bugs = seek::emu::rope_bugs;
    const RopeTable table = v3_table();
    const int rows = 8, cols = 3 * 64;  // three heads, so threads 32..95 only read the table
    const Mat input = random_matrix(rows, cols, 7);
    const std::vector<int64_t> positions = random_positions(rows, 8);
    Mat expected = input;
    seek::rope_forward<float>(expected, positions, table, {});
    auto run = [&](auto kernel, uint64_t seed) {
        std::vector<float> x(input.data(), input.data() + input.size());
        seek::emu::set_seed(seed);
        kernel(x, positions, table.inv_freq, table.magnitude, cols, 0, 64, 3);
        return Mat(Eigen::Map<Mat>(x.data(), rows, cols));
    };
    const double tolerance = 11;
    // The copy without a bug passes, so what fails below is the bug.
    CHECK(measure(run(bugs::rope_planted<bugs::Bug::none>, 1), expected, input, table, {}).worst <= tolerance);
    for (uint64_t seed : {uint64_t(1), uint64_t(2), uint64_t(3)}) {
        INFO("seed " << seed);
        const Mat buggy = run(bugs::rope_planted<bugs::Bug::missing_barrier>, seed);
        CHECK(measure(buggy, expected, input, table, {}).worst > tolerance);
        CHECK(buggy.array().isNaN().any());  // read before written: the emulator's 0xFF NaN
    }
    // The float angle: rows at large positions are far off, position 0 (row 1) is exact.
    const Mat float_angle = run(bugs::rope_planted<bugs::Bug::float_angle>, 1);
    const Measured worst = measure(float_angle, expected, input, table, {});
    INFO("float angle: worst error " << worst.worst << " u m (|x0| + |x1|)");
    CHECK(worst.worst > 1000 * tolerance);
    CHECK(measure(float_angle.middleRows(1, 1), expected.middleRows(1, 1), input.middleRows(1, 1), table, {}).worst <=
          tolerance);
}

TEST_CASE("gpu rope: bad arguments are refused", "[gpu][rope]") {
    const RopeTable table = v3_table();
    Mat x = random_matrix(2, 64, 1);
    CHECK_THROWS_WITH(seek::emu::rope_forward(x, {1, 2}, table, {}, 3), Catch::Matchers::Contains("variant 3 does not exist"));
    CHECK_THROWS_WITH(seek::emu::rope_forward(x, {1}, table, {}, 1), Catch::Matchers::Contains("1 positions for 2 rows"));
    CHECK_THROWS_WITH(seek::emu::rope_forward(x, {1, 2}, table, {8, 64, 1}, 2),
                      Catch::Matchers::Contains("64 columns do not hold 1 heads of 64 rope lanes from column 8"));
    Mat empty(0, 64);
    CHECK_NOTHROW(seek::emu::rope_forward(empty, {}, table, {}, 2));
}
