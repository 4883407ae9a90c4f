// gpu/mla_decode.cu's kernels, run in the emulator, against core's latent_attention_forward (the
// absorbed form over the latent cache) and attention_forward (the naive form): V3's head layout
// scaled down (16 heads, r 64, dr 16), decode (T = 1) and prefill from start > 0, split counts
// that do not divide the sequence, scores and probabilities.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

#include "core/mla.h"
#include "core/random.h"
#include "gpu/emulator/runtime_api.h"
#include "gpu/mla_decode.h"

// The planted-bug copies (compiled here for the emulator, as gpu/emulator's wrappers compile a .cu).
#include "tests/gpu/mla_decode_bugs.cu"

using seek::Mat;
using seek::MatD;

namespace {

const double u = std::ldexp(1.0, -24);  // float's unit roundoff
// Below 2^-126 floats are denormal: rounding there is absolute (2^-150), not relative.
const double denormal_slack = 4.0 * std::numeric_limits<float>::denorm_min();

Mat random_matrix(int64_t rows, int64_t cols, uint64_t seed, float scale = 1.0f) {
    seek::Rng rng(seed);
    Mat m(rows, cols);
    for (int64_t i = 0; i < rows; ++i)
        for (int64_t j = 0; j < cols; ++j) m(i, j) = scale * rng.normal();
    return m;
}

// One attention as the bound below sees it, per row h·T + s of the stacked scores: for key t,
// a[t] = scale Σ_i |q_i k_ti| over the n = dim_a + dim_b products of its score, and for output
// column j the row's magnitude Σ_t p_t |v_tj|.
struct Magnitudes {
    MatD score_terms;  // [H·T, S] a[t]
    MatD output;       // [H·T, dim_v] Σ_t p_t |v_tj|
};

// The bound, per row, relative to the magnitudes: both sides (core and the kernel) compute in
// float, each in its own order.
//   scores: each side's score is within (n + 2) u a_t of the exact one (γ_n for a dot of n
//     products, one rounding for adding the two dots, one for the scale), so the two differ by at
//     most 2 (n + 2) u a_t =: 2 e_t. Shifting every score of a row by at most e = max_t e_t changes
//     each exact softmax probability by a factor within e^(±2e): between the sides, 4e.
//   softmax and output, each side's own roundings (R: the row's score range max - min, V: the
//     visible keys, m: the row's max, so |lse| <= |m| + ln V):
//       the exponent's argument rounded (<= R u); the exponential (2 ulp on a GPU: 4u relative;
//       the C library's 2u); variant 2's running rescalings (their arguments telescope to <= R,
//       and each factor and product 5u, at most V/16 + 1 tiles); the sums of V probabilities and
//       of V products p_t v_tj (V u each, any order; core's first sum is in double); a division;
//       the log-sum-exp rounded (u |lse|, twice: variant 2's combine, the probabilities) and the
//       combine over the splits (u each) with its exponential and logarithm (4u + 2u).
//   In all, with room: |kernel - core| <= (4e + (2R + 4|m| + 4V + 3 splits + 48) u) Σ_t p_t |v_tj|
//   for the output, the same times p_t (plus 4 denormal ulps) for probabilities, 2 e_t for scores.
//   A worst-case bound: measured errors are far below it (the test prints them), while a dropped
//   key, a missing rescale or a wrong chunk weight is off by O(p_t), far above it.
double row_factor(double e, double range, double max, int64_t visible, int splits) {
    return 4 * e + (2 * range + 4 * std::fabs(max) + 4.0 * visible + 3.0 * splits + 48) * u;
}

struct Errors {
    double output = 0, scores = 0, probs = 0;  // worst |kernel - core| / bound (<= 1 passes)
    double output_rel = 0;                     // max |Δo| / max |o|: the project's trace rule
    bool masked_exact = true;                  // -inf scores and 0 probabilities past the causal limit
};

// What the bound needs from core's own outputs (scores, probs) and the operands, per row.
Errors compare(const Mat& out, const Mat& scores, const Mat& probs, const Mat& core_out, const Mat& core_scores,
               const Mat& core_probs, const Magnitudes& mag, int64_t T, int64_t start, int n, int splits) {
    Errors errors;
    double max_out = 0, max_diff = 0;
    for (Eigen::Index row = 0; row < core_out.rows(); ++row) {
        const int64_t visible = start + row % T + 1;
        double e = 0, hi = -INFINITY, lo = INFINITY;
        for (int64_t t = 0; t < visible; ++t) {
            e = std::max(e, (n + 2) * u * mag.score_terms(row, t));
            hi = std::max(hi, double(core_scores(row, t)));
            lo = std::min(lo, double(core_scores(row, t)));
        }
        const double factor = row_factor(e, hi - lo, hi, visible, splits);
        for (Eigen::Index j = 0; j < core_out.cols(); ++j) {
            const double diff = std::fabs(double(out(row, j)) - core_out(row, j));
            errors.output = std::max(errors.output, std::isnan(diff) ? INFINITY : diff / (factor * mag.output(row, j)));
            max_out = std::max(max_out, std::fabs(double(core_out(row, j))));
            max_diff = std::max(max_diff, std::isnan(diff) ? INFINITY : diff);
        }
        for (int64_t t = 0; t < core_scores.cols(); ++t) {
            if (t >= visible) {
                errors.masked_exact &= scores(row, t) == -std::numeric_limits<float>::infinity() && probs(row, t) == 0;
                continue;
            }
            const double score_diff = std::fabs(double(scores(row, t)) - core_scores(row, t));
            const double prob_diff = std::fabs(double(probs(row, t)) - core_probs(row, t));
            errors.scores = std::max(errors.scores, std::isnan(score_diff) ? INFINITY
                                                                            : score_diff / (2 * (n + 2) * u * mag.score_terms(row, t)));
            errors.probs = std::max(errors.probs, std::isnan(prob_diff) ? INFINITY
                                                                         : prob_diff / (factor * core_probs(row, t) + denormal_slack));
        }
    }
    errors.output_rel = max_diff / max_out;
    return errors;
}

// Magnitudes of the absorbed form: queries [q_absorbed ; q_pe] rows, keys [c_kv ; k_pe], values c_kv.
Magnitudes latent_magnitudes(const Mat& q_absorbed, const Mat& q_pe, const Mat& c_kv, const Mat& k_pe,
                             const Mat& core_probs, double scale) {
    const MatD q = (MatD(q_absorbed.rows(), q_absorbed.cols() + q_pe.cols()) << q_absorbed.cast<double>(), q_pe.cast<double>()).finished();
    const MatD k = (MatD(c_kv.rows(), c_kv.cols() + k_pe.cols()) << c_kv.cast<double>(), k_pe.cast<double>()).finished();
    Magnitudes mag;
    mag.score_terms = scale * q.cwiseAbs() * k.cwiseAbs().transpose();
    mag.output = core_probs.cast<double>() * c_kv.cast<double>().cwiseAbs();
    return mag;
}

struct LatentCase {
    int heads, T, start, rank, rope_dim;
    float scale;
};

struct LatentInputs {
    Mat q_absorbed, q_pe, c_kv, k_pe;
};

LatentInputs latent_inputs(const LatentCase& c, uint64_t seed) {
    const int S = c.start + c.T;
    LatentInputs in;
    in.q_absorbed = random_matrix(c.heads * c.T, c.rank, seed);
    in.q_pe = random_matrix(c.heads * c.T, c.rope_dim, seed + 1);
    in.c_kv = random_matrix(S, c.rank, seed + 2);
    in.k_pe = random_matrix(S, c.rope_dim, seed + 3);
    // Later keys larger, so the running max of the online softmax keeps rising (rescales happen).
    for (int t = 0; t < S; ++t) in.k_pe.row(t) *= 1.0f + 2.0f * t / S;
    return in;
}

// Inputs from `seed`; the emulator's schedule from `emu_seed`.
Errors run_latent(const LatentCase& c, int variant, int splits, uint64_t seed, uint64_t emu_seed, Mat* out_kernel = nullptr) {
    const LatentInputs in = latent_inputs(c, 1000 * seed + c.heads + c.start);
    Mat core_scores, core_probs, scores, probs;
    const Mat core_out = seek::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, c.heads, c.scale,
                                                        c.start, &core_scores, &core_probs);
    seek::emu::set_seed(emu_seed);
    const Mat out = seek::emu::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, c.heads, c.scale,
                                                        c.start, &scores, &probs, variant, splits);
    REQUIRE(out.rows() == core_out.rows());
    REQUIRE(out.cols() == core_out.cols());
    REQUIRE(scores.rows() == core_scores.rows());
    REQUIRE(scores.cols() == core_scores.cols());
    if (out_kernel) *out_kernel = out;
    const Magnitudes mag = latent_magnitudes(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, core_probs, c.scale);
    const int effective_splits = variant == 2 ? (splits ? splits : seek::emu::mla_default_splits(c.heads, c.T, c.start + c.T)) : 1;
    return compare(out, scores, probs, core_out, core_scores, core_probs, mag, c.T, c.start, c.rank + c.rope_dim,
                   effective_splits);
}

}  // namespace

