#include "backward.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace seek {

// ---------------------------------------------------------------------------------------------
// Causal multi-head attention

template <typename S>
void attention_forward(MatOf<S>& out, MatOf<S>& probs, const MatOf<S>& q, const MatOf<S>& k, const MatOf<S>& v,
                       int64_t heads, S scale) {
    const int64_t T = q.rows(), qk_dim = q.cols() / heads, v_dim = v.cols() / heads;
    MatOf<S> scores(heads * T, T);
    for (int64_t h = 0; h < heads; ++h)
        scores.middleRows(h * T, T) = q.middleCols(h * qk_dim, qk_dim) * k.middleCols(h * qk_dim, qk_dim).transpose() * scale;
    causal_softmax(scores, probs, 0, T);  // a training sequence starts at position 0
    out.resize(T, heads * v_dim);
    for (int64_t h = 0; h < heads; ++h)
        out.middleCols(h * v_dim, v_dim) = probs.middleRows(h * T, T) * v.middleCols(h * v_dim, v_dim);
}

template <typename S>
void attention_backward(MatOf<S>& dq, MatOf<S>& dk, MatOf<S>& dv, const MatOf<S>& dout, const MatOf<S>& q,
                        const MatOf<S>& k, const MatOf<S>& v, const MatOf<S>& probs, int64_t heads, S scale) {
    const int64_t T = q.rows(), qk_dim = q.cols() / heads, v_dim = v.cols() / heads;
    MatOf<S> dp(T, T), dscores(T, T);
    for (int64_t h = 0; h < heads; ++h) {
        const auto p = probs.middleRows(h * T, T);  // views, not copies
        const auto dout_h = dout.middleCols(h * v_dim, v_dim);
        dv.middleCols(h * v_dim, v_dim) += p.transpose() * dout_h;
        dp.noalias() = dout_h * v.middleCols(h * v_dim, v_dim).transpose();

        // Softmax backward, row by row: the Jacobian diag(p) - p p^T applied to dp.
        for (int64_t s = 0; s < T; ++s) {
            S p_dot_dp = 0;
            for (int64_t t = 0; t < T; ++t) p_dot_dp += p(s, t) * dp(s, t);
            for (int64_t t = 0; t < T; ++t) dscores(s, t) = p(s, t) * (dp(s, t) - p_dot_dp);
        }
        dq.middleCols(h * qk_dim, qk_dim) += scale * dscores * k.middleCols(h * qk_dim, qk_dim);
        dk.middleCols(h * qk_dim, qk_dim) += scale * dscores.transpose() * q.middleCols(h * qk_dim, qk_dim);
    }
}

// ---------------------------------------------------------------------------------------------
// Embedding

static void check_token(int32_t token, Eigen::Index vocab) {
    if (token < 0 || token >= vocab)
        throw std::runtime_error("token " + std::to_string(token) + " is outside the vocabulary of " +
                                 std::to_string(vocab));
}

template <typename S>
MatOf<S> embedding_forward(const MatOf<S>& table, const std::vector<int32_t>& tokens) {
    MatOf<S> out(static_cast<Eigen::Index>(tokens.size()), table.cols());
    for (size_t t = 0; t < tokens.size(); ++t) {
        check_token(tokens[t], table.rows());
        out.row(t) = table.row(tokens[t]);
    }
    return out;
}

template <typename S>
void embedding_backward(MatOf<S>& dtable, const MatOf<S>& dout, const std::vector<int32_t>& tokens) {
    for (size_t t = 0; t < tokens.size(); ++t) dtable.row(tokens[t]) += dout.row(t);
}

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy

// log sum_i exp(z_i), shifted by the max so that no exp overflows.
template <typename S>
static S log_sum_exp(const MatOf<S>& logits, Eigen::Index t) {
    const S max = logits.row(t).maxCoeff();
    return max + std::log((logits.row(t).array() - max).exp().sum());
}

static int64_t counted_targets(const std::vector<int32_t>& targets) {
    int64_t counted = 0;
    for (int32_t target : targets) counted += target != kIgnoreTarget;
    return counted;
}

template <typename S>
S cross_entropy_forward(const MatOf<S>& logits, const std::vector<int32_t>& targets) {
    const int64_t counted = counted_targets(targets);
    S loss = 0;
    for (size_t t = 0; t < targets.size(); ++t) {
        if (targets[t] == kIgnoreTarget) continue;
        check_token(targets[t], logits.cols());
        loss += log_sum_exp(logits, t) - logits(t, targets[t]);
    }
    return counted ? loss / S(counted) : S(0);
}

