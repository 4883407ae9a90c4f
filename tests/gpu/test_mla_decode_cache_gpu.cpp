// gpu/mla_decode.cu's variants 3 (BF16 latent cache), 4 (FP8 c_kv in 1x128 tiles, BF16 k_pe) and
// 5 (variant 3 on tensor cores, its own test below), run in the emulator:
//   - against variant 2 on the cache's values (the BF16 / FP8 cache widened back to FP32): bit for
//     bit, outputs, scores and probabilities (the same arithmetic on the same FP32 values);
//   - against core's latent_attention_forward on the FP32 cache, within a bound derived below from
//     what the cache's rounding does to the attention, plus test_mla_decode_gpu.cpp's FP32 bound.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/fp8.h"
#include "core/mla.h"
#include "core/quantize.h"
#include "gpu/emulator/runtime_api.h"
#include "gpu/mla_decode.h"
#include "tests/gpu/differing_bits.h"
#include "tests/gpu/random_inputs.h"

using seek::Mat;
using seek::MatD;
using seek::test::differing_bits;

namespace {

const double u = std::ldexp(1.0, -24);  // float's unit roundoff

// N(0, 1) values (rows_of_varied_magnitude with base 1: every row the same magnitude).
Mat random_matrix(int rows, int cols, uint64_t seed) { return seek::test::rows_of_varied_magnitude(rows, cols, seed, 1.0f); }

Mat bf16_values(const Mat& m) {
    Mat values(m.rows(), m.cols());
    for (int64_t i = 0; i < m.size(); ++i) {
        const uint32_t widened = static_cast<uint32_t>(seek::bf16_encode(m.data()[i])) << 16;
        std::memcpy(values.data() + i, &widened, 4);
    }
    return values;
}

// The cache's values as variant 3 (BF16) or 4 (FP8 c_kv, BF16 k_pe) stores them, in FP32.
struct CacheValues {
    Mat c_kv, k_pe;
};
CacheValues cache_values(const Mat& c_kv, const Mat& k_pe, int variant) {
    if (variant == 3) return {bf16_values(c_kv), bf16_values(k_pe)};
    return {seek::dequantize(seek::quantize(c_kv, seek::kActivationTile)), bf16_values(k_pe)};
}

struct Case {
    int heads, T, start, rank, rope_dim;
};
// V3's 16-head tile at decode; a prefill over r = 130 (two 128-column scale tiles a token, the
// second of 2 columns); 17 heads (a second, nearly empty head tile) over a cache of one token.
const Case cases[] = {{16, 1, 40, 64, 16}, {3, 2, 37, 130, 8}, {17, 1, 0, 32, 4}};

struct Inputs {
    Mat q_absorbed, q_pe, c_kv, k_pe;
};
Inputs inputs(const Case& c, uint64_t seed) {
    const int S = c.start + c.T;
    return {random_matrix(c.heads * c.T, c.rank, seed), random_matrix(c.heads * c.T, c.rope_dim, seed + 1),
            random_matrix(S, c.rank, seed + 2), random_matrix(S, c.rope_dim, seed + 3)};
}

// The attention in double over keys [c_kv ; k_pe], values c_kv: out, and per row the score range,
// max and the magnitudes the FP32 bound needs.
struct Exact {
    MatD out, probs, scores;
};
Exact exact_attention(const Mat& q_absorbed, const Mat& q_pe, const Mat& c_kv, const Mat& k_pe, int T, int start,
                      double scale) {
    const int64_t rows = q_absorbed.rows(), S = c_kv.rows();
    Exact exact{MatD::Zero(rows, c_kv.cols()), MatD::Zero(rows, S), MatD::Constant(rows, S, -INFINITY)};
    for (int64_t row = 0; row < rows; ++row) {
        const int64_t visible = start + row % T + 1;
        double max = -INFINITY;
        for (int64_t t = 0; t < visible; ++t) {
            const double score = scale * (q_absorbed.row(row).cast<double>().dot(c_kv.row(t).cast<double>()) +
                                          q_pe.row(row).cast<double>().dot(k_pe.row(t).cast<double>()));
            exact.scores(row, t) = score;
            max = std::max(max, score);
        }
        double sum = 0;
        for (int64_t t = 0; t < visible; ++t) sum += (exact.probs(row, t) = std::exp(exact.scores(row, t) - max));
        for (int64_t t = 0; t < visible; ++t) {
            exact.probs(row, t) /= sum;
            exact.out.row(row) += exact.probs(row, t) * c_kv.row(t).cast<double>();
        }
    }
    return exact;
}

}  // namespace