TEST_CASE("gpu latent attention: both variants match core, decode and prefill", "[gpu][mla_decode]") {
    // V3 has 128 heads, r 512, dr 64; scaled down to 16 heads (one head tile), r 64, dr 16. Then
    // head counts that leave a partial tile, odd widths, one key, and scale 0.3 for scores of a
    // few units (their range makes the online max move).
    const LatentCase cases[] = {
        {16, 1, 0, 64, 16, 0.3f},     // decode of the first token: one key
        {16, 1, 16, 64, 16, 0.3f},    // S = 17: one full tile and one key
        {16, 1, 99, 64, 16, 0.3f},    // S = 100
        {16, 1, 299, 64, 16, 0.3f},   // S = 300
        {5, 1, 40, 33, 7, 0.3f},      // 5 heads (a partial tile), odd r and dr
        {20, 1, 70, 64, 16, 0.3f},    // two head tiles, the second partial
        {16, 4, 0, 64, 16, 0.3f},     // prefill on an empty cache
        {16, 3, 37, 64, 16, 0.3f},    // prefill after 37 cached tokens
        {3, 7, 150, 48, 16, 0.3f},    // 7 queries after 150
        {4, 2, 60, 64, 16, 4.0f},     // scores of hundreds: only the max subtraction keeps e^x finite
    };
    for (const LatentCase& c : cases) {
        const int S = c.start + c.T;
        std::vector<std::pair<int, int>> runs = {{1, 0}, {2, 1}, {2, 3}, {2, 7}, {2, 0}};  // (variant, splits)
        if (S < 40) runs.push_back({2, S + 3});  // more chunks than keys: empty chunks
        uint64_t seed = 0;
        for (const auto& [variant, splits] : runs) {
            ++seed;  // other inputs and another schedule for each run
            const Errors errors = run_latent(c, variant, splits, seed, seed);
            INFO("variant " << variant << ", splits " << splits << ", H " << c.heads << ", T " << c.T << ", start "
                            << c.start << ", r " << c.rank << ", dr " << c.rope_dim << ", scale " << c.scale
                            << ", seed " << seed << ": output " << errors.output << ", scores " << errors.scores
                            << ", probs " << errors.probs << " of their bounds; max|Δo|/max|o| "
                            << errors.output_rel);
            CHECK(errors.output <= 1);
            CHECK(errors.scores <= 1);
            CHECK(errors.probs <= 1);
            CHECK(errors.masked_exact);
            if (c.scale < 1) CHECK(errors.output_rel <= 1e-5);  // core/tolerance.h's fp32 rule
        }
    }
}

