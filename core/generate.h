// Text generation with the latent KV cache: the prompt in one prefill, then one token per step,
// each drawn from the last logits row (sample.h: greedy, temperature, top-p).
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "model.h"
#include "random.h"
#include "sample.h"

namespace seek {

struct GenerateOptions {
    SamplingOptions sampling;
    int64_t max_new_tokens = 96;  // stops earlier at <eos> or at max_position_embeddings
    bool stop_at_eos = true;      // false: <eos> is a token like any other (a benchmark's fixed work)
};

struct Generation {
    std::vector<int32_t> tokens;  // the new tokens, <eos> included when it came
    bool finished = false;        // ended with <eos> (not cut off by a limit)
};

// Throws for an empty prompt, a token outside the vocabulary or a prompt longer than the context.
// The same rng state gives the same text.
Generation generate(const ModelConfig& config, const ModelWeights& weights, const std::vector<int32_t>& prompt,
                    const GenerateOptions& options, Rng& rng);

// Several completions decoded side by side: completion i continues prompts[i], drawing from
// rngs[i], and comes out exactly as generate(prompts[i], rngs[i]) would make it alone. Each step
// decodes one token of every unfinished completion in one forward pass whose ops compute each
// sequence's row from that row alone (LinearPrecision::row_by_row, linear.h); a prompt that appears more than
// once (a GRPO group) is prefilled once and its cache copied. With more than one thread
// (parallel.h) the completions are cut into contiguous shards, each decoded as its own batch on
// its own thread: the same tokens. on_done(done) is called as each completion ends (done: how many
// have), one call at a time.
std::vector<Generation> generate_batch(const ModelConfig& config, const ModelWeights& weights,
                                       const std::vector<std::vector<int32_t>>& prompts, const GenerateOptions& options,
                                       std::vector<Rng>& rngs, const std::function<void(int64_t done)>& on_done = {});

}  // namespace seek
