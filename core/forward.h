// The traced forward pass: every intermediate of a model on a prompt, recorded under its design.md
// name, with metadata saying what ran. `seek step` prints it and saves it, the viewer draws it,
// `seek compare` diffs two of them (CPU against a GPU backend, naive against absorbed attention).
//
// Three sources of weights, one forward (model_decode's ops, through the kernel table):
//   trace_model      a checkpoint (model.h): every layer, the final norm, the logits, and the MTP
//                    module's mtp.* names when the model has one.
//   trace_source     any WeightSource, e.g. a checkpoint read layer by layer (stream.h).
//   trace_generated  weights generated from a seed, a pure function of (seed, HF name, index), for
//                    the first `layers` blocks only, with routed experts materialized on demand: a
//                    full-scale V3 layer without a checkpoint. No head: the stack is incomplete.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "kernels.h"
#include "mla.h"
#include "model.h"
#include "trace.h"

namespace seek {

struct TraceOptions {
    AttnImpl attn = AttnImpl::Absorb;
    bool decode = false;                       // feed the tokens one at a time through the KV caches
    std::vector<std::string> filters;          // trace name globs; empty = everything
    const Kernels* kernels = &cpu_kernels();   // which implementation runs each op (kernels.h)
};

// Throws when a token is outside the vocabulary or the sequence is longer than
// max_position_embeddings. The metadata holds the config, tokens, kernels, attention form, mode
// and "kv_cache_floats" (what layer 0's cache holds at the end). Decode mode records what compares
// with a prefill trace name by name: each block's outputs (names ending in ".out") and the logits,
// stacked token by token, and, for absorb, every layer's caches c_kv and k_pe.
Trace trace_model(const ModelConfig& config, const ModelWeights& weights, const std::vector<int32_t>& tokens,
                  const TraceOptions& options);
// The same forward with its weights from any source (model.h), e.g. a checkpoint streamed layer by
// layer under a memory budget (stream.h). No MTP module; final_norm and logits only when the source
// has a head. Prefill or decode as options say.
Trace trace_source(const ModelConfig& config, const WeightSource& source, const std::vector<int32_t>& tokens,
                   const TraceOptions& options);
// `layers` in 1 .. num_hidden_layers; the metadata also holds the seed.
Trace trace_generated(const ModelConfig& config, uint64_t seed, int64_t layers, const std::vector<int32_t>& tokens,
                      const TraceOptions& options);

}  // namespace seek
