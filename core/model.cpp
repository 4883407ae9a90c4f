#include "model.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "backward.h"
#include "norm.h"
#include "random.h"
#include "safetensors.h"

namespace seek {

// ---------------------------------------------------------------------------------------------
// Weights

static std::string layer_prefix(int64_t layer) { return "model.layers." + std::to_string(layer) + "."; }

static BlockWeights init_block(const ModelConfig& config, int64_t layer, uint64_t seed, float std) {
    const int64_t d = config.hidden_size;
    const std::string mlp = mlp_module_name(layer);
    BlockWeights w;
    w.input_layernorm = Vec::Ones(d);
    w.self_attn = generated_mla_weights(config, layer, seed, std);
    w.post_attention_layernorm = Vec::Ones(d);
    if (!config.is_moe_layer(layer)) {
        w.mlp = generated_ffn_weights(seed, mlp, d, config.intermediate_size, std);
        return w;
    }
    w.gate = generated_gate_weights(config, layer, seed, std);
    if (config.n_shared_experts > 0)
        w.shared_experts = generated_ffn_weights(seed, mlp + ".shared_experts", d,
                                                 config.n_shared_experts * config.moe_intermediate_size, std);
    for (int64_t e = 0; e < config.n_routed_experts; ++e)
        w.experts.push_back(generated_ffn_weights(seed, mlp + ".experts." + std::to_string(e), d,
                                                  config.moe_intermediate_size, std));
    return w;
}

ModelWeights init_model_weights(const ModelConfig& config, uint64_t seed, float std) {
    validate_config(config, config.name);
    if (config.num_nextn_predict_layers > 1)
        throw std::invalid_argument("num_nextn_predict_layers: MTP deeper than 1 is not implemented, got " +
                                    std::to_string(config.num_nextn_predict_layers));
    const int64_t d = config.hidden_size, L = config.num_hidden_layers;
    ModelWeights w;
    w.embed_tokens = generated_matrix(seed, "model.embed_tokens.weight", config.vocab_size, d, std);
    for (int64_t layer = 0; layer < L; ++layer) w.layers.push_back(init_block(config, layer, seed, std));
    w.norm = Vec::Ones(d);
    w.lm_head = generated_matrix(seed, "lm_head.weight", config.vocab_size, d, std);
    if (config.num_nextn_predict_layers == 1) {
        MtpWeights mtp;
        mtp.enorm = Vec::Ones(d);
        mtp.hnorm = Vec::Ones(d);
        mtp.eh_proj = generated_matrix(seed, layer_prefix(L) + "eh_proj.weight", d, 2 * d, std);
        mtp.block = init_block(config, L, seed, std);
        mtp.shared_head_norm = Vec::Ones(d);
        w.mtp.push_back(std::move(mtp));
    }
    return w;
}

static void add_parameter(std::vector<Parameter>& list, const std::string& name, Mat& m, bool trainable = true) {
    if (m.size()) list.push_back({name, {m.rows(), m.cols()}, m.data(), trainable});
}
static void add_parameter(std::vector<Parameter>& list, const std::string& name, Vec& v, bool trainable = true) {
    if (v.size()) list.push_back({name, {v.size()}, v.data(), trainable});
}

static void add_ffn(std::vector<Parameter>& list, const std::string& module, FfnWeights& f) {
    add_parameter(list, module + ".gate_proj.weight", f.gate_proj);
    add_parameter(list, module + ".up_proj.weight", f.up_proj);
    add_parameter(list, module + ".down_proj.weight", f.down_proj);
}

static void add_block(std::vector<Parameter>& list, const std::string& prefix, BlockWeights& w) {
    const std::string attn = prefix + "self_attn.";
    MlaWeights& a = w.self_attn;
    add_parameter(list, prefix + "input_layernorm.weight", w.input_layernorm);
    add_parameter(list, attn + "q_proj.weight", a.q_proj);
    add_parameter(list, attn + "q_a_proj.weight", a.q_a_proj);
    add_parameter(list, attn + "q_a_layernorm.weight", a.q_a_layernorm);
    add_parameter(list, attn + "q_b_proj.weight", a.q_b_proj);
    add_parameter(list, attn + "kv_a_proj_with_mqa.weight", a.kv_a_proj_with_mqa);
    add_parameter(list, attn + "kv_a_layernorm.weight", a.kv_a_layernorm);
    add_parameter(list, attn + "kv_b_proj.weight", a.kv_b_proj);
    add_parameter(list, attn + "o_proj.weight", a.o_proj);
    add_parameter(list, prefix + "post_attention_layernorm.weight", w.post_attention_layernorm);
    add_ffn(list, prefix + "mlp", w.mlp);
    add_parameter(list, prefix + "mlp.gate.weight", w.gate.weight);
    add_parameter(list, prefix + "mlp.gate.e_score_correction_bias", w.gate.bias, false);
    add_ffn(list, prefix + "mlp.shared_experts", w.shared_experts);
    for (size_t e = 0; e < w.experts.size(); ++e) add_ffn(list, prefix + "mlp.experts." + std::to_string(e), w.experts[e]);
}

std::vector<Parameter> model_parameters(ModelWeights& w) {
    std::vector<Parameter> list;
    add_parameter(list, "model.embed_tokens.weight", w.embed_tokens);
    for (size_t layer = 0; layer < w.layers.size(); ++layer) add_block(list, layer_prefix(layer), w.layers[layer]);
    add_parameter(list, "model.norm.weight", w.norm);
    add_parameter(list, "lm_head.weight", w.lm_head);
    for (size_t k = 0; k < w.mtp.size(); ++k) {
        const std::string prefix = layer_prefix(w.layers.size() + k);
        MtpWeights& mtp = w.mtp[k];
        add_parameter(list, prefix + "enorm.weight", mtp.enorm);
        add_parameter(list, prefix + "hnorm.weight", mtp.hnorm);
        add_parameter(list, prefix + "eh_proj.weight", mtp.eh_proj);
        add_block(list, prefix, mtp.block);
        add_parameter(list, prefix + "shared_head.norm.weight", mtp.shared_head_norm);
    }
    return list;
}

int64_t parameter_count(ModelWeights& weights) {
    int64_t count = 0;
    for (const Parameter& p : model_parameters(weights)) count += shape_numel(p.shape);
    return count;
}

ModelWeights zeros_like(const ModelWeights& weights) {
    ModelWeights zeros = weights;
    for (Parameter& p : model_parameters(zeros)) std::fill_n(p.values, shape_numel(p.shape), 0.0f);
    return zeros;
}

// ---------------------------------------------------------------------------------------------
// Batches

void check_batch(const ModelConfig& config, const Batch& batch) {
    const int64_t N = static_cast<int64_t>(batch.tokens.size());
    if (batch.targets.size() != batch.tokens.size())
        throw std::invalid_argument("batch: " + std::to_string(batch.targets.size()) + " targets for " +
                                    std::to_string(N) + " tokens");
    if (batch.offsets.size() < 2 || batch.offsets.front() != 0 || batch.offsets.back() != N)
        throw std::invalid_argument("batch: offsets must run from 0 to the token count (" + std::to_string(N) + ")");
    for (size_t s = 0; s + 1 < batch.offsets.size(); ++s) {
        const int64_t length = batch.offsets[s + 1] - batch.offsets[s];
        if (length < 1 || length > config.max_position_embeddings)
            throw std::invalid_argument("batch: sequence " + std::to_string(s) + " has " + std::to_string(length) +
                                        " tokens; it must have 1 to max_position_embeddings (" +
                                        std::to_string(config.max_position_embeddings) + ")");
        for (int64_t i = batch.offsets[s]; i < batch.offsets[s + 1]; ++i) {
            const int32_t token = batch.tokens[i], target = batch.targets[i];
            if (token < 0 || token >= config.vocab_size || (target != kIgnoreTarget && (target < 0 || target >= config.vocab_size)))
                throw std::invalid_argument("batch: sequence " + std::to_string(s) + " position " +
                                            std::to_string(i - batch.offsets[s]) + ": token " + std::to_string(token) +
                                            " or target " + std::to_string(target) + " is outside the vocabulary (" +
                                            std::to_string(config.vocab_size) + ")");
        }
    }
}

// Sequence s of a [N, cols] matrix.
static Mat sequence_rows(const Mat& m, const std::vector<int64_t>& offsets, size_t s) {
    return m.middleRows(offsets[s], offsets[s + 1] - offsets[s]);
}

// RoPE on `heads` groups of dr lanes starting at column first (stride apart), each row at its
// position in its sequence; direction -1 rotates back (the backward, rope.h).
static void rotate_rope_lanes(Mat& m, int64_t first, int64_t stride, int64_t heads,
                              const std::vector<int64_t>& offsets, const RopeTable& rope, int direction) {
    for (size_t s = 0; s + 1 < offsets.size(); ++s)
        for (int64_t row = offsets[s]; row < offsets[s + 1]; ++row)
            for (int64_t h = 0; h < heads; ++h) apply_rope(&m(row, first + h * stride), direction * (row - offsets[s]), rope);
}

// The routing of rows start .. start + count: one sequence's, for the balance loss.
static Routing routing_rows(const Routing& routing, int64_t start, int64_t count) {
    Routing part;
    part.scores = routing.scores.middleRows(start, count);
    part.topk_idx = routing.topk_idx.middleRows(start, count);
    part.topk_weight = routing.topk_weight.middleRows(start, count);
    return part;
}

// ---------------------------------------------------------------------------------------------
// MLA in the training form: all sequences' rows through the projections at once, attention per
// sequence. The same math as mla_forward's naive path (mla.h), keeping the intermediates.

static Mat mla_train_forward(const ModelConfig& config, const MlaWeights& w, const RopeTable& rope,
                             const std::vector<int64_t>& offsets, const LinearPrecision& precision,
                             BlockActivations& act) {
    const Mat& x = act.attn_in;
    const int64_t N = x.rows(), H = config.num_attention_heads, r = config.kv_lora_rank;
    const int64_t dn = config.qk_nope_head_dim, dr = config.qk_rope_head_dim, dv = config.v_head_dim;
    const int64_t dq = dn + dr;
    const float eps = static_cast<float>(config.rms_norm_eps);

    if (config.q_lora_rank == 0) {
        act.q = linear_forward(x, w.q_proj, precision);
    } else {
        act.q_a = linear_forward(x, w.q_a_proj, precision);                  // c_Q = W_DQ h  (eq. 6)
        act.q_norm = rms_norm(act.q_a, w.q_a_layernorm, eps);
        act.q = linear_forward(act.q_norm, w.q_b_proj, precision);           // [q_C ; q_R]  (eqs. 7-8)
    }
    rotate_rope_lanes(act.q, dn, dq, H, offsets, rope, +1);

    act.kv_a = linear_forward(x, w.kv_a_proj_with_mqa, precision);          // [c_KV ; k_R]  (eqs. 1, 3)
    act.c_kv = rms_norm(Mat(act.kv_a.leftCols(r)), w.kv_a_layernorm, eps);
    Mat k_pe = act.kv_a.rightCols(dr);
    rotate_rope_lanes(k_pe, 0, dr, 1, offsets, rope, +1);
    const Mat kv = linear_forward(act.c_kv, w.kv_b_proj, precision);       // [k_C ; v_C] per head  (eqs. 2, 5)
    act.k.resize(N, H * dq);
    act.v.resize(N, H * dv);
    for (int64_t h = 0; h < H; ++h) {
        act.k.middleCols(h * dq, dn) = kv.middleCols(h * (dn + dv), dn);
        act.k.middleCols(h * dq + dn, dr) = k_pe;                            // one rope key for all heads
        act.v.middleCols(h * dv, dv) = kv.middleCols(h * (dn + dv) + dn, dv);
    }

    const float scale = static_cast<float>(softmax_scale(config));
    const int64_t sequences = static_cast<int64_t>(offsets.size()) - 1;
    act.attn.resize(N, H * dv);
    act.probs.resize(sequences);
    // Sequences attend independently and each writes only its own rows: one per thread, the
    // same numbers whatever the thread count.
#pragma omp parallel for schedule(dynamic)
    for (int64_t s = 0; s < sequences; ++s) {
        Mat out;
        attention_forward(out, act.probs[s], sequence_rows(act.q, offsets, s), sequence_rows(act.k, offsets, s),
                          sequence_rows(act.v, offsets, s), H, scale);
        act.attn.middleRows(offsets[s], out.rows()) = out;
    }
    return linear_forward(act.attn, w.o_proj, precision);                    // u = W_O o  (eq. 10)
}

static void mla_train_backward(Mat& dx, MlaWeights& dw, const Mat& dout, const ModelConfig& config,
                               const MlaWeights& w, const RopeTable& rope, const std::vector<int64_t>& offsets,
                               const LinearPrecision& precision, const BlockActivations& act) {
    const Mat& x = act.attn_in;
    const int64_t N = x.rows(), H = config.num_attention_heads, r = config.kv_lora_rank;
    const int64_t dn = config.qk_nope_head_dim, dr = config.qk_rope_head_dim, dv = config.v_head_dim;
    const int64_t dq = dn + dr;
    const float eps = static_cast<float>(config.rms_norm_eps);
    const float scale = static_cast<float>(softmax_scale(config));

    Mat dattn = Mat::Zero(N, H * dv);
    linear_backward(dattn, dw.o_proj, dout, act.attn, w.o_proj, precision);

    Mat dq_all(N, H * dq), dk(N, H * dq), dv_all(N, H * dv);  // every row is written below
    const int64_t sequences = static_cast<int64_t>(offsets.size()) - 1;
#pragma omp parallel for schedule(dynamic)  // independent sequences, as in the forward
    for (int64_t s = 0; s < sequences; ++s) {
        const int64_t T = offsets[s + 1] - offsets[s];
        Mat dq_s = Mat::Zero(T, H * dq), dk_s = Mat::Zero(T, H * dq), dv_s = Mat::Zero(T, H * dv);
        attention_backward(dq_s, dk_s, dv_s, sequence_rows(dattn, offsets, s), sequence_rows(act.q, offsets, s),
                           sequence_rows(act.k, offsets, s), sequence_rows(act.v, offsets, s), act.probs[s], H, scale);
        dq_all.middleRows(offsets[s], T) = dq_s;
        dk.middleRows(offsets[s], T) = dk_s;
        dv_all.middleRows(offsets[s], T) = dv_s;
    }

    // Keys and values back to kv_b_proj's output; the shared rope key sums its heads' gradients.
    Mat dkv(N, H * (dn + dv));
    Mat dk_pe = Mat::Zero(N, dr);
    for (int64_t h = 0; h < H; ++h) {
        dkv.middleCols(h * (dn + dv), dn) = dk.middleCols(h * dq, dn);
        dkv.middleCols(h * (dn + dv) + dn, dv) = dv_all.middleCols(h * dv, dv);
        dk_pe += dk.middleCols(h * dq + dn, dr);
    }
    Mat dc_kv = Mat::Zero(N, r);
    linear_backward(dc_kv, dw.kv_b_proj, dkv, act.c_kv, w.kv_b_proj, precision);
    rotate_rope_lanes(dk_pe, 0, dr, 1, offsets, rope, -1);
    Mat dkv_a(N, r + dr), dlatent = Mat::Zero(N, r);
    rms_norm_backward(dlatent, dw.kv_a_layernorm, dc_kv, Mat(act.kv_a.leftCols(r)), w.kv_a_layernorm, eps);
    dkv_a << dlatent, dk_pe;
    linear_backward(dx, dw.kv_a_proj_with_mqa, dkv_a, x, w.kv_a_proj_with_mqa, precision);

    rotate_rope_lanes(dq_all, dn, dq, H, offsets, rope, -1);
    if (config.q_lora_rank == 0) {
        linear_backward(dx, dw.q_proj, dq_all, x, w.q_proj, precision);
        return;
    }
    Mat dq_norm = Mat::Zero(N, config.q_lora_rank), dq_a = Mat::Zero(N, config.q_lora_rank);
    linear_backward(dq_norm, dw.q_b_proj, dq_all, act.q_norm, w.q_b_proj, precision);
    rms_norm_backward(dq_a, dw.q_a_layernorm, dq_norm, act.q_a, w.q_a_layernorm, eps);
    linear_backward(dx, dw.q_a_proj, dq_a, x, w.q_a_proj, precision);
}

// Fewer rows than this run the experts on one thread (see ffn_forward).
constexpr int64_t kParallelRows = 32;

// ---------------------------------------------------------------------------------------------
// FFN: dense SwiGLU, or DeepSeekMoE with the routed experts dispatched grouped by expert.
// `act` (training) keeps the routing and each expert's outputs; the trace (inference) gets the
// gate's names and shared_out, routed_out, out.

static Mat ffn_forward(const ModelConfig& config, const BlockWeights& w, bool moe, const Mat& x,
                       const LinearPrecision& precision, BlockActivations* act, Trace* trace,
                       const std::string& prefix) {
    if (!moe) {
        const Mat out = swiglu_forward(x, w.mlp.gate_proj, w.mlp.up_proj, w.mlp.down_proj, precision);
        trace_record(trace, prefix + ".ffn.out", out);
        return out;
    }
    const std::string name = prefix + ".moe";
    const Mat logits = x * w.gate.weight.transpose();  // the gate stays FP32
    // gate_forward is route_tokens on the same logits, recording the gate's names
    Routing routing = trace ? gate_forward(config, w.gate, x, trace, name) : route_tokens(config, logits, w.gate.bias);
    const int64_t N = x.rows(), K = config.num_experts_per_tok, E = config.n_routed_experts;

    std::vector<std::vector<int64_t>> slots(E);
    for (int64_t t = 0; t < N; ++t)
        for (int64_t k = 0; k < K; ++k) slots[routing.topk_idx(t, k)].push_back(t * K + k);
    // Each expert runs on its own tokens, one expert per thread (job 0 is the shared expert, the
    // largest, then routed expert job - 1); the weighted sums below then add the outputs in
    // expert order, as a single thread would. Decoding a token or two stays on one thread: there
    // the threads' start and join would cost more than the work.
    Mat shared = Mat::Zero(N, x.cols());
    std::vector<Mat> outputs(E);
#pragma omp parallel for schedule(dynamic) if (N >= kParallelRows)
    for (int64_t job = 0; job <= E; ++job) {
        if (job == 0) {
            if (config.n_shared_experts > 0)
                shared = swiglu_forward(x, w.shared_experts.gate_proj, w.shared_experts.up_proj,
                                        w.shared_experts.down_proj, precision);
            continue;
        }
        const int64_t e = job - 1;
        if (slots[e].empty()) continue;
        Mat gathered(static_cast<int64_t>(slots[e].size()), x.cols());
        for (size_t i = 0; i < slots[e].size(); ++i) gathered.row(i) = x.row(slots[e][i] / K);
        const FfnWeights& expert = w.experts[e];
        outputs[e] = swiglu_forward(gathered, expert.gate_proj, expert.up_proj, expert.down_proj, precision);
    }
    Mat routed = Mat::Zero(N, x.cols());
    for (int64_t e = 0; e < E; ++e) {
        for (size_t i = 0; i < slots[e].size(); ++i) {
            const int64_t t = slots[e][i] / K, k = slots[e][i] % K;
            routed.row(t) += routing.topk_weight(t, k) * outputs[e].row(i);
        }
    }
    const Mat out = shared + routed;
    trace_record(trace, name + ".shared_out", shared);
    trace_record(trace, name + ".routed_out", routed);
    trace_record(trace, name + ".out", out);
    if (act) {
        act->gate_logits = logits;
        act->routing = std::move(routing);
        act->shared_out = shared;
        act->expert_slots = std::move(slots);
        act->expert_out = std::move(outputs);
    }
    return out;
}

static void ffn_backward(Mat& dx, BlockWeights& dw, const Mat& dout, const ModelConfig& config,
                         const BlockWeights& w, bool moe, const Mat& x, const std::vector<int64_t>& offsets,
                         const LinearPrecision& precision, const TrainingLoss& loss, const BlockActivations& act) {
    if (!moe) {
        swiglu_backward(dx, dw.mlp.gate_proj, dw.mlp.up_proj, dw.mlp.down_proj, dout, x, w.mlp.gate_proj,
                        w.mlp.up_proj, w.mlp.down_proj, precision);
        return;
    }
    const int64_t N = x.rows(), K = config.num_experts_per_tok;

    // out_t += w_tk y_e(x_t): dy = w_tk dout_t, dw_tk = dout_t · y_e(x_t)
    // One expert per thread, as in the forward (job 0 the shared one): each writes its own weight
    // gradients and its own (t, k) entries of dweights; the input gradients are added to dx
    // afterwards, shared expert first, then the routed ones in expert order.
    const int64_t E = static_cast<int64_t>(act.expert_slots.size());
    Mat dweights = Mat::Zero(N, K), dshared = Mat::Zero(N, x.cols());
    std::vector<Mat> dgathered(E);
#pragma omp parallel for schedule(dynamic) if (N >= kParallelRows)
    for (int64_t job = 0; job <= E; ++job) {
        if (job == 0) {
            if (config.n_shared_experts > 0)
                swiglu_backward(dshared, dw.shared_experts.gate_proj, dw.shared_experts.up_proj,
                                dw.shared_experts.down_proj, dout, x, w.shared_experts.gate_proj,
                                w.shared_experts.up_proj, w.shared_experts.down_proj, precision);
            continue;
        }
        const int64_t e = job - 1;
        const std::vector<int64_t>& slots = act.expert_slots[e];
        if (slots.empty()) continue;
        const int64_t rows = static_cast<int64_t>(slots.size());
        Mat gathered(rows, x.cols()), dy(rows, x.cols());
        for (int64_t i = 0; i < rows; ++i) {
            const int64_t t = slots[i] / K, k = slots[i] % K;
            gathered.row(i) = x.row(t);
            dy.row(i) = act.routing.topk_weight(t, k) * dout.row(t);
            dweights(t, k) = dout.row(t).dot(act.expert_out[e].row(i));
        }
        dgathered[e] = Mat::Zero(rows, x.cols());
        FfnWeights& dexpert = dw.experts[e];
        const FfnWeights& expert = w.experts[e];
        swiglu_backward(dgathered[e], dexpert.gate_proj, dexpert.up_proj, dexpert.down_proj, dy, gathered,
                        expert.gate_proj, expert.up_proj, expert.down_proj, precision);
    }
    dx += dshared;
    for (int64_t e = 0; e < E; ++e)
        for (size_t i = 0; i < act.expert_slots[e].size(); ++i) dx.row(act.expert_slots[e][i] / K) += dgathered[e].row(i);

    Mat dlogits = Mat::Zero(N, config.n_routed_experts);
    gate_weights_backward(dlogits, dweights, config, act.gate_logits, act.routing.topk_idx);
    if (loss.balance_alpha > 0)
        for (size_t s = 0; s + 1 < offsets.size(); ++s) {
            const int64_t T = offsets[s + 1] - offsets[s];
            dlogits.middleRows(offsets[s], T) +=
                sequence_balance_loss_grad(config, routing_rows(act.routing, offsets[s], T), loss.balance_alpha);
        }
    linear_backward(dx, dw.gate.weight, dlogits, x, w.gate.weight);
}

// ---------------------------------------------------------------------------------------------
// Blocks

static Mat block_train_forward(const ModelConfig& config, const BlockWeights& w, int64_t layer, const RopeTable& rope,
                               const Mat& x, const std::vector<int64_t>& offsets, const LinearPrecision& precision,
                               BlockActivations& act) {
    const float eps = static_cast<float>(config.rms_norm_eps);
    act.x = x;
    act.attn_in = rms_norm(x, w.input_layernorm, eps);
    act.u = x + mla_train_forward(config, w.self_attn, rope, offsets, precision, act);
    act.ffn_in = rms_norm(act.u, w.post_attention_layernorm, eps);
    return act.u + ffn_forward(config, w, config.is_moe_layer(layer), act.ffn_in, precision, &act, nullptr, "");
}

// Returns d(loss)/d(block input) given d(loss)/d(block output).
static Mat block_train_backward(BlockWeights& dw, const Mat& dout, const ModelConfig& config, const BlockWeights& w,
                                int64_t layer, const RopeTable& rope, const std::vector<int64_t>& offsets,
                                const LinearPrecision& precision, const TrainingLoss& loss, const BlockActivations& act) {
    const float eps = static_cast<float>(config.rms_norm_eps);
    // out = u + FFN(ffn_norm(u)): the residual passes dout straight to u
    Mat du = dout, dffn_in = Mat::Zero(dout.rows(), dout.cols());
    ffn_backward(dffn_in, dw, dout, config, w, config.is_moe_layer(layer), act.ffn_in, offsets, precision, loss, act);
    rms_norm_backward(du, dw.post_attention_layernorm, dffn_in, act.u, w.post_attention_layernorm, eps);
    // u = x + MLA(attn_norm(x))
    Mat dx = du, dattn_in = Mat::Zero(du.rows(), du.cols());
    mla_train_backward(dattn_in, dw.self_attn, du, config, w.self_attn, rope, offsets, precision, act);
    rms_norm_backward(dx, dw.input_layernorm, dattn_in, act.x, w.input_layernorm, eps);
    return dx;
}

// ---------------------------------------------------------------------------------------------
// Whole model

// The MTP module sees every position but each sequence's last: its input at t is the main
// model's h_L at t and the embedding of token t+1, its target the token at t+2 (= targets[t+1]).
static void build_mtp_batch(const Batch& batch, ModelActivations& act) {
    act.mtp_batch = Batch{};
    act.mtp_rows.clear();
    act.mtp_batch.offsets.push_back(0);
    for (size_t s = 0; s + 1 < batch.offsets.size(); ++s) {
        for (int64_t row = batch.offsets[s]; row + 1 < batch.offsets[s + 1]; ++row) {
            act.mtp_rows.push_back(row);
            act.mtp_batch.tokens.push_back(batch.tokens[row + 1]);
            act.mtp_batch.targets.push_back(batch.targets[row + 1]);
        }
        if (static_cast<int64_t>(act.mtp_rows.size()) > act.mtp_batch.offsets.back())
            act.mtp_batch.offsets.push_back(static_cast<int64_t>(act.mtp_rows.size()));
    }
}

// The sequence-wise balance loss of one MoE block, summed over the batch's sequences.
static double balance_loss(const ModelConfig& config, const BlockActivations& act, const std::vector<int64_t>& offsets,
                           const TrainingLoss& loss) {
    double total = 0;
    if (loss.balance_alpha > 0)
        for (size_t s = 0; s + 1 < offsets.size(); ++s)
            total += sequence_balance_loss(config, routing_rows(act.routing, offsets[s], offsets[s + 1] - offsets[s]),
                                           loss.balance_alpha);
    return total;
}

LossReport model_forward(const ModelConfig& config, const ModelWeights& w, const Batch& batch,
                         const LinearPrecision& precision, const TrainingLoss& loss, ModelActivations& act) {
    check_batch(config, batch);
    const float eps = static_cast<float>(config.rms_norm_eps);
    const RopeTable rope = rope_table(config);
    const int64_t L = config.num_hidden_layers;
    LossReport report;

    Mat h = embedding_forward(w.embed_tokens, batch.tokens);
    act.blocks.resize(L);
    for (int64_t layer = 0; layer < L; ++layer) {
        h = block_train_forward(config, w.layers[layer], layer, rope, h, batch.offsets, precision, act.blocks[layer]);
        if (config.is_moe_layer(layer)) report.balance += balance_loss(config, act.blocks[layer], batch.offsets, loss);
    }
    act.hidden = h;
    act.final_norm = rms_norm(h, w.norm, eps);
    act.logits = act.final_norm * w.lm_head.transpose();
    report.main = cross_entropy_forward(act.logits, batch.targets);

    build_mtp_batch(batch, act);
    if (loss.mtp_weight > 0 && !w.mtp.empty() && !act.mtp_rows.empty()) {
        const MtpWeights& mtp = w.mtp[0];
        const int64_t M = static_cast<int64_t>(act.mtp_rows.size());
        Mat previous(M, config.hidden_size);
        for (int64_t i = 0; i < M; ++i) previous.row(i) = h.row(act.mtp_rows[i]);
        act.mtp_embed = embedding_forward(w.embed_tokens, act.mtp_batch.tokens);
        act.mtp_e = rms_norm(act.mtp_embed, mtp.enorm, eps);
        act.mtp_h = rms_norm(previous, mtp.hnorm, eps);
        Mat joined(M, 2 * config.hidden_size);
        joined << act.mtp_e, act.mtp_h;
        act.mtp_in = joined * mtp.eh_proj.transpose();  // h'_t = M_1 [enorm(embed) ; hnorm(h)]
        act.mtp_hidden = block_train_forward(config, mtp.block, L, rope, act.mtp_in, act.mtp_batch.offsets, precision,
                                             act.mtp_block);
        report.balance += balance_loss(config, act.mtp_block, act.mtp_batch.offsets, loss);
        act.mtp_norm = rms_norm(act.mtp_hidden, mtp.shared_head_norm, eps);
        act.mtp_logits = act.mtp_norm * w.lm_head.transpose();
        report.mtp = cross_entropy_forward(act.mtp_logits, act.mtp_batch.targets);
    }
    report.total = report.main + loss.mtp_weight * report.mtp + report.balance;
    return report;
}

void model_backward(ModelWeights& g, const ModelConfig& config, const ModelWeights& w, const Batch& batch,
                    const LinearPrecision& precision, const TrainingLoss& loss, const ModelActivations& act) {
    Mat dlogits = Mat::Zero(act.logits.rows(), act.logits.cols());
    cross_entropy_backward(dlogits, 1.0f, act.logits, batch.targets);
    model_backward_from_logits(g, config, w, batch, precision, loss, act, dlogits);
}

void model_backward_from_logits(ModelWeights& g, const ModelConfig& config, const ModelWeights& w, const Batch& batch,
                                const LinearPrecision& precision, const TrainingLoss& loss, const ModelActivations& act,
                                const Mat& dlogits) {
    const float eps = static_cast<float>(config.rms_norm_eps);
    const RopeTable rope = rope_table(config);
    const int64_t L = config.num_hidden_layers, d = config.hidden_size;

    Mat dfinal = Mat::Zero(act.final_norm.rows(), d);
    linear_backward(dfinal, g.lm_head, dlogits, act.final_norm, w.lm_head);
    Mat dh = Mat::Zero(act.hidden.rows(), d);
    rms_norm_backward(dh, g.norm, dfinal, act.hidden, w.norm, eps);

    if (loss.mtp_weight > 0 && !w.mtp.empty() && !act.mtp_rows.empty()) {
        const MtpWeights& mtp = w.mtp[0];
        MtpWeights& dmtp = g.mtp[0];
        const int64_t M = static_cast<int64_t>(act.mtp_rows.size());
        Mat dmtp_logits = Mat::Zero(M, config.vocab_size);
        cross_entropy_backward(dmtp_logits, static_cast<float>(loss.mtp_weight), act.mtp_logits, act.mtp_batch.targets);
        Mat dmtp_norm = Mat::Zero(M, d), dmtp_hidden = Mat::Zero(M, d);
        linear_backward(dmtp_norm, g.lm_head, dmtp_logits, act.mtp_norm, w.lm_head);
        rms_norm_backward(dmtp_hidden, dmtp.shared_head_norm, dmtp_norm, act.mtp_hidden, mtp.shared_head_norm, eps);
        const Mat dmtp_in = block_train_backward(dmtp.block, dmtp_hidden, config, mtp.block, L, rope,
                                                 act.mtp_batch.offsets, precision, loss, act.mtp_block);
        Mat joined(M, 2 * d), djoined = Mat::Zero(M, 2 * d);
        joined << act.mtp_e, act.mtp_h;
        linear_backward(djoined, dmtp.eh_proj, dmtp_in, joined, mtp.eh_proj);
        Mat dembed = Mat::Zero(M, d), dprevious = Mat::Zero(M, d), previous(M, d);
        for (int64_t i = 0; i < M; ++i) previous.row(i) = act.hidden.row(act.mtp_rows[i]);
        rms_norm_backward(dembed, dmtp.enorm, Mat(djoined.leftCols(d)), act.mtp_embed, mtp.enorm, eps);
        rms_norm_backward(dprevious, dmtp.hnorm, Mat(djoined.rightCols(d)), previous, mtp.hnorm, eps);
        embedding_backward(g.embed_tokens, dembed, act.mtp_batch.tokens);
        for (int64_t i = 0; i < M; ++i) dh.row(act.mtp_rows[i]) += dprevious.row(i);
    }

    for (int64_t layer = L - 1; layer >= 0; --layer)
        dh = block_train_backward(g.layers[layer], dh, config, w.layers[layer], layer, rope, batch.offsets, precision,
                                  loss, act.blocks[layer]);
    embedding_backward(g.embed_tokens, dh, batch.tokens);
}

// ---------------------------------------------------------------------------------------------
// Inference

DecodeState make_decode_state(const ModelConfig& config, int64_t reserve_tokens) {
    DecodeState state;
    for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer)
        state.caches.push_back(make_mla_cache(config, AttnImpl::Absorb, reserve_tokens));
    return state;
}

