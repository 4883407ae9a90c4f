// A traced forward pass from tokens: embedding, then the model's first decoder blocks, recording
// every intermediate under its design.md name. `seek step` prints it, the viewer draws it.
//
//   h   = x + MLA(RMSNorm(x))                  layers.i.attn_norm, layers.i.attn.*
//   out = h + FFN(RMSNorm(h))                  layers.i.ffn_norm, layers.i.moe.* or layers.i.ffn.out,
//                                              layers.i.out
// FFN is the dense SwiGLU for the first first_k_dense_replace layers, DeepSeekMoE after.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "mla.h"
#include "trace.h"

namespace seek {

struct ForwardOptions {
    uint64_t seed = 0;                  // generated weights: a pure function of seed and tensor name
    int64_t layers = 2;                 // blocks to run: 0 .. layers-1 (the toy's layer 1 is the first MoE)
    AttnImpl attn = AttnImpl::Absorb;
    bool decode = false;                // feed the tokens one at a time through the KV caches
    std::vector<std::string> filters;   // trace name globs; empty = everything
};

// Throws when a token is outside the vocabulary, the sequence is longer than
// max_position_embeddings, or `layers` is not in 1 .. num_hidden_layers. The trace's metadata holds
// the config, tokens, seed, options and "kv_cache_floats" (what layer 0's cache holds at the end).
// Decode mode records what compares with a prefill trace name by name: each block's outputs
// (names ending in ".out", stacked token by token) and, for absorb, the caches c_kv and k_pe.
Trace forward_trace(const ModelConfig& config, const std::vector<int32_t>& tokens, const ForwardOptions& options);

// Rows of model.embed_tokens.weight for these tokens, generated one row at a time (a full-scale
// table is 129,280 x 7168).
Mat generated_embedding(const ModelConfig& config, const std::vector<int32_t>& tokens, uint64_t seed);

}  // namespace seek
