#include "gate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "exp.h"
#include "random.h"
#include "softmax.h"

namespace seek {

bool gate_has_bias(const ModelConfig& config) { return config.topk_method == "noaux_tc"; }

std::string mlp_module_name(int64_t layer) { return "model.layers." + std::to_string(layer) + ".mlp"; }

GateWeights generated_gate_weights(const ModelConfig& config, int64_t layer, uint64_t seed, float std) {
    GateWeights gate;
    gate.weight = generated_matrix(seed, mlp_module_name(layer) + ".gate.weight", config.n_routed_experts, config.hidden_size,
                                   std > 0 ? std : 1.0f / std::sqrt(float(config.hidden_size)));
    if (gate_has_bias(config)) gate.bias = Vec::Zero(config.n_routed_experts);
    return gate;
}

// The k candidates with the largest values, largest first; equal values: lower index first.
// Insertion into a sorted list of at most k: plain, and quick for routing's small k.
static std::vector<int32_t> top_k(const std::vector<int32_t>& candidates, const float* values, int64_t k) {
    auto better = [&](int32_t a, int32_t b) { return values[a] > values[b] || (values[a] == values[b] && a < b); };
    std::vector<int32_t> best;
    best.reserve(k + 1);
    for (int32_t c : candidates) {
        if (static_cast<int64_t>(best.size()) == k && !better(c, best.back())) continue;
        best.push_back(c);
        for (size_t i = best.size() - 1; i > 0 && better(c, best[i - 1]); --i) std::swap(best[i], best[i - 1]);
        if (static_cast<int64_t>(best.size()) > k) best.pop_back();
    }
    return best;
}

template <typename S>
MatOf<S> gate_scores(const ModelConfig& config, const MatOf<S>& logits) {
    MatOf<S> scores(logits.rows(), logits.cols());
    for (Eigen::Index t = 0; t < logits.rows(); ++t) {
        if (config.scoring_func == "sigmoid") {
            scores.row(t) = logits.row(t);
            sigmoid_in_place(&scores(t, 0), scores.cols());
        } else
            softmax_row(&logits(t, 0), &scores(t, 0), logits.cols());
    }
    return scores;
}

template <typename S>
MatOf<S> gate_weights(const ModelConfig& config, const MatOf<S>& scores, const IndexMat& topk_idx) {
    MatOf<S> w(topk_idx.rows(), topk_idx.cols());
    for (Eigen::Index t = 0; t < w.rows(); ++t) {
        S sum = 0;
        for (Eigen::Index k = 0; k < w.cols(); ++k) sum += w(t, k) = scores(t, topk_idx(t, k));
        if (config.norm_topk_prob) w.row(t) /= sum + S(1e-20);  // HF's denominator
        w.row(t) *= static_cast<S>(config.routed_scaling_factor);
    }
    return w;
}

Routing route_tokens(const ModelConfig& config, const Mat& logits, const Vec& bias) {
    validate_routing(config, config.name);
    const int64_t T = logits.rows(), E = config.n_routed_experts, K = config.num_experts_per_tok;
    if (E == 0) throw std::runtime_error(config.name + ": route_tokens needs n_routed_experts > 0");
    const int64_t G = config.n_group, group_size = E / G;
    if (logits.cols() != E)
        throw std::runtime_error("gate logits have " + std::to_string(logits.cols()) + " columns, " + config.name +
                                 " has n_routed_experts " + std::to_string(E));
    const bool has_bias = bias.size() != 0;
    if (has_bias && bias.size() != E)
        throw std::runtime_error("e_score_correction_bias has " + std::to_string(bias.size()) + " entries, expected " +
                                 std::to_string(E));
    const float neg_inf = -std::numeric_limits<float>::infinity();

    Routing r;
    r.scores = gate_scores(config, logits);
    r.biased_scores.resize(T, E);
    r.group_scores.resize(T, G);
    r.group_mask.resize(T, G);
    r.topk_idx.resize(T, K);
    // Tokens route independently (on one thread: a token's routing is a few hundred comparisons).
    for (int64_t t = 0; t < T; ++t) {
        const float* s = &r.scores(t, 0);
        float* sel = &r.biased_scores(t, 0);
        for (int64_t i = 0; i < E; ++i) sel[i] = has_bias ? s[i] + bias[i] : s[i];

        // Group scores: the sum of the group's two best biased scores with a bias, its best without.
        for (int64_t g = 0; g < G; ++g) {
            float best = neg_inf, second = neg_inf;
            for (int64_t i = g * group_size; i < (g + 1) * group_size; ++i) {
                if (sel[i] > best) {
                    second = best;
                    best = sel[i];
                } else if (sel[i] > second) {
                    second = sel[i];
                }
            }
            r.group_scores(t, g) = has_bias && group_size > 1 ? best + second : best;
        }

        // Keep the topk_group best groups. Their experts are the only candidates: DeepSeek's code
        // sets the other groups' scores to -inf before the top-k, which excludes them the same way.
        std::vector<int32_t> all_groups(G);
        std::iota(all_groups.begin(), all_groups.end(), 0);
        r.group_mask.row(t).setZero();
        std::vector<int32_t> candidates;
        for (int32_t g : top_k(all_groups, &r.group_scores(t, 0), config.topk_group)) {
            r.group_mask(t, g) = 1;
            for (int64_t i = g * group_size; i < (g + 1) * group_size; ++i) candidates.push_back(static_cast<int32_t>(i));
        }

        // The top-k candidates by biased score.
        const std::vector<int32_t> chosen = top_k(candidates, sel, K);
        for (int64_t k = 0; k < K; ++k) r.topk_idx(t, k) = chosen[k];
    }
    r.topk_weight = gate_weights(config, r.scores, r.topk_idx);  // from the UNBIASED scores
    return r;
}

Routing gate_forward(const ModelConfig& config, const GateWeights& gate, const Mat& x, const ForwardContext& context,
                     const std::string& prefix, Mat* logits_out) {
    Trace* trace = context.trace;
    Mat logits = context.kernels->linear(x, gate.weight, fp32_like(context.precision));  // the gate stays FP32
    Routing r = context.kernels->route(config, logits, gate.bias);
    auto name = [&](const char* leaf) { return prefix + "." + leaf; };
    trace_record(trace, name("scores"), r.scores);
    trace_record(trace, name("biased_scores"), r.biased_scores);
    trace_record(trace, name("group_scores"), r.group_scores);
    trace_record(trace, name("group_mask"), r.group_mask);
    if (trace_wants(trace, name("topk_idx"))) {
        const Mat idx = r.topk_idx.cast<float>();
        trace_record(trace, name("topk_idx"), {idx.rows(), idx.cols()}, idx.data(), DType::I32);
    }
    trace_record(trace, name("topk_weight"), r.topk_weight);
    if (logits_out) *logits_out = std::move(logits);
    return r;
}

template <typename S>
void gate_weights_backward(MatOf<S>& dlogits, const MatOf<S>& dweights, const ModelConfig& config,
                           const MatOf<S>& logits, const IndexMat& topk_idx) {
    const MatOf<S> s = gate_scores(config, logits);
    const MatOf<S> w = gate_weights(config, s, topk_idx);
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

// The routing of rows start .. start + count: one sequence's, for the balance loss.
static Routing routing_rows(const Routing& routing, int64_t start, int64_t count) {
    Routing part;
    part.scores = routing.scores.middleRows(start, count);
    part.topk_idx = routing.topk_idx.middleRows(start, count);
    part.topk_weight = routing.topk_weight.middleRows(start, count);
    return part;
}

void gate_backward(Mat& dx, GateWeights& dgate, const Mat& dweights, const ModelConfig& config, const GateWeights& gate,
                   const Mat& x, const Mat& logits, const Routing& routing, const std::vector<int64_t>& offsets,
                   double balance_alpha) {
    Mat dlogits = Mat::Zero(logits.rows(), logits.cols());
    gate_weights_backward(dlogits, dweights, config, logits, routing.topk_idx);
    if (balance_alpha > 0)
        for (size_t s = 0; s + 1 < offsets.size(); ++s) {
            const int64_t T = offsets[s + 1] - offsets[s];
            dlogits.middleRows(offsets[s], T) +=
                sequence_balance_loss_grad(config, routing_rows(routing, offsets[s], T), balance_alpha);
        }
    linear_backward(dx, dgate.weight, dlogits, x, gate.weight);
}

double balance_loss(const ModelConfig& config, const Routing& routing, const std::vector<int64_t>& offsets, double alpha) {
    double total = 0;
    if (alpha > 0)
        for (size_t s = 0; s + 1 < offsets.size(); ++s)
            total += sequence_balance_loss(config, routing_rows(routing, offsets[s], offsets[s + 1] - offsets[s]), alpha);
    return total;
}

// ---------------------------------------------------------------------------------------------

ExpertLoad count_load(const ModelConfig& config, const IndexMat& topk_idx, int64_t node_limit) {
    const int64_t group_size = config.n_routed_experts / config.n_group;
    ExpertLoad load;
    load.per_expert.assign(config.n_routed_experts, 0);
    load.per_group.assign(config.n_group, 0);
    load.tokens = topk_idx.rows();
    std::vector<char> group_used(config.n_group);
    for (int64_t t = 0; t < topk_idx.rows(); ++t) {
        std::fill(group_used.begin(), group_used.end(), 0);
        int64_t groups_spanned = 0;
        for (int64_t k = 0; k < topk_idx.cols(); ++k) {
            const int32_t expert = topk_idx(t, k), group = static_cast<int32_t>(expert / group_size);
            ++load.per_expert[expert];
            ++load.per_group[group];
            if (!group_used[group]) ++groups_spanned;
            group_used[group] = 1;
        }
        if (groups_spanned > node_limit) ++load.tokens_beyond_limit;
    }
    return load;
}

void add_load(ExpertLoad& total, const ExpertLoad& batch) {
    if (total.per_expert.empty()) {
        total = batch;
        return;
    }
    for (size_t i = 0; i < batch.per_expert.size(); ++i) total.per_expert[i] += batch.per_expert[i];
    for (size_t g = 0; g < batch.per_group.size(); ++g) total.per_group[g] += batch.per_group[g];
    total.tokens += batch.tokens;
    total.tokens_beyond_limit += batch.tokens_beyond_limit;
}

double max_violation(const std::vector<int64_t>& load) {
    if (load.empty()) return 0;
    const double total = std::accumulate(load.begin(), load.end(), 0.0);
    if (total == 0) return 0;
    const double mean = total / load.size();
    return *std::max_element(load.begin(), load.end()) / mean - 1;
}

// ---------------------------------------------------------------------------------------------

void update_bias(Vec& bias, const std::vector<int64_t>& load, double gamma) {
    if (bias.size() != static_cast<Eigen::Index>(load.size()))
        throw std::runtime_error("update_bias: " + std::to_string(bias.size()) + " biases for " +
                                 std::to_string(load.size()) + " expert loads");
    const double mean = std::accumulate(load.begin(), load.end(), 0.0) / load.size();
    for (size_t i = 0; i < load.size(); ++i) {
        const double error = mean - load[i];  // > 0: underloaded
        const float sign = error > 0 ? 1.0f : error < 0 ? -1.0f : 0.0f;
        bias[i] += static_cast<float>(gamma) * sign;
    }
}

// f_i = E / (K T) * count_i, computed in double.
static std::vector<double> balance_fractions(const ModelConfig& config, const Routing& routing) {
    const int64_t T = routing.topk_idx.rows(), E = config.n_routed_experts, K = config.num_experts_per_tok;
    std::vector<double> f(E, 0.0);
    for (int64_t t = 0; t < T; ++t)
        for (int64_t k = 0; k < K; ++k) f[routing.topk_idx(t, k)] += 1.0;
    for (double& value : f) value *= static_cast<double>(E) / (K * T);
    return f;
}

double sequence_balance_loss(const ModelConfig& config, const Routing& routing, double alpha) {
    const int64_t T = routing.scores.rows(), E = config.n_routed_experts;
    const std::vector<double> f = balance_fractions(config, routing);
    double loss = 0;  // alpha * sum_i f_i P_i = alpha/T * sum_t sum_i f_i s'_{i,t}
    for (int64_t t = 0; t < T; ++t) {
        double row_sum = 0, weighted = 0;
        for (int64_t i = 0; i < E; ++i) {
            row_sum += routing.scores(t, i);
            weighted += f[i] * routing.scores(t, i);
        }
        loss += weighted / row_sum;
    }
    return alpha * loss / T;
}

Mat sequence_balance_loss_grad(const ModelConfig& config, const Routing& routing, double alpha) {
    const int64_t T = routing.scores.rows(), E = config.n_routed_experts;
    const bool sigmoid = config.scoring_func == "sigmoid";
    const std::vector<double> f = balance_fractions(config, routing);
    Mat grad(T, E);
    for (int64_t t = 0; t < T; ++t) {
        double row_sum = 0, weighted = 0;
        for (int64_t i = 0; i < E; ++i) {
            row_sum += routing.scores(t, i);
            weighted += f[i] * routing.scores(t, i);
        }
        const double f_mean = weighted / row_sum;  // sum_i f_i s'_i: the token's average f
        for (int64_t j = 0; j < E; ++j) {
            const double s = routing.scores(t, j);
            const double ds_dz = sigmoid ? s * (1 - s) / row_sum : s;  // softmax: row_sum is 1
            grad(t, j) = static_cast<float>(alpha / T * ds_dz * (f[j] - f_mean));
        }
    }
    return grad;
}

template MatOf<float> gate_scores(const ModelConfig&, const MatOf<float>&);
template MatOf<double> gate_scores(const ModelConfig&, const MatOf<double>&);
template MatOf<float> gate_weights(const ModelConfig&, const MatOf<float>&, const IndexMat&);
template MatOf<double> gate_weights(const ModelConfig&, const MatOf<double>&, const IndexMat&);
template void gate_weights_backward(MatOf<float>&, const MatOf<float>&, const ModelConfig&, const MatOf<float>&,
                                    const IndexMat&);
template void gate_weights_backward(MatOf<double>&, const MatOf<double>&, const ModelConfig&, const MatOf<double>&,
                                    const IndexMat&);

}  // namespace seek