Mat model_decode(const ModelConfig& config, const ModelWeights& w, DecodeState& state,
                 const std::vector<int32_t>& tokens, Trace* trace) {
    if (tokens.empty()) throw std::invalid_argument("model_decode: no tokens");
    const int64_t position = state.caches.empty() ? 0 : state.caches[0].length;
    if (position + static_cast<int64_t>(tokens.size()) > config.max_position_embeddings)
        throw std::invalid_argument("the sequence would reach " + std::to_string(position + tokens.size()) +
                                    " tokens, more than max_position_embeddings (" +
                                    std::to_string(config.max_position_embeddings) + ")");
    const float eps = static_cast<float>(config.rms_norm_eps);
    const RopeTable rope = rope_table(config);
    Mat h = embedding_forward(w.embed_tokens, tokens);
    trace_record(trace, "embed", h);
    for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
        const BlockWeights& block = w.layers[layer];
        const std::string prefix = "layers." + std::to_string(layer);
        const Mat attn_in = rms_norm(h, block.input_layernorm, eps);
        trace_record(trace, prefix + ".attn_norm", attn_in);
        const Mat u = h + mla_forward(config, block.self_attn, rope, attn_in, state.caches[layer], trace, prefix + ".attn");
        const Mat ffn_in = rms_norm(u, block.post_attention_layernorm, eps);
        trace_record(trace, prefix + ".ffn_norm", ffn_in);
        h = u + ffn_forward(config, block, config.is_moe_layer(layer), ffn_in, {}, nullptr, trace, prefix);
        trace_record(trace, prefix + ".out", h);
    }
    const Mat final_norm = rms_norm(h, w.norm, eps);
    trace_record(trace, "final_norm", final_norm);
    Mat logits = final_norm * w.lm_head.transpose();
    trace_record(trace, "logits", logits);
    return logits;
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

