#include "forward.h"

#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "moe.h"
#include "norm.h"
#include "random.h"

namespace seek {

Mat generated_embedding(const ModelConfig& config, const std::vector<int32_t>& tokens, uint64_t seed) {
    const uint64_t name_hash = hash_name("model.embed_tokens.weight");
    Mat embed(static_cast<int64_t>(tokens.size()), config.hidden_size);
    for (size_t t = 0; t < tokens.size(); ++t)
        for (int64_t j = 0; j < config.hidden_size; ++j)
            embed(t, j) = normal_at(seed, name_hash, static_cast<uint64_t>(tokens[t]) * config.hidden_size + j);
    return embed;
}

static void check_inputs(const ModelConfig& config, const std::vector<int32_t>& tokens, int64_t layers) {
    if (tokens.empty()) throw std::runtime_error("no tokens to run");
    if (static_cast<int64_t>(tokens.size()) > config.max_position_embeddings)
        throw std::runtime_error(std::to_string(tokens.size()) + " tokens, more than max_position_embeddings (" +
                                 std::to_string(config.max_position_embeddings) + ") of " + config.name);
    for (size_t t = 0; t < tokens.size(); ++t)
        if (tokens[t] < 0 || tokens[t] >= config.vocab_size)
            throw std::runtime_error("token " + std::to_string(tokens[t]) + " at position " + std::to_string(t) +
                                     " is outside the vocabulary (" + std::to_string(config.vocab_size) + ") of " +
                                     config.name);
    if (layers < 1 || layers > config.num_hidden_layers)
        throw std::runtime_error("layers must be between 1 and num_hidden_layers (" +
                                 std::to_string(config.num_hidden_layers) + "), got " + std::to_string(layers));
}

// One decoder block's weights. Norm weights are ones, as in a freshly initialized model.
struct GeneratedBlock {
    MlaWeights attn;
    FfnWeights dense;  // layers before first_k_dense_replace
    MoeLayer moe;      // the others
};

// A run that reaches V3's MoE layers keeps this many generated experts per layer (5.6 GB in FP32).
constexpr int64_t kExpertCache = 32;

static GeneratedBlock generated_block(const ModelConfig& config, int64_t layer, uint64_t seed) {
    GeneratedBlock w;
    w.attn = generated_mla_weights(config, layer, seed);
    if (config.is_moe_layer(layer)) w.moe = generated_moe_layer(config, layer, seed, kExpertCache);
    else w.dense = generated_dense_ffn(config, layer, seed);
    return w;
}

// h = x + MLA(RMSNorm(x)); out = h + FFN(RMSNorm(h)). Traced under "layers.<layer>".
static Mat block_forward(const ModelConfig& config, int64_t layer, GeneratedBlock& w, const RopeTable& rope,
                         const Mat& x, MlaCache& cache, Trace* trace) {
    const std::string prefix = "layers." + std::to_string(layer);
    const Vec norm_weight = Vec::Ones(config.hidden_size);
    const float eps = static_cast<float>(config.rms_norm_eps);

    const Mat attn_in = rms_norm(x, norm_weight, eps);
    trace_record(trace, prefix + ".attn_norm", attn_in);
    const Mat h = x + mla_forward(config, w.attn, rope, attn_in, cache, trace, prefix + ".attn");

    const Mat ffn_in = rms_norm(h, norm_weight, eps);
    trace_record(trace, prefix + ".ffn_norm", ffn_in);
    Mat ffn_out;
    if (config.is_moe_layer(layer)) {
        ffn_out = moe_forward(config, w.moe, ffn_in, Dispatch::Grouped, trace, prefix + ".moe");
    } else {
        ffn_out = swiglu_ffn(w.dense, ffn_in);
        trace_record(trace, prefix + ".ffn.out", ffn_out);
    }
    const Mat out = h + ffn_out;
    trace_record(trace, prefix + ".out", out);
    return out;
}

Trace forward_trace(const ModelConfig& config, const std::vector<int32_t>& tokens, const ForwardOptions& options) {
    check_inputs(config, tokens, options.layers);
    const int64_t T = static_cast<int64_t>(tokens.size()), layers = options.layers;
    Trace trace;
    trace.filters = options.filters;
    std::string token_list;
    for (int32_t token : tokens) token_list += (token_list.empty() ? "" : ",") + std::to_string(token);
    trace.metadata = {{"config", config_to_json(config).dump()},
                      {"preset", config.name},
                      {"tokens", token_list},
                      {"device", "cpu"},
                      {"seed", std::to_string(options.seed)},
                      {"layers", std::to_string(layers)},
                      {"attn_impl", attn_impl_name(options.attn)},
                      {"mode", options.decode ? "decode" : "prefill"}};

    const Mat embed = generated_embedding(config, tokens, options.seed);
    trace_record(&trace, "embed", embed);

    std::vector<GeneratedBlock> blocks;
    std::vector<MlaCache> caches;
    for (int64_t layer = 0; layer < layers; ++layer) {
        blocks.push_back(generated_block(config, layer, options.seed));
        caches.push_back(make_mla_cache(config, options.attn, T));
    }
    const RopeTable rope = rope_table(config);
    if (!options.decode) {
        Mat h = embed;
        for (int64_t layer = 0; layer < layers; ++layer)
            h = block_forward(config, layer, blocks[layer], rope, h, caches[layer], &trace);
    } else {
        // One token at a time through every block; each token's outputs are traced on their own
        // and stacked row by row.
        std::vector<std::string> order;
        std::map<std::string, std::vector<float>> stacked;
        std::map<std::string, int64_t> widths;
        for (int64_t t = 0; t < T; ++t) {
            Trace token_trace;
            token_trace.filters = {"*.out"};
            Mat h = embed.middleRows(t, 1);
            for (int64_t layer = 0; layer < layers; ++layer)
                h = block_forward(config, layer, blocks[layer], rope, h, caches[layer], &token_trace);
            for (const TraceEntry& entry : token_trace.entries) {
                if (!stacked.count(entry.name)) order.push_back(entry.name);
                std::vector<float>& rows = stacked[entry.name];
                rows.insert(rows.end(), entry.values.begin(), entry.values.end());
                widths[entry.name] = entry.shape.back();
            }
        }
        for (int64_t layer = 0; layer < layers && options.attn == AttnImpl::Absorb; ++layer) {
            const std::string prefix = "layers." + std::to_string(layer) + ".attn.";
            trace_record(&trace, prefix + "c_kv", caches[layer].c_kv.topRows(T));
            trace_record(&trace, prefix + "k_pe", caches[layer].k_pe.topRows(T));
        }
        for (const std::string& name : order) trace_record(&trace, name, {T, widths[name]}, stacked[name].data());
    }
    trace.metadata["kv_cache_floats"] = std::to_string(mla_cache_floats(caches[0]));
    return trace;
}

}  // namespace seek