TEST_CASE("gpu latent attention: the BF16 and FP8 cache variants are variant 2 on the cache's values, bit for bit",
          "[gpu][mla_decode][mla_cache]") {
    for (const Case& c : cases)
        for (int variant : {3, 4})
            for (int splits : {0, 3}) {
                const Inputs in = inputs(c, 100 + c.rank);
                const CacheValues cache = cache_values(in.c_kv, in.k_pe, variant);
                const float scale = 1.0f / std::sqrt(float(c.rank + c.rope_dim));
                Mat scores, probs, expected_scores, expected_probs;
                seek::emu::set_seed(variant);
                const Mat got = seek::emu::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, c.heads,
                                                                    scale, c.start, &scores, &probs, variant, splits);
                const Mat expected =
                    seek::emu::latent_attention_forward(in.q_absorbed, in.q_pe, cache.c_kv, cache.k_pe, c.heads, scale,
                                                        c.start, &expected_scores, &expected_probs, 2, splits);
                INFO("variant " << variant << ", H " << c.heads << ", T " << c.T << ", start " << c.start << ", r "
                                << c.rank << ", splits " << splits);
                CHECK(differing_bits(got, expected) == 0);
                CHECK(differing_bits(scores, expected_scores) == 0);
                CHECK(differing_bits(probs, expected_probs) == 0);
                // Without scores and probabilities asked for, the same output.
                const Mat untraced = seek::emu::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, c.heads,
                                                                         scale, c.start, nullptr, nullptr, variant, splits);
                CHECK(differing_bits(untraced, expected) == 0);
            }
}

