// Text generation with the latent KV cache: the prompt in one prefill, then one token per step,
// each drawn from the last logits row (sample.h: greedy, temperature, top-p).
#pragma once

#include <cstdint>
#include <vector>

#include "model.h"
#include "random.h"
#include "sample.h"

namespace seek {

struct GenerateOptions {
    SamplingOptions sampling;
    int64_t max_new_tokens = 96;  // stops earlier at <eos> or at max_position_embeddings
};

struct Generation {
    std::vector<int32_t> tokens;  // the new tokens, <eos> included when it came
    bool finished = false;        // ended with <eos> (not cut off by a limit)
};

// Throws for an empty prompt, a token outside the vocabulary or a prompt longer than the context.
// The same rng state gives the same text.
Generation generate(const ModelConfig& config, const ModelWeights& weights, const std::vector<int32_t>& prompt,
                    const GenerateOptions& options, Rng& rng);

}  // namespace seek
