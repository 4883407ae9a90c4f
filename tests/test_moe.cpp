// DeepSeekMoE: the gate worked by hand, the bias's role, normalization, the dispatch plan worked by
// hand, the grouped experts against a float64 reference, load statistics and the two balancing
// methods.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <set>

#include "core/gate.h"
#include "core/moe.h"
#include "core/quantize.h"
#include "core/random.h"

using namespace seek;
using Catch::Matchers::Contains;

static Mat random_matrix(int64_t rows, int64_t cols, uint64_t seed, float std = 1.0f) {
    Mat m(rows, cols);
    Rng rng(seed);
    for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = std * rng.normal();
    return m;
}

static double max_rel_diff(const Mat& a, const Mat& b) {
    REQUIRE(a.rows() == b.rows());
    REQUIRE(a.cols() == b.cols());
    return (a - b).cwiseAbs().maxCoeff() / a.cwiseAbs().maxCoeff();
}

// The logit whose sigmoid is p, so that a test can write the scores it wants.
static float logit_of(double p) { return static_cast<float>(std::log(p / (1 - p))); }

enum class GateRule { V3, V2 };  // V3: sigmoid + bias, renormalized; V2: softmax, no bias, not renormalized

// The toy with its gate reshaped: `experts` in `groups` groups, keep `kept`, top-`k`, times `scale`.
static ModelConfig gate_config(int64_t experts, int64_t groups, int64_t kept, int64_t k, GateRule rule, double scale) {
    ModelConfig c = preset_config("toy");
    c.name = rule == GateRule::V3 ? "toy, V3 gate" : "toy, V2 gate";
    c.n_routed_experts = experts;
    c.n_group = groups;
    c.topk_group = kept;
    c.num_experts_per_tok = k;
    c.scoring_func = rule == GateRule::V3 ? "sigmoid" : "softmax";
    c.topk_method = rule == GateRule::V3 ? "noaux_tc" : "greedy";
    c.norm_topk_prob = rule == GateRule::V3;
    c.routed_scaling_factor = scale;
    return c;
}

// 8 experts in 4 groups of 2, keep 2 groups, top-3, V3's rule and scale.
static ModelConfig small_v3_gate() { return gate_config(8, 4, 2, 3, GateRule::V3, 2.5); }

static Vec vec(std::initializer_list<float> values) {
    Vec v(static_cast<Eigen::Index>(values.size()));
    Eigen::Index i = 0;
    for (float value : values) v[i++] = value;
    return v;
}

static std::vector<int32_t> row_of(const IndexMat& m, int64_t row) {
    return std::vector<int32_t>(m.row(row).data(), m.row(row).data() + m.cols());
}

static std::vector<float> row_of(const Mat& m, int64_t row) {
    return std::vector<float>(m.row(row).data(), m.row(row).data() + m.cols());
}

static void check_weights(const Routing& r, int64_t token, const std::vector<double>& expected, double epsilon) {
    REQUIRE(r.topk_weight.cols() == static_cast<Eigen::Index>(expected.size()));
    for (size_t k = 0; k < expected.size(); ++k) CHECK(r.topk_weight(token, k) == Approx(expected[k]).epsilon(epsilon));
}

// Scores come out of expf: within a few float ulps of the values written in the tests. Sums of two
// of them and weights (a ratio of such sums times 2.5) stay within 1e-6 relative.
constexpr double kScoreMargin = 1e-6;

