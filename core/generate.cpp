#include "generate.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "analytics.h"
#include "embedding.h"
#include "parallel.h"
#include "tokenizer.h"

namespace seek {

Generation generate(const ModelConfig& config, const ModelWeights& weights, const std::vector<int32_t>& prompt,
                    const GenerateOptions& options, Rng& rng) {
    std::vector<Rng> rngs = {rng};
    Generation generation = generate_batch(config, weights, {prompt}, options, rngs).front();
    rng = rngs.front();
    return generation;
}

// The decode loop of generate_batch for completions first .. first + count - 1 (their own state,
// logits and slots); on_one_done() after each completion ends.
static void decode_completions(const ModelConfig& config, const ModelWeights& weights,
                               const std::vector<std::vector<int32_t>>& prompts, const GenerateOptions& options,
                               std::vector<Rng>& rngs, const std::vector<int64_t>& limit, int64_t reserve, int64_t first,
                               int64_t count, std::vector<Generation>& generations,
                               const std::function<void()>& on_one_done) {
    // Every completion gets its own sequence of the state; slot s holds completion at[s], the
    // unfinished ones first. A prompt is prefilled once, on its own as generate() would.
    DecodeState state = make_decode_state(config, reserve, AttnImpl::Absorb, count);
    Mat logits(count, config.vocab_size);  // slot s: the logits its next token is drawn from
    std::vector<int64_t> at(count);
    std::map<std::vector<int32_t>, int64_t> prefilled;  // prompt -> the slot that holds it
    for (int64_t s = 0; s < count; ++s) {
        at[s] = first + s;
        const std::vector<int32_t>& prompt = prompts[first + s];
        const auto seen = prefilled.find(prompt);
        if (seen != prefilled.end()) {
            copy_sequence(state, s, state, seen->second);
            logits.row(s) = logits.row(seen->second);
            continue;
        }
        DecodeState alone = make_decode_state(config, reserve);
        logits.row(s) = model_decode(config, weights, alone, prompt).bottomRows(1);
        copy_sequence(state, s, alone, 0);
        prefilled.emplace(prompt, s);
    }

    int64_t active = count;
    std::vector<int32_t> next(count);
    auto retire = [&](int64_t slot) {
        on_one_done();
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
            generation.finished = options.stop_at_eos && token == kEosToken;
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
    int64_t reserve = 0, most_tokens = 0;
    for (int64_t i = 0; i < n; ++i) {
        check_tokens(config, prompts[i]);
        const int64_t length = static_cast<int64_t>(prompts[i].size());
        limit[i] = std::min(options.max_new_tokens, config.max_position_embeddings - length);
        reserve = std::max(reserve, length + limit[i]);
        most_tokens += length + limit[i];
    }

    // A completion's tokens depend on its own row alone, so the completions can be cut into
    // contiguous shards, each decoded as its own batch on its own thread, with the same bytes.
    // Decoding a token is mostly per-op overhead at the toy's size, several times its multiply-adds:
    // worth threads from a few hundred thousand tokens' worth of the model's products.
    const double work = 2.0 * static_cast<double>(count_parameters(config).activated_matmul()) * static_cast<double>(most_tokens);
    const int64_t shards = std::min<int64_t>(n, parallel_threads(worth_threads(10 * work)));
    int64_t done = 0;
    std::mutex done_mutex;  // shards end completions on their own threads; on_done sees one at a time
    auto on_one_done = [&] {
        const std::lock_guard<std::mutex> lock(done_mutex);
        ++done;
        if (on_done) on_done(done);
    };
    parallel_for(shards, shards > 1, [&](int64_t shard) {
        const int64_t first = n * shard / shards, last = n * (shard + 1) / shards;
        decode_completions(config, weights, prompts, options, rngs, limit, reserve, first, last - first, generations,
                           on_one_done);
    });
    return generations;
}

}  // namespace seek
