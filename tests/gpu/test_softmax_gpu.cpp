// gpu/softmax.cu's kernels, run in the emulator, against core's softmax_row and log_sum_exp
// (core/softmax.h) and grpo_loss (core/grpo.h), rows up to V3's vocabulary of 129,280.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "core/grpo.h"
#include "core/random.h"
#include "core/softmax.h"
#include "gpu/emulator/runtime_api.h"
#include "gpu/softmax.h"

// The planted-bug copies (compiled here for the emulator, as gpu/emulator's wrappers compile a .cu).
#include "tests/gpu/softmax_bugs.cu"

using seek::Mat;

namespace {

const double u = std::ldexp(1.0, -24);       // float's unit roundoff
const double u_double = std::ldexp(1.0, -53);  // double's
const double denormal_slack = 4.0 * std::numeric_limits<float>::denorm_min();

// Rows of different characters: N(0, σ²) logits with σ from 0.1 to 20 (flat to peaked), one offset
// by +1000 (only the max subtraction keeps e^x finite), one ascending (every logit a new max: the
// online softmax rescales at each step), one with a few -inf (a masked vocabulary).
Mat logit_rows(int rows, int cols, uint64_t seed) {
    seek::Rng rng(seed);
    Mat x(rows, cols);
    const float sigmas[] = {1.0f, 0.1f, 5.0f, 20.0f};
    for (int t = 0; t < rows; ++t) {
        for (int i = 0; i < cols; ++i) x(t, i) = sigmas[t % 4] * rng.normal();
        if (t % 7 == 4) x.row(t).array() += 1000.0f;
        if (t % 7 == 5) std::sort(x.row(t).data(), x.row(t).data() + cols);
        if (t % 7 == 6 && cols > 3)
            for (int i = 1; i < cols; i += 3) x(t, i) = -std::numeric_limits<float>::infinity();
    }
    return x;
}

// The bound on |lse_kernel - lse_core| for a row of n logits (core's is in double throughout, ~exact):
// the kernel's sum Σ_i fl(expf(fl(x_i - m))) in double has relative error at most
//   Σ_i e_i (4u + u d_i) / Σ_i e_i + n 2^-53   (expf within 2 ulp = 4u relative on a GPU,
//   the argument d_i = m - x_i rounded by u d_i, the double sum) <= (4 + ln n) u + n 2^-53,
// since Σ_i p_i d_i = H(p) - ln Σ_i e_i <= H(p) <= ln n (p the softmax, e_i = e^-d_i, Σ e_i >= 1).
// The log and m + log in double add 2^-52 (|lse| + 1).
double lse_bound(int64_t n, double lse) {
    return (4 + std::log(double(n))) * u + n * u_double + 2 * u_double * (std::fabs(lse) + 1);
}

struct SoftmaxErrors {
    double lse = 0, probs = 0, log_probs = 0;  // worst |kernel - core| / bound
    double probs_rel = 0;                      // max |Δp| / max |p| per row: the project's trace rule
};

SoftmaxErrors softmax_errors(const Mat& x, int variant) {
    const std::vector<double> lse = seek::emu::log_sum_exp_rows(x, variant);
    const Mat probs = seek::emu::softmax_rows(x, variant);
    const Mat log_probs = seek::emu::log_softmax_rows(x, variant);
    SoftmaxErrors errors;
    std::vector<float> core_probs(x.cols());
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
        const double core_lse = seek::log_sum_exp(&x(t, 0), x.cols());
        seek::softmax_row(&x(t, 0), core_probs.data(), x.cols());
        const double lse_tolerance = lse_bound(x.cols(), core_lse);
        const double lse_diff = std::fabs(lse[t] - core_lse);
        errors.lse = std::max(errors.lse, std::isnan(lse_diff) ? INFINITY : lse_diff / lse_tolerance);
        double max_p = 0, max_dp = 0;
        for (Eigen::Index i = 0; i < x.cols(); ++i) {
            // Probabilities: the same float argument on both sides; the exponentials within 4u (GPU)
            // and 2u (C library) of exact, so 6u apart, as are the sums; the reciprocal and the
            // products in double; each side rounds to float once (u): 6 + 6 + 2 = 14u relative.
            const double p = core_probs[i];
            const double dp = std::fabs(double(probs(t, i)) - p);
            errors.probs = std::max(errors.probs, std::isnan(dp) ? INFINITY : dp / (14 * u * p + denormal_slack));
            max_p = std::max(max_p, p);
            max_dp = std::max(max_dp, std::isnan(dp) ? INFINITY : dp);
            // Log-probabilities: x - lse in double, rounded to float on each side (u |x - lse| each).
            const double core_log_p = double(x(t, i)) - core_lse;
            if (std::isinf(core_log_p)) {
                if (log_probs(t, i) != core_log_p) errors.log_probs = INFINITY;
                continue;
            }
            const double dlp = std::fabs(double(log_probs(t, i)) - double(static_cast<float>(core_log_p)));
            const double lp_tolerance = lse_tolerance + 2 * u * std::fabs(core_log_p);
            errors.log_probs = std::max(errors.log_probs, std::isnan(dlp) ? INFINITY : dlp / lp_tolerance);
        }
        errors.probs_rel = std::max(errors.probs_rel, max_dp / max_p);
    }
    return errors;
}

}  // namespace