// Against core on the FP32 cache. With o = Σ_t p_t v_t over the FP32 cache and o' over the cache's
// values (keys k'_t = k_t + Δk_t, values v'_t = v_t + Δv_t, both read from the rounded cache):
//   each score moves by at most δ = max_t scale Σ_i |q_i| |Δk_ti| (a dot product's change); a
//   softmax whose scores all move by at most δ has p'_t / p_t within e^(±2δ), so
//   Σ_t |p'_t - p_t| <= e^(2δ) - 1;
//   o'_j - o_j = Σ_t (p'_t - p_t) v'_tj + Σ_t p_t Δv_tj, so
//   |o'_j - o_j| <= (e^(2δ) - 1) max_t |v'_tj| + max_t |Δv_tj|           (exact arithmetic).
// The kernel computes o' in FP32: test_mla_decode_gpu.cpp's bound on two FP32 computations of one
// attention covers one of them against the exact o':
//   (4e + (2R + 4|m| + 4V + 3 splits + 48) u) Σ_t p'_t |v'_tj|
// (e = (n + 2) u max_t scale Σ_i |q_i k'_ti|, R the score range, m the max, V the visible keys).
// The sum of the two is the bound; all its terms are computed here in double from the data.
TEST_CASE("gpu latent attention: the BF16 and FP8 caches stay within the derived bound of core's FP32 result",
          "[gpu][mla_decode][mla_cache]") {
    for (const Case& c : cases)
        for (int variant : {3, 4}) {
            const int splits = 3;
            const Inputs in = inputs(c, 200 + c.rank);
            const CacheValues cache = cache_values(in.c_kv, in.k_pe, variant);
            const float scale = 1.0f / std::sqrt(float(c.rank + c.rope_dim));
            const Mat got = seek::emu::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, c.heads, scale,
                                                                c.start, nullptr, nullptr, variant, splits);
            const Mat core_out = seek::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, c.heads, scale,
                                                                c.start, nullptr, nullptr);
            const Exact rounded =
                exact_attention(in.q_absorbed, in.q_pe, cache.c_kv, cache.k_pe, c.T, c.start, scale);
            const int n = c.rank + c.rope_dim;
            double worst = 0, largest_difference = 0;
            for (int64_t row = 0; row < got.rows(); ++row) {
                const int64_t visible = c.start + row % c.T + 1;
                double delta = 0, e = 0, hi = -INFINITY, lo = INFINITY;
                for (int64_t t = 0; t < visible; ++t) {
                    double shift = 0, magnitude = 0;
                    for (int i = 0; i < c.rank; ++i) {
                        shift += std::fabs(double(in.q_absorbed(row, i))) * std::fabs(double(cache.c_kv(t, i)) - in.c_kv(t, i));
                        magnitude += std::fabs(double(in.q_absorbed(row, i)) * cache.c_kv(t, i));
                    }
                    for (int i = 0; i < c.rope_dim; ++i) {
                        shift += std::fabs(double(in.q_pe(row, i))) * std::fabs(double(cache.k_pe(t, i)) - in.k_pe(t, i));
                        magnitude += std::fabs(double(in.q_pe(row, i)) * cache.k_pe(t, i));
                    }
                    delta = std::max(delta, scale * shift);
                    e = std::max(e, (n + 2) * u * scale * magnitude);
                    hi = std::max(hi, rounded.scores(row, t));
                    lo = std::min(lo, rounded.scores(row, t));
                }
                const double fp32_factor =
                    4 * e + (2 * (hi - lo) + 4 * std::fabs(hi) + 4.0 * visible + 3.0 * splits + 48) * u;
                for (int j = 0; j < c.rank; ++j) {
                    double max_value = 0, max_change = 0, weighted = 0;
                    for (int64_t t = 0; t < visible; ++t) {
                        max_value = std::max(max_value, std::fabs(double(cache.c_kv(t, j))));
                        max_change = std::max(max_change, std::fabs(double(cache.c_kv(t, j)) - in.c_kv(t, j)));
                        weighted += rounded.probs(row, t) * std::fabs(double(cache.c_kv(t, j)));
                    }
                    const double bound = std::expm1(2 * delta) * max_value + max_change + fp32_factor * weighted;
                    const double difference = std::fabs(double(got(row, j)) - core_out(row, j));
                    worst = std::max(worst, std::isnan(difference) ? INFINITY : difference / bound);
                    largest_difference = std::max(largest_difference, difference);
                }
            }
            INFO("variant " << variant << ", H " << c.heads << ", T " << c.T << ", start " << c.start << ", r " << c.rank
                            << ": worst |kernel - core| / bound " << worst << ", largest difference "
                            << largest_difference);
            CHECK(worst <= 1.0);
            // The cache's rounding is visible (the bound is not met by an unrounded cache by accident).
            if (c.start + c.T > 1) CHECK(largest_difference > 0);
        }
}