void save_model(const std::string& directory, const ModelConfig& config, ModelWeights& weights,
                WeightPrecision precision) {
    std::vector<NamedTensor> tensors;
    for (const Parameter& p : model_parameters(weights)) {
        const int64_t rows = p.shape[0], cols = shape_numel(p.shape) / std::max<int64_t>(rows, 1);
        tensors.push_back({p.name, p.shape, Eigen::Map<const Mat>(p.values, rows, cols)});
    }
    if (!weights.mtp.empty()) {
        const std::string prefix = layer_prefix(config.num_hidden_layers);
        const Shape table = {config.vocab_size, config.hidden_size};
        tensors.push_back({prefix + "embed_tokens.weight", table, weights.embed_tokens});
        tensors.push_back({prefix + "shared_head.head.weight", table, weights.lm_head});
    }
    write_checkpoint(directory, config, tensors, precision);
}

ModelWeights load_model(const std::string& directory, ModelConfig& config) {
    const std::string config_path = directory + "/config.json";
    config = load_config(config_path);
    // The checkpoint's header first: its shapes are checked against the config before anything the
    // config implies is allocated (a config.json saying hidden_size 20000 beside a toy checkpoint
    // fails here, not after allocating and filling 4 GB).
    const Checkpoint checkpoint = open_checkpoint(directory);
    check_checkpoint_matches_config(checkpoint, config, config_path);
    check_model_fits_in_memory(config, sizeof(float), "loading " + directory);
    ModelWeights weights = init_model_weights(config, 0);
    std::map<std::string, bool> loaded;
    for (Parameter& p : model_parameters(weights)) {
        const Mat values = load_weight(checkpoint, p.name, p.shape);  // names a missing, misshapen or NaN tensor
        std::copy_n(values.data(), values.size(), p.values);
        loaded[p.name] = true;
    }
    // A tensor the model has no place for means the checkpoint is not what the config describes.
    for (const auto& [name, shard] : checkpoint.shard_of) {
        if (loaded.count(name) || is_mtp_copy(config, name) || is_scale_of_weight(checkpoint, name)) continue;
        throw std::runtime_error(checkpoint.shards[shard].path + ": tensor '" + name + "' is not part of the model " +
                                 config_path + " describes");
    }
    return weights;
}

}  // namespace seek