TEST_CASE("gpu softmax: every variant matches core's softmax_row and log_sum_exp", "[gpu][softmax]") {
    struct Shape {
        int rows, cols;
    };
    // one value; below, at and above a warp and the 256-thread block; a vocabulary-sized row
    // (V3: 129,280); rows of every character of logit_rows.
    const Shape shapes[] = {{1, 1}, {2, 7}, {3, 31}, {7, 255}, {7, 256}, {7, 257}, {8, 1000}, {2, 5003}, {1, 129280}};
    for (int variant = 1; variant <= 3; ++variant) {
        for (const Shape& shape : shapes) {
            for (uint64_t seed : {uint64_t(1), uint64_t(2)}) {
                if (shape.cols > 100000 && seed == 2) continue;  // one vocabulary-sized row is enough
                const Mat x = logit_rows(shape.rows, shape.cols, 31 * seed + shape.cols);
                seek::emu::set_seed(seed);
                const SoftmaxErrors errors = softmax_errors(x, variant);
                INFO("variant " << variant << ", " << shape.rows << " x " << shape.cols << ", seed " << seed
                                << ": lse " << errors.lse << ", probs " << errors.probs << ", log-probs "
                                << errors.log_probs << " of their bounds; max|Δp|/max|p| " << errors.probs_rel);
                CHECK(errors.lse <= 1);
                CHECK(errors.probs <= 1);
                CHECK(errors.log_probs <= 1);
                CHECK(errors.probs_rel <= 1e-5);  // core/tolerance.h's fp32 rule
            }
        }
    }
}

TEST_CASE("gpu softmax: core's per-row signatures", "[gpu][softmax]") {
    const Mat x = logit_rows(1, 300, 9);
    std::vector<float> probs(300), core_probs(300);
    seek::emu::softmax_row(x.data(), probs.data(), 300, 3);
    seek::softmax_row(x.data(), core_probs.data(), 300);
    for (int i = 0; i < 300; ++i) CHECK(std::fabs(probs[i] - core_probs[i]) <= 14 * u * core_probs[i]);
    const double core_lse = seek::log_sum_exp(x.data(), 300);
    CHECK(std::fabs(seek::emu::log_sum_exp(x.data(), 300, 2) - core_lse) <= lse_bound(300, core_lse));
}

TEST_CASE("gpu softmax: the same bytes whatever the thread order", "[gpu][softmax]") {
    const Mat x = logit_rows(6, 3001, 4);
    for (int variant = 1; variant <= 3; ++variant) {
        seek::emu::set_seed(1);
        const std::vector<double> first = seek::emu::log_sum_exp_rows(x, variant);
        const Mat first_probs = seek::emu::softmax_rows(x, variant);
        seek::emu::set_seed(1234);
        CHECK(seek::emu::log_sum_exp_rows(x, variant) == first);
        const bool same_probs = seek::emu::softmax_rows(x, variant) == first_probs;
        CHECK(same_probs);
    }
}