TEST_CASE("moe: hand-worked routing, sigmoid + bias + groups (V3's rule)") {
    const ModelConfig config = small_v3_gate();
    // expert            0      1      2      3      4      5      6      7
    // group             g0     g0     g1     g1     g2     g2     g3     g3
    // s (score)       0.90   0.10   0.60   0.45   0.70   0.50   0.35   0.05
    // b (bias)       -0.50   0.00   0.05   0.10   0.10   0.10   0.60   0.00
    // s + b           0.40   0.10   0.65   0.55   0.80   0.60   0.95   0.05
    //
    // Group score = sum of the group's top-2 s + b:
    //   g0 0.40 + 0.10 = 0.50,  g1 0.65 + 0.55 = 1.20,  g2 0.80 + 0.60 = 1.40,  g3 0.95 + 0.05 = 1.00
    // Keep the best 2 groups: g2 and g1. (g3 holds the best single biased score, 0.95, but a group
    // is judged by its top two; expert 0 has the best raw score, 0.90, but its bias sinks its group.)
    // Candidates 2 (0.65), 3 (0.55), 4 (0.80), 5 (0.60); the top-3 by s + b: 4, 2, 5.
    // Weights from the UNBIASED scores 0.70, 0.60, 0.50 (sum 1.80), times 2.5 / 1.80:
    //   0.70 * 2.5 / 1.8 = 0.972222,  0.60 * 2.5 / 1.8 = 0.833333,  0.50 * 2.5 / 1.8 = 0.694444
    const std::vector<double> s = {0.90, 0.10, 0.60, 0.45, 0.70, 0.50, 0.35, 0.05};
    const Vec bias = vec({-0.50f, 0.00f, 0.05f, 0.10f, 0.10f, 0.10f, 0.60f, 0.00f});
    Mat logits(1, 8);
    for (int64_t i = 0; i < 8; ++i) logits(0, i) = logit_of(s[i]);
    const Routing r = route_tokens(config, logits, bias);

    for (int64_t i = 0; i < 8; ++i) CHECK(r.scores(0, i) == Approx(s[i]).margin(kScoreMargin));
    CHECK(r.biased_scores(0, 0) == Approx(0.40).margin(kScoreMargin));
    CHECK(r.biased_scores(0, 6) == Approx(0.95).margin(kScoreMargin));
    const std::vector<double> group_scores = {0.50, 1.20, 1.40, 1.00};
    for (int64_t g = 0; g < 4; ++g) CHECK(r.group_scores(0, g) == Approx(group_scores[g]).margin(2 * kScoreMargin));
    CHECK(row_of(r.group_mask, 0) == std::vector<float>{0, 1, 1, 0});
    CHECK(row_of(r.topk_idx, 0) == std::vector<int32_t>{4, 2, 5});
    check_weights(r, 0, {0.972222, 0.833333, 0.694444}, 1e-5);  // 1e-5: the six digits written

    SECTION("without a bias the group score is the group's max, and the choice changes") {
        // s alone: group max g0 0.90, g1 0.60, g2 0.70, g3 0.35: keep g0 and g2.
        // Candidates 0 (0.90), 1 (0.10), 4 (0.70), 5 (0.50); top-3: 0, 4, 5.
        // Weights 0.90, 0.70, 0.50 (sum 2.10) times 2.5 / 2.1: 1.071429, 0.833333, 0.595238.
        const Routing plain = route_tokens(config, logits, Vec());
        CHECK(plain.group_scores(0, 0) == Approx(0.90).margin(kScoreMargin));
        CHECK(row_of(plain.group_mask, 0) == std::vector<float>{1, 0, 1, 0});
        CHECK(row_of(plain.topk_idx, 0) == std::vector<int32_t>{0, 4, 5});
        check_weights(plain, 0, {1.071429, 0.833333, 0.595238}, 1e-5);
    }
    SECTION("exact ties go to the lower index, for groups and for experts") {
        // Every logit 0: every score is exactly 0.5 (1 / (1 + e^0)), every group scores 1.0.
        // Groups g0, g1 are kept; of experts 0-3 the top-3 are 0, 1, 2; each weighs 2.5 / 3.
        const Routing tied = route_tokens(config, Mat::Zero(1, 8), Vec::Zero(8));
        CHECK(row_of(tied.group_mask, 0) == std::vector<float>{1, 1, 0, 0});
        CHECK(row_of(tied.topk_idx, 0) == std::vector<int32_t>{0, 1, 2});
        check_weights(tied, 0, {2.5 / 3, 2.5 / 3, 2.5 / 3}, 1e-6);  // 0.5 / 1.5 * 2.5 in float
    }
}

