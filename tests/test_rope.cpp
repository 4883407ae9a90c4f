// RoPE and YaRN against values worked by hand from the published formulas (DeepSeek-V3 inference/model.py: precompute_freqs_cis, apply_rotary_emb).
#include <catch2/catch.hpp>
#include <cmath>

#include "core/random.h"
#include "core/rope.h"

using namespace seek;

static std::vector<float> random_vector(uint64_t seed, int64_t n) {
    Rng rng(seed);
    std::vector<float> v(n);
    for (float& x : v) x = rng.normal();
    return v;
}

static double dot(const std::vector<float>& a, const std::vector<float>& b) {
    double sum = 0;
    for (size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
    return sum;
}

TEST_CASE("rope: q_m . k_n depends only on m - n (V3 table, YaRN on)") {
    const ModelConfig v3 = preset_config("v3");
    const RopeTable table = rope_table(v3);
    REQUIRE(table.inv_freq.size() == 32);
    const std::vector<float> q = random_vector(1, 64), k = random_vector(2, 64);
    auto rotated_dot = [&](int64_t m, int64_t n) {
        std::vector<float> qm = q, kn = k;
        apply_rope(qm.data(), m, table);
        apply_rope(kn.data(), n, table);
        return dot(qm, kn);
    };
    const double scale = std::sqrt(dot(q, q) * dot(k, k));
    for (int64_t offset : {0, 1, 3, 100, 4000}) {
        const double reference = rotated_dot(offset, 0);
        for (int64_t n : {1, 17, 1000, 100000}) {
            INFO("m - n = " << offset << ", n = " << n);
            CHECK(std::fabs(rotated_dot(n + offset, n) - reference) < 2e-5 * scale);
        }
    }
    // and it does depend on m - n: otherwise the test above would pass for a no-op
    CHECK(std::fabs(rotated_dot(5, 0) - rotated_dot(0, 0)) > 1e-3 * scale);
}

TEST_CASE("rope: position 0 is the identity and rotation keeps the norm") {
    const RopeTable table = rope_table(preset_config("toy"));
    const std::vector<float> x = random_vector(3, 8);
    std::vector<float> at_zero = x, at_77 = x;
    apply_rope(at_zero.data(), 0, table);
    apply_rope(at_77.data(), 77, table);
    for (size_t i = 0; i < x.size(); ++i) CHECK(at_zero[i] == x[i]);
    CHECK(dot(at_77, at_77) == Approx(dot(x, x)).epsilon(1e-6));
}

TEST_CASE("rope: adjacent pairs rotate as x'[2i] = x cos - y sin, x'[2i+1] = x sin + y cos") {
    const RopeTable table = rope_table(preset_config("toy"));  // d = 8, theta = 10000, no YaRN
    REQUIRE(table.inv_freq[1] == Approx(0.1));                  // 10000^(-2/8)
    std::vector<float> x = {0, 0, 1, 0, 0, 0, 0, 0};
    apply_rope(x.data(), 3, table);
    // pair 1 has θ = 0.1, so at position 3 the unit vector (1, 0) turns by 0.3 rad
    CHECK(x[2] == Approx(std::cos(0.3)).epsilon(1e-6));
    CHECK(x[3] == Approx(std::sin(0.3)).epsilon(1e-6));
    CHECK(x[0] == 0);
    CHECK(x[4] == 0);
}

TEST_CASE("rope: YaRN correction range for V3 is low = 10, high = 23") {
    // corr(n) = 64 ln(4096 / (2π n)) / (2 ln 10000): corr(32) = 10.47 -> floor 10, corr(1) = 22.51 -> ceil 23
    const YarnRange v3 = yarn_correction_range(64, 10000, 32, 1, 4096);
    CHECK(v3.low == 10);
    CHECK(v3.high == 23);
    // the reference's tiny example: d = 8 gives low = 1, high = 3
    const YarnRange tiny = yarn_correction_range(8, 10000, 32, 1, 4096);
    CHECK(tiny.low == 1);
    CHECK(tiny.high == 3);
}

TEST_CASE("rope: YaRN frequencies for V3 match hand-worked values") {
    const RopeTable table = rope_table(preset_config("v3"));
    // i <= 10 keep θ_i = 10000^(-2i/64)
    CHECK(table.inv_freq[0] == Approx(1.0));
    CHECK(table.inv_freq[10] == Approx(std::pow(10.0, -1.25)).epsilon(1e-12));  // 0.0562341
    // i = 16 is on the ramp: (16 - 10) / 13 = 6/13 of the way, θ_16 = 10000^(-1/2) = 0.01:
    // 0.01 · (7/13) + (0.01 / 40) · (6/13) = 0.01 · 286/520 = 0.0055
    CHECK(table.inv_freq[16] == Approx(0.0055).epsilon(1e-12));
    // i >= 23 are divided by the factor 40
    CHECK(table.inv_freq[23] == Approx(std::pow(10.0, -2.875) / 40).epsilon(1e-12));  // 3.33380e-5
    CHECK(table.inv_freq[31] == Approx(std::pow(10.0, -3.875) / 40).epsilon(1e-12));  // 3.33380e-6
    CHECK(table.magnitude == 1.0);  // mscale == mscale_all_dim for V3
}

TEST_CASE("rope: softmax scale with the YaRN mscale^2 correction") {
    // V3: 192^-0.5 · (0.1 ln 40 + 1)^2 = 0.0721688 · 1.873855 = 0.135234
    CHECK(yarn_mscale(40, 1.0) == Approx(1.368888).epsilon(1e-6));
    CHECK(softmax_scale(preset_config("v3")) == Approx(0.135234).epsilon(1e-5));
    // V2-Lite: mscale_all_dim 0.707 -> (0.0707 ln 40 + 1)^2 = 1.589627
    CHECK(softmax_scale(preset_config("v2-lite")) == Approx(1.589627 / std::sqrt(192.0)).epsilon(1e-5));
    // toy: no rope scaling, plain 1/sqrt(qk_head_dim) = 1/sqrt(24)
    CHECK(softmax_scale(preset_config("toy")) == Approx(1 / std::sqrt(24.0)));
}
