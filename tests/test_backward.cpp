// Backward passes (core/backward.h): every input and parameter gradient against central finite
// differences in float64, and the training forms here against the inference forwards they stand for.
//
// The check: pick a random output gradient dy, take the scalar L = <dy, forward(inputs)>, so that
// the backward given dy returns dL/dinput, and compare it with (L(x + h e_i) - L(x - h e_i)) / 2h.
// Tolerance, the same for every op: with h = 1e-6 in float64 the difference quotient is off by
// ~h^2 |L'''| ~ 1e-12 (truncation) plus ~1e-16 |L| / h ~ 1e-10..1e-9 (rounding; 3e-9 measured),
// against gradients of order 0.1-10. 1e-6 relative to the largest gradient entry leaves over two
// orders of margin and still catches any wrong term (dropping one shows up at 1e-2 or worse).
#include <catch2/catch.hpp>
#include <cmath>

#include "core/backward.h"
#include "core/forward.h"
#include "core/gate.h"
#include "core/mla.h"
#include "core/moe.h"
#include "core/norm.h"
#include "core/random.h"
#include "core/rope.h"

using namespace seek;

static const double finite_difference_step = 1e-6;
static const double gradient_tolerance = 1e-6;  // see the top of the file

static MatD random_matrix(int64_t rows, int64_t cols, uint64_t seed) {
    MatD m(rows, cols);
    Rng rng(seed);
    for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = rng.normal();
    return m;
}

static double inner(const MatD& a, const MatD& b) { return (a.array() * b.array()).sum(); }

// max |a - b| / max |b|: a gradient against its difference quotient, or one of our float forwards
// against the inference forward it stands for (0 where both run the same float operations).
template <typename Matrix>
static double max_rel_error(const Matrix& analytic, const Matrix& numeric) {
    REQUIRE(analytic.rows() == numeric.rows());
    REQUIRE(analytic.cols() == numeric.cols());
    return (analytic - numeric).cwiseAbs().maxCoeff() / numeric.cwiseAbs().maxCoeff();
}

// dL/dx by central differences, moving one entry of x (which `loss` reads) at a time.
template <typename Matrix, typename Loss>
static Matrix central_differences(Matrix& x, const Loss& loss) {
    const double h = finite_difference_step;
    Matrix grad(x.rows(), x.cols());
    for (Eigen::Index i = 0; i < x.size(); ++i) {
        const double saved = x.data()[i];
        x.data()[i] = saved + h;
        const double plus = loss();
        x.data()[i] = saved - h;
        const double minus = loss();
        x.data()[i] = saved;
        grad.data()[i] = (plus - minus) / (2 * h);
    }
    return grad;
}

TEST_CASE("backward: linear") {
    MatD x = random_matrix(5, 6, 1), weight = random_matrix(4, 6, 2);
    const MatD dy = random_matrix(5, 4, 3);
    auto loss = [&] { return inner(dy, x * weight.transpose()); };

    // Gradients accumulate: start from ones and subtract them again.
    MatD dx = MatD::Ones(5, 6), dweight = MatD::Ones(4, 6);
    linear_backward(dx, dweight, dy, x, weight);
    dx.array() -= 1;
    dweight.array() -= 1;
    CHECK(max_rel_error(dx, central_differences(x, loss)) < gradient_tolerance);
    CHECK(max_rel_error(dweight, central_differences(weight, loss)) < gradient_tolerance);
}

TEST_CASE("backward: rms_norm") {
    MatD x = random_matrix(5, 8, 4);
    Eigen::VectorXd weight = Eigen::VectorXd::Ones(8) + 0.3 * random_matrix(8, 1, 5);
    const MatD dy = random_matrix(5, 8, 6);
    const double eps = 1e-6;
    auto loss = [&] { return inner(dy, rms_norm_forward(x, weight, eps)); };

    MatD dx = MatD::Zero(5, 8);
    Eigen::VectorXd dweight = Eigen::VectorXd::Zero(8);
    rms_norm_backward(dx, dweight, dy, x, weight, eps);
    CHECK(max_rel_error(dx, central_differences(x, loss)) < gradient_tolerance);
    CHECK(max_rel_error(dweight, central_differences(weight, loss)) < gradient_tolerance);
}

TEST_CASE("backward: rope") {
    ModelConfig config = preset_config("toy");
    config.rope_scaling = preset_config("v3").rope_scaling;  // YaRN frequencies
    RopeTable table = rope_table(config);
    table.magnitude = 0.9;  // HF's cos/sin factor, 1 in the published configs: exercise it anyway
    const int64_t dr = config.qk_rope_head_dim, heads = 2, T = 5;

    MatD x = random_matrix(T, heads * dr, 7);
    const MatD dy = random_matrix(T, heads * dr, 8);
    auto loss = [&] {
        MatD rotated = x;
        rope_forward(rotated, table);
        return inner(dy, rotated);
    };
    MatD dx = MatD::Zero(T, heads * dr);
    rope_backward(dx, dy, table);
    CHECK(max_rel_error(dx, central_differences(x, loss)) < gradient_tolerance);

    // The matrix form puts row t at position t and rotates every head as apply_rope does.
    Mat ours = x.cast<float>(), theirs = ours;
    rope_forward(ours, table);
    for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < heads; ++h) apply_rope(&theirs(t, h * dr), t, table);
    CHECK(max_rel_error(ours, theirs) == 0);
}

