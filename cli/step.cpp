// seek step: run the first attention layer of a model on a prompt and walk through every traced
// tensor in execution order, with what it is and its statistics.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "../core/glossary.h"
#include "../core/mla.h"
#include "../core/norm.h"
#include "../core/random.h"
#include "../core/tokenizer.h"
#include "commands.h"

namespace seek::cli {

static const CommandSpec step_spec = {
    "step",
    "run the first attention layer on a prompt and walk through every traced tensor",
    "Embeds the prompt with the character tokenizer, applies the first layer's RMSNorm and Multi-head\n"
    "Latent Attention, and prints each intermediate tensor under its trace name (the names the viewer,\n"
    "`seek compare` and the lessons use) with its shape, statistics and first values.\n"
    "Weights are generated from --seed and each tensor's HF name, so the same seed gives the same\n"
    "numbers on any machine.\n\n"
    "--attn naive expands per-head K and V from the latent and caches them; --attn absorb folds W_UK\n"
    "into the query and caches only c_kv and k_pe. Save both with --trace and diff them:\n"
    "  seek step --attn naive --trace naive.safetensors\n"
    "  seek step --attn absorb --trace absorb.safetensors\n"
    "  seek compare naive.safetensors absorb.safetensors --tol 1e-5\n"
    "--decode feeds the prompt one token at a time through the cache instead of all at once; its\n"
    "trace holds the outputs and the cache, comparable with a prefill trace.",
    {
        preset_option("toy"),
        config_option(),
        {"prompt", "TEXT", "prompt to embed (printable ASCII)", "12+34="},
        {"seed", "N", "seed of the generated weights", "0"},
        {"attn", "IMPL", "attention form: naive or absorb", "absorb"},
        {"decode", "", "process the prompt token by token through the KV cache", ""},
        {"trace", "FILE", "save the trace as safetensors", ""},
        {"filter", "GLOBS", "only trace names matching these comma-separated globs, e.g. 'layers.0.attn.c_kv'", ""},
        {"values", "N", "how many leading values to print per tensor", "6"},
        {"pause", "", "wait for Enter after each tensor", ""},
        {"quiet", "", "print only the summary", ""},
    },
    "",
    0,
    0,
};

static void print_entry(const TraceEntry& entry, size_t position, size_t count, int64_t shown_values) {
    const TensorStats stats = tensor_stats(entry.values);
    std::printf("[%zu/%zu] %-28s %s\n", position, count, entry.name.c_str(), format_shape(entry.shape).c_str());
    const std::string about = describe_tensor(entry.name);
    if (!about.empty()) std::printf("        %s\n", about.c_str());
    std::printf("        min %+.4f  max %+.4f  mean %+.4f  std %.4f", stats.min, stats.max, stats.mean, stats.std);
    if (stats.non_finite) std::printf("  (%lld masked -inf)", static_cast<long long>(stats.non_finite));
    std::printf("\n        first:");
    for (int64_t i = 0; i < shown_values && i < static_cast<int64_t>(entry.values.size()); ++i)
        std::printf(" %+.4f", entry.values[i]);
    std::printf("\n");
    // Attention probabilities are easier to read as a grid: head 0, one row per query.
    const bool is_probs = entry.name.size() >= 6 && entry.name.compare(entry.name.size() - 6, 6, ".probs") == 0;
    if (is_probs && entry.shape.size() == 3 && entry.shape[1] <= 16 && entry.shape[2] <= 16) {
        std::printf("        head 0 (rows: queries, columns: keys; 0 above the diagonal is the causal mask):\n");
        for (int64_t s = 0; s < entry.shape[1]; ++s) {
            std::printf("         ");
            for (int64_t t = 0; t < entry.shape[2]; ++t) std::printf(" %.2f", entry.values[s * entry.shape[2] + t]);
            std::printf("\n");
        }
    }
    std::printf("\n");
}

int run_step(int argc, char** argv) {
    if (wants_help(step_spec, argc, argv)) return 0;
    const ParsedArgs args = parse_args(step_spec, argc, argv);
    const ModelConfig config = config_from_args(args);
    const uint64_t seed = static_cast<uint64_t>(args.integer("seed"));
    AttnImpl impl;
    try {
        impl = attn_impl_from_name(args.str("attn"));
    } catch (const std::runtime_error& error) {
        throw UsageError(std::string("--attn: ") + error.what());
    }
    const int64_t shown_values = args.integer("values");
    const bool decode = args.flag("decode");

    std::vector<int32_t> tokens;
    try {
        tokens = encode_text(args.str("prompt"));
    } catch (const std::runtime_error& error) {
        throw UsageError(std::string("--prompt: ") + error.what());
    }
    if (tokens.empty()) throw UsageError("--prompt is empty");
    const int64_t T = static_cast<int64_t>(tokens.size());
    if (T > config.max_position_embeddings)
        throw UsageError("--prompt has " + std::to_string(T) + " tokens, more than max_position_embeddings (" +
                         std::to_string(config.max_position_embeddings) + ")");
    for (int32_t token : tokens)
        if (token >= config.vocab_size)
            throw UsageError("token " + std::to_string(token) + " is outside the vocabulary of " + config.name);

    Trace trace;
    trace.filters = parse_trace_filter(args.has("filter") ? args.str("filter") : "");
    trace.metadata = {{"config", config_to_json(config).dump()},
                      {"preset", config.name},
                      {"prompt", args.str("prompt")},
                      {"device", "cpu"},
                      {"seed", std::to_string(seed)},
                      {"attn_impl", attn_impl_name(impl)},
                      {"mode", decode ? "decode" : "prefill"}};
    std::string token_list;
    for (int32_t token : tokens) token_list += (token_list.empty() ? "" : ",") + std::to_string(token);
    trace.metadata["tokens"] = token_list;

    // Embedding rows are generated one token at a time: a full-scale table is 129280 x 7168.
    const std::string embed_name = "model.embed_tokens.weight";
    Mat embed(T, config.hidden_size);
    for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < config.hidden_size; ++j)
            embed(t, j) = normal_at(seed, hash_name(embed_name), tokens[t] * config.hidden_size + j);
    trace_record(&trace, "embed", embed);

