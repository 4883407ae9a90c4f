#include "moe.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "exp.h"
#include "parallel.h"
#include "random.h"

namespace seek {

// silu(gate) * up, elementwise: gate / (1 + e^-gate) * up, the exps a whole array at once (exp.h).
// With `sigmoid`, also σ(gate) = 1 / (1 + e^-gate) from the same exps, for the backward's silu'.
template <typename S>
static MatOf<S> swiglu_hidden(const MatOf<S>& gate, const MatOf<S>& up, MatOf<S>* sigmoid = nullptr) {
    MatOf<S> hidden = -gate;
    exp_in_place(hidden.data(), hidden.size());
    if (sigmoid) {
        sigmoid->resize(gate.rows(), gate.cols());
        for (Eigen::Index i = 0; i < gate.size(); ++i) sigmoid->data()[i] = S(1) / (S(1) + hidden.data()[i]);
    }
    for (Eigen::Index i = 0; i < gate.size(); ++i)
        hidden.data()[i] = gate.data()[i] / (S(1) + hidden.data()[i]) * up.data()[i];
    return hidden;
}

template <typename S>
MatOf<S> swiglu_forward(const MatOf<S>& x, const MatOf<S>& gate_proj, const MatOf<S>& up_proj,
                        const MatOf<S>& down_proj, const LinearPrecision& precision, SwigluActivationsOf<S>* act,
                        const Mat* x_rounded) {
    const Mat rounded_here = x_rounded ? Mat() : rounded_input(x, precision, kActivationTile);
    if (rounded_here.size()) x_rounded = &rounded_here;
    MatOf<S> gate = linear_forward(x, gate_proj, precision, x_rounded);
    MatOf<S> up = linear_forward(x, up_proj, precision, x_rounded), sigmoid;
    MatOf<S> hidden = swiglu_hidden<S>(gate, up, act ? &sigmoid : nullptr);
    MatOf<S> y = linear_forward(hidden, down_proj, precision);
    if (act) *act = {std::move(gate), std::move(up), std::move(hidden), std::move(sigmoid)};
    return y;
}

template <typename S>
void swiglu_backward(MatOf<S>& dx, MatOf<S>& dgate_proj, MatOf<S>& dup_proj, MatOf<S>& ddown_proj,
                     const MatOf<S>& dy, const MatOf<S>& x, const MatOf<S>& gate_proj, const MatOf<S>& up_proj,
                     const MatOf<S>& down_proj, const LinearPrecision& precision, const SwigluActivationsOf<S>* act) {
    SwigluActivationsOf<S> recomputed;
    if (!act) {
        recomputed.gate = linear_forward(x, gate_proj, precision);
        recomputed.up = linear_forward(x, up_proj, precision);
        recomputed.hidden = swiglu_hidden(recomputed.gate, recomputed.up, &recomputed.sigmoid);
        act = &recomputed;
    }
    const MatOf<S>&gate = act->gate, &up = act->up, &hidden = act->hidden, &sigmoids = act->sigmoid;

    MatOf<S> dhidden = MatOf<S>::Zero(hidden.rows(), hidden.cols());
    linear_backward(dhidden, ddown_proj, dy, hidden, down_proj, precision);

    MatOf<S> dgate(gate.rows(), gate.cols()), dup(up.rows(), up.cols());
    for (Eigen::Index i = 0; i < gate.size(); ++i) {
        const S a = gate.data()[i], sig = sigmoids.data()[i];
        dup.data()[i] = dhidden.data()[i] * a * sig;                                     // d/dup = silu(gate)
        dgate.data()[i] = dhidden.data()[i] * up.data()[i] * sig * (S(1) + a * (S(1) - sig));  // silu'(gate) up
    }
    const Mat x_tokens = rounded_input(x, precision, kTokenTile);  // Wgrad's x, once for both
    const Mat* x_rounded = x_tokens.size() ? &x_tokens : nullptr;
    linear_backward(dx, dgate_proj, dgate, x, gate_proj, precision, x_rounded);
    linear_backward(dx, dup_proj, dup, x, up_proj, precision, x_rounded);
}

Mat swiglu(const Mat& x, const FfnWeights& w, const LinearPrecision& precision, SwigluActivations* act) {
    return swiglu_forward<float>(x, w.gate_proj, w.up_proj, w.down_proj, precision, act);
}

template MatOf<float> swiglu_forward(const MatOf<float>&, const MatOf<float>&, const MatOf<float>&, const MatOf<float>&,
                                     const LinearPrecision&, SwigluActivationsOf<float>*, const Mat*);
template MatOf<double> swiglu_forward(const MatOf<double>&, const MatOf<double>&, const MatOf<double>&,
                                      const MatOf<double>&, const LinearPrecision&, SwigluActivationsOf<double>*,
                                      const Mat*);
template void swiglu_backward(MatOf<float>&, MatOf<float>&, MatOf<float>&, MatOf<float>&, const MatOf<float>&,
                              const MatOf<float>&, const MatOf<float>&, const MatOf<float>&, const MatOf<float>&,
                              const LinearPrecision&, const SwigluActivationsOf<float>*);
template void swiglu_backward(MatOf<double>&, MatOf<double>&, MatOf<double>&, MatOf<double>&, const MatOf<double>&,
                              const MatOf<double>&, const MatOf<double>&, const MatOf<double>&, const MatOf<double>&,
                              const LinearPrecision&, const SwigluActivationsOf<double>*);

// ---------------------------------------------------------------------------------------------
// Weights

FfnWeights generated_ffn_weights(uint64_t seed, const std::string& module, int64_t hidden, int64_t width, float std,
                                 FfnWeights reuse) {
    auto fill = [&](Mat& m, const char* leaf, int64_t rows, int64_t cols) {
        fill_generated(m, seed, module + "." + leaf + ".weight", rows, cols, std > 0 ? std : 1.0f / std::sqrt(float(cols)));
    };
    fill(reuse.gate_proj, "gate_proj", width, hidden);
    fill(reuse.up_proj, "up_proj", width, hidden);
    fill(reuse.down_proj, "down_proj", hidden, width);
    return reuse;
}

FfnWeights sized_ffn_weights(int64_t hidden, int64_t width) {
    return FfnWeights{Mat(width, hidden), Mat(width, hidden), Mat(hidden, width)};
}

FfnWeights generated_expert(const ModelConfig& config, int64_t layer, int64_t expert, uint64_t seed, float std,
                            FfnWeights reuse) {
    return generated_ffn_weights(seed, mlp_module_name(layer) + ".experts." + std::to_string(expert),
                                 config.hidden_size, config.moe_intermediate_size, std, std::move(reuse));
}

int64_t expert_bytes(const ModelConfig& config) {
    return 3 * config.moe_intermediate_size * config.hidden_size * int64_t{4};
}

ExpertStore make_expert_store(const ModelConfig& config, ExpertLoader load, int64_t capacity_bytes) {
    if (capacity_bytes < expert_bytes(config))
        throw std::runtime_error("expert cache of " + std::to_string(capacity_bytes) + " bytes cannot hold one expert (" +
                                 std::to_string(expert_bytes(config)) + " bytes)");
    ExpertStore store;
    store.n_routed_experts = config.n_routed_experts;
    store.bytes_per_expert = expert_bytes(config);
    store.load = std::move(load);
    store.capacity_bytes = capacity_bytes;
    return store;
}

ExpertStore make_expert_store(const ModelConfig& config, uint64_t seed, int64_t capacity, float std) {
    if (capacity < 1) throw std::runtime_error("expert cache capacity must be >= 1, got " + std::to_string(capacity));
    return make_expert_store(
        config,
        [config, seed, std](int64_t layer, int64_t expert, FfnWeights evicted) {
            return generated_expert(config, layer, expert, seed, std, std::move(evicted));
        },
        capacity * expert_bytes(config));
}

static int64_t ffn_bytes(const FfnWeights& w) {
    return 4 * static_cast<int64_t>(w.gate_proj.size() + w.up_proj.size() + w.down_proj.size());
}

static const FfnWeights& stored_expert(ExpertStore& store, int64_t layer, int64_t expert) {
    const std::pair<int64_t, int64_t> key = {layer, expert};
    for (auto it = store.cached.begin(); it != store.cached.end(); ++it) {
        if (it->first != key) continue;
        store.cached.splice(store.cached.begin(), store.cached, it);  // now the most recently used
        return store.cached.front().second;
    }
    // Evict first, so the store never holds more than its budget, the expert being loaded included.
    // The last expert evicted lends the loader its storage.
    FfnWeights evicted;
    while (!store.cached.empty() && store.held_bytes + store.bytes_per_expert > store.capacity_bytes) {
        store.held_bytes -= ffn_bytes(store.cached.back().second);
        evicted = std::move(store.cached.back().second);
        store.cached.pop_back();
    }
    const auto start = std::chrono::steady_clock::now();
    FfnWeights loaded = store.load(layer, expert, std::move(evicted));
    const int64_t bytes = ffn_bytes(loaded);
    store.cached.emplace_front(key, std::move(loaded));
    store.held_bytes += bytes;
    store.materialize_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ++store.materializations;
    if (store.on_generate) store.on_generate(store);
    return store.cached.front().second;
}

const FfnWeights& routed_expert(const MoeWeights& moe, int64_t expert) {
    const int64_t count = moe.store ? moe.store->n_routed_experts : static_cast<int64_t>(moe.experts.size());
    if (expert < 0 || expert >= count)
        throw std::runtime_error("expert " + std::to_string(expert) + " out of range [0, " + std::to_string(count) + ")");
    return moe.store ? stored_expert(*moe.store, moe.layer, expert) : moe.experts[expert];
}

MoeWeights generated_moe_weights(const ModelConfig& config, int64_t layer, uint64_t seed, float std,
                                 int64_t expert_cache) {
    if (!config.is_moe_layer(layer) && layer < config.num_hidden_layers)
        throw std::runtime_error(config.name + ": layer " + std::to_string(layer) + " is a dense layer, not MoE");
    const std::string module = mlp_module_name(layer);
    MoeWeights moe;
    moe.layer = layer;
    moe.gate = generated_gate_weights(config, layer, seed, std);
    // HF stores the n_shared shared experts as one SwiGLU of n_shared times the expert width.
    if (config.n_shared_experts > 0)
        moe.shared_experts = generated_ffn_weights(seed, module + ".shared_experts", config.hidden_size,
                                                   config.n_shared_experts * config.moe_intermediate_size, std);
    if (expert_cache > 0) {
        moe.store = std::make_shared<ExpertStore>(make_expert_store(config, seed, expert_cache, std));
        return moe;
    }
    for (int64_t e = 0; e < config.n_routed_experts; ++e) moe.experts.push_back(generated_expert(config, layer, e, seed, std));
    return moe;
}

int64_t first_moe_layer(const ModelConfig& config) {
    for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer)
        if (config.is_moe_layer(layer)) return layer;
    return -1;
}

