#include "sample.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <string>

namespace seek {

// A nucleus whose mass is within this of top_p counts as reaching it: top_p arrives as a float
// (0.8f is 0.800000012) and the softmax rounds, and neither should pull in one more token.
constexpr double kTopPTolerance = 1e-6;

void validate_sampling_options(const SamplingOptions& options) {
    if (!std::isfinite(options.temperature) || options.temperature < 0)
        throw std::invalid_argument("sampling: temperature must be finite and >= 0, got " +
                                    std::to_string(options.temperature));
    if (!(options.top_p > 0 && options.top_p <= 1))  // also rejects NaN
        throw std::invalid_argument("sampling: top_p must be in (0, 1], got " + std::to_string(options.top_p));
}

static void check_logits(const float* logits, int64_t vocab) {
    if (vocab < 1) throw std::invalid_argument("sampling: vocab must be >= 1, got " + std::to_string(vocab));
    if (logits == nullptr) throw std::invalid_argument("sampling: logits is null");
    for (int64_t i = 0; i < vocab; ++i)
        if (!std::isfinite(logits[i]))
            throw std::invalid_argument("sampling: logits[" + std::to_string(i) + "] is " +
                                        (std::isnan(logits[i]) ? "NaN" : "infinite"));
}

// The lowest id among the largest logits.
static int64_t argmax(const float* logits, int64_t vocab) {
    int64_t best = 0;
    for (int64_t i = 1; i < vocab; ++i)
        if (logits[i] > logits[best]) best = i;
    return best;
}

// Zeroes every token outside the nucleus (never the top one) and renormalizes what is left.
static void keep_nucleus(std::vector<double>& probs, double top_p) {
    std::vector<int64_t> order(probs.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return probs[x] > probs[y]; });
    double mass = 0;
    size_t kept = 0;
    while (kept == 0 || (kept < order.size() && mass < top_p - kTopPTolerance)) mass += probs[order[kept++]];
    for (size_t i = kept; i < order.size(); ++i) probs[order[i]] = 0;
    for (double& p : probs) p /= mass;
}

std::vector<double> token_probabilities(const float* logits, int64_t vocab, const SamplingOptions& options) {
    validate_sampling_options(options);
    check_logits(logits, vocab);
    std::vector<double> probs(vocab, 0.0);
    const int64_t best = argmax(logits, vocab);
    if (options.temperature == 0) {
        probs[best] = 1;
        return probs;
    }
    // Subtracting the max before dividing keeps every exponent <= 0: no overflow at tiny temperatures.
    double sum = 0;
    for (int64_t i = 0; i < vocab; ++i) {
        probs[i] = std::exp((double(logits[i]) - double(logits[best])) / options.temperature);
        sum += probs[i];
    }
    for (double& p : probs) p /= sum;
    if (options.top_p < 1) keep_nucleus(probs, options.top_p);
    return probs;
}

int32_t sample_token(const float* logits, int64_t vocab, const SamplingOptions& options, Rng& rng) {
    const std::vector<double> probs = token_probabilities(logits, vocab, options);
    const double u = rng.uniform();
    double cumulative = 0;
    int64_t last_possible = 0;
    for (int64_t i = 0; i < vocab; ++i) {
        if (probs[i] <= 0) continue;
        cumulative += probs[i];
        last_possible = i;
        if (u < cumulative) return static_cast<int32_t>(i);
    }
    return static_cast<int32_t>(last_possible);  // u within rounding of 1: the last token that can be drawn
}

}  // namespace seek