    const Mat h = rms_norm(embed, Vec::Ones(config.hidden_size), static_cast<float>(config.rms_norm_eps));
    trace_record(&trace, "layers.0.attn_norm", h);

    const MlaWeights weights = generated_mla_weights(config, 0, seed);
    const RopeTable rope = rope_table(config);
    MlaCache cache = make_mla_cache(config, impl, T);
    if (!decode) {
        mla_forward(config, weights, rope, h, cache, &trace, "layers.0.attn");
    } else {
        Mat out(T, config.hidden_size);
        for (int64_t t = 0; t < T; ++t) out.row(t) = mla_forward(config, weights, rope, h.middleRows(t, 1), cache);
        if (impl == AttnImpl::Absorb) {
            trace_record(&trace, "layers.0.attn.c_kv", cache.c_kv.topRows(T));
            trace_record(&trace, "layers.0.attn.k_pe", cache.k_pe.topRows(T));
        }
        trace_record(&trace, "layers.0.attn.out", out);
    }

    std::printf("seek step: %s preset, layer 0 attention (%s, %s), seed %llu\n", config.name.c_str(),
                attn_impl_name(impl), decode ? "decoded token by token" : "prefill", static_cast<unsigned long long>(seed));
    std::printf("prompt: %lld tokens:", static_cast<long long>(T));
    for (int32_t token : tokens) std::printf(" '%s'=%d", token_text(token).c_str(), token);
    std::printf("\n\n");
    if (!args.flag("quiet")) {
        for (size_t i = 0; i < trace.entries.size(); ++i) {
            print_entry(trace.entries[i], i + 1, trace.entries.size(), shown_values);
            if (args.flag("pause")) {
                std::printf("(Enter for the next tensor)");
                std::fflush(stdout);
                std::string line;
                if (!std::getline(std::cin, line)) break;
            }
        }
    }

    const int64_t H = config.num_attention_heads;
    const int64_t absorbed_floats = T * (config.kv_lora_rank + config.qk_rope_head_dim);
    const int64_t naive_floats = T * H * (config.qk_head_dim() + config.v_head_dim);
    std::printf("KV cache after %lld tokens (one layer): this run holds %lld floats.\n", static_cast<long long>(T),
                static_cast<long long>(mla_cache_floats(cache)));
    std::printf("  absorbed: %lld x (kv_lora_rank %lld + qk_rope %lld) = %lld floats\n", static_cast<long long>(T),
                static_cast<long long>(config.kv_lora_rank), static_cast<long long>(config.qk_rope_head_dim),
                static_cast<long long>(absorbed_floats));
    std::printf("  naive:    %lld x %lld heads x (k %lld + v %lld) = %lld floats (%.1fx more)\n",
                static_cast<long long>(T), static_cast<long long>(H), static_cast<long long>(config.qk_head_dim()),
                static_cast<long long>(config.v_head_dim), static_cast<long long>(naive_floats),
                static_cast<double>(naive_floats) / absorbed_floats);

    if (args.flag("trace")) {
        save_trace(trace, args.str("trace"));
        std::printf("trace: %zu tensors written to %s\n", trace.entries.size(), args.str("trace").c_str());
    }
    return 0;
}

}  // namespace seek::cli
