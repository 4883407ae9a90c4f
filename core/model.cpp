#include "model.h"

#include <algorithm>
#include <stdexcept>

#include "embedding.h"
#include "random.h"
#include "safetensors.h"

namespace seek {

// ---------------------------------------------------------------------------------------------
// Weights

static std::string layer_prefix(int64_t layer) { return "model.layers." + std::to_string(layer) + "."; }

// The model's structure, once: `block(layer)` makes a layer (also the MTP module's, layer L) and
// `matrix(name, rows, cols)` the embedding, head and eh_proj; norms are one.
template <typename MakeBlock, typename MakeMatrix>
static ModelWeights assemble_model_weights(const ModelConfig& config, MakeBlock block, MakeMatrix matrix) {
    validate_config(config, config.name);
    if (config.num_nextn_predict_layers > 1)
        throw std::invalid_argument("num_nextn_predict_layers: MTP deeper than 1 is not implemented, got " +
                                    std::to_string(config.num_nextn_predict_layers));
    const int64_t d = config.hidden_size, L = config.num_hidden_layers;
    ModelWeights w;
    w.embed_tokens = matrix("model.embed_tokens.weight", config.vocab_size, d);
    for (int64_t layer = 0; layer < L; ++layer) w.layers.push_back(block(layer));
    w.norm = Vec::Ones(d);
    w.lm_head = matrix("lm_head.weight", config.vocab_size, d);
    if (config.num_nextn_predict_layers == 1) {
        MtpWeights mtp;
        mtp.enorm = Vec::Ones(d);
        mtp.hnorm = Vec::Ones(d);
        mtp.eh_proj = matrix(layer_prefix(L) + "eh_proj.weight", d, 2 * d);
        mtp.block = block(L);
        mtp.shared_head_norm = Vec::Ones(d);
        w.mtp.push_back(std::move(mtp));
    }
    return w;
}

ModelWeights init_model_weights(const ModelConfig& config, uint64_t seed, float std) {
    return assemble_model_weights(
        config, [&](int64_t layer) { return generated_block_weights(config, layer, seed, std); },
        [&](const std::string& name, int64_t rows, int64_t cols) { return generated_matrix(seed, name, rows, cols, std); });
}

// Every tensor at its shape, allocated and not filled: what load_model reads a checkpoint into
// (generating values only to overwrite them cost a tenth of a short eval).
static ModelWeights sized_model_weights(const ModelConfig& config) {
    return assemble_model_weights(
        config,
        [&](int64_t layer) {
            BlockWeights block = sized_block_weights(config, layer);
            if (config.is_moe_layer(layer))
                block.moe.experts.assign(config.n_routed_experts, sized_ffn_weights(config.hidden_size, config.moe_intermediate_size));
            return block;
        },
        [](const std::string&, int64_t rows, int64_t cols) { return Mat(rows, cols); });
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

std::vector<Parameter> block_parameters(BlockWeights& w, const std::string& prefix) {
    std::vector<Parameter> list;
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
    add_parameter(list, prefix + "mlp.gate.weight", w.moe.gate.weight);
    add_parameter(list, prefix + "mlp.gate.e_score_correction_bias", w.moe.gate.bias, false);
    add_ffn(list, prefix + "mlp.shared_experts", w.moe.shared_experts);
    for (size_t e = 0; e < w.moe.experts.size(); ++e)
        add_ffn(list, prefix + "mlp.experts." + std::to_string(e), w.moe.experts[e]);
    return list;
}

static void add_block(std::vector<Parameter>& list, const std::string& prefix, BlockWeights& w) {
    for (Parameter& p : block_parameters(w, prefix)) list.push_back(std::move(p));
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

// One naive-form cache per sequence, sized to it: training's keys and values (mla.h).
static std::vector<MlaCache> fresh_caches(const ModelConfig& config, const std::vector<int64_t>& offsets, AttnImpl impl) {
    std::vector<MlaCache> caches;
    for (size_t s = 0; s + 1 < offsets.size(); ++s) caches.push_back(make_mla_cache(config, impl, offsets[s + 1] - offsets[s]));
    return caches;
}

static std::string block_prefix(int64_t layer) { return "layers." + std::to_string(layer); }

static bool runs_mtp(const ModelWeights& w, const TrainingLoss& loss, const ModelActivations& act) {
    return loss.mtp_weight > 0 && !w.mtp.empty() && !act.mtp_rows.rows.empty();
}

LossReport model_forward(const ModelConfig& config, const ModelWeights& w, const Batch& batch,
                         const ForwardContext& context, const TrainingLoss& loss, ModelActivations& act) {
    check_batch(config, batch);
    const float eps = static_cast<float>(config.rms_norm_eps);
    const RopeTable rope = rope_table(config);
    const int64_t L = config.num_hidden_layers;
    LossReport report;

    Mat h = context.kernels->embedding(w.embed_tokens, batch.tokens);
    trace_record(context.trace, "embed", h);
    act.blocks.resize(L);
    for (int64_t layer = 0; layer < L; ++layer) {
        BlockActivations& block = act.blocks[layer];
        block.caches = fresh_caches(config, batch.offsets, AttnImpl::Naive);
        h = block_forward(config, layer, w.layers[layer], rope, h, batch.offsets, block.caches.data(), context,
                          block_prefix(layer), &block);
        if (config.is_moe_layer(layer))
            report.balance += balance_loss(config, block.moe.routing, batch.offsets, loss.balance_alpha);
    }
    act.logits = head_forward(h, w.norm, w.lm_head, eps, context, "", &act.head);
    report.main = cross_entropy_forward(act.logits, batch.targets);

    act.mtp_rows = mtp_rows(batch.tokens, batch.targets, batch.offsets);
    if (runs_mtp(w, loss, act)) {
        act.mtp.block.caches = fresh_caches(config, act.mtp_rows.offsets, AttnImpl::Naive);
        act.mtp_logits = mtp_forward(config, w.mtp[0], w.embed_tokens, w.lm_head, h, act.mtp_rows, rope,
                                     act.mtp.block.caches.data(), context, &act.mtp);
        report.balance += balance_loss(config, act.mtp.block.moe.routing, act.mtp_rows.offsets, loss.balance_alpha);
        report.mtp = cross_entropy_forward(act.mtp_logits, act.mtp_rows.targets);
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
    const int64_t L = config.num_hidden_layers;

    Mat dh = Mat::Zero(act.head.hidden.rows(), config.hidden_size);
    head_backward(dh, g.norm, g.lm_head, dlogits, w.norm, w.lm_head, eps, act.head);
    if (runs_mtp(w, loss, act)) {
        Mat dmtp_logits = Mat::Zero(act.mtp_logits.rows(), act.mtp_logits.cols());
        cross_entropy_backward(dmtp_logits, static_cast<float>(loss.mtp_weight), act.mtp_logits, act.mtp_rows.targets);
        mtp_backward(dh, g.mtp[0], g.embed_tokens, g.lm_head, dmtp_logits, config, w.mtp[0], w.lm_head, act.mtp_rows,
                     rope, precision, loss.balance_alpha, act.mtp);
    }
    for (int64_t layer = L - 1; layer >= 0; --layer)
        dh = block_backward(g.layers[layer], dh, config, layer, w.layers[layer], rope, batch.offsets, precision,
                            loss.balance_alpha, act.blocks[layer]);
    embedding_backward(g.embed_tokens, dh, batch.tokens);
}

// ---------------------------------------------------------------------------------------------
// Inference

DecodeState make_decode_state(const ModelConfig& config, int64_t reserve_tokens, AttnImpl impl, int64_t sequences) {
    if (sequences < 1) throw std::invalid_argument("make_decode_state: sequences must be >= 1");
    DecodeState state;
    state.sequences = sequences;
    state.rope = rope_table(config);
    state.caches.assign(config.num_hidden_layers * sequences, make_mla_cache(config, impl, reserve_tokens));
    return state;
}

void copy_sequence(DecodeState& into, int64_t to, const DecodeState& state, int64_t from) {
    const size_t layers = state.caches.size() / state.sequences;
    for (size_t layer = 0; layer < layers; ++layer)
        into.caches[layer * into.sequences + to] = state.caches[layer * state.sequences + from];
}

void swap_sequences(DecodeState& state, int64_t a, int64_t b) {
    const size_t layers = state.caches.size() / state.sequences;
    for (size_t layer = 0; layer < layers; ++layer)
        std::swap(state.caches[layer * state.sequences + a], state.caches[layer * state.sequences + b]);
}

// A shared_ptr that views `value` without owning it (the aliasing constructor, empty owner).
template <typename T>
static std::shared_ptr<const T> view_of(const T& value) {
    return std::shared_ptr<const T>(std::shared_ptr<const T>(), &value);
}

WeightSource memory_source(const ModelWeights& w) {
    WeightSource source;
    source.embedding = [&w](const std::vector<int32_t>& tokens) { return EmbeddingRows{view_of(w.embed_tokens), tokens}; };
    source.layer = [&w](int64_t layer) { return view_of(w.layers.at(layer)); };
    source.head = [&w]() { return HeadWeights{view_of(w.norm), view_of(w.lm_head)}; };
    return source;
}

Mat model_decode(const ModelConfig& config, const ModelWeights& w, DecodeState& state,
                 const std::vector<int32_t>& tokens, const ForwardContext& context, Mat* hidden) {
    return model_decode(config, memory_source(w), state, tokens, context, hidden);
}

Mat model_decode(const ModelConfig& config, const WeightSource& source, DecodeState& state,
                 const std::vector<int32_t>& tokens, const ForwardContext& context, Mat* hidden) {
    if (state.sequences != 1) throw std::invalid_argument("model_decode: the state holds several sequences (model_decode_batch)");
    return model_decode_batch(config, source, state, 0, tokens, {0, static_cast<int64_t>(tokens.size())}, context, hidden);
}

Mat model_decode_batch(const ModelConfig& config, const ModelWeights& w, DecodeState& state, int64_t first,
                       const std::vector<int32_t>& tokens, const std::vector<int64_t>& offsets,
                       const ForwardContext& context, Mat* hidden) {
    return model_decode_batch(config, memory_source(w), state, first, tokens, offsets, context, hidden);
}

Mat model_decode_batch(const ModelConfig& config, const WeightSource& source, DecodeState& state, int64_t first,
                       const std::vector<int32_t>& tokens, const std::vector<int64_t>& offsets,
                       const ForwardContext& context, Mat* hidden) {
    const int64_t count = static_cast<int64_t>(offsets.size()) - 1;
    if (tokens.empty()) throw std::invalid_argument("model_decode: no tokens");
    if (count < 1 || first < 0 || first + count > state.sequences || offsets.front() != 0 ||
        offsets.back() != static_cast<int64_t>(tokens.size()))
        throw std::invalid_argument("model_decode: offsets must split the tokens among sequences of the state");
    for (int64_t s = 0; s < count; ++s) {
        const int64_t position = state.caches.empty() ? 0 : state.layer_caches(0, first)[s].length;
        const int64_t reach = position + offsets[s + 1] - offsets[s];
        if (reach > config.max_position_embeddings)
            throw std::invalid_argument("the sequence would reach " + std::to_string(reach) +
                                        " tokens, more than max_position_embeddings (" +
                                        std::to_string(config.max_position_embeddings) + ")");
    }
    // One token per sequence: every product row by row, so each sequence gets the bytes it gets alone.
    ForwardContext decoding = context;
    if (static_cast<int64_t>(tokens.size()) == count) decoding.precision.row_by_row = true;
    Mat h;
    {
        const EmbeddingRows rows = source.embedding(tokens);
        h = decoding.kernels->embedding(*rows.table, rows.ids);
    }
    trace_record(decoding.trace, "embed", h);
    for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
        const std::shared_ptr<const BlockWeights> block = source.layer(layer);  // released after the block
        h = block_forward(config, layer, *block, state.rope, h, offsets, state.layer_caches(layer, first), decoding,
                          block_prefix(layer));
    }
    Mat logits;
    if (source.head) {
        const HeadWeights head = source.head();
        logits = head_forward(h, *head.norm, *head.lm_head, static_cast<float>(config.rms_norm_eps), decoding);
    }
    if (hidden) *hidden = std::move(h);
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
    ModelWeights weights = sized_model_weights(config);
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
