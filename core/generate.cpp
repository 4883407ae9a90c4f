#include "generate.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <string>

#include "embedding.h"
#include "tokenizer.h"

namespace seek {

Generation generate(const ModelConfig& config, const ModelWeights& weights, const std::vector<int32_t>& prompt,
                    const GenerateOptions& options, Rng& rng) {
    std::vector<Rng> rngs = {rng};
    Generation generation = generate_batch(config, weights, {prompt}, options, rngs).front();
    rng = rngs.front();
    return generation;
}

std::vector<Generation> generate_batch(const ModelConfig& config, const ModelWeights& weights,
                                       const std::vector<std::vector<int32_t>>& prompts, const GenerateOptions& options,
                                       std::vector<Rng>& rngs, const std::function<void(int64_t)>& on_done) {
    validate_sampling_options(options.sampling);
    const int64_t n = static_cast<int64_t>(prompts.size());
    if (static_cast<int64_t>(rngs.size()) != n)
        throw std::invalid_argument("generate_batch: " + std::to_string(rngs.size()) + " rngs for " + std::to_string(n) +
                                    " prompts");
    std::vector<Generation> generations(n);
    if (n == 0) return generations;
    std::vector<int64_t> limit(n);  // new tokens: stops earlier at <eos>
    int64_t reserve = 0;
    for (int64_t i = 0; i < n; ++i) {
        check_tokens(config, prompts[i]);
        const int64_t length = static_cast<int64_t>(prompts[i].size());
        limit[i] = std::min(options.max_new_tokens, config.max_position_embeddings - length);
        reserve = std::max(reserve, length + limit[i]);
    }

    // Every completion gets its own sequence of the state; slot s holds completion at[s], the
    // unfinished ones first. A prompt is prefilled once, on its own as generate() would.
    DecodeState state = make_decode_state(config, reserve, AttnImpl::Absorb, n);
    Mat logits(n, config.vocab_size);  // slot s: the logits its next token is drawn from
    std::vector<int64_t> at(n);
    std::map<std::vector<int32_t>, int64_t> prefilled;  // prompt -> the slot that holds it
    for (int64_t i = 0; i < n; ++i) {
        at[i] = i;
        const auto seen = prefilled.find(prompts[i]);
        if (seen != prefilled.end()) {
            copy_sequence(state, i, state, seen->second);
            logits.row(i) = logits.row(seen->second);
            continue;
        }
        DecodeState alone = make_decode_state(config, reserve);
        logits.row(i) = model_decode(config, weights, alone, prompts[i]).bottomRows(1);
        copy_sequence(state, i, alone, 0);
        prefilled.emplace(prompts[i], i);
    }

    int64_t active = n, done = 0;
    std::vector<int32_t> next(n);
    auto retire = [&](int64_t slot) {
        if (on_done) on_done(++done);
        --active;
        if (slot == active) return;
        swap_sequences(state, slot, active);
        std::swap(at[slot], at[active]);
        logits.row(slot).swap(logits.row(active));
    };
    while (active > 0) {
        // One token for every unfinished completion; the finished ones move behind the others.
        for (int64_t slot = 0; slot < active;) {
            Generation& generation = generations[at[slot]];
            if (static_cast<int64_t>(generation.tokens.size()) >= limit[at[slot]]) {
                retire(slot);
                continue;
            }
            const int32_t token = sample_token(&logits(slot, 0), config.vocab_size, options.sampling, rngs[at[slot]]);
            generation.tokens.push_back(token);
            generation.finished = token == kEosToken;
            if (generation.finished || static_cast<int64_t>(generation.tokens.size()) >= limit[at[slot]]) {
                retire(slot);
                continue;
            }
            next[slot] = token;
            ++slot;
        }
        // Then their next logits, all in one forward pass (one token each: row by row, model.h).
        if (active == 0) break;
        std::vector<int64_t> offsets(active + 1);
        for (int64_t s = 0; s <= active; ++s) offsets[s] = s;
        const std::vector<int32_t> tokens(next.begin(), next.begin() + active);
        logits.topRows(active) = model_decode_batch(config, weights, state, 0, tokens, offsets);
    }
    return generations;
}

}  // namespace seek