// ---------------------------------------------------------------------------------------------
// The dispatch plan and the grouped experts

MoePlan moe_dispatch(const IndexMat& topk_idx, int64_t experts) {
    const int64_t T = topk_idx.rows(), K = topk_idx.cols();
    MoePlan plan;
    plan.top_k = K;
    // 1. Histogram of assignments per expert and its exclusive prefix sum: expert e's pairs will
    //    occupy slots offsets[e] .. offsets[e + 1] - 1 of the sorted order.
    plan.offsets.assign(experts + 1, 0);
    for (int64_t t = 0; t < T; ++t)
        for (int64_t k = 0; k < K; ++k) {
            const int32_t e = topk_idx(t, k);
            if (e < 0 || e >= experts)
                throw std::invalid_argument("moe_dispatch: token " + std::to_string(t) + " chose expert " +
                                            std::to_string(e) + " of " + std::to_string(experts));
            ++plan.offsets[e + 1];
        }
    for (int64_t e = 0; e < experts; ++e) plan.offsets[e + 1] += plan.offsets[e];
    // 2. Place the (token, k) pairs: a counting sort, stable, so tokens stay in order.
    plan.slots.resize(T * K);
    std::vector<int64_t> next(plan.offsets.begin(), plan.offsets.end() - 1);
    for (int64_t t = 0; t < T; ++t)
        for (int64_t k = 0; k < K; ++k) plan.slots[next[topk_idx(t, k)]++] = t * K + k;
    return plan;
}

