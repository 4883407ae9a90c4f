// Rotary position embedding on the decoupled q_pe / k_pe parts of MLA, with YaRN context extension.
//
// Pairs are adjacent lanes (2i, 2i+1), as in DeepSeek's inference/model.py and llama.cpp:
//   x'[2i]   = x[2i] cos(m θ_i) - x[2i+1] sin(m θ_i)
//   x'[2i+1] = x[2i] sin(m θ_i) + x[2i+1] cos(m θ_i),   θ_i = base^(-2i/d)
// so q_m · k_n depends only on m - n.
#pragma once

#include <cstdint>
#include <vector>

#include "config.h"
#include "tensor.h"

namespace seek {

// YaRN: frequencies that turn fewer than beta_slow times over the original context are divided by
// the extension factor (interpolated), those that turn more than beta_fast times are kept
// (extrapolated), with a linear ramp between the two dimension indices.
struct YarnRange {
    double low = 0;   // pair index at and below which θ_i is unchanged
    double high = 0;  // pair index at and above which θ_i is divided by the factor
};
// corr(n) = d ln(L / (2π n)) / (2 ln base); low = max(floor(corr(beta_fast)), 0),
// high = min(ceil(corr(beta_slow)), d - 1). V3 (d = 64, L = 4096): low = 10, high = 23.
YarnRange yarn_correction_range(int64_t dim, double base, double beta_fast, double beta_slow,
                                int64_t original_max_position_embeddings);
// 0.1 · mscale · ln(factor) + 1 for factor > 1, else 1.
double yarn_mscale(double factor, double mscale);

struct RopeTable {
    std::vector<double> inv_freq;  // θ_i for i = 0 .. d/2 - 1, after YaRN
    double magnitude = 1.0;        // HF's cos/sin factor mscale(s, mscale) / mscale(s, mscale_all_dim)
};
RopeTable rope_table(const ModelConfig& config);

// 1 / sqrt(qk_head_dim), times mscale(s, mscale_all_dim)^2 under YaRN (V3: 0.07217 x 1.87385).
double softmax_scale(const ModelConfig& config);

// Rotates one head's rope part in place: x has inv_freq.size() * 2 values.
void apply_rope(float* x, int64_t position, const RopeTable& table);

// Where a matrix keeps its rope lanes: `heads` groups of dr = 2 · inv_freq.size() lanes per row,
// the first at column `first`, each `stride` columns after the one before. The default, every
// column in consecutive dr-wide heads, is k_pe [T, dr] or a q_pe [T, H·dr]; MLA's q [T, H·dq]
// keeps each head's rope lanes after its dn nope lanes: {dn, dq, H}.
struct RopeLanes {
    int64_t first = 0;
    int64_t stride = 0;  // 0: dr
    int64_t heads = 0;   // 0: as many as the row holds
};

// RoPE on x's lanes in place, row i at positions[i]: every adjacent pair rotated by
// m·R(positions[i] θ_j) (m = table.magnitude, 1 without YaRN).
// The map is linear and m·R(a) transposed is m·R(-a), so the backward rotates the gradient back,
// also in place (RoPE's forward overwrote its input, so the gradient takes the same storage):
//   d ← m R(-positions[i] θ_j) d
template <typename S>
void rope_forward(MatOf<S>& x, const std::vector<int64_t>& positions, const RopeTable& table, const RopeLanes& lanes = {});
template <typename S>
void rope_backward(MatOf<S>& d, const std::vector<int64_t>& positions, const RopeTable& table, const RopeLanes& lanes = {});

}  // namespace seek