TEST_CASE("backward: swiglu") {
    const int64_t T = 5, hidden = 6, width = 10;
    MatD x = random_matrix(T, hidden, 9);
    MatD gate_proj = random_matrix(width, hidden, 10), up_proj = random_matrix(width, hidden, 11);
    MatD down_proj = random_matrix(hidden, width, 12);
    const MatD dy = random_matrix(T, hidden, 13);
    auto loss = [&] { return inner(dy, swiglu_forward(x, gate_proj, up_proj, down_proj)); };

    MatD dx = MatD::Zero(T, hidden), dgate = MatD::Zero(width, hidden), dup = MatD::Zero(width, hidden);
    MatD ddown = MatD::Zero(hidden, width);
    swiglu_backward(dx, dgate, dup, ddown, dy, x, gate_proj, up_proj, down_proj);
    CHECK(max_rel_error(dx, central_differences(x, loss)) < gradient_tolerance);
    CHECK(max_rel_error(dgate, central_differences(gate_proj, loss)) < gradient_tolerance);
    CHECK(max_rel_error(dup, central_differences(up_proj, loss)) < gradient_tolerance);
    CHECK(max_rel_error(ddown, central_differences(down_proj, loss)) < gradient_tolerance);
}

TEST_CASE("backward: attention") {
    const int64_t T = 5, heads = 2, qk_dim = 6, v_dim = 4;
    const double scale = 0.4;
    MatD q = random_matrix(T, heads * qk_dim, 14), k = random_matrix(T, heads * qk_dim, 15);
    MatD v = random_matrix(T, heads * v_dim, 16);
    const MatD dout = random_matrix(T, heads * v_dim, 17);
    auto loss = [&] {
        MatD out, probs;
        attention_forward(out, probs, q, k, v, heads, scale);
        return inner(dout, out);
    };

    MatD out, probs;
    attention_forward(out, probs, q, k, v, heads, scale);
    MatD dq = MatD::Zero(T, heads * qk_dim), dk = MatD::Zero(T, heads * qk_dim), dv = MatD::Zero(T, heads * v_dim);
    attention_backward(dq, dk, dv, dout, q, k, v, probs, heads, scale);
    CHECK(max_rel_error(dq, central_differences(q, loss)) < gradient_tolerance);
    CHECK(max_rel_error(dk, central_differences(k, loss)) < gradient_tolerance);
    CHECK(max_rel_error(dv, central_differences(v, loss)) < gradient_tolerance);
}

// Rows of a traced [.., .., cols]-shaped tensor as a [rows, cols] matrix.
static Mat traced(const Trace& trace, const std::string& name, int64_t rows, int64_t cols) {
    const TraceEntry* entry = trace_find(trace, name);
    REQUIRE(entry != nullptr);
    REQUIRE(static_cast<int64_t>(entry->values.size()) == rows * cols);
    return Eigen::Map<const Mat>(entry->values.data(), rows, cols);
}

TEST_CASE("backward: attention is mla_forward's naive attention") {
    // The toy's naive MLA prefill, traced; its per-head q = [q_nope ; q_pe], k = [k_nope ; k_pe]
    // and v through attention_forward must give its probs and, after o_proj, its output.
    const ModelConfig config = preset_config("toy");
    const int64_t T = 5, H = config.num_attention_heads;
    const int64_t dn = config.qk_nope_head_dim, dr = config.qk_rope_head_dim, dv = config.v_head_dim;
    const MlaWeights w = generated_mla_weights(config, 0, 42);
    const Mat x = random_matrix(T, config.hidden_size, 18).cast<float>();
    Trace trace;
    MlaCache cache = make_mla_cache(config, AttnImpl::Naive);
    mla_forward(config, w, rope_table(config), x, cache, &trace, "attn");

    const Mat q_nope = traced(trace, "attn.q_nope", T, H * dn), q_pe = traced(trace, "attn.q_pe", T, H * dr);
    const Mat k_nope = traced(trace, "attn.k_nope", T, H * dn), k_pe = traced(trace, "attn.k_pe", T, dr);
    Mat q(T, H * (dn + dr)), k(T, H * (dn + dr));
    for (int64_t h = 0; h < H; ++h) {
        q.middleCols(h * (dn + dr), dn) = q_nope.middleCols(h * dn, dn);
        q.middleCols(h * (dn + dr) + dn, dr) = q_pe.middleCols(h * dr, dr);
        k.middleCols(h * (dn + dr), dn) = k_nope.middleCols(h * dn, dn);
        k.middleCols(h * (dn + dr) + dn, dr) = k_pe;  // one rope key shared by every head
    }
    Mat out, probs;
    attention_forward(out, probs, q, k, traced(trace, "attn.v", T, H * dv), H, float(softmax_scale(config)));
    // Float: the same products and softmax, summed in a possibly different order by Eigen's
    // kernels (the cache block vs a plain matrix): a few ulps, 1e-6 relative is ~8 ulps.
    CHECK(max_rel_error(probs, traced(trace, "attn.probs", H * T, T)) < 1e-6);
    CHECK(max_rel_error(linear(out, w.o_proj), traced(trace, "attn.out", T, config.hidden_size)) < 1e-6);
}

