#include "analytics.h"

#include <cstdio>
#include <stdexcept>

namespace seek {

namespace {

// Checked int64 arithmetic: the counts of an absurd shape (vocab_size 2^62) must fail, not wrap
// around into a small plausible number. validate_config bounds every field and the total through
// count_parameters, so a config that loads always counts without overflow.
int64_t mul(int64_t a, int64_t b) {
    int64_t product;
    if (__builtin_mul_overflow(a, b, &product)) throw std::overflow_error("the parameter count overflows int64");
    return product;
}
template <typename... Rest>
int64_t mul(int64_t a, int64_t b, Rest... rest) {
    return mul(mul(a, b), rest...);
}
int64_t add(int64_t a) { return a; }
template <typename... Rest>
int64_t add(int64_t a, Rest... rest) {
    int64_t sum;
    if (__builtin_add_overflow(a, add(rest...), &sum)) throw std::overflow_error("the parameter count overflows int64");
    return sum;
}

}  // namespace

int64_t AttentionParameters::total() const {
    return add(q_proj, q_a_proj, q_a_layernorm, q_b_proj, kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj, o_proj);
}

int64_t ParameterCounts::activated_matmul() const {
    const int64_t norms = layer_norms + final_norm + attention_layer.norms() * (moe_layers + dense_layers);
    return activated - norms - gate_bias;
}

namespace {

AttentionParameters count_attention(const ModelConfig& c) {
    const int64_t d = c.hidden_size, heads = c.num_attention_heads;
    AttentionParameters a;
    if (c.q_lora_rank == 0) {
        a.q_proj = mul(heads, add(c.qk_nope_head_dim, c.qk_rope_head_dim), d);
    } else {
        a.q_a_proj = mul(c.q_lora_rank, d);
        a.q_a_layernorm = c.q_lora_rank;
        a.q_b_proj = mul(heads, add(c.qk_nope_head_dim, c.qk_rope_head_dim), c.q_lora_rank);
    }
    a.kv_a_proj_with_mqa = mul(add(c.kv_lora_rank, c.qk_rope_head_dim), d);
    a.kv_a_layernorm = c.kv_lora_rank;
    a.kv_b_proj = mul(heads, add(c.qk_nope_head_dim, c.v_head_dim), c.kv_lora_rank);
    a.o_proj = mul(d, heads, c.v_head_dim);
    return a;
}

}  // namespace

ParameterCounts count_parameters(const ModelConfig& c) {
    const int64_t d = c.hidden_size;
    ParameterCounts p;
    for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) (c.is_moe_layer(layer) ? p.moe_layers : p.dense_layers) += 1;
    p.expert = mul(3, d, c.moe_intermediate_size);

    p.attention_layer = count_attention(c);
    p.embedding = mul(c.vocab_size, d);
    p.attention = mul(p.attention_layer.total(), c.num_hidden_layers);
    p.layer_norms = mul(2, d, c.num_hidden_layers);
    p.dense_ffn = mul(3, d, c.intermediate_size, p.dense_layers);

    const int64_t gate_bias_per_layer = c.topk_method == "noaux_tc" ? c.n_routed_experts : 0;
    const int64_t gate_per_layer = add(mul(c.n_routed_experts, d), gate_bias_per_layer);
    p.routed_experts = mul(c.n_routed_experts, p.expert, p.moe_layers);
    p.routed_experts_active = mul(c.num_experts_per_tok, p.expert, p.moe_layers);
    p.shared_experts = mul(c.n_shared_experts, p.expert, p.moe_layers);
    p.gate = mul(gate_per_layer, p.moe_layers);
    p.gate_bias = mul(gate_bias_per_layer, p.moe_layers);
    p.final_norm = d;
    p.lm_head = c.tie_word_embeddings ? 0 : mul(c.vocab_size, d);

    p.total = add(p.embedding, p.attention, p.layer_norms, p.dense_ffn, p.routed_experts, p.shared_experts, p.gate,
                  p.final_norm, p.lm_head);
    // The embedding is a row lookup, not a matmul, so it is not "activated"; with tied
    // embeddings the same matrix is the head, which every token does multiply with.
    const int64_t lookup_only = c.tie_word_embeddings ? 0 : p.embedding;
    p.activated = p.total - lookup_only - (p.routed_experts - p.routed_experts_active);