TEST_CASE("gpu latent attention: the same bytes whatever the thread and block order", "[gpu][mla_decode]") {
    const LatentCase c{16, 3, 45, 64, 16, 0.3f};
    for (int variant = 1; variant <= 2; ++variant) {
        Mat first, second;
        run_latent(c, variant, 5, 1, 1, &first);
        run_latent(c, variant, 5, 1, 77, &second);  // the same inputs, another schedule
        const bool same_bytes = first == second;
        CHECK(same_bytes);
    }
}

TEST_CASE("gpu attention (naive form): variant 1 matches core", "[gpu][mla_decode]") {
    struct Case {
        int heads, T, start, qk_dim, v_dim;
    };
    const Case cases[] = {{4, 1, 0, 24, 16}, {4, 1, 60, 24, 16}, {3, 5, 0, 24, 16}, {2, 3, 40, 13, 9}, {1, 1, 200, 8, 8}};
    const float scale = 0.3f;
    for (const Case& c : cases) {
        const int S = c.start + c.T;
        const Mat q = random_matrix(c.T, c.heads * c.qk_dim, 11 + S);
        // k and v as column blocks of wider matrices: MatRefs whose rows are not adjacent.
        const Mat kv = random_matrix(S, c.heads * (c.qk_dim + c.v_dim) + 3, 12 + S);
        const seek::MatRef k = kv.leftCols(c.heads * c.qk_dim);
        const seek::MatRef v = kv.middleCols(c.heads * c.qk_dim, c.heads * c.v_dim);
        Mat core_scores, core_probs, scores, probs;
        const Mat core_out = seek::attention_forward<float>(q, k, v, c.heads, scale, c.start, &core_scores, &core_probs);
        seek::emu::set_seed(3);
        const Mat out = seek::emu::attention_forward(q, k, v, c.heads, scale, c.start, &scores, &probs, 1);
        REQUIRE(out.rows() == core_out.rows());
        REQUIRE(out.cols() == core_out.cols());
        // Magnitudes per head: q_h k_h^T terms, and probs_h |v_h| (out is [T, H·dv]; stack it by head).
        Magnitudes mag;
        mag.score_terms.resize(c.heads * c.T, S);
        mag.output.resize(c.heads * c.T, c.v_dim);
        Mat out_stacked(c.heads * c.T, c.v_dim), core_stacked(c.heads * c.T, c.v_dim);
        for (int h = 0; h < c.heads; ++h) {
            const MatD q_h = q.middleCols(h * c.qk_dim, c.qk_dim).cast<double>().cwiseAbs();
            const MatD k_h = k.middleCols(h * c.qk_dim, c.qk_dim).cast<double>().cwiseAbs();
            mag.score_terms.middleRows(h * c.T, c.T) = scale * q_h * k_h.transpose();
            mag.output.middleRows(h * c.T, c.T) = core_probs.middleRows(h * c.T, c.T).cast<double>() *
                                                   v.middleCols(h * c.v_dim, c.v_dim).cast<double>().cwiseAbs();
            out_stacked.middleRows(h * c.T, c.T) = out.middleCols(h * c.v_dim, c.v_dim);
            core_stacked.middleRows(h * c.T, c.T) = core_out.middleCols(h * c.v_dim, c.v_dim);
        }
        const Errors errors = compare(out_stacked, scores, probs, core_stacked, core_scores, core_probs, mag, c.T,
                                      c.start, c.qk_dim, 1);
        INFO("H " << c.heads << ", T " << c.T << ", start " << c.start << ", dq " << c.qk_dim << ", dv " << c.v_dim
                  << ": output " << errors.output << ", scores " << errors.scores << ", probs " << errors.probs
                  << " of their bounds; max|Δo|/max|o| " << errors.output_rel);
        CHECK(errors.output <= 1);
        CHECK(errors.scores <= 1);
        CHECK(errors.probs <= 1);
        CHECK(errors.masked_exact);
        CHECK(errors.output_rel <= 1e-5);
    }
}