// The flops of routed SwiGLU experts on `rows` gathered rows of `hidden` features: three products.
static double expert_flops(const MoeWeights& w, int64_t rows, int64_t hidden) {
    const int64_t width = w.experts.empty() ? 0 : w.experts[0].gate_proj.rows();  // resident experts only
    return 6.0 * rows * hidden * width;
}

Mat moe_experts(const Mat& x, const MoePlan& plan, const MoeWeights& w, const LinearPrecision& precision,
                std::vector<SwigluActivations>* act) {
    const int64_t E = static_cast<int64_t>(plan.offsets.size()) - 1, K = plan.top_k;
    Mat expert_out(static_cast<int64_t>(plan.slots.size()), x.cols());
    if (act) act->assign(static_cast<size_t>(E), SwigluActivations{});
    // The tokens rounded once, before dispatch, as V3 quantizes them (linear.h: rounded_input).
    const Mat x_rounded = rounded_input(x, precision, kActivationTile);
    auto run_expert = [&](int64_t e) {
        const int64_t first = plan.offsets[e], count = plan.offsets[e + 1] - first;
        if (count == 0) return;  // an unused expert is never materialized
        Mat gathered(count, x.cols()), gathered_rounded(x_rounded.size() ? count : 0, x.cols());
        for (int64_t i = 0; i < count; ++i) {
            gathered.row(i) = x.row(plan.slots[first + i] / K);
            if (x_rounded.size()) gathered_rounded.row(i) = x_rounded.row(plan.slots[first + i] / K);
        }
        const FfnWeights& expert = routed_expert(w, e);
        expert_out.middleRows(first, count) =
            swiglu_forward<float>(gathered, expert.gate_proj, expert.up_proj, expert.down_proj, precision,
                                  act ? &(*act)[e] : nullptr, x_rounded.size() ? &gathered_rounded : nullptr);
    };
    if (w.store) {
        // Experts loaded on demand share a store and run one at a time, outside any OpenMP region:
        // a load that fails (a missing or truncated tensor) throws to the caller instead of
        // terminating the process, as an exception leaving a parallel region would.
        for (int64_t e = 0; e < E; ++e) run_expert(e);
        return expert_out;
    }
    // One expert per thread, each writing only its own rows.
    parallel_for(E, worth_threads(expert_flops(w, plan.slots.size(), x.cols())), run_expert);
    return expert_out;
}

