// One decoder block, the pre-norm residual of DeepSeek-V3 (paper §2.1, model.py's Block):
//
//   u   = x + MLA(attn_norm(x))                 layers.i.attn_norm, layers.i.attn.*
//   out = u + FFN(ffn_norm(u))                  layers.i.ffn_norm, layers.i.moe.* or layers.i.ffn.out,
//                                               layers.i.out
//
// FFN is a dense SwiGLU in the first first_k_dense_replace layers and DeepSeekMoE after. The one
// block forward every path runs: training (whole sequences from position 0, keeping what the
// backward needs), prefill and token-by-token decoding through the latent cache, the traced
// forward of `seek step` and the viewer, and the MTP module's block (mtp.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "kernels.h"
#include "mla.h"
#include "moe.h"
#include "rope.h"
#include "tensor.h"

namespace seek {

// model.layers.{i}.*
struct BlockWeights {
    Vec input_layernorm;           // attn_norm
    MlaWeights self_attn;
    Vec post_attention_layernorm;  // ffn_norm
    FfnWeights mlp;                // dense layers: mlp.{gate,up,down}_proj
    MoeWeights moe;                // MoE layers: mlp.gate, mlp.shared_experts, mlp.experts.{j}
};

// Random weights for layer `layer`, a pure function of (seed, HF name, index): N(0, std^2)
// matrices (std 0: N(0, 1/fan_in)), unit norms, zero gate bias. `expert_cache` > 0 generates the
// routed experts on demand into an LRU of that many (full scale) instead of all at once.
BlockWeights generated_block_weights(const ModelConfig& config, int64_t layer, uint64_t seed, float std = 0,
                                     int64_t expert_cache = 0);

// Layer `layer`'s tensors at their HF shapes, allocated and not filled (to be read from a
// checkpoint): the routed experts are left out (a store supplies them), the gate bias is there
// exactly when gate_has_bias.
BlockWeights sized_block_weights(const ModelConfig& config, int64_t layer);

// What a block's forward keeps for its backward.
struct BlockActivations {
    Mat x, attn_in, u, ffn_in;     // block input, attn_norm(x), x + MLA, ffn_norm(u)
    std::vector<MlaCache> caches;  // training: each sequence's keys and values (naive form)
    MlaActivations attn;
    MoeActivations moe;            // MoE layers
    SwigluActivations ffn;         // dense layers
};

// Runs the rows of x ([N, hidden]) through block `layer`: sequence s is rows offsets[s] ..
// offsets[s+1] - 1 and continues caches[s] (offsets.size() - 1 caches; appended to). Traced under
// `prefix` ("layers.3"). `act`, when given, receives what block_backward needs (training also
// keeps the caches it filled in act->caches).
Mat block_forward(const ModelConfig& config, int64_t layer, const BlockWeights& w, const RopeTable& rope, const Mat& x,
                  const std::vector<int64_t>& offsets, MlaCache* caches, const ForwardContext& context,
                  const std::string& prefix, BlockActivations* act = nullptr);

// d(loss)/d(block input) from d(loss)/d(block output); accumulates the weight gradients into dw.
// `balance_alpha` > 0 adds the gradient of the sequence-wise balance loss (gate.h).
Mat block_backward(BlockWeights& dw, const Mat& dout, const ModelConfig& config, int64_t layer, const BlockWeights& w,
                   const RopeTable& rope, const std::vector<int64_t>& offsets, const LinearPrecision& precision,
                   double balance_alpha, const BlockActivations& act);

}  // namespace seek