template <typename S>
void cross_entropy_backward(MatOf<S>& dlogits, S dloss, const MatOf<S>& logits, const std::vector<int32_t>& targets) {
    const int64_t counted = counted_targets(targets);
    if (counted == 0) return;
    const S per_token = dloss / S(counted);
    for (size_t t = 0; t < targets.size(); ++t) {
        if (targets[t] == kIgnoreTarget) continue;
        const S lse = log_sum_exp(logits, t);
        dlogits.row(t).array() += per_token * (logits.row(t).array() - lse).exp();  // softmax
        dlogits(t, targets[t]) -= per_token;
    }
}

// ---------------------------------------------------------------------------------------------
// MoE gate weights

// s = sigmoid(logits) or softmax(logits) per row, as route_tokens computes them.
template <typename S>
static MatOf<S> gate_scores(const ModelConfig& config, const MatOf<S>& logits) {
    if (config.scoring_func == "sigmoid") return logits.unaryExpr([](S a) { return sigmoid(a); });
    MatOf<S> scores(logits.rows(), logits.cols());
    for (Eigen::Index t = 0; t < logits.rows(); ++t) scores.row(t) = (logits.row(t).array() - log_sum_exp(logits, t)).exp();
    return scores;
}

template <typename S>
MatOf<S> gate_weights_forward(const ModelConfig& config, const MatOf<S>& logits, const IndexMat& topk_idx) {
    const MatOf<S> s = gate_scores(config, logits);
    MatOf<S> w(topk_idx.rows(), topk_idx.cols());
    for (Eigen::Index t = 0; t < w.rows(); ++t) {
        for (Eigen::Index k = 0; k < w.cols(); ++k) w(t, k) = s(t, topk_idx(t, k));
        if (config.norm_topk_prob) w.row(t) /= w.row(t).sum() + S(1e-20);  // HF's denominator
    }
    return w * static_cast<S>(config.routed_scaling_factor);
}

template <typename S>
void gate_weights_backward(MatOf<S>& dlogits, const MatOf<S>& dweights, const ModelConfig& config,
                           const MatOf<S>& logits, const IndexMat& topk_idx) {
    const MatOf<S> s = gate_scores(config, logits);
    const MatOf<S> w = gate_weights_forward(config, logits, topk_idx);
    const S c = static_cast<S>(config.routed_scaling_factor);
    for (Eigen::Index t = 0; t < logits.rows(); ++t) {
        // Through the normalization w_k = c s_k / Z: every chosen score shares the denominator Z.
        S z = 1, dw_dot_w = 0;
        if (config.norm_topk_prob) {
            z = S(1e-20);
            for (Eigen::Index k = 0; k < w.cols(); ++k) z += s(t, topk_idx(t, k));
            dw_dot_w = dweights.row(t).dot(w.row(t));
        }
        VecOf<S> dscores = VecOf<S>::Zero(logits.cols());  // zero for the experts not chosen
        for (Eigen::Index k = 0; k < w.cols(); ++k) dscores[topk_idx(t, k)] += (c * dweights(t, k) - dw_dot_w) / z;

        // Through the scoring function.
        if (config.scoring_func == "sigmoid") {
            for (Eigen::Index e = 0; e < logits.cols(); ++e) dlogits(t, e) += dscores[e] * s(t, e) * (S(1) - s(t, e));
        } else {
            const S s_dot_ds = s.row(t).dot(dscores.transpose());
            for (Eigen::Index e = 0; e < logits.cols(); ++e) dlogits(t, e) += s(t, e) * (dscores[e] - s_dot_ds);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// float trains; double is what the finite-difference tests run.

#define SEEK_BACKWARD_INSTANTIATE(S)                                                                                   \
    template void attention_forward(MatOf<S>&, MatOf<S>&, const MatOf<S>&, const MatOf<S>&, const MatOf<S>&,         \
                                    int64_t, S);                                                                     \
    template void attention_backward(MatOf<S>&, MatOf<S>&, MatOf<S>&, const MatOf<S>&, const MatOf<S>&,              \
                                     const MatOf<S>&, const MatOf<S>&, const MatOf<S>&, int64_t, S);                 \
    template MatOf<S> embedding_forward(const MatOf<S>&, const std::vector<int32_t>&);                               \
    template void embedding_backward(MatOf<S>&, const MatOf<S>&, const std::vector<int32_t>&);                       \
    template S cross_entropy_forward(const MatOf<S>&, const std::vector<int32_t>&);                                  \
    template void cross_entropy_backward(MatOf<S>&, S, const MatOf<S>&, const std::vector<int32_t>&);                \
    template MatOf<S> gate_weights_forward(const ModelConfig&, const MatOf<S>&, const IndexMat&);                    \
    template void gate_weights_backward(MatOf<S>&, const MatOf<S>&, const ModelConfig&, const MatOf<S>&,             \
                                        const IndexMat&);

SEEK_BACKWARD_INSTANTIATE(float)
SEEK_BACKWARD_INSTANTIATE(double)

}  // namespace seek
