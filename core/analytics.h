// Exact analytics of a model shape: parameters per component (total and activated per token),
// FLOPs per token, and KV-cache size for MHA, GQA, MQA and MLA.
//
// Everything is counted from the tensor shapes of the HF checkpoint (the published V3 checkpoint), in
// int64, so the numbers match a real checkpoint to the parameter; FLOPs are doubles whose terms
// are integers below 2^53, so they are exact too.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"

namespace seek {

// One layer's MLA, by HF tensor name. With q_lora_rank 0 the query is one matrix (q_proj);
// otherwise it is compressed: q_a_proj, q_a_layernorm on the latent, q_b_proj.
struct AttentionParameters {
    int64_t q_proj = 0;              // [H*(dn+dr), d]            (q_lora_rank == 0)
    int64_t q_a_proj = 0;            // [q_lora_rank, d]           (q_lora_rank > 0)
    int64_t q_a_layernorm = 0;       // [q_lora_rank]
    int64_t q_b_proj = 0;            // [H*(dn+dr), q_lora_rank]
    int64_t kv_a_proj_with_mqa = 0;  // [kv_lora_rank + dr, d]: the latent and the shared rope key
    int64_t kv_a_layernorm = 0;      // [kv_lora_rank]
    int64_t kv_b_proj = 0;           // [H*(dn+dv), kv_lora_rank]
    int64_t o_proj = 0;              // [d, H*dv]

    int64_t total() const;
    int64_t norms() const { return q_a_layernorm + kv_a_layernorm; }
    // (HF leaf name, count) for every weight, in execution order.
    std::vector<std::pair<const char*, int64_t>> named() const {
        return {{"q_proj", q_proj},
                {"q_a_proj", q_a_proj},
                {"q_a_layernorm", q_a_layernorm},
                {"q_b_proj", q_b_proj},
                {"kv_a_proj_with_mqa", kv_a_proj_with_mqa},
                {"kv_a_layernorm", kv_a_layernorm},
                {"kv_b_proj", kv_b_proj},
                {"o_proj", o_proj}};
    }
};

struct ParameterCounts {
    int64_t moe_layers = 0;          // layers whose FFN is routed + shared experts
    int64_t dense_layers = 0;        // layers with the dense SwiGLU FFN
    int64_t expert = 0;              // one routed or shared expert: gate_proj, up_proj, down_proj

    AttentionParameters attention_layer;  // one layer
    int64_t embedding = 0;           // embed_tokens [vocab, d]
    int64_t attention = 0;           // all layers
    int64_t layer_norms = 0;         // input_layernorm + post_attention_layernorm, all layers
    int64_t dense_ffn = 0;           // 3·d·intermediate_size per dense layer
    int64_t routed_experts = 0;      // all routed experts of all MoE layers
    int64_t routed_experts_active = 0;  // the num_experts_per_tok of them one token uses
    int64_t shared_experts = 0;
    int64_t gate = 0;                // router weight [n_routed, d] (+ e_score_correction_bias for noaux_tc)
    int64_t gate_bias = 0;           // the e_score_correction_bias part of `gate`
    int64_t final_norm = 0;
    int64_t lm_head = 0;             // 0 when tie_word_embeddings (the embedding is the head)
    int64_t total = 0;               // everything above; the MTP module is not included
    int64_t activated = 0;           // used by one token: total - embedding lookup - unselected routed experts

    // Multi-token prediction: num_nextn_predict_layers x (one decoder block + enorm + hnorm +
    // eh_proj [d, 2d] + shared_head.norm). It shares the embedding and head with the main model,
    // which are not counted again. Not in `total`, as in the "671B" of the paper.
    int64_t mtp = 0;

    // Weights multiplied with an activation per token: activated minus norms and the gate bias.
    int64_t activated_matmul() const;
};

// Counted in checked int64 arithmetic: throws std::overflow_error rather than wrap around (a
// validated config never does; validate_config bounds the total through this function).
ParameterCounts count_parameters(const ModelConfig& config);

// Forward FLOPs for one token that attends over `context` tokens (a multiply-add counts 2).
struct FlopsPerToken {
    int64_t context = 0;
    double matmul = 0;     // 2 x activated matmul weights
    double attention = 0;  // per layer: scores 2·H·(dn+dr)·L + weighted sum of values 2·H·dv·L
    double total = 0;
};

// Throws std::invalid_argument when context < 1.
FlopsPerToken flops_per_token(const ModelConfig& config, int64_t context);

// KV-cache size of one attention scheme for a model of this shape.
struct KvCacheMethod {
    std::string name;     // "MHA", "GQA", "MQA", "MLA", "MLA naive"
    std::string what;     // what is cached, in words
    std::string formula;  // elements per token, with l = layers
    int64_t elements_per_token_per_layer = 0;
    int64_t elements_per_token = 0;  // x num_hidden_layers

    int64_t bytes_per_token(int64_t bytes_per_element) const { return elements_per_token * bytes_per_element; }
    int64_t bytes_for_context(int64_t context, int64_t bytes_per_element) const {
        return bytes_per_token(bytes_per_element) * context;
    }
};

constexpr int64_t kBf16Bytes = 2;
constexpr int64_t kFp8Bytes = 1;

// MHA, GQA with `groups` key-value heads, MQA, MLA and MLA naive (expanded K and V), in that
// order; d_h is qk_nope_head_dim as in the papers' comparison tables. Throws
// std::invalid_argument when groups < 1 or does not divide num_attention_heads.
std::vector<KvCacheMethod> kv_cache_methods(const ModelConfig& config, int64_t groups);
// One of them by name ("MLA", "MLA naive", ...; GQA with one group); throws for an unknown name.
KvCacheMethod kv_cache_method(const ModelConfig& config, const std::string& name);

// Report formatting shared by the commands that print these numbers.
std::string with_commas(int64_t value);    // 70272 -> "70,272"
std::string human_count(double value);     // 671026419200 -> "671.03 B" (K, M, B, T: powers of 1000)
std::string human_bytes(double bytes);     // 70272 -> "68.63 KiB" (KiB, MiB, GiB, TiB: powers of 1024)

}  // namespace seek