// The planted bugs of tests/gpu/softmax_bugs.cu.
TEST_CASE("gpu softmax: a missing rescale and a missing barrier fail", "[gpu][softmax]") {
    namespace bugs = seek::emu::softmax_bugs;
    const int rows = 6, cols = 3000;
    const Mat x = logit_rows(rows, cols, 8);
    const std::vector<float> values(x.data(), x.data() + x.size());
    auto worst = [&](const std::vector<double>& lse) {
        double worst = 0;
        for (int t = 0; t < rows; ++t) {
            const double core_lse = seek::log_sum_exp(&x(t, 0), cols);
            const double diff = std::fabs(lse[t] - core_lse);
            worst = std::max(worst, std::isnan(diff) ? INFINITY : diff / lse_bound(cols, core_lse));
        }
        return worst;
    };
    for (uint64_t seed : {uint64_t(1), uint64_t(2), uint64_t(3)}) {
        seek::emu::set_seed(seed);
        INFO("seed " << seed);
        CHECK(worst(bugs::lse_planted<bugs::Bug::none>(values, rows, cols)) <= 1);
        CHECK(worst(bugs::lse_planted<bugs::Bug::missing_rescale>(values, rows, cols)) > 100);
        CHECK(worst(bugs::lse_planted<bugs::Bug::missing_barrier>(values, rows, cols)) > 100);
    }
}

TEST_CASE("gpu softmax: bad arguments are refused", "[gpu][softmax]") {
    using Catch::Matchers::Contains;
    const Mat x = logit_rows(2, 8, 1);
    CHECK_THROWS_WITH(seek::emu::softmax_rows(x, 4), Contains("variant 4 does not exist"));
    CHECK_THROWS_WITH(seek::emu::softmax_rows(Mat(2, 0), 2), Contains("2 rows of 0 values"));
    CHECK(seek::emu::softmax_rows(Mat(0, 8), 2).rows() == 0);
}

// ---------------------------------------------------------------------------------------------
// GRPO

namespace {

struct GrpoCase {
    seek::Batch batch;
    Mat logits;
    std::vector<double> old_logp, ref_logp, advantages;
};

// Four completions of one prompt (a group), prompt tokens not counted, one completion empty; the
// old policy's log-probabilities put each token's ratio ρ in [0.67, 1.5] but never within 1e-3 of
// a clip bound (where the gradient jumps and a rounding could flip which side a token is on).
GrpoCase grpo_case(int vocab, uint64_t seed) {
    seek::Rng rng(seed);
    GrpoCase c;
    const int prompt = 3, completions[] = {5, 0, 8, 2};
    c.batch.offsets.push_back(0);
    for (int length : completions) {
        const size_t first = c.batch.tokens.size();
        for (int t = 0; t < prompt + length; ++t) c.batch.tokens.push_back(static_cast<int32_t>(rng.next_u64() % vocab));
        // position t predicts t + 1, counted for completion tokens only (as grpo.cpp's rollouts)
        for (int t = 0; t < prompt + length; ++t)
            c.batch.targets.push_back(t + 1 >= prompt && t + 1 < prompt + length ? c.batch.tokens[first + t + 1]
                                                                                 : seek::kIgnoreTarget);
        c.batch.offsets.push_back(static_cast<int64_t>(c.batch.targets.size()));
    }
    const int rows = static_cast<int>(c.batch.targets.size());
    c.logits.resize(rows, vocab);
    for (int t = 0; t < rows; ++t)
        for (int v = 0; v < vocab; ++v) c.logits(t, v) = 2.0f * rng.normal();
    c.advantages = seek::group_advantages({1.1, 0.0, 0.1, 1.0}, true);
    const seek::GrpoLossOptions bounds;  // ε = 0.2 both sides
    for (int t = 0; t < rows; ++t) {
        double logp = 0, shift = 0;
        if (c.batch.targets[t] != seek::kIgnoreTarget)
            logp = c.logits(t, c.batch.targets[t]) - seek::log_sum_exp(&c.logits(t, 0), vocab);
        for (;;) {
            shift = 0.8 * (rng.uniform() - 0.5);
            const double ratio = std::exp(-shift);
            if (std::fabs(ratio - (1 - bounds.clip_low)) > 1e-3 && std::fabs(ratio - (1 + bounds.clip_high)) > 1e-3 &&
                std::fabs(ratio - (1 + 0.28)) > 1e-3)
                break;
        }
        c.old_logp.push_back(logp + shift);
        c.ref_logp.push_back(logp + 0.6 * (rng.uniform() - 0.5));
    }
    return c;
}

}  // namespace