Mat moe_combine(const Mat& expert_out, const MoePlan& plan, const Mat& topk_weight) {
    const int64_t K = plan.top_k;
    Mat out = Mat::Zero(topk_weight.rows(), expert_out.cols());
    for (size_t i = 0; i < plan.slots.size(); ++i) {
        const int64_t t = plan.slots[i] / K, k = plan.slots[i] % K;
        out.row(t) += topk_weight(t, k) * expert_out.row(i);
    }
    return out;
}

Mat moe_forward(const ModelConfig& config, const MoeWeights& w, const Mat& x, const ForwardContext& context,
                const std::string& prefix, MoeActivations* act) {
    const Kernels& k = *context.kernels;
    Mat logits;
    Routing routing = gate_forward(config, w.gate, x, context, prefix, &logits);
    MoePlan plan = k.moe_dispatch(routing.topk_idx, config.n_routed_experts);
    Mat expert_out = k.moe_experts(x, plan, w, context.precision, act ? &act->experts : nullptr);
    const Mat routed = k.moe_combine(expert_out, plan, routing.topk_weight);
    const Mat shared = config.n_shared_experts > 0
                           ? k.swiglu(x, w.shared_experts, context.precision, act ? &act->shared : nullptr)
                           : Mat(Mat::Zero(x.rows(), x.cols()));
    Mat out = shared + routed;
    trace_record(context.trace, prefix + ".shared_out", shared);
    trace_record(context.trace, prefix + ".routed_out", routed);
    trace_record(context.trace, prefix + ".out", out);
    if (act) {
        act->logits = std::move(logits);
        act->routing = std::move(routing);
        act->plan = std::move(plan);
        act->expert_out = std::move(expert_out);
    }
    return out;
}

