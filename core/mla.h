// Multi-head Latent Attention (DeepSeek-V2/V3 §2.1.1): the projections, the latent KV cache, the
// attention core in its two forms, and the backward training runs.
//
//   c_Q  = W_DQ h,  q = W_UQ RMSNorm(c_Q)  (or W_Q h)   per head [q_nope ; q_pe], q_pe rotated  (eqs. 6-9)
//   c_KV = RMSNorm(W_DKV h),  k_pe = RoPE(W_KR h)      one latent and one rope key per token    (eqs. 1, 3)
//
// The attention core, in the two forms of DeepSeek's inference code:
//   naive   K and V are expanded per head from the latent through kv_b_proj (W_UK, W_UV; eqs. 2, 5)
//           and cached in full: H · (qk_nope + qk_rope + v_head_dim) floats per token per layer.
//   absorb  W_UK is folded into the query and W_UV applied after attention, so every head attends
//           to the latent itself and the cache holds only c_kv and k_pe:
//           kv_lora_rank + qk_rope_head_dim floats per token per layer (V3: 576 instead of 40,960).
// Both give the same output (up to float rounding); that equality is what makes MLA's small cache
// possible, and the tests hold it. Training runs the naive form (its backward is below); decoding
// runs either.
//
// One forward for every use: mla_forward runs new tokens of one or more sequences, each continuing
// its own cache. Prefill = one call on an empty cache; decoding = one call per token; training =
// whole sequences on empty naive caches, keeping MlaActivations for mla_backward.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "kernels.h"
#include "rope.h"
#include "tensor.h"
#include "trace.h"

namespace seek {

enum class AttnImpl { Naive, Absorb };
AttnImpl attn_impl_from_name(const std::string& name);  // "naive" or "absorb"; throws otherwise
const char* attn_impl_name(AttnImpl impl);

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

// ---------------------------------------------------------------------------------------------
// The attention cores

// Causal softmax over stacked [H·T, S] scores in place: row h·T + s is query s, at position
// start + s, which sees keys 0 .. start + s; the rest are -inf before and exactly 0 after.
template <typename S>
void causal_softmax(MatOf<S>& scores, MatOf<S>& probs, int64_t start, int64_t T);

// Naive attention: q [T, H·dq], k [S, H·dq], v [S, H·dv] (per head: [q_nope ; q_pe],
// [k_nope ; k_pe], v), queries at positions start .. start + T - 1 (S = start + T):
//   scores_h = scale q_h k_h^T,  P_h = causal softmax(scores_h),  out_h = P_h v_h
// Returns out [T, H·dv]; probs (needed by the backward) and scores, when asked for, stack the
// heads as rows h·T + s [H·T, S], the trace's layout.
// Backward (start 0, S = T; a masked entry has P = 0 and so gets no gradient), per head with
// dP = dout_h v_h^T:
//   dv_h += P_h^T dout_h
//   dscores[s, t] = P[s, t] (dP[s, t] - sum_t' P[s, t'] dP[s, t'])
//   dq_h += scale dscores k_h,   dk_h += scale dscores^T q_h
template <typename S>
MatOf<S> attention_forward(const MatRefOf<S>& q, const MatRefOf<S>& k, const MatRefOf<S>& v, int64_t heads, S scale,
                           int64_t start, MatOf<S>* scores, MatOf<S>* probs);
template <typename S>
void attention_backward(MatOf<S>& dq, MatOf<S>& dk, MatOf<S>& dv, const MatOf<S>& dout, const MatRefOf<S>& q,
                        const MatRefOf<S>& k, const MatRefOf<S>& v, const MatOf<S>& probs, int64_t heads, S scale);

// Absorbed attention over the latent cache: every head's query is [q_absorbed ; q_pe] with
// q_absorbed = W_UK^T q_nope, and every head attends to the same keys [c_kv ; k_pe] and values
// c_kv, so absorbed MLA is multi-query attention and all heads stack into one matrix product
// (FlashMLA's "MQA mode"). q_absorbed [H·T, r] and q_pe [H·T, dr] stack the heads as rows h·T + s;
// c_kv [S, r], k_pe [S, dr]:
//   scores = scale (q_absorbed c_kv^T + q_pe k_pe^T),  P = causal softmax(scores),  o = P c_kv
// Returns o [H·T, r], the attention over the latent (W_UV turns it into each head's output).
Mat latent_attention_forward(const Mat& q_absorbed, const Mat& q_pe, const MatRef& c_kv, const MatRef& k_pe,
                             int64_t heads, float scale, int64_t start, Mat* scores, Mat* probs);

// Latent attention's products of at least this many flops (scores and weighted sums together) run
// on gemm.h, whose sums have one order whatever the threads; smaller ones (the toy's) stay whole on
// Eigen. So this threshold is part of every large product's bytes: it stays at 5e7, where it cut
// Eigen's products into fixed slices before gemm.h.
constexpr double kLargeLatentWork = 5e7;

inline bool large_latent_product(double flops) { return flops >= kLargeLatentWork; }

// ---------------------------------------------------------------------------------------------
// The MLA op

// What mla_forward keeps for mla_backward (training: naive caches, sequences from position 0).
struct MlaActivations {
    Mat q_a, q_norm;          // with query compression
    Mat q;                    // [N, H·dq] per head [q_nope ; q_pe], after RoPE
    Mat kv_a, c_kv;           // [N, r + dr]; [N, r] after kv_a_layernorm
    std::vector<Mat> probs;   // per sequence [H·T, T]
    Mat attn;                 // [N, H·dv], o_proj's input
};

// Runs x ([N, hidden], attn_norm'ed) through attention: each sequence s of x (offsets) attends to
// everything caches[s] holds plus its own tokens (causal), and is appended to caches[s]. Returns
// [N, hidden]. The caches' form (naive or absorb) picks the attention core.
// Traced under `prefix` ("layers.0.attn"): q_a, q_norm, q (before RoPE), q_nope, q_pe, kv_a, c_kv,
// k_pe, k_nope and v (naive) or q_absorbed (absorb), and, for a single sequence, scores, probs; out.
Mat mla_forward(const ModelConfig& config, const MlaWeights& w, const RopeTable& rope, const Mat& x,
                const std::vector<int64_t>& offsets, MlaCache* caches, const ForwardContext& context,
                const std::string& prefix, MlaActivations* act = nullptr);

// Accumulates d(loss)/dx and the weight gradients from d(loss)/d(out), given what the forward saw
// (x, its naive caches, each filled from position 0 by that forward alone, and act).
void mla_backward(Mat& dx, MlaWeights& dw, const Mat& dout, const ModelConfig& config, const MlaWeights& w,
                  const RopeTable& rope, const Mat& x, const std::vector<int64_t>& offsets, const MlaCache* caches,
                  const LinearPrecision& precision, const MlaActivations& act);

// The cache a prefill of x would leave behind (projections, norm, RoPE), without the attention
// itself: benchmarks use it to stand up a long context cheaply.
void mla_fill_cache(const ModelConfig& config, const MlaWeights& weights, const RopeTable& rope, const Mat& x,
                    MlaCache& cache, const ForwardContext& context = {});

}  // namespace seek
