// gpu/moe.cu's kernels, run in the emulator, against core's moe_dispatch, moe_experts, moe_combine
// and swiglu; and two planted bugs the emulator catches.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/gate.h"
#include "core/moe.h"
#include "core/random.h"
#include "gpu/emulator/runtime_api.h"
#include "gpu/moe.h"
#include "tests/gpu/moe_planted_bugs.h"

using seek::FfnWeights;
using seek::IndexMat;
using seek::Mat;
using seek::MoePlan;
using seek::MoeWeights;
using Catch::Matchers::Contains;

namespace {

const uint64_t seeds[] = {1, 2};

Mat random_matrix(int64_t rows, int64_t cols, uint64_t seed, float std = 1.0f) {
    seek::Rng rng(seed);
    Mat m(rows, cols);
    for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = std * rng.normal();
    return m;
}

MoeWeights random_experts(int experts, int hidden, int width, uint64_t seed) {
    MoeWeights w;
    for (int e = 0; e < experts; ++e)
        w.experts.push_back(seek::generated_ffn_weights(seed, "experts." + std::to_string(e), hidden, width));
    return w;
}

// K distinct experts of `experts` for each token, uniformly; `always` (if >= 0) among them.
IndexMat random_choices(int tokens, int top_k, int experts, uint64_t seed, int always = -1) {
    seek::Rng rng(seed);
    IndexMat idx(tokens, top_k);
    for (int t = 0; t < tokens; ++t) {
        std::vector<int> pool(experts);
        std::iota(pool.begin(), pool.end(), 0);
        for (int k = 0; k < top_k; ++k) {
            const int pick = k + static_cast<int>(rng.next_u64() % (experts - k));
            std::swap(pool[k], pool[pick]);
        }
        if (always >= 0 && std::find(pool.begin(), pool.begin() + top_k, always) == pool.begin() + top_k)
            pool[rng.next_u64() % top_k] = always;
        for (int k = 0; k < top_k; ++k) idx(t, k) = pool[k];
    }
    return idx;
}

// The routing of real gate logits under a preset-shaped gate.
IndexMat routed_choices(const seek::ModelConfig& config, int tokens, uint64_t seed) {
    const Mat logits = random_matrix(tokens, config.n_routed_experts, seed);
    seek::Vec bias;
    if (seek::gate_has_bias(config)) {
        const Mat drawn = random_matrix(1, config.n_routed_experts, seed + 1, 0.05f);
        bias = drawn.row(0).transpose();
    }
    return seek::route_tokens(config, logits, bias).topk_idx;
}

seek::ModelConfig v2_like() {
    seek::ModelConfig c = seek::preset_config("v2-lite");
    c.name = "V2-like";
    return c;
}

// A routing and the expert shapes to run it with.
struct Case {
    std::string name;
    IndexMat topk_idx;
    int experts, hidden, width;
};

std::vector<Case> cases() {
    const seek::ModelConfig toy = seek::preset_config("toy");
    IndexMat most_empty(5, 3);  // 3 of 256 experts used, each by every token, in varying k order
    most_empty << 0, 17, 255, 255, 0, 17, 17, 255, 0, 0, 255, 17, 255, 17, 0;
    return {
        {"toy: 37 tokens routed, 16 experts, top-4, hidden 64, width 48", routed_choices(toy, 37, 11), 16, 64, 48},
        {"V2-like: 11 tokens routed, 64 experts, top-6, hidden 38, width 24", routed_choices(v2_like(), 11, 12), 64, 38, 24},
        {"one token, toy", routed_choices(toy, 1, 13), 16, 64, 48},
        {"expert 5 in every token: 40 tokens, top-4 of 16", random_choices(40, 4, 16, 14, 5), 16, 64, 48},
        {"most experts empty: 5 tokens on 3 of 256 experts", most_empty, 256, 16, 8},
        {"K = 1: 9 tokens, 4 experts", random_choices(9, 1, 4, 15), 4, 33, 7},
    };
}

bool same_bits(const Mat& a, const Mat& b) {
    return a.rows() == b.rows() && a.cols() == b.cols() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// ---- the SwiGLU error bound ------------------------------------------------------------------------
// For a row x and one expert, per output column c, how far any FP32 evaluation of
// y = Wd (silu(Wg x) * (Wu x)) may be from the exact value (u = 2^-24, gamma_n = n u / (1 - n u)):
//   g_j = Wg_j . x: any summation order (and FMA or not) is within gamma_n G_j, G_j = sum_d |Wg_jd x_d|
//   (n = hidden); likewise u_j within gamma_n U_j.
//   h_j = silu(g_j) u_j: |silu'| <= 1.1, and evaluating silu and the product rounds: the division,
//   the sum 1 + e^-a, the product (u each) and expf (2 ulp on a GPU): 6 u relative, so
//   dh_j <= 1.1 dg_j (|u_j| + du_j) + |silu(g_j)| du_j + 6 u (|silu(g_j)| + 1.1 dg_j)(|u_j| + du_j).
//   y_c = Wd_c . h: sum_j |Wd_cj| dh_j from the inputs, plus gamma_m sum_j |Wd_cj| (|h_j| + dh_j)
//   from its own sum (m = width).
// Core (gemm.h's fused chain in k order) and the kernels (in order from index 0) are each within this bound
// of the exact value, so within twice it of each other. Computed in double. A kernel that drops or
// repeats one of the n terms errs by about |term| ~ G / n, some n^2 u / 2 ~ 10^3 times the bound
// at n = 64: caught.
Mat swiglu_bound(const Mat& x_rows, const FfnWeights& f) {
    const double u = std::ldexp(1.0, -24);
    const int64_t n = x_rows.cols(), m = f.gate_proj.rows();
    const double gamma_n = n * u / (1 - n * u), gamma_m = m * u / (1 - m * u);
    Mat bound(x_rows.rows(), n);
    for (int64_t r = 0; r < x_rows.rows(); ++r) {
        std::vector<double> h(m), dh(m);
        for (int64_t j = 0; j < m; ++j) {
            double g = 0, g_abs = 0, up = 0, up_abs = 0;
            for (int64_t d = 0; d < n; ++d) {
                g += double(f.gate_proj(j, d)) * x_rows(r, d);
                g_abs += std::fabs(double(f.gate_proj(j, d)) * x_rows(r, d));
                up += double(f.up_proj(j, d)) * x_rows(r, d);
                up_abs += std::fabs(double(f.up_proj(j, d)) * x_rows(r, d));
            }
            const double dg = gamma_n * g_abs, dup = gamma_n * up_abs, silu = g / (1 + std::exp(-g));
            h[j] = silu * up;
            dh[j] = 1.1 * dg * (std::fabs(up) + dup) + std::fabs(silu) * dup +
                    6 * u * (std::fabs(silu) + 1.1 * dg) * (std::fabs(up) + dup);
        }
        for (int64_t c = 0; c < n; ++c) {
            double from_inputs = 0, from_sum = 0;
            for (int64_t j = 0; j < m; ++j) {
                from_inputs += std::fabs(double(f.down_proj(c, j))) * dh[j];
                from_sum += std::fabs(double(f.down_proj(c, j))) * (std::fabs(h[j]) + dh[j]);
            }
            bound(r, c) = static_cast<float>(from_inputs + gamma_m * from_sum);
        }
    }
    return bound;
}

// The bound for every plan row: each expert's rows gathered as core gathers them.
Mat experts_bound(const Mat& x, const MoePlan& plan, const MoeWeights& w) {
    Mat bound(static_cast<int64_t>(plan.slots.size()), x.cols());
    for (size_t e = 0; e + 1 < plan.offsets.size(); ++e) {
        const int64_t first = plan.offsets[e], count = plan.offsets[e + 1] - first;
        if (count == 0) continue;
        Mat rows(count, x.cols());
        for (int64_t i = 0; i < count; ++i) rows.row(i) = x.row(plan.slots[first + i] / plan.top_k);
        bound.middleRows(first, count) = swiglu_bound(rows, w.experts[e]);
    }
    return bound;
}

// max |got - expected| / (2 bound), elementwise: <= 1 is within the bound.
double worst_against_bound(const Mat& got, const Mat& expected, const Mat& bound) {
    REQUIRE(got.rows() == expected.rows());
    REQUIRE(got.cols() == expected.cols());
    double worst = 0;
    for (int64_t i = 0; i < got.size(); ++i) {
        const double difference = std::fabs(double(got.data()[i]) - double(expected.data()[i]));
        if (difference > 0) worst = std::max(worst, difference / (2.0 * bound.data()[i]));
    }
    return worst;
}

}  // namespace

TEST_CASE("gpu moe_dispatch: both variants give core's plan exactly", "[gpu][moe]") {
    std::vector<Case> all = cases();
    // Over five tiles of 256 assignments, the last one partial; and random choices that repeat an
    // expert within a token (core accepts them: placement follows t K + k).
    all.push_back({"300 tokens, top-4 of 16: five dispatch tiles", random_choices(300, 4, 16, 16), 16, 0, 0});
    IndexMat repeats(50, 3);
    seek::Rng rng(17);
    for (int64_t i = 0; i < repeats.size(); ++i) repeats.data()[i] = static_cast<int32_t>(rng.next_u64() % 6);
    all.push_back({"repeated experts within a token", repeats, 6, 0, 0});
    all.push_back({"no tokens", IndexMat(0, 4), 16, 0, 0});
    for (const Case& c : all) {
        const MoePlan expected = seek::moe_dispatch(c.topk_idx, c.experts);
        for (int variant = 1; variant <= 2; ++variant) {
            for (uint64_t seed : seeds) {
                seek::emu::set_seed(seed);
                const MoePlan got = seek::emu::moe_dispatch(c.topk_idx, c.experts, variant);
                INFO(c.name << ", variant " << variant << ", seed " << seed);
                CHECK(got.top_k == expected.top_k);
                CHECK(got.offsets == expected.offsets);
                CHECK(got.slots == expected.slots);
            }
        }
    }
}

TEST_CASE("gpu moe_experts: both variants match core within the derived bound", "[gpu][moe]") {
    for (const Case& c : cases()) {
        const MoeWeights w = random_experts(c.experts, c.hidden, c.width, 21);
        const Mat x = random_matrix(c.topk_idx.rows(), c.hidden, 22);
        const MoePlan plan = seek::moe_dispatch(c.topk_idx, c.experts);
        const Mat expected = seek::moe_experts(x, plan, w);
        const Mat bound = experts_bound(x, plan, w);
        Mat by_variant[2];
        for (int variant = 1; variant <= 2; ++variant) {
            seek::emu::set_seed(variant);
            by_variant[variant - 1] = seek::emu::moe_experts(x, plan, w, {}, variant);
            const double worst = worst_against_bound(by_variant[variant - 1], expected, bound);
            INFO(c.name << ", variant " << variant << ": worst |error| / (2 bound) " << worst);
            CHECK(worst <= 1.0);
        }
        // Both sum every dot product from index 0 up (variant 2's tile padding adds exact zeros), but
        // where a product is fused with its addition (FMA) is the compiler's choice per kernel: the
        // two agree within the bound above, not bit for bit.
    }
}

TEST_CASE("gpu moe_experts: experts generated on demand give the same bits as resident ones", "[gpu][moe]") {
    const seek::ModelConfig toy = seek::preset_config("toy");
    const MoeWeights resident = seek::generated_moe_weights(toy, 1, 31);
    const MoeWeights stored = seek::generated_moe_weights(toy, 1, 31, 0, 1);  // a store of one expert
    const Mat x = random_matrix(20, toy.hidden_size, 32);
    const MoePlan plan = seek::moe_dispatch(routed_choices(toy, 20, 33), toy.n_routed_experts);
    for (int variant = 1; variant <= 2; ++variant)
        CHECK(same_bits(seek::emu::moe_experts(x, plan, stored, {}, variant), seek::emu::moe_experts(x, plan, resident, {}, variant)));
}

// The dense FFN and the shared experts: the grouped SwiGLU with one group.
TEST_CASE("gpu swiglu: both variants match core within the derived bound", "[gpu][moe]") {
    struct Shape {
        int tokens, hidden, width;
    };
    const Shape shapes[] = {{37, 64, 192}, {1, 64, 192}, {5, 38, 20}, {33, 7, 1}};
    for (const Shape& s : shapes) {
        const FfnWeights f = seek::generated_ffn_weights(41, "mlp", s.hidden, s.width);
        const Mat x = random_matrix(s.tokens, s.hidden, 42);
        const Mat expected = seek::swiglu(x, f);
        const Mat bound = swiglu_bound(x, f);
        for (int variant = 1; variant <= 2; ++variant) {
            const double worst = worst_against_bound(seek::emu::swiglu(x, f, {}, variant), expected, bound);
            INFO(s.tokens << " tokens, hidden " << s.hidden << ", width " << s.width << ", variant " << variant
                          << ": worst |error| / (2 bound) " << worst);
            CHECK(worst <= 1.0);
        }
    }
}

// Variant 2 adds a token's rows in plan order, as core does; variant 1 in k order. Each side is a sum of K products, within gamma_K sum_k |w_k y_k|
// of the exact sum (any order), so within twice that of each other.
TEST_CASE("gpu moe_combine: both variants are within the summation bound of core", "[gpu][moe]") {
    const double u = std::ldexp(1.0, -24);
    for (const Case& c : cases()) {
        const int64_t T = c.topk_idx.rows(), K = c.topk_idx.cols();
        const MoePlan plan = seek::moe_dispatch(c.topk_idx, c.experts);
        const Mat expert_out = random_matrix(T * K, c.hidden, 51);
        const Mat topk_weight = random_matrix(T, K, 52);
        const Mat expected = seek::moe_combine(expert_out, plan, topk_weight);
        std::vector<int64_t> row_of(T * K);
        for (int64_t i = 0; i < T * K; ++i) row_of[plan.slots[i]] = i;
        Mat bound(T, c.hidden);
        const double gamma_k = K * u / (1 - K * u);
        for (int64_t t = 0; t < T; ++t)
            for (int64_t j = 0; j < c.hidden; ++j) {
                double magnitude = 0;
                for (int64_t k = 0; k < K; ++k) magnitude += std::fabs(double(topk_weight(t, k)) * expert_out(row_of[t * K + k], j));
                bound(t, j) = static_cast<float>(gamma_k * magnitude);
            }
        for (uint64_t seed : seeds) {
            seek::emu::set_seed(seed);
            INFO(c.name << ", seed " << seed);
            // Variant 2 adds in core's order, but core's products may be fused with their additions
            // (FMA) where the kernel's are not, or the reverse: within the bound, not bit for bit.
            CHECK(worst_against_bound(seek::emu::moe_combine(expert_out, plan, topk_weight, 2), expected, bound) <= 1.0);
            const double worst = worst_against_bound(seek::emu::moe_combine(expert_out, plan, topk_weight, 1), expected, bound);
            INFO("variant 1: worst |error| / (2 bound) " << worst);
            CHECK(worst <= 1.0);
        }
    }
}

TEST_CASE("gpu moe: bad plans, shapes and precisions are refused", "[gpu][moe]") {
    IndexMat idx(2, 2);
    idx << 0, 3, 16, 1;
    CHECK_THROWS_WITH(seek::emu::moe_dispatch(idx, 16, 1), Contains("moe_dispatch: token 1 chose expert 16 of 16"));
    idx(1, 0) = 2;
    CHECK_THROWS_WITH(seek::emu::moe_dispatch(idx, 16, 3), Contains("variant 3 does not exist"));
    const MoePlan plan = seek::moe_dispatch(idx, 16);
    const MoeWeights w = random_experts(16, 8, 4, 1);
    const Mat x = random_matrix(2, 8, 2);
    seek::LinearPrecision fp8;
    fp8.gemm = seek::GemmPrecision::FP8;
    CHECK_THROWS_WITH(seek::emu::moe_experts(x, plan, w, fp8, 1), Contains("precision fp8 runs in core"));
    CHECK_THROWS_WITH(seek::emu::moe_experts(random_matrix(3, 8, 2), plan, w, {}, 1), Contains("expected 3 tokens x top_k 2"));
    MoePlan broken = plan;
    broken.slots[1] = broken.slots[0];
    CHECK_THROWS_WITH(seek::emu::moe_experts(x, broken, w, {}, 2), Contains("must be a permutation of 0 .. 3"));
    broken = plan;
    broken.offsets[2] = 7;
    CHECK_THROWS_WITH(seek::emu::moe_combine(random_matrix(4, 8, 3), broken, random_matrix(2, 2, 4), 1),
                      Contains("plan offset 2 is 7"));
    CHECK_THROWS_WITH(seek::emu::moe_combine(random_matrix(4, 8, 3), plan, random_matrix(2, 3, 4), 1),
                      Contains("topk_weight has 3 columns, the plan's top_k is 2"));
    MoeWeights narrow = w;
    narrow.experts[3].up_proj = random_matrix(5, 8, 5);
    CHECK_THROWS_WITH(seek::emu::moe_experts(x, plan, narrow, {}, 1), Contains("experts.3.up_proj is 5 x 8, expected 4 x 8"));
    FfnWeights dense = seek::generated_ffn_weights(1, "mlp", 8, 4);
    CHECK_THROWS_WITH(seek::emu::swiglu(random_matrix(2, 9, 6), dense, {}, 1), Contains("swiglu.gate_proj is 4 x 8, expected 4 x 9"));
}

// ---- planted bugs ------------------------------------------------------------------------------------
// The dispatch's scan without the barrier between a Hillis-Steele step's reads and writes: thread
// k may read totals[k - d] after thread k - d added its own term, counting it twice. The emulator
// runs a block's threads in a random order between barriers, so each of the step's pairs is in
// the wrong order with probability 1/2; with every count positive, a wrong order gives a wrong
// prefix. The correct scan is right for every seed.
TEST_CASE("gpu moe: a dispatch scan missing a barrier gives wrong offsets in the emulator", "[gpu][moe][planted]") {
    for (int n : {200, 1000}) {  // fewer counts than threads, and chunks of four
        std::vector<int> counts(n);
        seek::Rng rng(n);
        for (int& count : counts) count = 1 + static_cast<int>(rng.next_u64() % 5);
        std::vector<int> expected(n + 1, 0);
        std::partial_sum(counts.begin(), counts.end(), expected.begin() + 1);
        for (uint64_t seed : {1, 2, 3, 4}) {
            seek::emu::set_seed(seed);
            INFO(n << " counts, seed " << seed);
            std::vector<int> scanned = counts;
            scanned.push_back(0);
            seek::emu::exclusive_scan_gpu(scanned.data(), n);
            CHECK(scanned == expected);
            CHECK(seek::emu::exclusive_scan_without_barrier(counts) != expected);
        }
    }
}

// The grouped GEMM's expert boundary off by one: each expert's last row tile reaches one row past
// the expert's end (`<=` for `<`), so a block straddles two experts and writes the next expert's
// first row with this expert's weights, racing the next expert's own block. The emulator runs
// blocks in a random order: the row keeps whichever block wrote last, wrong with probability 1/2
// for each of the two GEMMs' column tiles. Expert 15 takes exactly 32 rows (a full tile), so no
// tile reaches past the last row; every other boundary inside a tile is straddled.
TEST_CASE("gpu moe: a grouped GEMM tile straddling two experts is caught in the emulator", "[gpu][moe][planted]") {
    const int T = 64, K = 4, E = 16, hidden = 64, width = 48;
    IndexMat idx(T, K);
    const IndexMat others = random_choices(T, K, 15, 61);  // experts 0..14
    for (int t = 0; t < T; ++t)
        for (int k = 0; k < K; ++k) idx(t, k) = t < 32 && k == 0 ? 15 : others(t, k);
    const MoePlan plan = seek::moe_dispatch(idx, E);
    REQUIRE(plan.offsets[16] - plan.offsets[15] == 32);
    const MoeWeights w = random_experts(E, hidden, width, 62);
    const Mat x = random_matrix(T, hidden, 63);
    const Mat expected = seek::moe_experts(x, plan, w);
    const Mat bound = experts_bound(x, plan, w);

    seek::gpu_detail::PackedExperts packed;
    for (int e = 0; e < E; ++e) {
        packed.index.push_back(packed.used);
        seek::gpu_detail::pack_expert(packed, w.experts[e], hidden, "experts." + std::to_string(e));
    }
    const std::vector<int> offsets(plan.offsets.begin(), plan.offsets.end()), slots(plan.slots.begin(), plan.slots.end());
    auto run = [&](const std::vector<int>& tiles) {
        Mat out(T * K, hidden);
        seek::emu::grouped_swiglu_tiles_gpu(out.data(), x.data(), T, hidden, slots.data(), T * K, K, E, packed.gate.data(),
                                            packed.up.data(), packed.down.data(), packed.index.data(), packed.used, width,
                                            tiles.data(), static_cast<int>(tiles.size() / 3));
        return out;
    };
    // gpu/moe.cu's grouped_gemm_tiles with the bug: the end row allowed one past the expert's end.
    const int tile_rows = seek::emu::grouped_gemm_tile_rows();
    std::vector<int> planted;
    for (int e = 0; e < E; ++e)
        for (int first = offsets[e]; first < offsets[e + 1]; first += tile_rows)
            planted.insert(planted.end(), {e, first, std::min(first + tile_rows, offsets[e + 1] + 1)});

    for (uint64_t seed : {1, 2, 3}) {
        seek::emu::set_seed(seed);
        INFO("seed " << seed);
        CHECK(worst_against_bound(run(seek::emu::grouped_gemm_tiles(offsets.data(), E)), expected, bound) <= 1.0);
        const Mat wrong = run(planted);
        int bad_rows = 0, bad_rows_off_boundary = 0;
        for (int64_t r = 0; r < T * K; ++r) {
            if (worst_against_bound(wrong.row(r), expected.row(r), bound.row(r)) <= 1.0) continue;
            ++bad_rows;
            bad_rows_off_boundary += std::find(offsets.begin() + 1, offsets.end(), r) == offsets.end();
        }
        CHECK(bad_rows > 0);                   // caught
        CHECK(bad_rows_off_boundary == 0);     // and only where a tile straddles into the next expert
    }
}
