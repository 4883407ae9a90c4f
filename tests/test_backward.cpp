// Backward passes, each beside its forward in the op's file: every input and parameter gradient
// against central finite differences in float64, and the forwards against what they stand for.
//
// The check: pick a random output gradient dy, take the scalar L = <dy, forward(inputs)>, so that
// the backward given dy returns dL/dinput, and compare it with (L(x + h e_i) - L(x - h e_i)) / 2h.
// Tolerance, the same for every op: with h = 1e-6 in float64 the difference quotient is off by
// ~h^2 |L'''| ~ 1e-12 (truncation) plus ~1e-16 |L| / h ~ 1e-10..1e-9 (rounding; 3e-9 measured),
// against gradients of order 0.1-10. 1e-6 relative to the largest gradient entry leaves over two
// orders of margin and still catches any wrong term (dropping one shows up at 1e-2 or worse).
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/embedding.h"
#include "core/gate.h"
#include "core/mla.h"
#include "core/moe.h"
#include "core/norm.h"
#include "core/random.h"
#include "core/rope.h"
#include "core/softmax.h"

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
    const int64_t T = 13;  // a block of 8 rows summed side by side, then 5 one at a time
    MatD x = random_matrix(T, 8, 4);
    Eigen::VectorXd weight = Eigen::VectorXd::Ones(8) + 0.3 * random_matrix(8, 1, 5);
    const MatD dy = random_matrix(T, 8, 6);
    const double eps = 1e-6;
    auto loss = [&] { return inner(dy, rms_norm_forward(x, weight, eps)); };

    MatD dx = MatD::Zero(T, 8);
    Eigen::VectorXd dweight = Eigen::VectorXd::Zero(8);
    rms_norm_backward(dx, dweight, dy, x, weight, eps);
    CHECK(max_rel_error(dx, central_differences(x, loss)) < gradient_tolerance);
    CHECK(max_rel_error(dweight, central_differences(weight, loss)) < gradient_tolerance);
}

// Rows are normalized several at a time; each row's bits must be those it gets alone.
TEST_CASE("backward: rms_norm gives every row the bits it gets alone") {
    const Mat x = generated_matrix(3, "x", 21, 64, 2.0f), dy = generated_matrix(3, "dy", 21, 64, 1.0f);
    const Vec weight = Vec::Ones(64) + generated_matrix(3, "w", 64, 1, 0.3f);
    const Mat y = rms_norm_forward<float>(x, weight, 1e-6f);
    Mat dx = Mat::Zero(21, 64);
    Vec dweight = Vec::Zero(64), dweight_alone = Vec::Zero(64);
    rms_norm_backward<float>(dx, dweight, dy, x, weight, 1e-6f);
    for (int64_t t = 0; t < x.rows(); ++t) {
        const Mat row = x.row(t), dy_row = dy.row(t);
        const Mat y_alone = rms_norm_forward<float>(row, weight, 1e-6f);
        Mat dx_alone = Mat::Zero(1, 64);
        Vec dweight_row = Vec::Zero(64);
        rms_norm_backward<float>(dx_alone, dweight_row, dy_row, row, weight, 1e-6f);
        dweight_alone += dweight_row;
        CHECK(std::memcmp(y_alone.data(), &y(t, 0), 64 * sizeof(float)) == 0);
        CHECK(std::memcmp(dx_alone.data(), &dx(t, 0), 64 * sizeof(float)) == 0);
    }
    CHECK(max_rel_error(dweight, dweight_alone) < 1e-6);  // summed over rows: the same terms
}

TEST_CASE("backward: rope") {
    ModelConfig config = preset_config("toy");
    config.rope_scaling = preset_config("v3").rope_scaling;  // YaRN frequencies
    RopeTable table = rope_table(config);
    table.magnitude = 0.9;  // HF's cos/sin factor, 1 in the published configs: exercise it anyway
    const int64_t dr = config.qk_rope_head_dim, heads = 2, T = 5;
    const std::vector<int64_t> positions = {0, 1, 2, 7, 3};  // a decode continues at any position

    MatD x = random_matrix(T, heads * dr, 7);
    const MatD dy = random_matrix(T, heads * dr, 8);
    auto loss = [&] {
        MatD rotated = x;
        rope_forward(rotated, positions, table);
        return inner(dy, rotated);
    };
    MatD dx = dy;  // RoPE rotates its gradient back in place
    rope_backward(dx, positions, table);
    CHECK(max_rel_error(dx, central_differences(x, loss)) < gradient_tolerance);

    // The matrix form rotates every head of row i at positions[i], as apply_rope does.
    Mat ours = x.cast<float>(), theirs = ours;
    rope_forward(ours, positions, table);
    for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < heads; ++h) apply_rope(&theirs(t, h * dr), positions[t], table);
    CHECK(max_rel_error(ours, theirs) == 0);

    // MLA's q keeps each head's rope lanes after its nope lanes: {first dn, stride dn + dr}. Only
    // those lanes move.
    const int64_t dn = 3;
    Mat q = random_matrix(T, heads * (dn + dr), 9).cast<float>(), expected = q;
    rope_forward(q, positions, table, RopeLanes{dn, dn + dr, heads});
    for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < heads; ++h) apply_rope(&expected(t, h * (dn + dr) + dn), positions[t], table);
    CHECK(max_rel_error(q, expected) == 0);
    CHECK_THROWS_WITH(rope_forward(q, {0, 1}, table), Catch::Contains("2 positions for 5 rows"));
    Mat ragged = Mat::Zero(T, dr + 3);
    CHECK_THROWS_WITH(rope_forward(ragged, positions, table), Catch::Contains("columns do not hold"));
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