TEST_CASE("backward: embedding") {
    const std::vector<int32_t> tokens = {3, 1, 3, 0, 6};  // token 3 twice: its row gathers both
    MatD table = random_matrix(7, 4, 19);
    const MatD dout = random_matrix(5, 4, 20);
    auto loss = [&] { return inner(dout, embedding_forward(table, tokens)); };
    MatD dtable = MatD::Zero(7, 4);
    embedding_backward(dtable, dout, tokens);
    CHECK(max_rel_error(dtable, central_differences(table, loss)) < gradient_tolerance);

    // forward.cpp generates embedding rows on demand: a lookup in the whole generated table matches.
    const ModelConfig config = preset_config("toy");
    std::vector<int32_t> vocab(config.vocab_size);
    for (int32_t i = 0; i < config.vocab_size; ++i) vocab[i] = i;
    const std::vector<int32_t> prompt = {5, 100, 5, 127, 0};
    CHECK(max_rel_error(embedding_forward(generated_embedding(config, vocab, 7), prompt),
                       generated_embedding(config, prompt, 7)) == 0);
    CHECK_THROWS_WITH(embedding_forward(table, {7}), Catch::Contains("outside the vocabulary"));
}

TEST_CASE("backward: cross_entropy") {
    const std::vector<int32_t> targets = {2, 0, 8, 2, 5};
    MatD logits = 3 * random_matrix(5, 9, 21);
    const double dloss = 0.7;  // an upstream scale, as a loss weight would be
    auto loss = [&] { return dloss * cross_entropy_forward(logits, targets); };
    MatD dlogits = MatD::Zero(5, 9);
    cross_entropy_backward(dlogits, dloss, logits, targets);
    CHECK(max_rel_error(dlogits, central_differences(logits, loss)) < gradient_tolerance);
    // softmax - onehot sums to zero over the vocabulary.
    CHECK(dlogits.rowwise().sum().cwiseAbs().maxCoeff() < 1e-15);

    // No production loss yet: anchor the value instead. Uniform logits give ln V; shifting every
    // logit of a row leaves it unchanged; huge logits do not overflow.
    CHECK(cross_entropy_forward(MatD(MatD::Zero(5, 9)), targets) == Approx(std::log(9.0)));
    CHECK(cross_entropy_forward(MatD(MatD::Constant(5, 9, 1e4)), targets) == Approx(std::log(9.0)));
}

TEST_CASE("backward: gate weights") {
    // V3's gate (sigmoid, bias, groups, normalized, scaled by 2.5) and V2's (softmax, no bias, not
    // normalized).
    ModelConfig v3_like = preset_config("toy");
    ModelConfig v2_like = v3_like;
    v2_like.name = "toy, softmax gate";
    v2_like.scoring_func = "softmax";
    v2_like.topk_method = "group_limited_greedy";
    v2_like.norm_topk_prob = false;
    v2_like.routed_scaling_factor = 1.0;
    for (const ModelConfig& config : {v3_like, v2_like}) {
        INFO(config.name);
        const int64_t T = 5, E = config.n_routed_experts, K = config.num_experts_per_tok;
        const Mat logits_f = random_matrix(T, E, 22).cast<float>();
        const Vec bias = gate_has_bias(config) ? Vec(0.1f * random_matrix(E, 1, 23).cast<float>()) : Vec();
        const Routing routing = route_tokens(config, logits_f, bias);

        // route_tokens' weights from its own selection: sigmoid is the same float expression,
        // softmax and the normalization sum in another order, a few ulps.
        CHECK(max_rel_error(gate_weights_forward(config, logits_f, routing.topk_idx), routing.topk_weight) < 1e-6);

        // The selection is held fixed; every perturbation must leave route_tokens' choice as it was,
        // or the difference quotient would straddle a jump.
        MatD logits = logits_f.cast<double>();
        const MatD dweights = random_matrix(T, K, 24);
        bool selection_unchanged = true;
        auto loss = [&] {
            selection_unchanged &= route_tokens(config, logits.cast<float>(), bias).topk_idx == routing.topk_idx;
            return inner(dweights, gate_weights_forward(config, logits, routing.topk_idx));
        };
        MatD dlogits = MatD::Zero(T, E);
        gate_weights_backward(dlogits, dweights, config, logits, routing.topk_idx);
        CHECK(max_rel_error(dlogits, central_differences(logits, loss)) < gradient_tolerance);
        CHECK(selection_unchanged);

        // With sigmoid only the chosen experts' logits receive gradient.
        if (config.scoring_func == "sigmoid") {
            int64_t nonzero = 0;
            for (int64_t i = 0; i < dlogits.size(); ++i) nonzero += dlogits.data()[i] != 0;
            CHECK(nonzero == T * K);
        }
    }
}