// The planted bugs of tests/gpu/mla_decode_bugs.cu: the combine, fed each chunk's exact partial
// softmax (output normalized within the chunk, and log-sum-exp), computed here in double.
TEST_CASE("gpu latent attention: a wrong combine and a missing barrier fail", "[gpu][mla_decode]") {
    namespace bugs = seek::emu::mla_decode_bugs;
    const LatentCase c{16, 1, 99, 64, 16, 0.3f};
    const LatentInputs in = latent_inputs(c, 5);
    const int S = c.start + c.T, rows = c.heads * c.T, r = c.rank;
    Mat core_scores, core_probs;
    const Mat core_out = seek::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, c.heads, c.scale,
                                                        c.start, &core_scores, &core_probs);
    auto partials = [&](int splits, std::vector<float>& o_partial, std::vector<float>& lse_partial) {
        const int chunk = (S + splits - 1) / splits;
        o_partial.assign(static_cast<size_t>(splits) * rows * r, 0.0f);
        lse_partial.assign(static_cast<size_t>(splits) * rows, -INFINITY);
        for (int split = 0; split < splits; ++split) {
            for (int row = 0; row < rows; ++row) {
                const int begin = std::min(split * chunk, S), end = std::min(begin + chunk, S);
                if (begin >= end) continue;
                double max = -INFINITY, sum = 0;
                for (int t = begin; t < end; ++t) max = std::max(max, double(core_scores(row, t)));
                std::vector<double> o(r, 0.0);
                for (int t = begin; t < end; ++t) {
                    const double p = std::exp(double(core_scores(row, t)) - max);
                    sum += p;
                    for (int j = 0; j < r; ++j) o[j] += p * in.c_kv(t, j);
                }
                for (int j = 0; j < r; ++j) o_partial[(static_cast<size_t>(split) * rows + row) * r + j] = float(o[j] / sum);
                lse_partial[split * rows + row] = float(max + std::log(sum));
            }
        }
    };
    auto worst_relative = [&](const std::vector<float>& out) {
        double worst = 0, max_out = 0;
        for (int row = 0; row < rows; ++row)
            for (int j = 0; j < r; ++j) {
                const double diff = std::fabs(double(out[row * r + j]) - core_out(row, j));
                worst = std::max(worst, std::isnan(diff) ? INFINITY : diff);
                max_out = std::max(max_out, std::fabs(double(core_out(row, j))));
            }
        return worst / max_out;
    };
    std::vector<float> o_partial, lse_partial;
    for (int splits : {1, 4, 7}) {
        partials(splits, o_partial, lse_partial);
        for (uint64_t seed : {uint64_t(1), uint64_t(2)}) {
            seek::emu::set_seed(seed);
            INFO("splits " << splits << ", seed " << seed);
            // The copy without a bug agrees with core (the partials are exact up to a float rounding).
            CHECK(worst_relative(bugs::mla_combine_planted<bugs::Bug::none>(o_partial, lse_partial, rows, r, splits)) <= 1e-5);
            const double unnormalized =
                worst_relative(bugs::mla_combine_planted<bugs::Bug::unnormalized>(o_partial, lse_partial, rows, r, splits));
            if (splits == 1) {
                CHECK(unnormalized <= 1e-5);  // one chunk's weight is e^0 = 1: the bug hides
            } else {
                CHECK(unnormalized > 1e-2);
            }
            const std::vector<float> no_barrier =
                bugs::mla_combine_planted<bugs::Bug::missing_barrier>(o_partial, lse_partial, rows, r, splits);
            CHECK(std::any_of(no_barrier.begin(), no_barrier.end(), [](float x) { return std::isnan(x); }));
        }
    }
}

