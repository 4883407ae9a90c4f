#include "glossary.h"

#include <vector>

namespace seek {

// A trace name's last components, what the tensor is, and the names of its axes.
struct GlossaryEntry {
    std::string suffix;
    std::string text;
    std::vector<std::string> axes;
};

static const std::vector<GlossaryEntry>& glossary() {
    static const std::vector<GlossaryEntry> entries = {
        {"embed", "token embeddings: one row of embed_tokens per token", {"token", "hidden"}},
        {"attn_norm", "RMSNorm before attention (input_layernorm)", {"token", "hidden"}},
        {"attn.q_a", "compressed query c_Q = W_DQ h: the queries' own low-rank bottleneck (q_lora_rank)", {"token", "q_lora"}},
        {"attn.q_norm", "RMSNorm of c_Q (q_a_layernorm)", {"token", "q_lora"}},
        {"attn.q", "all heads' queries [T, heads, qk_nope + qk_rope] before RoPE", {"token", "head", "qk_dim"}},
        {"attn.q_nope", "the content part of each query: no position, matched against W_UK c_KV", {"token", "head", "nope_dim"}},
        {"attn.q_pe", "the decoupled rope part of each query, rotated by its position", {"token", "head", "rope_dim"}},
        {"attn.kv_a", "kv_a_proj_with_mqa output: [latent ; rope key] before the norm and RoPE", {"token", "latent_and_rope"}},
        {"attn.c_kv", "the latent c_KV (kv_lora_rank wide): with k_pe, the ONLY thing MLA caches", {"token", "latent"}},
        {"attn.k_pe", "the one rope key per token, shared by all heads (cached with c_kv)", {"token", "rope_dim"}},
        {"attn.k_nope", "naive path: per-head keys expanded from the latent, W_UK c_KV (what MHA would cache)",
         {"token", "head", "nope_dim"}},
        {"attn.v", "naive path: per-head values expanded from the latent, W_UV c_KV (what MHA would cache)",
         {"token", "head", "v_dim"}},
        {"attn.q_absorbed", "absorbed path: W_UK^T q_nope, a query that attends to the latent directly", {"token", "head", "latent"}},
        {"attn.scores", "attention logits [heads, query, key] times the softmax scale; -inf above the causal diagonal",
         {"head", "query", "key"}},
        {"attn.probs", "softmax of the scores: where each head looks", {"head", "query", "key"}},
        {"attn.out", "o_proj of the concatenated head outputs: the attention block's contribution", {"token", "hidden"}},
        {"ffn_norm", "RMSNorm before the feed-forward block (post_attention_layernorm)", {"token", "hidden"}},
        {"ffn.out", "dense SwiGLU FFN output, down(silu(gate x) * up x): the first first_k_dense_replace layers", {"token", "hidden"}},
        {"moe.scores", "router affinities s_i = sigmoid(u . e_i) (softmax in V2)", {"token", "expert"}},
        {"moe.biased_scores", "s_i + b_i: the bias steers which experts are chosen, never their weights", {"token", "expert"}},
        {"moe.group_scores", "per group: sum of its top-2 biased scores (or the max without a bias)", {"token", "group"}},
        {"moe.group_mask", "groups kept for each token (topk_group of n_group): node-limited routing", {"token", "group"}},
        {"moe.topk_idx", "the experts each token goes to", {"token", "k"}},
        {"moe.topk_weight", "their gate weights: unbiased scores, normalized, times routed_scaling_factor", {"token", "k"}},
        {"moe.shared_out", "output of the shared expert(s), which every token uses", {"token", "hidden"}},
        {"moe.routed_out", "weighted sum of the chosen routed experts' outputs", {"token", "hidden"}},
        {"moe.out", "shared_out + routed_out", {"token", "hidden"}},
        {"out", "the block's output: residual stream after attention and feed-forward", {"token", "hidden"}},
        {"final_norm", "RMSNorm before the output head", {"token", "hidden"}},
        {"logits", "next-token scores over the vocabulary", {"token", "vocab"}},
        {"mtp.enorm", "MTP: RMSNorm of the embedding of token t+1", {"token", "hidden"}},
        {"mtp.hnorm", "MTP: RMSNorm of the main model's last hidden state at t", {"token", "hidden"}},
        {"mtp.in", "MTP: eh_proj [enorm ; hnorm], the MTP block's input; its logits predict token t+2", {"token", "hidden"}},
    };
    return entries;
}

// Longest matching suffix wins, so "attn.out" is not mistaken for a block's "out".
static const GlossaryEntry* find_entry(const std::string& trace_name) {
    const GlossaryEntry* best = nullptr;
    for (const GlossaryEntry& entry : glossary()) {
        const std::string& suffix = entry.suffix;
        const bool whole = trace_name == suffix;
        const bool tail = trace_name.size() > suffix.size() &&
                          trace_name.compare(trace_name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
                          trace_name[trace_name.size() - suffix.size() - 1] == '.';
        if ((whole || tail) && (!best || suffix.size() > best->suffix.size())) best = &entry;
    }
    return best;
}

std::string describe_tensor(const std::string& trace_name) {
    const GlossaryEntry* entry = find_entry(trace_name);
    return entry ? entry->text : "";
}

std::vector<std::string> tensor_axes(const std::string& trace_name) {
    const GlossaryEntry* entry = find_entry(trace_name);
    return entry ? entry->axes : std::vector<std::string>{};
}

}  // namespace seek
