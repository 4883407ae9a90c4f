// Next-token sampling: greedy ties, the top-p cut and temperature worked by hand, the sampled
// frequencies against the distribution, determinism, and bad input.
#include <catch2/catch.hpp>
#include <cmath>
#include <vector>

#include "core/sample.h"

using namespace seek;
using Catch::Matchers::Contains;

// Logits whose softmax is `probs` (at temperature 1).
static std::vector<float> logits_of(const std::vector<double>& probs) {
    std::vector<float> logits;
    for (double p : probs) logits.push_back(static_cast<float>(std::log(p)));
    return logits;
}

static std::vector<double> probabilities(const std::vector<float>& logits, float temperature, float top_p) {
    return token_probabilities(logits.data(), static_cast<int64_t>(logits.size()), SamplingOptions{temperature, top_p});
}

static void check_probabilities(const std::vector<double>& actual, const std::vector<double>& expected) {
    REQUIRE(actual.size() == expected.size());
    // 1e-6: the logits are logs rounded to float (relative error 6e-8 each), exponentiated.
    for (size_t i = 0; i < expected.size(); ++i) CHECK(actual[i] == Approx(expected[i]).margin(1e-6));
}

TEST_CASE("sample: greedy is the argmax, ties to the lowest id", "[sample]") {
    const SamplingOptions greedy{0.0f, 1.0f};
    Rng rng(5);
    const std::vector<float> tied = {1, 3, 3, 2};
    CHECK(sample_token(tied.data(), 4, greedy, rng) == 1);
    CHECK(probabilities(tied, 0, 1) == std::vector<double>{0, 1, 0, 0});
    const std::vector<float> flat = {-2, -2, -2};
    CHECK(sample_token(flat.data(), 3, greedy, rng) == 0);
    // Greedy still takes its one uniform from the rng: two calls, two steps.
    CHECK(rng.state == 7);
    // top_p ignores the cut for greedy, and a tiny top_p keeps only the top token.
    CHECK(sample_token(tied.data(), 4, SamplingOptions{0.0f, 0.1f}, rng) == 1);
}

TEST_CASE("sample: a tiny top_p always gives the argmax", "[sample]") {
    Rng rng(11);
    for (int row = 0; row < 1000; ++row) {
        std::vector<float> logits(128);
        for (float& x : logits) x = 3 * rng.normal();
        const int64_t best = std::max_element(logits.begin(), logits.end()) - logits.begin();
        for (const float top_p : {1e-3f, 1e-7f}) {
            REQUIRE(sample_token(logits.data(), 128, SamplingOptions{1.5f, top_p}, rng) == best);
            REQUIRE(probabilities(logits, 1.5f, top_p)[best] == 1.0);
        }
    }
}

TEST_CASE("sample: the top-p cut and temperature, worked by hand", "[sample]") {
    // probs .5 .3 .15 .05, top_p .8: .5 < .8, .5 + .3 = .8 reaches it, so the nucleus is the first
    // two, renormalized: .5 / .8 = .625, .3 / .8 = .375. (top_p arrives as the float 0.800000012;
    // the 1e-6 tolerance keeps it from pulling in the third token.)
    const std::vector<float> four = logits_of({0.5, 0.3, 0.15, 0.05});
    check_probabilities(probabilities(four, 1, 0.8f), {0.625, 0.375, 0, 0});
    // top_p .81 needs the third: .95 of mass, renormalized .5/.95, .3/.95, .15/.95.
    check_probabilities(probabilities(four, 1, 0.81f), {0.5 / 0.95, 0.3 / 0.95, 0.15 / 0.95, 0});
    check_probabilities(probabilities(four, 1, 1), {0.5, 0.3, 0.15, 0.05});
    // Equal probabilities at the cut: the lower id stays. .4 .3 .3, top_p .6: .4, then id 1.
    check_probabilities(probabilities(logits_of({0.4, 0.3, 0.3}), 1, 0.6f), {0.4 / 0.7, 0.3 / 0.7, 0});

    // Temperature 2 takes the square root of each probability before renormalizing:
    // sqrt(.5 .3 .15 .05) = .707107 .547723 .387298 .223607, sum 1.865735.
    check_probabilities(probabilities(four, 2, 1), {0.707107 / 1.865735, 0.547723 / 1.865735, 0.387298 / 1.865735,
                                                    0.223607 / 1.865735});
    // Temperature 0.5 squares them: .25 .09 .0225 .0025, sum .365.
    check_probabilities(probabilities(four, 0.5f, 1), {0.25 / 0.365, 0.09 / 0.365, 0.0225 / 0.365, 0.0025 / 0.365});
    // Large logits at a tiny temperature neither overflow nor lose the runner-up entirely.
    // (0.05f is 0.0500000007: the expected values use that number.)
    const double t = 0.05f, runner_up = std::exp(-1 / t);
    const std::vector<double> sharp = probabilities({1000.0f, 999.0f}, 0.05f, 1);
    CHECK(sharp[0] == Approx(1 / (1 + runner_up)).epsilon(1e-12));
    CHECK(sharp[1] == Approx(runner_up / (1 + runner_up)).epsilon(1e-9));
}

