#include "generate.h"

#include <stdexcept>

#include "embedding.h"
#include "tokenizer.h"

namespace seek {

Generation generate(const ModelConfig& config, const ModelWeights& weights, const std::vector<int32_t>& prompt,
                    const GenerateOptions& options, Rng& rng) {
    const SingleThreadedProducts single_threaded;
    validate_sampling_options(options.sampling);
    check_tokens(config, prompt);
    const int64_t room = config.max_position_embeddings - static_cast<int64_t>(prompt.size());
    const int64_t limit = std::min(options.max_new_tokens, room);
    DecodeState state = make_decode_state(config, static_cast<int64_t>(prompt.size()) + limit);
    Generation generation;
    Mat logits = model_decode(config, weights, state, prompt);
    while (static_cast<int64_t>(generation.tokens.size()) < limit) {
        const int32_t token = sample_token(&logits(logits.rows() - 1, 0), config.vocab_size, options.sampling, rng);
        generation.tokens.push_back(token);
        if (token == kEosToken) {
            generation.finished = true;
            break;
        }
        if (static_cast<int64_t>(generation.tokens.size()) < limit) logits = model_decode(config, weights, state, {token});
    }
    return generation;
}

}  // namespace seek
