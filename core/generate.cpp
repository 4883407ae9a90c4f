#include "generate.h"

#include <stdexcept>

#include "tokenizer.h"

namespace seek {

Generation generate(const ModelConfig& config, const ModelWeights& weights, const std::vector<int32_t>& prompt,
                    const GenerateOptions& options, Rng& rng) {
    const SingleThreadedProducts single_threaded;
    validate_sampling_options(options.sampling);
    if (prompt.empty()) throw std::invalid_argument("generate: the prompt is empty");
    const int64_t room = config.max_position_embeddings - static_cast<int64_t>(prompt.size());
    if (room < 0)
        throw std::invalid_argument("generate: the prompt has " + std::to_string(prompt.size()) +
                                    " tokens, more than max_position_embeddings (" +
                                    std::to_string(config.max_position_embeddings) + ")");
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