// Tolerances, derived from the lse bound Δ = lse_bound(V, lse) (the kernel's log π(target) =
// x_target - lse is off by at most Δ; core's is in double), per counted row t with weight w,
// ρ, A, dlogp = dJ/dlogp from core's token_objective, and q_v = softmax:
//   dlogits_v: the increment -w dlogp (onehot - q_v) moves by w |dlogp| |Δq_v|, with
//     |Δq_v| <= q_v ((4 + d_v) u + Δ + 2u) (expf, its argument d_v = m - x_v, the sum, the product),
//     plus w |d dlogp / dlogp| Δ |onehot - q_v|, d dlogp / dlogp = ρ A [not clipped] + β e^(ref - logp);
//     each side rounds the increment (u) and the sum with what dlogits held (u): 2u of each;
//   loss: Σ_t w |dlogp| Δ; KL: the mean of |1 - e^(ref - logp)| Δ; entropy Σ_v q_v (lse - x_v):
//     the mean of Σ_v |Δq_v| |lse - x_v| + Δ; each with 1% for second-order terms and 1e-15 for
//     the double sums. The clip fraction and the token count are exact (no ratio is near a bound).
TEST_CASE("gpu grpo: the loss, its gradient and the metrics match core for each aggregation", "[gpu][grpo]") {
    using seek::LossAggregation;
    for (LossAggregation aggregation : {LossAggregation::Sequence, LossAggregation::Token, LossAggregation::Constant}) {
        for (int vocab : {300, 1001}) {
            seek::GrpoLossOptions options;
            options.aggregation = aggregation;
            options.max_new_tokens = 12;
            options.beta = 0.04;
            if (aggregation == LossAggregation::Token) options.clip_high = 0.28;  // DAPO's clip-higher
            const GrpoCase c = grpo_case(vocab, 17 + vocab);
            const int rows = static_cast<int>(c.logits.rows());
            Mat initial(rows, vocab);  // what dlogits holds already: the gradient accumulates (+=)
            seek::Rng rng(vocab);
            for (int t = 0; t < rows; ++t)
                for (int v = 0; v < vocab; ++v) initial(t, v) = 0.01f * rng.normal();
            Mat core_dlogits = initial, dlogits = initial;
            const seek::GrpoLossReport core = seek::grpo_loss(core_dlogits, c.logits, c.batch, c.old_logp, c.ref_logp,
                                                              c.advantages, options);
            seek::emu::set_seed(5);
            const seek::GrpoLossReport got =
                seek::emu::grpo_loss(dlogits, c.logits, c.batch, c.old_logp, c.ref_logp, c.advantages, options);
            // The bounds, from core's side of each quantity.
            const std::vector<double> weights = seek::gpu_detail::grpo_row_weights(c.batch, options);
            double loss_bound = 1e-15, kl_bound = 0, entropy_bound = 0, worst_dlogit = 0, max_dlogit = 0, max_diff = 0;
            for (int s = 0; s + 1 < static_cast<int>(c.batch.offsets.size()); ++s) {
                for (int64_t t = c.batch.offsets[s]; t < c.batch.offsets[s + 1]; ++t) {
                    const int32_t target = c.batch.targets[t];
                    for (int v = 0; v < vocab; ++v) {
                        max_dlogit = std::max(max_dlogit, std::fabs(double(core_dlogits(t, v))));
                        max_diff = std::max(max_diff, std::fabs(double(dlogits(t, v)) - core_dlogits(t, v)));
                    }
                    if (target == seek::kIgnoreTarget) {  // untouched
                        for (int v = 0; v < vocab; ++v) CHECK(dlogits(t, v) == initial(t, v));
                        continue;
                    }
                    const float* x = &c.logits(t, 0);
                    const double lse = seek::log_sum_exp(x, vocab), delta = lse_bound(vocab, lse);
                    const double m = *std::max_element(x, x + vocab);
                    const double logp = x[target] - lse;
                    const seek::TokenObjective token =
                        seek::token_objective(logp, c.old_logp[t], c.ref_logp[t], c.advantages[s], options);
                    const double ratio = std::exp(logp - c.old_logp[t]), ref_ratio = std::exp(c.ref_logp[t] - logp);
                    const double w = weights[t];
                    const double ddlogp = (token.clipped ? 0.0 : std::fabs(ratio * c.advantages[s])) + options.beta * ref_ratio;
                    loss_bound += 1.01 * w * std::fabs(token.dlogp) * delta;
                    kl_bound += 1.01 * std::fabs(1 - ref_ratio) * delta / core.tokens;
                    double row_entropy_bound = delta;
                    for (int v = 0; v < vocab; ++v) {
                        const double q = std::exp(double(x[v]) - lse), onehot = v == target ? 1.0 : 0.0;
                        const double dq = q * ((4 + (m - x[v])) * u + delta + 2 * u);
                        const double increment = -w * token.dlogp * (onehot - q);
                        const double bound = 1.01 * (w * std::fabs(token.dlogp) * dq + w * ddlogp * delta * std::fabs(onehot - q)) +
                                             2 * u * std::fabs(increment) + 2 * u * std::fabs(double(core_dlogits(t, v))) + denormal_slack;
                        const double diff = std::fabs(double(dlogits(t, v)) - core_dlogits(t, v));
                        worst_dlogit = std::max(worst_dlogit, std::isnan(diff) ? INFINITY : diff / bound);
                        row_entropy_bound += dq * std::fabs(lse - x[v]);
                    }
                    entropy_bound += 1.01 * row_entropy_bound / core.tokens;
                }
            }
            INFO(seek::aggregation_name(aggregation) << ", vocab " << vocab << ": loss " << got.loss << " vs " << core.loss
                                                     << " (bound " << loss_bound << "), kl " << got.kl << " vs " << core.kl
                                                     << ", entropy " << got.entropy << " vs " << core.entropy
                                                     << ", dlogits " << worst_dlogit << " of the bound, max|Δ|/max|dlogits| "
                                                     << max_diff / max_dlogit);
            CHECK(got.tokens == core.tokens);
            CHECK(got.clip_fraction == core.clip_fraction);
            CHECK(core.clip_fraction > 0);  // the clip binds somewhere, so both regimes are checked
            CHECK(core.clip_fraction < 1);
            CHECK(std::fabs(got.loss - core.loss) <= loss_bound);
            CHECK(std::fabs(got.kl - core.kl) <= kl_bound + 1e-15);
            CHECK(std::fabs(got.entropy - core.entropy) <= entropy_bound + 1e-15);
            CHECK(worst_dlogit <= 1);
            CHECK(max_diff / max_dlogit <= 1e-5);  // core/tolerance.h's fp32 rule
        }
    }
}

TEST_CASE("gpu grpo: bad arguments are refused", "[gpu][grpo]") {
    using Catch::Matchers::Contains;
    GrpoCase c = grpo_case(50, 3);
    Mat dlogits = Mat::Zero(c.logits.rows(), 50);
    const seek::GrpoLossOptions options;
    c.batch.targets[4] = 50;
    CHECK_THROWS_WITH(seek::emu::grpo_loss(dlogits, c.logits, c.batch, c.old_logp, c.ref_logp, c.advantages, options),
                      Contains("row 4: target 50 is outside the vocabulary of 50"));
    c.batch.targets[4] = 3;
    Mat wrong(2, 50);
    CHECK_THROWS_WITH(seek::emu::grpo_loss(wrong, c.logits, c.batch, c.old_logp, c.ref_logp, c.advantages, options),
                      Contains("dlogits is 2 x 50"));
    CHECK_THROWS_WITH(seek::emu::grpo_loss(dlogits, c.logits, c.batch, c.old_logp, c.ref_logp, {1.0}, options),
                      Contains("one advantage per sequence"));
}