TEST_CASE("sample: 200k draws follow token_probabilities", "[sample]") {
    // .4 .25 .2 .1 .05 at temperature 0.8 and top_p 0.9; whatever the cut keeps, the counts of
    // each token stay within 4 binomial sd of n p, and a cut token is never drawn.
    const std::vector<float> logits = logits_of({0.4, 0.25, 0.2, 0.1, 0.05});
    for (const SamplingOptions options : {SamplingOptions{1.0f, 0.9f}, SamplingOptions{0.8f, 1.0f}}) {
        const std::vector<double> p = token_probabilities(logits.data(), 5, options);
        const int n = 200000;
        std::vector<int> counts(5, 0);
        Rng rng(42);
        for (int i = 0; i < n; ++i) ++counts[sample_token(logits.data(), 5, options, rng)];
        for (int t = 0; t < 5; ++t) {
            INFO("token " << t << ", temperature " << options.temperature << ", top_p " << options.top_p);
            if (p[t] == 0) CHECK(counts[t] == 0);
            else CHECK(std::abs(counts[t] - n * p[t]) < 4 * std::sqrt(n * p[t] * (1 - p[t])));
        }
        if (options.top_p < 1) check_probabilities(p, {0.4 / 0.95, 0.25 / 0.95, 0.2 / 0.95, 0.1 / 0.95, 0});
    }
}

TEST_CASE("sample: the same seed gives the same tokens", "[sample]") {
    std::vector<float> logits(50);
    Rng init(1);
    for (float& x : logits) x = init.normal();
    const SamplingOptions options{0.9f, 0.95f};
    Rng a(123), b(123), c(124);
    int differ = 0;
    for (int i = 0; i < 1000; ++i) {
        const int32_t x = sample_token(logits.data(), 50, options, a);
        REQUIRE(x == sample_token(logits.data(), 50, options, b));
        differ += x != sample_token(logits.data(), 50, options, c);
    }
    CHECK(differ > 500);
}

TEST_CASE("sample: bad logits and options are errors naming them", "[sample]") {
    Rng rng(0);
    const std::vector<float> ok = {0, 1, 2};
    auto sample = [&](std::vector<float> logits, float temperature, float top_p) {
        return sample_token(logits.data(), static_cast<int64_t>(logits.size()), SamplingOptions{temperature, top_p}, rng);
    };
    CHECK_THROWS_WITH(sample({0, NAN, 1}, 1, 1), Contains("logits[1]") && Contains("NaN"));
    CHECK_THROWS_WITH(sample({0, 1, INFINITY}, 1, 1), Contains("logits[2]") && Contains("infinite"));
    CHECK_THROWS_WITH(sample({-INFINITY}, 0, 1), Contains("logits[0]"));
    CHECK_THROWS_WITH(sample({NAN}, 0, 1), Contains("logits"));
    for (const float temperature : {-1.0f, -1e-30f, NAN, INFINITY})
        CHECK_THROWS_WITH(sample(ok, temperature, 1), Contains("temperature"));
    for (const float top_p : {0.0f, -0.5f, 1.0001f, NAN, INFINITY}) CHECK_THROWS_WITH(sample(ok, 1, top_p), Contains("top_p"));
    CHECK_THROWS_WITH(sample_token(ok.data(), 0, SamplingOptions{}, rng), Contains("vocab"));
    CHECK_THROWS_WITH(sample_token(nullptr, 3, SamplingOptions{}, rng), Contains("logits"));
    CHECK_THROWS_AS(token_probabilities(ok.data(), 3, SamplingOptions{-1, 1}), std::invalid_argument);
    CHECK_NOTHROW(sample(ok, 1e-30f, 1));  // tiny but positive: nearly greedy
    CHECK(sample(ok, 1e-30f, 1) == 2);
}