// Variant 5: variant 3 on tensor cores (the emulator's BF16 mma.sync, gpu/mma_isa.h), the queries
// and the probabilities P in BF16. Against the attention in double on the same BF16 queries and
// cache: each p_t is rounded once to BF16 before P V, |~p_t - p_t| <= 2^-9 p_t, so output column j
// moves by at most 2^-9 sum_t p_t |v_tj| / l <= 2^-9 max_t |v_tj|; the FP32 arithmetic adds
// 1e-5 of the magnitudes (the FP32 rule). Scores and probabilities come from the FP32 kernel that
// traces variant 2, on the row's log-sum-exp: within the FP32 rule.
TEST_CASE("gpu latent attention: variant 5 (tensor cores) stays within the bound of BF16 probabilities",
          "[gpu][mla_decode][mla_cache]") {
    // A decode step of one 16-head tile; 20 heads (a partial second tile) over 3 queries, r 32 and
    // dr 8 (48 columns after padding to 16); r = 48 (output columns padded to 64 across the warps).
    const Case tc_cases[] = {{16, 1, 40, 64, 16}, {20, 3, 60, 32, 8}, {5, 2, 30, 48, 16}};
    for (const Case& c : tc_cases)
        for (int splits : {0, 3}) {
            const Inputs in = inputs(c, 50 + c.rank);
            const Mat q_absorbed = bf16_values(in.q_absorbed), q_pe = bf16_values(in.q_pe);
            const Mat c_kv = bf16_values(in.c_kv), k_pe = bf16_values(in.k_pe);
            const float scale = 0.3f;
            Mat scores, probs;
            seek::emu::set_seed(5);
            const Mat got = seek::emu::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, c.heads, scale,
                                                                c.start, &scores, &probs, 5, splits);
            const Exact exact = exact_attention(q_absorbed, q_pe, c_kv, k_pe, c.T, c.start, scale);
            INFO("heads " << c.heads << ", T " << c.T << ", start " << c.start << ", r " << c.rank << ", dr "
                          << c.rope_dim << ", splits " << splits);
            const double out_max = exact.out.cwiseAbs().maxCoeff();
            double excess = 0, worst = 0;
            for (int64_t j = 0; j < c_kv.cols(); ++j) {
                const double column_max = c_kv.col(j).cwiseAbs().maxCoeff();
                for (int64_t row = 0; row < got.rows(); ++row) {
                    const double error = std::fabs(got(row, j) - exact.out(row, j));
                    worst = std::max(worst, error / out_max);
                    excess = std::max(excess, error / (std::ldexp(column_max, -9) + 1e-5 * (out_max + column_max)));
                }
            }
            CHECK(excess <= 1.0);
            CHECK(worst > 0);  // P was rounded: the output is not the exact one (the tensor-core path ran)
            for (int64_t row = 0; row < scores.rows(); ++row)
                for (int64_t t = 0; t < scores.cols(); ++t) {
                    if (std::isinf(exact.scores(row, t))) {
                        CHECK(std::isinf(scores(row, t)));
                        CHECK(probs(row, t) == 0.0f);
                        continue;
                    }
                    CHECK(std::fabs(scores(row, t) - exact.scores(row, t)) <= 1e-5 * (1 + std::fabs(exact.scores(row, t))));
                    CHECK(std::fabs(probs(row, t) - exact.probs(row, t)) <= 1e-5);
                }
        }
}

TEST_CASE("gpu latent attention: the cache variants refuse what variant 2 refuses", "[gpu][mla_decode][mla_cache]") {
    using Catch::Matchers::Contains;
    const Inputs in = inputs({4, 1, 4, 8, 4}, 1);  // S = 5
    CHECK_THROWS_WITH(seek::emu::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, 4, 0.3f, 4, nullptr,
                                                          nullptr, 3, -1),
                      Contains("-1 splits"));
    CHECK_THROWS_WITH(seek::emu::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, 4, 0.3f, 3, nullptr,
                                                          nullptr, 4),
                      Contains("need 4 cached tokens, got c_kv 5"));
    const Inputs wide = inputs({2, 1, 2, 520, 8}, 2);  // r past the 512 columns variant 5 holds in registers
    CHECK_THROWS_WITH(seek::emu::latent_attention_forward(wide.q_absorbed, wide.q_pe, wide.c_kv, wide.k_pe, 2, 0.3f, 2,
                                                          nullptr, nullptr, 5),
                      Contains("at most 512 output columns"));
    CHECK_THROWS_WITH(seek::emu::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, 4, 0.3f, 4, nullptr,
                                                          nullptr, 6),
                      Contains("variant 6"));
}