    // The MTP block is a MoE layer in DeepSeek-V3 (its FFN follows the model's last layer).
    const int64_t mtp_ffn = c.n_routed_experts > 0
                                ? add(mul(add(c.n_routed_experts, c.n_shared_experts), p.expert), gate_per_layer)
                                : mul(3, d, c.intermediate_size);
    const int64_t mtp_block = add(p.attention_layer.total(), mul(2, d), mtp_ffn);
    const int64_t mtp_extras = add(mul(2, d) /* enorm, hnorm */, mul(d, 2, d) /* eh_proj */, d /* shared_head.norm */);
    p.mtp = mul(c.num_nextn_predict_layers, add(mtp_block, mtp_extras));
    return p;
}

FlopsPerToken flops_per_token(const ModelConfig& c, int64_t context) {
    if (context < 1) throw std::invalid_argument("context must be >= 1, got " + std::to_string(context));
    FlopsPerToken f;
    f.context = context;
    f.matmul = 2.0 * static_cast<double>(count_parameters(c).activated_matmul());
    const int64_t heads = c.num_attention_heads;
    const int64_t per_layer = 2 * heads * c.qk_head_dim() * context + 2 * heads * c.v_head_dim * context;
    f.attention = static_cast<double>(per_layer) * static_cast<double>(c.num_hidden_layers);
    f.total = f.matmul + f.attention;
    return f;
}

std::vector<KvCacheMethod> kv_cache_methods(const ModelConfig& c, int64_t groups) {
    const int64_t heads = c.num_attention_heads;
    if (groups < 1 || heads % groups != 0)
        throw std::invalid_argument("GQA groups (" + std::to_string(groups) + ") must divide num_attention_heads (" +
                                    std::to_string(heads) + ")");
    const int64_t dh = c.qk_nope_head_dim;
    std::vector<KvCacheMethod> methods = {
        {"MHA", "a key and a value per head", "2·n_h·d_h·l", 2 * heads * dh, 0},
        {"GQA", "a key and a value per group of heads (" + std::to_string(groups) + " groups)", "2·n_g·d_h·l",
         2 * groups * dh, 0},
        {"MQA", "one key and one value shared by all heads", "2·d_h·l", 2 * dh, 0},
        {"MLA", "the latent c_kv and the shared rope key k_pe", "(d_c+d_h^R)·l", c.kv_lora_rank + c.qk_rope_head_dim, 0},
        {"MLA naive", "expanded K and V per head (no absorption)", "n_h·(d_h+d_h^R+d_v)·l",
         heads * (c.qk_nope_head_dim + c.qk_rope_head_dim + c.v_head_dim), 0},
    };
    for (KvCacheMethod& method : methods) method.elements_per_token = method.elements_per_token_per_layer * c.num_hidden_layers;
    return methods;
}

KvCacheMethod kv_cache_method(const ModelConfig& config, const std::string& name) {
    for (const KvCacheMethod& method : kv_cache_methods(config, 1))
        if (method.name == name) return method;
    throw std::invalid_argument("no KV-cache method '" + name + "'");
}

std::string with_commas(int64_t value) {
    // Through uint64 so that the magnitude of INT64_MIN is representable.
    const uint64_t magnitude = value < 0 ? 0 - static_cast<uint64_t>(value) : static_cast<uint64_t>(value);
    const std::string digits = std::to_string(magnitude);
    std::string out;
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
        out += digits[i];
    }
    return value < 0 ? "-" + out : out;
}

namespace {

std::string scaled(double value, double base, const char* const units[], int count) {
    int unit = 0;
    while (unit + 1 < count && value >= base) {
        value /= base;
        ++unit;
    }
    char text[48];
    if (unit == 0) {
        std::snprintf(text, sizeof text, "%.0f%s", value, units[0]);
    } else {
        std::snprintf(text, sizeof text, "%.2f %s", value, units[unit]);
    }
    return text;
}

}  // namespace

std::string human_count(double value) {
    static const char* const units[] = {"", "K", "M", "B", "T"};
    return scaled(value, 1000.0, units, 5);
}

std::string human_bytes(double bytes) {
    static const char* const units[] = {" B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    return scaled(bytes, 1024.0, units, 6);
}

}  // namespace seek
