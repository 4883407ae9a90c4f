// seek kv: KV-cache bytes per token and per context for MHA, GQA, MQA and MLA.
#include <cstdio>
#include <numeric>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "../core/analytics.h"
#include "commands.h"

namespace seek::cli {

namespace {

const CommandSpec spec = {
    "kv",
    "KV-cache bytes per token and per context: MHA, GQA, MQA and MLA",
    "What decoding has to keep per token, for a model of this shape with each attention scheme\n"
    "(elements per token; l = num_hidden_layers, n_h = heads, d_h = qk_nope_head_dim,\n"
    "d_h^R = qk_rope_head_dim, d_v = v_head_dim, d_c = kv_lora_rank, n_g = --groups):\n"
    "  MHA        2*n_h*d_h*l            a key and a value per head\n"
    "  GQA        2*n_g*d_h*l            a key and a value per group of heads\n"
    "  MQA        2*d_h*l                one key and one value shared by all heads\n"
    "  MLA        (d_c + d_h^R)*l        the compressed latent c_kv and the one rope key k_pe\n"
    "  MLA naive  n_h*(d_h+d_h^R+d_v)*l  K and V expanded per head, as the naive path caches them\n"
    "Bytes are elements x 2 in BF16 (what DeepSeek-V3 inference caches) and x 1 in FP8; a whole\n"
    "context is bytes per token x --context, for one sequence. For V3, MLA keeps 512 + 64 = 576\n"
    "elements per token and layer (4.5 d_h: the cache of GQA with 2.25 groups), 70,272 bytes per\n"
    "token in BF16 against 3,997,696 for MHA.",
    {preset_option("v3"), config_option(),
     {"context", "N", "tokens in the context (k/m suffixes: 128k = 131072)", "128k"},
     {"groups", "G", "GQA key-value groups; must divide the heads (default: gcd(8, heads), 8 for V3)", ""},
     {"json", "", "print one JSON object with exact integers instead of the tables", ""}},
    "", 0, 0,  // no positional arguments
};

// Context lengths are multiplied into byte counts; a cap keeps every product in int64.

std::string ratio(int64_t elements, int64_t mla_elements) {
    char text[16];
    std::snprintf(text, sizeof text, "%.2fx", static_cast<double>(elements) / static_cast<double>(mla_elements));
    return text;
}

const KvCacheMethod& mla_method(const std::vector<KvCacheMethod>& methods) {
    for (const KvCacheMethod& method : methods)
        if (method.name == "MLA") return method;
    throw std::logic_error("kv_cache_methods returned no MLA entry");
}

void print_tables(const ModelConfig& c, const std::vector<KvCacheMethod>& methods, int64_t groups, int64_t context) {
    const int64_t mla = mla_method(methods).elements_per_token;
    std::printf("KV cache of %s: l = %lld layers, n_h = %lld heads, d_h = %lld, d_h^R = %lld, d_v = %lld, d_c = %lld, "
                "n_g = %lld\n\n",
                c.name.c_str(), static_cast<long long>(c.num_hidden_layers), static_cast<long long>(c.num_attention_heads),
                static_cast<long long>(c.qk_nope_head_dim), static_cast<long long>(c.qk_rope_head_dim),
                static_cast<long long>(c.v_head_dim), static_cast<long long>(c.kv_lora_rank),
                static_cast<long long>(groups));

    std::printf("per token (elements; bytes at 2 per element in BF16, 1 in FP8):\n");
    std::printf("%-10s %12s %12s %14s %14s %9s   %s\n", "method", "per layer", "per token", "BF16 bytes", "FP8 bytes",
                "vs MLA", "formula: what is cached");
    for (const KvCacheMethod& m : methods)
        std::printf("%-10s %12s %12s %14s %14s %9s   %s: %s\n", m.name.c_str(),
                    with_commas(m.elements_per_token_per_layer).c_str(), with_commas(m.elements_per_token).c_str(),
                    with_commas(m.bytes_per_token(kBf16Bytes)).c_str(), with_commas(m.bytes_per_token(kFp8Bytes)).c_str(),
                    ratio(m.elements_per_token, mla).c_str(), m.formula.c_str(), m.what.c_str());

    std::printf("\nwhole context of %s tokens (one sequence):\n", with_commas(context).c_str());
    std::printf("%-10s %12s %22s %12s %22s\n", "method", "BF16", "bytes", "FP8", "bytes");
    for (const KvCacheMethod& m : methods) {
        const int64_t bf16 = m.bytes_for_context(context, kBf16Bytes);
        const int64_t fp8 = m.bytes_for_context(context, kFp8Bytes);
        std::printf("%-10s %12s %22s %12s %22s\n", m.name.c_str(), human_bytes(static_cast<double>(bf16)).c_str(),
                    with_commas(bf16).c_str(), human_bytes(static_cast<double>(fp8)).c_str(), with_commas(fp8).c_str());
    }
}

nlohmann::json to_json(const ModelConfig& c, const std::vector<KvCacheMethod>& methods, int64_t groups, int64_t context) {
    const int64_t mla = mla_method(methods).elements_per_token;
    nlohmann::json rows = nlohmann::json::array();
    for (const KvCacheMethod& m : methods) {
        rows.push_back({{"name", m.name},
                        {"what", m.what},
                        {"formula", m.formula},
                        {"elements_per_token_per_layer", m.elements_per_token_per_layer},
                        {"elements_per_token", m.elements_per_token},
                        {"bytes_per_token_bf16", m.bytes_per_token(kBf16Bytes)},
                        {"bytes_per_token_fp8", m.bytes_per_token(kFp8Bytes)},
                        {"bytes_context_bf16", m.bytes_for_context(context, kBf16Bytes)},
                        {"bytes_context_fp8", m.bytes_for_context(context, kFp8Bytes)},
                        {"ratio_to_mla", static_cast<double>(m.elements_per_token) / static_cast<double>(mla)}});
    }
    return {{"model", c.name}, {"context", context}, {"groups", groups}, {"methods", rows}};
}

}  // namespace

int run_kv(int argc, char** argv) {
    if (wants_help(spec, argc, argv)) return 0;
    const ParsedArgs args = parse_args(spec, argc, argv);
    const ModelConfig config = config_from_args(args);
    const int64_t context = context_from_args(args);
    // 8 groups is the common GQA choice (and the V3 comparison); smaller models fall back to the
    // largest divisor of their head count that divides 8.
    const int64_t groups = args.has("groups") ? args.integer("groups") : std::gcd(int64_t{8}, config.num_attention_heads);

    std::vector<KvCacheMethod> methods;
    try {
        methods = kv_cache_methods(config, groups);
    } catch (const std::invalid_argument& error) {
        throw UsageError(std::string("--groups: ") + error.what());
    }
    if (args.flag("json")) {
        std::printf("%s\n", to_json(config, methods, groups, context).dump(2).c_str());
    } else {
        print_tables(config, methods, groups, context);
    }
    return 0;
}

}  // namespace seek::cli
