#include "moe.h"

#include <chrono>
#include <cmath>
#include <stdexcept>

#include "random.h"

namespace seek {

// silu(gate) * up, elementwise.
template <typename S>
static MatOf<S> swiglu_hidden(const MatOf<S>& gate, const MatOf<S>& up) {
    MatOf<S> hidden(gate.rows(), gate.cols());
    for (Eigen::Index i = 0; i < gate.size(); ++i) {
        const S a = gate.data()[i];
        hidden.data()[i] = a / (S(1) + std::exp(-a)) * up.data()[i];
    }
    return hidden;
}

template <typename S>
MatOf<S> swiglu_forward(const MatOf<S>& x, const MatOf<S>& gate_proj, const MatOf<S>& up_proj,
                        const MatOf<S>& down_proj, const LinearPrecision& precision) {
    const MatOf<S> hidden = swiglu_hidden<S>(linear_forward(x, gate_proj, precision), linear_forward(x, up_proj, precision));
    return linear_forward(hidden, down_proj, precision);
}

template <typename S>
void swiglu_backward(MatOf<S>& dx, MatOf<S>& dgate_proj, MatOf<S>& dup_proj, MatOf<S>& ddown_proj,
                     const MatOf<S>& dy, const MatOf<S>& x, const MatOf<S>& gate_proj, const MatOf<S>& up_proj,
                     const MatOf<S>& down_proj, const LinearPrecision& precision) {
    const MatOf<S> gate = linear_forward(x, gate_proj, precision);
    const MatOf<S> up = linear_forward(x, up_proj, precision);
    const MatOf<S> hidden = swiglu_hidden(gate, up);

    MatOf<S> dhidden = MatOf<S>::Zero(hidden.rows(), hidden.cols());
    linear_backward(dhidden, ddown_proj, dy, hidden, down_proj, precision);

    MatOf<S> dgate(gate.rows(), gate.cols()), dup(up.rows(), up.cols());
    for (Eigen::Index i = 0; i < gate.size(); ++i) {
        const S a = gate.data()[i], sig = sigmoid(a);
        dup.data()[i] = dhidden.data()[i] * a * sig;                                     // d/dup = silu(gate)
        dgate.data()[i] = dhidden.data()[i] * up.data()[i] * sig * (S(1) + a * (S(1) - sig));  // silu'(gate) up
    }
    linear_backward(dx, dgate_proj, dgate, x, gate_proj, precision);
    linear_backward(dx, dup_proj, dup, x, up_proj, precision);
}

template MatOf<float> swiglu_forward(const MatOf<float>&, const MatOf<float>&, const MatOf<float>&, const MatOf<float>&,
                                     const LinearPrecision&);
template MatOf<double> swiglu_forward(const MatOf<double>&, const MatOf<double>&, const MatOf<double>&,
                                      const MatOf<double>&, const LinearPrecision&);
template void swiglu_backward(MatOf<float>&, MatOf<float>&, MatOf<float>&, MatOf<float>&, const MatOf<float>&,
                              const MatOf<float>&, const MatOf<float>&, const MatOf<float>&, const MatOf<float>&,
                              const LinearPrecision&);
template void swiglu_backward(MatOf<double>&, MatOf<double>&, MatOf<double>&, MatOf<double>&, const MatOf<double>&,
                              const MatOf<double>&, const MatOf<double>&, const MatOf<double>&, const MatOf<double>&,
                              const LinearPrecision&);

FfnWeights generated_ffn_weights(uint64_t seed, const std::string& module, int64_t hidden, int64_t width, float std) {
    auto matrix = [&](const char* leaf, int64_t rows, int64_t cols) {
        return generated_matrix(seed, module + "." + leaf + ".weight", rows, cols, std > 0 ? std : 1.0f / std::sqrt(float(cols)));
    };
    return {matrix("gate_proj", width, hidden), matrix("up_proj", width, hidden), matrix("down_proj", hidden, width)};
}

FfnWeights generated_dense_ffn(const ModelConfig& config, int64_t layer, uint64_t seed) {
    return generated_ffn_weights(seed, mlp_module_name(layer), config.hidden_size, config.intermediate_size);
}

FfnWeights generated_shared_experts(const ModelConfig& config, int64_t layer, uint64_t seed) {
    // HF stores the n_shared shared experts as one SwiGLU of n_shared times the expert width.
    return generated_ffn_weights(seed, mlp_module_name(layer) + ".shared_experts", config.hidden_size,
                                 config.n_shared_experts * config.moe_intermediate_size);
}

FfnWeights generated_expert(const ModelConfig& config, int64_t layer, int64_t expert, uint64_t seed) {
    return generated_ffn_weights(seed, mlp_module_name(layer) + ".experts." + std::to_string(expert),
                                 config.hidden_size, config.moe_intermediate_size);
}

int64_t expert_bytes(const ModelConfig& config) {
    return 3 * config.moe_intermediate_size * config.hidden_size * int64_t{4};
}

ExpertStore make_expert_store(const ModelConfig& config, int64_t layer, uint64_t seed, int64_t capacity) {
    if (capacity < 0) throw std::runtime_error("expert cache capacity must be >= 0, got " + std::to_string(capacity));
    ExpertStore store;
    store.config = config;
    store.layer = layer;
    store.seed = seed;
    store.capacity = capacity == 0 ? config.n_routed_experts : capacity;
    return store;
}

const FfnWeights& routed_expert(ExpertStore& store, int64_t expert) {
    if (expert < 0 || expert >= store.config.n_routed_experts)
        throw std::runtime_error("expert " + std::to_string(expert) + " out of range [0, " +
                                 std::to_string(store.config.n_routed_experts) + ")");
    for (auto it = store.cached.begin(); it != store.cached.end(); ++it) {
        if (it->first != expert) continue;
        store.cached.splice(store.cached.begin(), store.cached, it);  // now the most recently used
        return store.cached.front().second;
    }
    // Evict before generating, so the store never holds more than `capacity` experts.
    if (static_cast<int64_t>(store.cached.size()) >= store.capacity) store.cached.pop_back();
    const auto start = std::chrono::steady_clock::now();
    store.cached.emplace_front(expert, generated_expert(store.config, store.layer, expert, store.seed));
    store.materialize_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++store.materializations;
    if (store.on_generate) store.on_generate(store);
    return store.cached.front().second;
}

int64_t first_moe_layer(const ModelConfig& config) {
    for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer)
        if (config.is_moe_layer(layer)) return layer;
    return -1;
}

