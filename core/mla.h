// Multi-head Latent Attention (DeepSeek-V2/V3 §2.1.1), prefill and token-by-token decoding, in the
// two forms of DeepSeek's inference code:
//
//   naive   K and V are expanded per head from the latent through kv_b_proj and cached in full:
//           H · (qk_nope + qk_rope + v_head_dim) floats per token per layer.
//   absorb  W_UK is folded into the query and W_UV applied after attention, so attention runs
//           over the latent itself and the cache holds only c_kv and k_pe:
//           kv_lora_rank + qk_rope_head_dim floats per token per layer (V3: 576 instead of 40,960).
//
// Both give the same output (up to float rounding); that equality is what makes MLA's small cache
// possible, and the tests hold it.
#pragma once

#include <cstdint>
#include <string>

#include "config.h"
#include "rope.h"
#include "tensor.h"
#include "trace.h"

namespace seek {

enum class AttnImpl { Naive, Absorb };
AttnImpl attn_impl_from_name(const std::string& name);  // "naive" or "absorb"; throws otherwise
const char* attn_impl_name(AttnImpl impl);

// Causal softmax over stacked [H·T, S] scores in place: row h·T + s is query s, at position
// start + s, which sees keys 0 .. start + s; the rest are -inf before and exactly 0 after.
// Shared by inference (mla_forward) and training (attention_forward in backward.h).
template <typename S>
void causal_softmax(MatOf<S>& scores, MatOf<S>& probs, int64_t start, int64_t T);

// HF names: model.layers.{i}.self_attn.{q_proj | q_a_proj, q_a_layernorm, q_b_proj,
// kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj, o_proj}.weight
struct MlaWeights {
    Mat q_proj;              // [H·(dn+dr), d]           when q_lora_rank == 0
    Mat q_a_proj;            // [q_lora_rank, d]          W_DQ
    Vec q_a_layernorm;       // [q_lora_rank]
    Mat q_b_proj;            // [H·(dn+dr), q_lora_rank]  W_UQ and W_QR
    Mat kv_a_proj_with_mqa;  // [r + dr, d]               W_DKV and W_KR
    Vec kv_a_layernorm;      // [r]
    Mat kv_b_proj;           // [H·(dn+dv), r]  head-major: per head dn rows of W_UK, then dv rows of W_UV
    Mat o_proj;              // [d, H·dv]
};

std::string attn_weight_name(int64_t layer, const std::string& leaf);  // "model.layers.3.self_attn.<leaf>.weight"

// Random weights, a pure function of (seed, tensor name, index): N(0, 1/fan_in) matrices, or
// N(0, std^2) when std > 0 (a model to train, model.h); unit norms.
MlaWeights generated_mla_weights(const ModelConfig& config, int64_t layer, uint64_t seed, float std = 0);

struct MlaCache {
    AttnImpl impl = AttnImpl::Absorb;
    int64_t length = 0;  // tokens cached so far = position of the next token
    Mat c_kv;            // absorb: [capacity, kv_lora_rank]  latent after kv_a_layernorm
    Mat k_pe;            // absorb: [capacity, qk_rope_head_dim]  shared rope key after RoPE
    Mat k;               // naive:  [capacity, H·(dn+dr)]  per head [k_nope ; k_pe]
    Mat v;               // naive:  [capacity, H·dv]
};
// Capacity grows exactly to what is needed unless reserved up front (decoding loops reserve).
MlaCache make_mla_cache(const ModelConfig& config, AttnImpl impl, int64_t reserve_tokens = 0);
// Floats the cache holds for its `length` tokens (not counting reserved capacity).
int64_t mla_cache_floats(const MlaCache& cache);

// Runs x ([T, hidden], at positions cache.length .. cache.length + T - 1) through attention over
// everything cached before plus these tokens (causal), appends them to the cache, and returns
// [T, hidden]. Prefill = one call with an empty cache; decoding = one call per token.
// Traced under `prefix` ("layers.0.attn"): q_a, q_norm, q, q_nope, q_pe, kv_a, c_kv, k_pe,
// k_nope and v (naive) or q_absorbed (absorb), scores, probs, out.
Mat mla_forward(const ModelConfig& config, const MlaWeights& weights, const RopeTable& rope, const Mat& x,
                MlaCache& cache, Trace* trace = nullptr, const std::string& prefix = "attn");

// The cache a prefill of x would leave behind (projections, norm, RoPE), without the attention
// itself: benchmarks use it to stand up a long context cheaply.
void mla_fill_cache(const ModelConfig& config, const MlaWeights& weights, const RopeTable& rope, const Mat& x,
                    MlaCache& cache);

}  // namespace seek
