#include "glossary.h"

#include <utility>
#include <vector>

namespace seek {

static const std::vector<std::pair<std::string, std::string>>& glossary() {
    static const std::vector<std::pair<std::string, std::string>> entries = {
        {"embed", "token embeddings: one row of embed_tokens per token"},
        {"attn_norm", "RMSNorm before attention (input_layernorm)"},
        {"attn.q_a", "compressed query c_Q = W_DQ h: the queries' own low-rank bottleneck (q_lora_rank)"},
        {"attn.q_norm", "RMSNorm of c_Q (q_a_layernorm)"},
        {"attn.q", "all heads' queries [T, heads, qk_nope + qk_rope] before RoPE"},
        {"attn.q_nope", "the content part of each query: no position, matched against W_UK c_KV"},
        {"attn.q_pe", "the decoupled rope part of each query, rotated by its position"},
        {"attn.kv_a", "kv_a_proj_with_mqa output: [latent ; rope key] before the norm and RoPE"},
        {"attn.c_kv", "the latent c_KV (kv_lora_rank wide): with k_pe, the ONLY thing MLA caches"},
        {"attn.k_pe", "the one rope key per token, shared by all heads (cached with c_kv)"},
        {"attn.k_nope", "naive path: per-head keys expanded from the latent, W_UK c_KV (what MHA would cache)"},
        {"attn.v", "naive path: per-head values expanded from the latent, W_UV c_KV (what MHA would cache)"},
        {"attn.q_absorbed", "absorbed path: W_UK^T q_nope, a query that attends to the latent directly"},
        {"attn.scores", "attention logits [heads, query, key] times the softmax scale; -inf above the causal diagonal"},
        {"attn.probs", "softmax of the scores: where each head looks"},
        {"attn.out", "o_proj of the concatenated head outputs: the attention block's contribution"},
        {"ffn_norm", "RMSNorm before the feed-forward block (post_attention_layernorm)"},
        {"ffn.out", "dense SwiGLU FFN output, down(silu(gate x) * up x): the first first_k_dense_replace layers"},
        {"moe.scores", "router affinities s_i = sigmoid(u . e_i) (softmax in V2)"},
        {"moe.biased_scores", "s_i + b_i: the bias steers which experts are chosen, never their weights"},
        {"moe.group_scores", "per group: sum of its top-2 biased scores (or the max without a bias)"},
        {"moe.group_mask", "groups kept for each token (topk_group of n_group): node-limited routing"},
        {"moe.topk_idx", "the experts each token goes to"},
        {"moe.topk_weight", "their gate weights: unbiased scores, normalized, times routed_scaling_factor"},
        {"moe.shared_out", "output of the shared expert(s), which every token uses"},
        {"moe.routed_out", "weighted sum of the chosen routed experts' outputs"},
        {"moe.out", "shared_out + routed_out"},
        {"out", "the block's output: residual stream after attention and feed-forward"},
        {"final_norm", "RMSNorm before the output head"},
        {"logits", "next-token scores over the vocabulary"},
    };
    return entries;
}

std::string describe_tensor(const std::string& trace_name) {
    // Longest matching suffix wins, so "attn.out" is not mistaken for a block's "out".
    const std::string* best = nullptr;
    size_t best_length = 0;
    for (const auto& [suffix, text] : glossary()) {
        const bool whole = trace_name == suffix;
        const bool tail = trace_name.size() > suffix.size() &&
                          trace_name.compare(trace_name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
                          trace_name[trace_name.size() - suffix.size() - 1] == '.';
        if ((whole || tail) && suffix.size() > best_length) {
            best = &text;
            best_length = suffix.size();
        }
    }
    return best ? *best : "";
}

}  // namespace seek