TEST_CASE("moe: hand-worked routing, softmax without groups (V2's rule)") {
    const ModelConfig config = gate_config(4, 1, 1, 2, GateRule::V2, 2.0);
    // Token 0: logits ln 4, ln 2, 0, 0  -> softmax 4/8, 2/8, 1/8, 1/8 = 0.5, 0.25, 0.125, 0.125.
    //   Top-2: experts 0 and 1; not renormalized, times 2: weights 1.0 and 0.5 (sum 1.5, not 2).
    // Token 1: logits 0, 0, ln 3, 0     -> softmax 1/6, 1/6, 3/6, 1/6.
    //   Top-2: expert 2 (0.5), then a three-way tie at 1/6 that the lowest index, 0, wins.
    //   Weights 1.0 and 0.333333.
    Mat logits(2, 4);
    logits << std::log(4.0f), std::log(2.0f), 0, 0,  //
        0, 0, std::log(3.0f), 0;
    const Routing r = route_tokens(config, logits, Vec());
    CHECK(r.scores(0, 0) == Approx(0.5).margin(kScoreMargin));
    CHECK(r.scores(0, 2) == Approx(0.125).margin(kScoreMargin));
    CHECK(row_of(r.group_mask, 0) == std::vector<float>{1});
    CHECK(row_of(r.topk_idx, 0) == std::vector<int32_t>{0, 1});
    check_weights(r, 0, {1.0, 0.5}, 1e-6);  // exact fractions, off by the softmax's float rounding
    CHECK(row_of(r.topk_idx, 1) == std::vector<int32_t>{2, 0});
    check_weights(r, 1, {1.0, 1.0 / 3}, 1e-6);
}

TEST_CASE("moe: the bias changes which experts are chosen, never the weight a chosen expert gets") {
    for (bool normalize : {true, false}) {
        INFO("norm_topk_prob " << normalize);
        ModelConfig config = preset_config("toy");
        config.norm_topk_prob = normalize;
        const Mat logits = random_matrix(64, config.n_routed_experts, 1);
        const Vec bias = random_matrix(config.n_routed_experts, 1, 2, 0.2f);
        const Routing plain = route_tokens(config, logits, Vec::Zero(config.n_routed_experts));
        const Routing biased = route_tokens(config, logits, bias);
        CHECK(plain.scores == biased.scores);  // the scores never see the bias

        int64_t changed = 0;
        for (int64_t t = 0; t < logits.rows(); ++t) {
            const std::vector<int32_t> a = row_of(plain.topk_idx, t), b = row_of(biased.topk_idx, t);
            changed += std::set<int32_t>(a.begin(), a.end()) != std::set<int32_t>(b.begin(), b.end());
            // Each chosen expert's weight is its unbiased score (over the chosen set's unbiased sum),
            // whatever the bias did to the choice.
            double chosen_sum = 0;
            for (int32_t e : b) chosen_sum += biased.scores(t, e);
            for (int64_t k = 0; k < config.num_experts_per_tok; ++k) {
                const double expected = biased.scores(t, b[k]) / (normalize ? chosen_sum : 1.0) *
                                        config.routed_scaling_factor;
                CHECK(biased.topk_weight(t, k) == Approx(expected).epsilon(1e-6));  // float sum of 4 scores
            }
        }
        CHECK(changed > 0);  // a bias of 0.2 against scores in (0, 1) moves some choices
    }
}

TEST_CASE("moe: with norm_topk_prob each token's routed weights sum to routed_scaling_factor") {
    for (const char* preset : {"toy", "v3"}) {
        INFO(preset);
        const ModelConfig config = preset_config(preset);
        const Mat logits = random_matrix(50, config.n_routed_experts, 3);
        const Routing r = route_tokens(config, logits, random_matrix(config.n_routed_experts, 1, 4, 0.1f));
        for (int64_t t = 0; t < r.topk_weight.rows(); ++t)
            // K float weights, each one rounding off w / sum: a few ulps of 2.5
            CHECK(r.topk_weight.row(t).sum() == Approx(config.routed_scaling_factor).epsilon(1e-6));
    }
}

TEST_CASE("moe: group-limited routing never leaves the kept groups") {
    const ModelConfig config = preset_config("v3");
    const Mat logits = random_matrix(200, config.n_routed_experts, 5);
    const Routing r = route_tokens(config, logits, random_matrix(config.n_routed_experts, 1, 6, 0.1f));
    const int64_t group_size = config.n_routed_experts / config.n_group;
    for (int64_t t = 0; t < logits.rows(); ++t) {
        CHECK(r.group_mask.row(t).sum() == config.topk_group);
        for (int64_t k = 0; k < config.num_experts_per_tok; ++k) CHECK(r.group_mask(t, r.topk_idx(t, k) / group_size) == 1);
    }
    CHECK(count_load(config, r.topk_idx, config.topk_group).tokens_beyond_limit == 0);
}

