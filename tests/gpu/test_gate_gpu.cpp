// gpu/gate.cu's routing kernels, run in the emulator, against core's route_tokens.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <string>

#include "core/config.h"
#include "core/gate.h"
#include "core/random.h"
#include "gpu/emulator/runtime_api.h"
#include "gpu/gate.h"

using seek::Mat;
using seek::ModelConfig;
using seek::Routing;
using seek::Vec;

namespace {

// The toy's config with its gate reshaped. V3's rule: sigmoid, a bias (noaux_tc), normalized;
// V2's: softmax, no bias, not normalized; groups with either.
struct Gate {
    const char* name;
    int experts, groups, kept, top_k;
    bool v3_rule;
    double scale;
};

ModelConfig gate_config(const Gate& gate) {
    ModelConfig c = seek::preset_config("toy");
    c.name = gate.name;
    c.n_routed_experts = gate.experts;
    c.n_group = gate.groups;
    c.topk_group = gate.kept;
    c.num_experts_per_tok = gate.top_k;
    c.scoring_func = gate.v3_rule ? "sigmoid" : "softmax";
    c.topk_method = gate.v3_rule ? "noaux_tc" : (gate.groups > 1 ? "group_limited_greedy" : "greedy");
    c.norm_topk_prob = gate.v3_rule;
    c.routed_scaling_factor = gate.scale;
    return c;
}

const Gate gates[] = {
    {"V3-like: 256 experts, 8 groups, keep 4, top-8", 256, 8, 4, 8, true, 2.5},
    {"V2-like: 64 experts, 1 group, top-6, softmax", 64, 1, 1, 6, false, 1.0},
    {"toy: 16 experts in 4 groups, keep 2, top-4", 16, 4, 2, 4, true, 2.5},
    {"softmax with groups (group max): 16 in 4, keep 2, top-3", 16, 4, 2, 3, false, 1.5},
    {"groups of one with a bias: 8 in 8, keep 3, top-2", 8, 8, 3, 2, true, 2.5},
    {"40 experts in 5 groups (not a multiple of 32), keep 2, top-3", 40, 5, 2, 3, true, 1.0},
    {"48 groups (lanes hold two), keep 20, top-6", 96, 48, 20, 6, true, 2.5},
};

// Logits N(0, 1) (or, with `ties`, rounded to multiples of 1/2: many equal scores, equal group
// scores, equal biased scores) and a bias N(0, 0.05^2) (multiples of 1/16 with ties) for V3's rule.
Mat random_logits(int tokens, int experts, uint64_t seed, bool ties) {
    seek::Rng rng(seed);
    Mat logits(tokens, experts);
    for (int i = 0; i < logits.size(); ++i) {
        const float z = rng.normal();
        logits.data()[i] = ties ? std::round(2.0f * z) / 2.0f : z;
    }
    return logits;
}

Vec random_bias(const ModelConfig& config, uint64_t seed, bool ties) {
    if (!seek::gate_has_bias(config)) return Vec();
    seek::Rng rng(seed);
    Vec bias(config.n_routed_experts);
    for (int i = 0; i < bias.size(); ++i) {
        const float b = 0.05f * rng.normal();
        bias[i] = ties ? std::round(16.0f * b) / 16.0f : b;
    }
    return bias;
}

bool same_bits(const Mat& a, const Mat& b) {
    return a.rows() == b.rows() && a.cols() == b.cols() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// max over elements of |a - b| / |b| (0 where both are 0).
double worst_relative(const Mat& a, const Mat& b) {
    REQUIRE(a.rows() == b.rows());
    REQUIRE(a.cols() == b.cols());
    double worst = 0;
    for (int i = 0; i < a.size(); ++i) {
        const double difference = std::fabs(double(a.data()[i]) - double(b.data()[i]));
        if (difference > 0) worst = std::max(worst, difference / std::fabs(double(b.data()[i])));
    }
    return worst;
}

}  // namespace

// Decisions (topk_idx, group_mask) must be equal. The floats:
// - sigmoid: every field is elementwise or a sum in core's order (the group's top-2 is a pair of
//   values, whatever order finds it; the weight sum goes in k order in both variants), and the
//   emulator's expf is core's: equal bit for bit.
// - softmax, variant 1: core's order throughout (the double sum from expert 0 up): bit for bit.
// - softmax, variant 2: the double sum of the E exponentials is a tree. Both sums are within
//   (E - 1) 2^-53 relative of the exact sum, so the double quotients e_i / S differ by about
//   2E 2^-53 relative, far below a float's half ulp (2^-24): rounded to float they are equal or
//   adjacent. Scores and group scores (a max of scores): within 2^-23 relative. Weights: w =
//   c s_k / d, d the float sum of K such scores (each side within (K - 1) 2^-24 of its exact sum,
//   so d within K 2^-23), s_k within 2^-23, and the division and product round on each side
//   (4 2^-24): within (K + 3) 2^-23 relative. A tie (equal logits) stays a tie: equal exponentials
//   divided by one sum.
// With V3's bias, a softmax config would add s + b's rounding; the tests pair softmax with no bias.
TEST_CASE("gpu route: both variants match core's route_tokens in the emulator", "[gpu][route]") {
    const double ulp2 = std::ldexp(1.0, -23);
    for (const Gate& gate : gates) {
        const ModelConfig config = gate_config(gate);
        const bool softmax = !gate.v3_rule;
        for (int tokens : {1, 13}) {
            for (bool ties : {false, true}) {
                for (uint64_t seed : {uint64_t(1), uint64_t(2)}) {
                    const Mat logits = random_logits(tokens, gate.experts, 1000 * seed + tokens, ties);
                    const Vec bias = random_bias(config, 77 * seed, ties);
                    const Routing expected = seek::route_tokens(config, logits, bias);
                    for (int variant = 1; variant <= 2; ++variant) {
                        seek::emu::set_seed(seed);
                        const Routing got = seek::emu::route_tokens(config, logits, bias, variant);
                        INFO(gate.name << ", " << tokens << " tokens, " << (ties ? "with ties" : "no ties") << ", seed "
                                       << seed << ", variant " << variant);
                        CHECK(got.topk_idx == expected.topk_idx);
                        CHECK(same_bits(got.group_mask, expected.group_mask));
                        if (!softmax || variant == 1) {
                            CHECK(same_bits(got.scores, expected.scores));
                            CHECK(same_bits(got.biased_scores, expected.biased_scores));
                            CHECK(same_bits(got.group_scores, expected.group_scores));
                            CHECK(same_bits(got.topk_weight, expected.topk_weight));
                        } else {
                            CHECK(worst_relative(got.scores, expected.scores) <= ulp2);
                            CHECK(worst_relative(got.biased_scores, expected.biased_scores) <= ulp2);
                            CHECK(worst_relative(got.group_scores, expected.group_scores) <= ulp2);
                            CHECK(worst_relative(got.topk_weight, expected.topk_weight) <= (gate.top_k + 3) * ulp2);
                        }
                    }
                }
            }
        }
    }
}

// Every logit equal: every expert ties, so does every group. Core keeps the lowest-index groups
// and, in them, the lowest-index experts; so must the kernels.
TEST_CASE("gpu route: all-equal logits pick the lowest-index groups and experts", "[gpu][route]") {
    const ModelConfig config = gate_config(gates[0]);  // 256 experts, 8 groups, keep 4, top-8
    const Mat logits = Mat::Constant(3, 256, 0.25f);
    const Vec bias = Vec::Zero(256);
    for (int variant = 1; variant <= 2; ++variant) {
        const Routing got = seek::emu::route_tokens(config, logits, bias, variant);
        for (int t = 0; t < 3; ++t) {
            for (int k = 0; k < 8; ++k) CHECK(got.topk_idx(t, k) == k);
            for (int g = 0; g < 8; ++g) CHECK(got.group_mask(t, g) == (g < 4 ? 1.0f : 0.0f));
            for (int k = 0; k < 8; ++k) CHECK(got.topk_weight(t, k) == seek::route_tokens(config, logits, bias).topk_weight(t, k));
        }
    }
}

TEST_CASE("gpu route: bad input is refused before any launch", "[gpu][route]") {
    const ModelConfig config = gate_config(gates[2]);  // 16 experts
    Mat logits = random_logits(2, 16, 5, false);
    const Vec bias = random_bias(config, 5, false);
    CHECK_THROWS_WITH(seek::emu::route_tokens(config, logits, bias, 3), Catch::Matchers::Contains("variant 3 does not exist"));
    CHECK_THROWS_WITH(seek::emu::route_tokens(config, random_logits(2, 15, 5, false), bias, 1),
                      Catch::Matchers::Contains("gate logits have 15 columns"));
    CHECK_THROWS_WITH(seek::emu::route_tokens(config, logits, Vec::Zero(3), 1),
                      Catch::Matchers::Contains("e_score_correction_bias has 3 entries, expected 16"));
    logits(1, 7) = NAN;
    CHECK_THROWS_WITH(seek::emu::route_tokens(config, logits, bias, 2), Catch::Matchers::Contains("gate logits[1, 7]"));
    ModelConfig many_groups = gate_config({"128 groups", 128, 128, 2, 2, true, 1.0});
    CHECK_THROWS_WITH(seek::emu::route_tokens(many_groups, random_logits(1, 128, 5, false), Vec::Zero(128), 1),
                      Catch::Matchers::Contains("at most 64 groups"));
    CHECK(seek::emu::route_tokens(config, Mat(0, 16), bias, 2).topk_idx.rows() == 0);
}
