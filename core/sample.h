// Next-token sampling: how one row of logits becomes one token.
//
//   p        = softmax(logits / temperature)        in double
//   nucleus  = the fewest highest-p tokens whose mass reaches top_p (Holtzman et al., top-p);
//              ranked by p, ties toward the lower id, so the cut is deterministic
//   p'       = p on the nucleus, 0 elsewhere, renormalized to sum to 1
//   token    = the first id (in id order) whose cumulative p' exceeds one rng.uniform()
//
// temperature 0 is greedy decoding: the argmax, ties toward the lower id. R1's GRPO samples its
// group of completions at temperature 1 (top_p 1) so they differ; evaluation uses greedy or a
// lower temperature.
#pragma once

#include <cstdint>
#include <vector>

#include "random.h"

namespace seek {

struct SamplingOptions {
    float temperature = 1.0f;  // >= 0 and finite; 0 = greedy
    float top_p = 1.0f;        // in (0, 1]; 1 keeps every token
};

// Throws std::invalid_argument naming "temperature" or "top_p".
void validate_sampling_options(const SamplingOptions& options);

// The distribution sample_token draws from (after temperature and top-p), one entry per token id.
// Greedy gives a one-hot vector. Throws std::invalid_argument for bad options, vocab < 1, or a
// non-finite logit (the message names "logits" and the token id).
std::vector<double> token_probabilities(const float* logits, int64_t vocab, const SamplingOptions& options);

// One token from `logits` [vocab]. Every call consumes exactly one rng.uniform(), greedy included,
// so a generation's random stream does not shift when the options change between calls.
int32_t sample_token(const float* logits, int64_t vocab, const SamplingOptions& options, Rng& rng);

}  // namespace seek