// ---------------------------------------------------------------------------------------------
// Experts, the dispatch plan and the combine

// MoE(x) = Shared(x) + sum_k w_k Expert_k(x) in float64 with plain loops, given the gate's choices.
static MatD reference_moe(const ModelConfig& config, const MoeWeights& layer, const Routing& routing, const Mat& x) {
    auto swiglu_double = [](const FfnWeights& w, const Eigen::VectorXd& v) {
        const Eigen::VectorXd gate = w.gate_proj.cast<double>() * v, up = w.up_proj.cast<double>() * v;
        Eigen::VectorXd hidden(gate.size());
        for (Eigen::Index i = 0; i < gate.size(); ++i) hidden[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
        return Eigen::VectorXd(w.down_proj.cast<double>() * hidden);
    };
    MatD out(x.rows(), x.cols());
    for (int64_t t = 0; t < x.rows(); ++t) {
        const Eigen::VectorXd v = x.row(t).transpose().cast<double>();
        Eigen::VectorXd sum = config.n_shared_experts > 0 ? swiglu_double(layer.shared_experts, v) : Eigen::VectorXd::Zero(x.cols());
        for (int64_t k = 0; k < config.num_experts_per_tok; ++k)
            sum += routing.topk_weight(t, k) * swiglu_double(routed_expert(layer, routing.topk_idx(t, k)), v);
        out.row(t) = sum.transpose();
    }
    return out;
}

static std::vector<ModelConfig> dispatch_configs() {
    ModelConfig v2_rule = gate_config(16, 1, 1, 4, GateRule::V2, 1.0);  // no groups, two shared experts
    v2_rule.n_shared_experts = 2;
    return {preset_config("toy"), v2_rule};
}

TEST_CASE("moe: the grouped forward matches a float64 reference") {
    for (const ModelConfig& config : dispatch_configs()) {
        INFO(config.name);
        const MoeWeights layer = generated_moe_weights(config, 1, 21);
        const Mat x = random_matrix(33, config.hidden_size, 22);
        MoeActivations act;
        const Mat out = moe_forward(config, layer, x, {}, "moe", &act);
        // FP32 against FP64 through three products of width <= 64 and a sum of K + 1 experts.
        CHECK(max_rel_diff(reference_moe(config, layer, act.routing, x).cast<float>(), out) < 1e-5);
    }
}

TEST_CASE("moe: the dispatch plan sorts the (token, k) pairs by expert, tokens in order") {
    // 4 tokens, top-2 of 4 experts; expert 2 unused, expert 1 chosen by every token.
    IndexMat idx(4, 2);
    idx << 1, 0,  //
        3, 1,     //
        1, 3,     //
        0, 1;
    const MoePlan plan = moe_dispatch(idx, 4);
    // expert 0: (0,1) (3,0); expert 1: (0,0) (1,1) (2,0) (3,1); expert 2: none; expert 3: (1,0) (2,1)
    CHECK(plan.offsets == std::vector<int64_t>{0, 2, 6, 6, 8});
    CHECK(plan.slots == std::vector<int64_t>{1, 6, 0, 3, 4, 7, 2, 5});  // t·K + k
    CHECK_THROWS_WITH(moe_dispatch(idx, 3), Contains("chose expert 3 of 3"));

    // The combine adds each token's weighted rows back: with expert_out row i = i and weights
    // w(t, k) = 10 t + k, token t gets sum_k w(t, k) · (its slot's row).
    Mat expert_out(8, 1), weights(4, 2);
    for (int64_t i = 0; i < 8; ++i) expert_out(i, 0) = static_cast<float>(i);
    for (int64_t t = 0; t < 4; ++t)
        for (int64_t k = 0; k < 2; ++k) weights(t, k) = static_cast<float>(10 * t + k);
    const Mat combined = moe_combine(expert_out, plan, weights);
    // token 0: slots of (0,0) = 2 and (0,1) = 0 -> 0·2 + 1·0 = 0; token 1: (1,0) = 6, (1,1) = 3 -> 10·6 + 11·3 = 93
    // token 2: (2,0) = 4, (2,1) = 7 -> 20·4 + 21·7 = 227; token 3: (3,0) = 1, (3,1) = 5 -> 30·1 + 31·5 = 185
    CHECK(combined(0, 0) == 0);
    CHECK(combined(1, 0) == 93);
    CHECK(combined(2, 0) == 227);
    CHECK(combined(3, 0) == 185);
}

TEST_CASE("moe: awkward routings: one token, one expert for every token, most experts empty") {
    const ModelConfig config = preset_config("toy");
    const MoeWeights layer = generated_moe_weights(config, 1, 23);
    const Mat x = random_matrix(9, config.hidden_size, 24);
    Routing routing;
    routing.topk_idx = IndexMat::Zero(9, config.num_experts_per_tok);
    for (int64_t k = 0; k < config.num_experts_per_tok; ++k) routing.topk_idx.col(k).setConstant(static_cast<int32_t>(3 + k));
    routing.topk_weight = random_matrix(9, config.num_experts_per_tok, 25);
    const MoePlan plan = moe_dispatch(routing.topk_idx, config.n_routed_experts);
    const Mat routed = moe_combine(moe_experts(x, plan, layer), plan, routing.topk_weight);
    MoeWeights no_shared = layer;
    no_shared.shared_experts = FfnWeights{};
    ModelConfig unshared = config;
    unshared.n_shared_experts = 0;
    CHECK(max_rel_diff(reference_moe(unshared, no_shared, routing, x).cast<float>(), routed) < 1e-5);
    // One token: its row equals the same token inside the batch (up to the batch GEMM's summation order).
    const Mat one = moe_forward(config, layer, x.topRows(1), {});
    const Mat all = moe_forward(config, layer, x, {});
    CHECK(max_rel_diff(all.topRows(1), one) < 1e-6);
}

TEST_CASE("moe: experts generated on demand give the same output and the store never exceeds its capacity") {
    const ModelConfig config = preset_config("toy");
    const MoeWeights all = generated_moe_weights(config, 1, 31);
    const MoeWeights few = generated_moe_weights(config, 1, 31, 0, 3);
    int64_t most_cached = 0;
    few.store->on_generate = [&](const ExpertStore& store) {
        most_cached = std::max<int64_t>(most_cached, static_cast<int64_t>(store.cached.size()));
    };
    const Mat x = random_matrix(20, config.hidden_size, 32);
    // Both generate the same experts from the same names: identical results, bit for bit.
    MoeActivations act;
    CHECK(moe_forward(config, all, x, {}, "moe", &act) == moe_forward(config, few, x, {}));
    CHECK(most_cached == 3);
    // The grouped experts visit each used expert once, so each is generated once.
    int64_t used = 0;
    for (int64_t e = 0; e < config.n_routed_experts; ++e) used += act.plan.offsets[e + 1] > act.plan.offsets[e];
    CHECK(few.store->materializations == used);
    CHECK(few.store->cached.size() == 3);
}

TEST_CASE("moe: generated weights carry the HF names and shapes") {
    const ModelConfig config = preset_config("toy");
    const int64_t d = config.hidden_size, w = config.moe_intermediate_size;
    const FfnWeights expert = generated_expert(config, 2, 5, 7);
    CHECK(expert.up_proj.rows() == w);
    CHECK(expert.up_proj.cols() == d);
    CHECK(expert.down_proj.rows() == d);
    CHECK(expert.up_proj == generated_matrix(7, "model.layers.2.mlp.experts.5.up_proj.weight", w, d, 1 / std::sqrt(float(d))));
    CHECK(expert.down_proj ==
          generated_matrix(7, "model.layers.2.mlp.experts.5.down_proj.weight", d, w, 1 / std::sqrt(float(w))));
    const MoeWeights layer = generated_moe_weights(config, 2, 7);
    CHECK(layer.shared_experts.gate_proj ==
          generated_matrix(7, "model.layers.2.mlp.shared_experts.gate_proj.weight", config.n_shared_experts * w, d,
                           1 / std::sqrt(float(d))));
    CHECK(layer.experts[5].up_proj == expert.up_proj);
    CHECK(layer.gate.weight == generated_matrix(7, "model.layers.2.mlp.gate.weight", config.n_routed_experts, d,
                                                1 / std::sqrt(float(d))));
    CHECK(layer.gate.bias == Vec::Zero(config.n_routed_experts));  // a fresh model's bias
    CHECK(generated_gate_weights(preset_config("v2-lite"), 2, 7).bias.size() == 0);  // V2 has none
    CHECK(expert_bytes(preset_config("v3")) == 3LL * 2048 * 7168 * 4);
}

TEST_CASE("moe: SwiGLU is down(silu(gate x) * up x)") {
    // 1 x 2 input, width 2, hand-sized weights: gate x = (1, -1), up x = (2, 3),
    // silu(1) = 1 / (1 + e^-1) = 0.731059, silu(-1) = -1 / (1 + e) = -0.268941;
    // hidden = (1.462117, -0.806824); down = identity -> the hidden itself.
    FfnWeights w;
    w.gate_proj.resize(2, 2);
    w.gate_proj << 1, 0, 0, -1;
    w.up_proj.resize(2, 2);
    w.up_proj << 2, 0, 0, 3;
    w.down_proj = Mat::Identity(2, 2);
    Mat x(1, 2);
    x << 1, 1;
    const Mat y = swiglu(x, w);
    // The hand values carry seven significant digits; float adds a few ulps.
    CHECK(y(0, 0) == Approx(1.462117).epsilon(1e-6));
    CHECK(y(0, 1) == Approx(-0.806824).epsilon(1e-6));
}

TEST_CASE("moe: the forward traces design.md's names") {
    const ModelConfig config = preset_config("toy");
    const MoeWeights layer = generated_moe_weights(config, 1, 41);
    const Mat x = random_matrix(5, config.hidden_size, 42);
    Trace trace;
    ForwardContext context;
    context.trace = &trace;
    const Mat out = moe_forward(config, layer, x, context, "layers.1.moe");
    for (const char* leaf : {"scores", "biased_scores", "group_scores", "group_mask", "topk_idx", "topk_weight",
                             "shared_out", "routed_out", "out"}) {
        INFO(leaf);
        CHECK(trace_find(trace, std::string("layers.1.moe.") + leaf));
    }
    const TraceEntry* idx = trace_find(trace, "layers.1.moe.topk_idx");
    CHECK(idx->dtype == DType::I32);
    CHECK(idx->shape == Shape{5, config.num_experts_per_tok});
    CHECK(trace_find(trace, "layers.1.moe.group_scores")->shape == Shape{5, config.n_group});
    const TraceEntry* traced_out = trace_find(trace, "layers.1.moe.out");
    CHECK(std::equal(traced_out->values.begin(), traced_out->values.end(), out.data()));
}

TEST_CASE("moe: inconsistent configs are refused at the MoE entry points") {
    ModelConfig ragged = preset_config("toy");
    ragged.n_routed_experts = 10;  // 10 experts cannot form 4 equal groups
    REQUIRE_THROWS_WITH(route_tokens(ragged, Mat::Zero(1, 10), Vec::Zero(10)),
                        Contains("n_routed_experts (10) not divisible by n_group (4)"));
    ModelConfig narrow = preset_config("toy");
    narrow.topk_group = 1;  // one kept group of 4 experts cannot supply 5
    narrow.num_experts_per_tok = 5;
    REQUIRE_THROWS_WITH(route_tokens(narrow, Mat::Zero(1, 16), Vec::Zero(16)),
                        Contains("groups of 4 experts hold fewer than num_experts_per_tok (5)"));
    const ModelConfig toy = preset_config("toy");
    REQUIRE_THROWS_WITH(route_tokens(toy, Mat::Zero(1, 15), Vec()), Contains("15 columns"));
    REQUIRE_THROWS_WITH(route_tokens(toy, Mat::Zero(1, 16), Vec::Zero(3)), Contains("e_score_correction_bias has 3"));
    REQUIRE_THROWS_WITH(generated_moe_weights(toy, 0, 1), Contains("layer 0 is a dense layer"));
}

// ---------------------------------------------------------------------------------------------
// Load statistics and balancing

TEST_CASE("moe: MaxVio is max load over mean load minus 1") {
    CHECK(max_violation({2, 2, 2, 6}) == Approx(1.0));  // mean 3, max 6
    CHECK(max_violation({5, 5, 5, 5}) == 0.0);
    CHECK(max_violation({0, 0, 0, 8}) == Approx(3.0));  // one expert takes everything: E - 1
    CHECK(max_violation({0, 0}) == 0.0);
}

TEST_CASE("moe: load per expert and per group, and tokens beyond the node limit") {
    const ModelConfig config = small_v3_gate();  // 8 experts in groups {0,1} {2,3} {4,5} {6,7}
    IndexMat idx(3, 3);
    idx << 0, 1, 2,  // groups g0, g1: 2 groups
        0, 2, 4,     // g0, g1, g2: 3 groups
        7, 6, 1;     // g3, g0: 2 groups
    const ExpertLoad load = count_load(config, idx, 2);
    CHECK(load.per_expert == std::vector<int64_t>{2, 2, 2, 0, 1, 0, 1, 1});
    CHECK(load.per_group == std::vector<int64_t>{4, 2, 1, 2});
    CHECK(load.tokens == 3);
    CHECK(load.tokens_beyond_limit == 1);
    CHECK(count_load(config, idx, 3).tokens_beyond_limit == 0);
    CHECK(count_load(config, idx, 1).tokens_beyond_limit == 3);

    ExpertLoad total;
    add_load(total, load);
    add_load(total, load);
    CHECK(total.per_expert == std::vector<int64_t>{4, 4, 4, 0, 2, 0, 2, 2});
    CHECK(total.tokens == 6);
    CHECK(total.tokens_beyond_limit == 2);
}

TEST_CASE("moe: the bias update raises underloaded experts and lowers overloaded ones by gamma") {
    Vec bias = vec({0.0f, 0.0f, 0.5f, -0.5f});
    update_bias(bias, {1, 3, 2, 2}, 0.001);  // mean 2: expert 0 under, 1 over, 2 and 3 exactly at it
    CHECK(bias[0] == 0.001f);
    CHECK(bias[1] == -0.001f);
    CHECK(bias[2] == 0.5f);
    CHECK(bias[3] == -0.5f);
    REQUIRE_THROWS_WITH(update_bias(bias, {1, 2}, 0.001), Contains("4 biases for 2 expert loads"));
}

TEST_CASE("moe: the sequence-wise balance loss, by hand") {
    const ModelConfig config = gate_config(4, 1, 1, 1, GateRule::V2, 1.0);
    // Token 0: softmax(ln 4, ln 2, 0, 0) = 0.5, 0.25, 0.125, 0.125 -> expert 0
    // Token 1: softmax(ln 2, 0, 0, 0)    = 0.4, 0.2, 0.2, 0.2      -> expert 0
    // f = E / (K T) * counts = 4 / 2 * (2, 0, 0, 0) = (4, 0, 0, 0)
    // P_0 = (0.5 + 0.4) / 2 = 0.45;  L = alpha * f_0 * P_0 = alpha * 1.8
    Mat logits(2, 4);
    logits << std::log(4.0f), std::log(2.0f), 0, 0,  //
        std::log(2.0f), 0, 0, 0;
    const Routing r = route_tokens(config, logits, Vec());
    // Float scores summed in double: 1e-6 covers the scores' rounding.
    CHECK(sequence_balance_loss(config, r, 0.01) == Approx(0.018).epsilon(1e-6));

    // Perfect balance (every expert chosen equally) gives L = alpha: sum_i P_i = 1 and f_i = 1.
    Mat even(4, 4);
    even << 1, 0, 0, 0,  //
        0, 1, 0, 0,      //
        0, 0, 1, 0,      //
        0, 0, 0, 1;
    CHECK(sequence_balance_loss(config, route_tokens(config, even, Vec()), 0.01) == Approx(0.01).epsilon(1e-6));
}

// L_Bal with f held fixed, in float64, from the logits: what the gradient differentiates.
static double balance_loss_fixed_f(const ModelConfig& config, const MatD& logits, const std::vector<double>& f,
                                   double alpha) {
    double loss = 0;
    for (int64_t t = 0; t < logits.rows(); ++t) {
        Eigen::VectorXd s(logits.cols());
        for (int64_t i = 0; i < logits.cols(); ++i)
            s[i] = config.scoring_func == "sigmoid" ? 1 / (1 + std::exp(-logits(t, i))) : std::exp(logits(t, i));
        s /= s.sum();  // s' for sigmoid; the softmax itself for softmax
        for (int64_t i = 0; i < logits.cols(); ++i) loss += f[i] * s[i];
    }
    return alpha * loss / logits.rows();
}

TEST_CASE("moe: the balance-loss gradient matches central differences") {
    for (const ModelConfig& config : dispatch_configs()) {
        INFO(config.name);
        const int64_t T = 6, E = config.n_routed_experts, K = config.num_experts_per_tok;
        const double alpha = 0.01;
        const Mat logits = random_matrix(T, E, 51);
        const Routing r = route_tokens(config, logits, Vec());
        std::vector<double> f(E, 0.0);
        for (int64_t t = 0; t < T; ++t)
            for (int64_t k = 0; k < K; ++k) f[r.topk_idx(t, k)] += double(E) / (K * T);
        // From float scores against float64 ones: within float's 1e-7, plus margin.
        CHECK(sequence_balance_loss(config, r, alpha) ==
              Approx(balance_loss_fixed_f(config, logits.cast<double>(), f, alpha)).epsilon(1e-6));

        const Mat grad = sequence_balance_loss_grad(config, r, alpha);
        MatD numeric(T, E);
        const double h = 1e-5;  // float64 central differences: error ~h^2, far below float's 1e-7
        for (int64_t t = 0; t < T; ++t) {
            for (int64_t i = 0; i < E; ++i) {
                MatD plus = logits.cast<double>(), minus = plus;
                plus(t, i) += h;
                minus(t, i) -= h;
                numeric(t, i) = (balance_loss_fixed_f(config, plus, f, alpha) -
                                 balance_loss_fixed_f(config, minus, f, alpha)) / (2 * h);
            }
        }
        // The analytic gradient comes from float scores and is stored in float: a few float ulps
        // (1e-7 measured), against a float64 difference quotient accurate to ~1e-10.
        CHECK(max_rel_diff(numeric.cast<float>(), grad) < 1e-5);
    }
}

TEST_CASE("moe: FP8 and BF16 experts read the tokens rounded once, before dispatch, to the bits of rounding each expert's rows") {
    ModelConfig config = preset_config("toy");
    config.hidden_size = 200;  // two 1x128 tiles per token, the second partial
    const MoeWeights layer = generated_moe_weights(config, 1, 41);
    const Mat x = random_matrix(37, config.hidden_size, 42);
    Routing routing;
    routing.topk_idx = IndexMat(37, config.num_experts_per_tok);
    for (int64_t t = 0; t < 37; ++t)
        for (int64_t k = 0; k < config.num_experts_per_tok; ++k)
            routing.topk_idx(t, k) = static_cast<int32_t>((t * 5 + k * 3) % config.n_routed_experts);
    const MoePlan plan = moe_dispatch(routing.topk_idx, config.n_routed_experts);
    const int64_t K = plan.top_k;
    for (GemmPrecision gemm : {GemmPrecision::FP8, GemmPrecision::BF16}) {
        INFO(gemm_precision_name(gemm));
        LinearPrecision precision;
        precision.gemm = gemm;
        const Mat out = moe_experts(x, plan, layer, precision);
        int64_t experts_run = 0;
        for (int64_t e = 0; e < config.n_routed_experts; ++e) {
            const int64_t first = plan.offsets[e], count = plan.offsets[e + 1] - first;
            if (count == 0) continue;
            Mat gathered(count, x.cols());
            for (int64_t i = 0; i < count; ++i) gathered.row(i) = x.row(plan.slots[first + i] / K);
            // The expert alone, rounding its own gathered rows.
            const Mat alone = swiglu(gathered, layer.experts[e], precision);
            CHECK(std::memcmp(alone.data(), out.middleRows(first, count).eval().data(), sizeof(float) * alone.size()) == 0);
            ++experts_run;
        }
        CHECK(experts_run > 4);
    }
    // What makes it hold: FP8's Fprop tiles lie within one token. Tiles spanning tokens (128x128)
    // would not commute with picking them.
    Mat picked(2, x.cols());
    picked << x.row(3), x.row(30);
    const Mat rounded_then_picked_rows = quantize_dequantize(x, kWeightTile);
    Mat rounded_then_picked(2, x.cols());
    rounded_then_picked << rounded_then_picked_rows.row(3), rounded_then_picked_rows.row(30);
    CHECK_FALSE(rounded_then_picked == quantize_dequantize(picked, kWeightTile));
    Mat row_rounded_then_picked(2, x.cols());
    const Mat row_rounded = quantize_dequantize(x, kActivationTile);
    row_rounded_then_picked << row_rounded.row(3), row_rounded.row(30);
    CHECK(row_rounded_then_picked == quantize_dequantize(picked, kActivationTile));
}