MoeLayer generated_moe_layer(const ModelConfig& config, int64_t layer, uint64_t seed, int64_t expert_cache) {
    if (!config.is_moe_layer(layer))
        throw std::runtime_error(config.name + ": layer " + std::to_string(layer) + " is a dense layer, not MoE");
    MoeLayer moe;
    moe.gate = generated_gate_weights(config, layer, seed);
    if (config.n_shared_experts > 0) moe.shared = generated_shared_experts(config, layer, seed);
    moe.experts = make_expert_store(config, layer, seed, expert_cache);
    return moe;
}

Mat routed_per_token(ExpertStore& experts, const Routing& routing, const Mat& x) {
    Mat out = Mat::Zero(x.rows(), x.cols());
    for (int64_t t = 0; t < x.rows(); ++t) {
        for (int64_t k = 0; k < routing.topk_idx.cols(); ++k) {
            const FfnWeights& expert = routed_expert(experts, routing.topk_idx(t, k));
            out.row(t) += routing.topk_weight(t, k) * swiglu_ffn(expert, x.row(t));
        }
    }
    return out;
}

Mat routed_grouped(ExpertStore& experts, const Routing& routing, const Mat& x) {
    const int64_t T = x.rows(), K = routing.topk_idx.cols(), E = experts.config.n_routed_experts;

    // 1. Histogram of assignments per expert and its exclusive prefix sum: expert e's pairs will
    //    occupy slots offset[e] .. offset[e + 1] - 1 of the sorted order.
    std::vector<int64_t> offset(E + 1, 0);
    for (int64_t t = 0; t < T; ++t)
        for (int64_t k = 0; k < K; ++k) ++offset[routing.topk_idx(t, k) + 1];
    for (int64_t e = 0; e < E; ++e) offset[e + 1] += offset[e];

    // 2. Sort the (token, k) pairs by expert (a counting sort: stable, so tokens stay in order).
    std::vector<int64_t> sorted_token(T * K), sorted_k(T * K), next = offset;
    for (int64_t t = 0; t < T; ++t) {
        for (int64_t k = 0; k < K; ++k) {
            const int64_t slot = next[routing.topk_idx(t, k)]++;
            sorted_token[slot] = t;
            sorted_k[slot] = k;
        }
    }

    // 3. One batch per expert: gather its tokens, run the expert once, scatter-add weighted rows.
    Mat out = Mat::Zero(T, x.cols());
    for (int64_t e = 0; e < E; ++e) {
        const int64_t count = offset[e + 1] - offset[e];
        if (count == 0) continue;  // an unused expert is never materialized
        Mat batch(count, x.cols());
        for (int64_t i = 0; i < count; ++i) batch.row(i) = x.row(sorted_token[offset[e] + i]);
        const Mat y = swiglu_ffn(routed_expert(experts, e), batch);
        for (int64_t i = 0; i < count; ++i) {
            const int64_t t = sorted_token[offset[e] + i], k = sorted_k[offset[e] + i];
            out.row(t) += routing.topk_weight(t, k) * y.row(i);
        }
    }
    return out;
}

Mat moe_forward(const ModelConfig& config, MoeLayer& layer, const Mat& x, Dispatch dispatch, Trace* trace,
                const std::string& prefix, Routing* routing) {
    Routing r = gate_forward(config, layer.gate, x, trace, prefix);
    const Mat shared = config.n_shared_experts > 0 ? swiglu_ffn(layer.shared, x) : Mat::Zero(x.rows(), x.cols());
    const Mat routed = dispatch == Dispatch::PerToken ? routed_per_token(layer.experts, r, x)
                                                      : routed_grouped(layer.experts, r, x);
    const Mat out = shared + routed;
    trace_record(trace, prefix + ".shared_out", shared);
    trace_record(trace, prefix + ".routed_out", routed);
    trace_record(trace, prefix + ".out", out);
    if (routing) *routing = std::move(r);
    return out;
}

}  // namespace seek
