// A checkpoint read in place under a memory budget: DeepSeek-V3's 671B parameters (163 shards,
// FP8) stepped on a machine with far less memory than the checkpoint.
//
// The forward (model.h's model_decode) asks a WeightSource for each piece as it runs; this one
//   embedding  reads only the prompt's rows of embed_tokens from the mmapped shard;
//   layer i    reads the layer's dense tensors (norms, attention, the gate, the shared experts or
//              the dense FFN), dequantized to FP32 (FP8 block by block with weight_scale_inv),
//              and drops them when the layer is done; the shard pages it touched are given back
//              to the kernel (madvise), so they do not stay in the process's memory;
//   experts    come from one ExpertStore shared by all MoE layers: an LRU of FP32 experts
//              bounded by bytes, each read from the checkpoint when first routed to (or generated
//              from a seed, for checkpoints written without their routed experts);
//   head       model.norm and lm_head, read when asked for (only when the trace wants final_norm
//              or logits at full scale: V3's lm_head alone is 3.7 GB in FP32).
//
// The budget (--memory) covers the FP32 weights held at once, split as
//   dense   the largest layer's dense tensors, plus its largest tensor once more (decoded before
//           it is copied into place)
//   head    norm + lm_head, when the head runs
//   experts whatever is left, at least one expert
// Activations, the KV caches and the prompt's embedding rows are not counted: a few MB for a
// prompt of tens of tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "checkpoint.h"
#include "config.h"
#include "model.h"
#include "moe.h"

namespace seek {

struct StreamOptions {
    int64_t memory_bytes = int64_t{16} << 30;  // the budget for weights held at once
    bool head = true;                          // read model.norm and lm_head (final_norm, logits)
    bool generate_missing_experts = false;     // routed experts absent from the checkpoint are generated
    uint64_t expert_seed = 0;                  // from this seed (moe.h's generated_expert)
};

struct MemoryPlan {
    int64_t dense_bytes = 0;   // largest layer's dense FP32 tensors + its largest tensor again
    int64_t head_bytes = 0;    // model.norm + lm_head in FP32 (0 without the head)
    int64_t expert_bytes = 0;  // the expert LRU's budget
    int64_t experts = 0;       // how many FP32 experts that holds
};
// The split of `memory_bytes`; throws naming what is needed when the budget cannot hold the dense
// part, the head and one expert.
MemoryPlan plan_memory(const ModelConfig& config, const StreamOptions& options);

// What the source has read so far.
struct StreamStats {
    int64_t bytes_read = 0;      // stored bytes of every tensor read (FP8 codes + scales, BF16, ...)
    double read_seconds = 0;     // time spent reading and dequantizing dense tensors and experts
    int64_t layers_read = 0;
    int64_t experts_generated = 0;  // routed experts generated instead of read
};

struct StreamedModel {
    ModelConfig config;
    std::shared_ptr<const Checkpoint> checkpoint;
    MemoryPlan plan;
    std::shared_ptr<ExpertStore> experts;
    std::shared_ptr<StreamStats> stats;
    WeightSource source;  // valid as long as this object's shared pointers are
};
// Opens DIR (config.json, shards) without reading any weight. Errors name the file and tensor.
StreamedModel open_streamed(const std::string& directory, const StreamOptions& options);

// Rough FP32 bytes of the whole model (embedding, layers, head): what load_model would hold.
int64_t model_fp32_bytes(const ModelConfig& config);

}  // namespace seek
