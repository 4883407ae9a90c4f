#include "forward.h"

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "block.h"
#include "embedding.h"

namespace seek {

static Trace new_trace(const ModelConfig& config, const std::vector<int32_t>& tokens, int64_t layers,
                       const TraceOptions& options) {
    Trace trace;
    trace.filters = options.filters;
    std::string token_list;
    for (int32_t token : tokens) token_list += (token_list.empty() ? "" : ",") + std::to_string(token);
    trace.metadata = {{"config", config_to_json(config).dump()},
                      {"preset", config.name},
                      {"tokens", token_list},
                      {"device", options.kernels->name},
                      {"layers", std::to_string(layers)},
                      {"attn_impl", attn_impl_name(options.attn)},
                      {"mode", options.decode ? "decode" : "prefill"}};
    return trace;
}

// Runs `step` on all tokens at once (prefill), or on one token at a time (decode), recording into
// `trace`. Decode records each token's embedding, the names ending in ".out" and the logits, stacked
// row by row.
static void run_traced(Trace& trace, int64_t T, bool decode,
                       const std::function<void(int64_t first, int64_t count, Trace* trace)>& step) {
    if (!decode) {
        step(0, T, &trace);
        return;
    }
    std::vector<std::string> order;
    std::map<std::string, std::vector<float>> stacked;
    std::map<std::string, int64_t> widths;
    for (int64_t t = 0; t < T; ++t) {
        Trace token_trace;
        token_trace.filters = {"embed", "*.out", "logits"};
        step(t, 1, &token_trace);
        for (const TraceEntry& entry : token_trace.entries) {
            if (!stacked.count(entry.name)) order.push_back(entry.name);
            std::vector<float>& rows = stacked[entry.name];
            rows.insert(rows.end(), entry.values.begin(), entry.values.end());
            widths[entry.name] = entry.shape.back();
        }
    }
    for (const std::string& name : order) trace_record(&trace, name, {T, widths[name]}, stacked[name].data());
}

// The latent caches a decode leaves behind, which a prefill trace records as layers.i.attn.c_kv
// and k_pe.
static void record_caches(Trace& trace, const std::vector<MlaCache>& caches) {
    for (size_t layer = 0; layer < caches.size(); ++layer) {
        if (caches[layer].impl != AttnImpl::Absorb) continue;
        const std::string prefix = "layers." + std::to_string(layer) + ".attn.";
        trace_record(&trace, prefix + "c_kv", caches[layer].c_kv.topRows(caches[layer].length));
        trace_record(&trace, prefix + "k_pe", caches[layer].k_pe.topRows(caches[layer].length));
    }
}

// Every layer (and the head, when the source has one) through model_decode; leaves h_L in `hidden`
// and the caches in `state`.
static Trace trace_layers(const ModelConfig& config, const WeightSource& source, const std::vector<int32_t>& tokens,
                          const TraceOptions& options, DecodeState& state, Mat& hidden) {
    check_tokens(config, tokens);
    const int64_t T = static_cast<int64_t>(tokens.size());
    Trace trace = new_trace(config, tokens, config.num_hidden_layers, options);
    state = make_decode_state(config, T, options.attn);
    run_traced(trace, T, options.decode, [&](int64_t first, int64_t count, Trace* into) {
        ForwardContext context;
        context.kernels = options.kernels;
        context.trace = into;
        const std::vector<int32_t> part(tokens.begin() + first, tokens.begin() + first + count);
        model_decode(config, source, state, part, context, &hidden);
    });
    if (options.decode) record_caches(trace, state.caches);
    trace.metadata["kv_cache_floats"] = std::to_string(mla_cache_floats(state.caches[0]));
    return trace;
}

Trace trace_source(const ModelConfig& config, const WeightSource& source, const std::vector<int32_t>& tokens,
                   const TraceOptions& options) {
    DecodeState state;
    Mat hidden;
    return trace_layers(config, source, tokens, options, state, hidden);
}

Trace trace_model(const ModelConfig& config, const ModelWeights& weights, const std::vector<int32_t>& tokens,
                  const TraceOptions& options) {
    DecodeState state;
    Mat hidden;
    Trace trace = trace_layers(config, memory_source(weights), tokens, options, state, hidden);
    const int64_t T = static_cast<int64_t>(tokens.size());
    if (!options.decode && !weights.mtp.empty() && T > 1) {
        // The MTP module on the prompt: at t, h_t and token t+1 predict token t+2.
        const MtpRows rows = mtp_rows(tokens, std::vector<int32_t>(tokens.size(), kIgnoreTarget), {0, T});
        std::vector<MlaCache> caches = {make_mla_cache(config, options.attn, T - 1)};
        ForwardContext context;
        context.kernels = options.kernels;
        context.trace = &trace;
        mtp_forward(config, weights.mtp[0], weights.embed_tokens, weights.lm_head, hidden, rows, rope_table(config),
                    caches.data(), context);
    }
    return trace;
}

// A run that reaches V3's MoE layers keeps this many generated experts per layer (5.6 GB in FP32).
constexpr int64_t kExpertCache = 32;

Trace trace_generated(const ModelConfig& config, uint64_t seed, int64_t layers, const std::vector<int32_t>& tokens,
                      const TraceOptions& options) {
    check_tokens(config, tokens);
    if (layers < 1 || layers > config.num_hidden_layers)
        throw std::runtime_error("layers must be between 1 and num_hidden_layers (" +
                                 std::to_string(config.num_hidden_layers) + "), got " + std::to_string(layers));
    const int64_t T = static_cast<int64_t>(tokens.size());
    Trace trace = new_trace(config, tokens, layers, options);
    trace.metadata["seed"] = std::to_string(seed);

    const Mat embed = generated_embedding(config, tokens, seed);
    std::vector<BlockWeights> blocks;
    std::vector<MlaCache> caches;
    for (int64_t layer = 0; layer < layers; ++layer) {
        blocks.push_back(generated_block_weights(config, layer, seed, 0, kExpertCache));
        caches.push_back(make_mla_cache(config, options.attn, T));
    }
    const RopeTable rope = rope_table(config);
    run_traced(trace, T, options.decode, [&](int64_t first, int64_t count, Trace* into) {
        ForwardContext context;
        context.kernels = options.kernels;
        context.trace = into;
        Mat h = embed.middleRows(first, count);
        trace_record(into, "embed", h);
        for (int64_t layer = 0; layer < layers; ++layer)
            h = block_forward(config, layer, blocks[layer], rope, h, {0, count}, &caches[layer], context,
                              "layers." + std::to_string(layer));
    });
    if (options.decode) record_caches(trace, caches);
    trace.metadata["kv_cache_floats"] = std::to_string(mla_cache_floats(caches[0]));
    return trace;
}

}  // namespace seek