TEST_CASE("gpu latent attention: bad arguments are refused", "[gpu][mla_decode]") {
    using Catch::Matchers::Contains;
    const LatentInputs in = latent_inputs({4, 2, 3, 8, 4, 0.3f}, 1);  // S = 5
    CHECK_THROWS_WITH(seek::emu::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, 4, 0.3f, 3, nullptr,
                                                          nullptr, 6),
                      Contains("variant 6 does not exist"));
    CHECK_THROWS_WITH(seek::emu::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, 3, 0.3f, 3, nullptr,
                                                          nullptr, 1),
                      Contains("not a multiple of 3 heads"));
    CHECK_THROWS_WITH(seek::emu::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, 4, 0.3f, 2, nullptr,
                                                          nullptr, 2),
                      Contains("need 4 cached tokens, got c_kv 5"));
    CHECK_THROWS_WITH(seek::emu::latent_attention_forward(in.q_absorbed, in.q_pe, in.c_kv, in.k_pe, 4, 0.3f, 3, nullptr,
                                                          nullptr, 2, -1),
                      Contains("-1 splits"));
    const Mat long_cache = random_matrix(70000, 8, 1), long_pe = random_matrix(70000, 4, 2);
    const Mat one_query = random_matrix(1, 8, 3), one_pe = random_matrix(1, 4, 4);
    CHECK_THROWS_WITH(seek::emu::latent_attention_forward(one_query, one_pe, long_cache, long_pe, 1, 0.3f, 69999, nullptr,
                                                          nullptr, 1),
                      Contains("variant 1 keeps a row's 70000 scores in shared memory"));
    const Mat q = random_matrix(2, 12, 5), kv = random_matrix(2, 12, 6);
    CHECK_THROWS_WITH(seek::emu::attention_forward(q, kv, kv, 5, 0.3f, 0, nullptr, nullptr, 1),
                      Contains("not whole heads of 5"));
    CHECK_THROWS_WITH(seek::emu::attention_forward(q, kv, kv, 3, 0.3f, 0, nullptr, nullptr, 2),
                      Contains("variant 2 does not exist"));
}