void moe_backward(Mat& dx, MoeWeights& dw, const Mat& dout, const ModelConfig& config, const MoeWeights& w,
                  const Mat& x, const std::vector<int64_t>& offsets, const LinearPrecision& precision,
                  double balance_alpha, const MoeActivations& act) {
    const int64_t N = x.rows(), K = act.plan.top_k, E = static_cast<int64_t>(act.plan.offsets.size()) - 1;
    const Mat& topk_weight = act.routing.topk_weight;
    // One expert per thread, as in the forward (job 0 the shared experts): each writes its own
    // weight gradients and its own (t, k) entries of dweights; the input gradients are added to dx
    // afterwards, shared experts first, then the routed ones in expert order.
    Mat dweights = Mat::Zero(N, K), dshared = Mat::Zero(N, x.cols());
    std::vector<Mat> dgathered(E);
    parallel_for(E + 1, worth_threads(3 * expert_flops(w, N * (K + 1), x.cols())), [&](int64_t job) {
        if (job == 0) {
            if (config.n_shared_experts > 0)
                swiglu_backward(dshared, dw.shared_experts.gate_proj, dw.shared_experts.up_proj,
                                dw.shared_experts.down_proj, dout, x, w.shared_experts.gate_proj,
                                w.shared_experts.up_proj, w.shared_experts.down_proj, precision, &act.shared);
            return;
        }
        const int64_t e = job - 1, first = act.plan.offsets[e], count = act.plan.offsets[e + 1] - first;
        if (count == 0) return;
        Mat gathered(count, x.cols()), dy(count, x.cols());
        for (int64_t i = 0; i < count; ++i) {
            const int64_t t = act.plan.slots[first + i] / K, k = act.plan.slots[first + i] % K;
            gathered.row(i) = x.row(t);
            dy.row(i) = topk_weight(t, k) * dout.row(t);
            dweights(t, k) = dout.row(t).dot(act.expert_out.row(first + i));
        }
        dgathered[e] = Mat::Zero(count, x.cols());
        FfnWeights& dexpert = dw.experts[e];
        const FfnWeights& expert = w.experts[e];
        swiglu_backward(dgathered[e], dexpert.gate_proj, dexpert.up_proj, dexpert.down_proj, dy, gathered,
                        expert.gate_proj, expert.up_proj, expert.down_proj, precision, &act.experts[e]);
    });
    dx += dshared;
    for (int64_t e = 0; e < E; ++e)
        for (int64_t i = 0; i < dgathered[e].rows(); ++i)
            dx.row(act.plan.slots[act.plan.offsets[e] + i] / K) += dgathered[e].row(i);
    gate_backward(dx, dw.gate, dweights, config, w.gate, x, act.logits, act.routing, offsets, balance_alpha);
}

}  // namespace seek