// Training keeps the forward's gate, up and hidden for the backward; recomputing them gives the same bits.
TEST_CASE("backward: swiglu with the forward's activations equals the one that recomputes them") {
    const Mat x = generated_matrix(4, "x", 37, 64, 1.0f), dy = generated_matrix(4, "dy", 37, 64, 1.0f);
    const FfnWeights w = generated_ffn_weights(4, "ffn", 64, 48);
    for (GemmPrecision gemm : {GemmPrecision::FP32, GemmPrecision::FP8}) {
        const LinearPrecision precision{gemm, {}};
        SwigluActivations act;
        const Mat y = swiglu(x, w, precision, &act);
        CHECK(std::memcmp(y.data(), swiglu(x, w, precision).data(), y.size() * sizeof(float)) == 0);
        auto backward = [&](const SwigluActivations* saved) {
            Mat dx = Mat::Zero(37, 64);
            FfnWeights grads{Mat::Zero(48, 64), Mat::Zero(48, 64), Mat::Zero(64, 48)};
            swiglu_backward<float>(dx, grads.gate_proj, grads.up_proj, grads.down_proj, dy, x, w.gate_proj, w.up_proj,
                                   w.down_proj, precision, saved);
            return std::vector<Mat>{dx, grads.gate_proj, grads.up_proj, grads.down_proj};
        };
        const std::vector<Mat> kept = backward(&act), recomputed = backward(nullptr);
        for (size_t i = 0; i < kept.size(); ++i)
            CHECK(std::memcmp(kept[i].data(), recomputed[i].data(), kept[i].size() * sizeof(float)) == 0);
    }
}

TEST_CASE("backward: attention") {
    const int64_t T = 5, heads = 2, qk_dim = 6, v_dim = 4;
    const double scale = 0.4;
    MatD q = random_matrix(T, heads * qk_dim, 14), k = random_matrix(T, heads * qk_dim, 15);
    MatD v = random_matrix(T, heads * v_dim, 16);
    const MatD dout = random_matrix(T, heads * v_dim, 17);
    auto loss = [&] { return inner(dout, attention_forward<double>(q, k, v, heads, scale, 0, nullptr, nullptr)); };

    MatD probs;
    attention_forward<double>(q, k, v, heads, scale, 0, nullptr, &probs);
    MatD dq = MatD::Zero(T, heads * qk_dim), dk = MatD::Zero(T, heads * qk_dim), dv = MatD::Zero(T, heads * v_dim);
    attention_backward<double>(dq, dk, dv, dout, q, k, v, probs, heads, scale);
    CHECK(max_rel_error(dq, central_differences(q, loss)) < gradient_tolerance);
    CHECK(max_rel_error(dk, central_differences(k, loss)) < gradient_tolerance);
    CHECK(max_rel_error(dv, central_differences(v, loss)) < gradient_tolerance);
}

TEST_CASE("backward: attention from a cache position is the tail of the whole sequence's attention") {
    // Decoding runs the last queries against every cached key (start > 0); a prefill runs them all
    // at once. The same function, the same rows: bit for bit, since each query row's products and
    // softmax see the same keys in the same order.
    const int64_t T = 7, heads = 3, qk_dim = 5, v_dim = 4, start = 4;
    const Mat q = random_matrix(T, heads * qk_dim, 25).cast<float>(), k = random_matrix(T, heads * qk_dim, 26).cast<float>();
    const Mat v = random_matrix(T, heads * v_dim, 27).cast<float>();
    Mat probs_all, probs_tail;
    const Mat all = attention_forward<float>(q, k, v, heads, 0.3f, 0, nullptr, &probs_all);
    const Mat tail = attention_forward<float>(q.bottomRows(T - start), k, v, heads, 0.3f, start, nullptr, &probs_tail);
    CHECK(tail == all.bottomRows(T - start));
    for (int64_t h = 0; h < heads; ++h)
        CHECK(probs_tail.middleRows(h * (T - start), T - start) == probs_all.middleRows(h * T + start, T - start));
    // The causal mask: query s sees keys 0 .. start + s only.
    CHECK(probs_tail(0, start + 1) == 0);
    CHECK(probs_tail(0, start) > 0);
    CHECK_THROWS_WITH(attention_forward<float>(q.bottomRows(2), k, v, heads, 0.3f, start, nullptr, nullptr),
                      Catch::Contains("need 6 keys and values, got 7"));
}

TEST_CASE("backward: embedding") {
    const std::vector<int32_t> tokens = {3, 1, 3, 0, 6};  // token 3 twice: its row gathers both
    MatD table = random_matrix(7, 4, 19);
    const MatD dout = random_matrix(5, 4, 20);
    auto loss = [&] { return inner(dout, embedding_forward(table, tokens)); };
    MatD dtable = MatD::Zero(7, 4);
    embedding_backward(dtable, dout, tokens);
    CHECK(max_rel_error(dtable, central_differences(table, loss)) < gradient_tolerance);

    // Generated weights give embedding rows on demand: a lookup in the whole generated table matches.
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

        // route_tokens' scores and weights are gate_scores and gate_weights, the functions the
        // backward differentiates: the same numbers exactly.
        CHECK(gate_scores(config, logits_f) == routing.scores);
        CHECK(gate_weights(config, routing.scores, routing.topk_idx) == routing.topk_weight);

        // The selection is held fixed; every perturbation must leave route_tokens' choice as it was,
        // or the difference quotient would straddle a jump.
        MatD logits = logits_f.cast<double>();
        const MatD dweights = random_matrix(T, K, 24);
        bool selection_unchanged = true;
        auto loss = [&] {
            selection_unchanged &= route_tokens(config, logits.cast<float>(), bias).topk_idx == routing.topk_idx;
            return inner(dweights, gate_weights(config, gate_scores(config, logits), routing.topk_idx));
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
