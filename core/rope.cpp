#include "rope.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace seek {

static double correction_dim(double rotations, int64_t dim, double base, int64_t original_length) {
    const double pi = 3.14159265358979323846;
    return dim * std::log(original_length / (rotations * 2 * pi)) / (2 * std::log(base));
}

YarnRange yarn_correction_range(int64_t dim, double base, double beta_fast, double beta_slow,
                                int64_t original_max_position_embeddings) {
    YarnRange range;
    range.low = std::max(std::floor(correction_dim(beta_fast, dim, base, original_max_position_embeddings)), 0.0);
    range.high = std::min(std::ceil(correction_dim(beta_slow, dim, base, original_max_position_embeddings)),
                          static_cast<double>(dim - 1));
    if (range.low == range.high) range.high += 0.001;  // avoid a zero-width ramp
    return range;
}

double yarn_mscale(double factor, double mscale) {
    return factor <= 1 ? 1.0 : 0.1 * mscale * std::log(factor) + 1.0;
}

RopeTable rope_table(const ModelConfig& config) {
    const int64_t dim = config.qk_rope_head_dim;
    RopeTable table;
    table.inv_freq.resize(dim / 2);
    for (int64_t i = 0; i < dim / 2; ++i) table.inv_freq[i] = std::pow(config.rope_theta, -2.0 * i / dim);

    const RopeScaling& yarn = config.rope_scaling;
    if (yarn.type != "yarn") return table;
    const YarnRange range = yarn_correction_range(dim, config.rope_theta, yarn.beta_fast, yarn.beta_slow,
                                                  yarn.original_max_position_embeddings);
    for (int64_t i = 0; i < dim / 2; ++i) {
        const double ramp = std::clamp((i - range.low) / (range.high - range.low), 0.0, 1.0);
        table.inv_freq[i] = table.inv_freq[i] * (1 - ramp) + table.inv_freq[i] / yarn.factor * ramp;
    }
    table.magnitude = yarn_mscale(yarn.factor, yarn.mscale) / yarn_mscale(yarn.factor, yarn.mscale_all_dim);
    return table;
}

double softmax_scale(const ModelConfig& config) {
    double scale = 1.0 / std::sqrt(static_cast<double>(config.qk_head_dim()));
    if (config.rope_scaling.type == "yarn") {
        const double m = yarn_mscale(config.rope_scaling.factor, config.rope_scaling.mscale_all_dim);
        scale *= m * m;
    }
    return scale;
}

// Rotates the 2 · inv_freq.size() lanes at x by m·R(position θ_i); a negative position is the
// transpose (the backward). In double, whatever S is.
template <typename S>
static void rotate_lanes(S* x, int64_t position, const RopeTable& table) {
    for (size_t i = 0; i < table.inv_freq.size(); ++i) {
        const double angle = position * table.inv_freq[i];
        const double c = std::cos(angle) * table.magnitude, s = std::sin(angle) * table.magnitude;
        const double even = x[2 * i], odd = x[2 * i + 1];
        x[2 * i] = static_cast<S>(even * c - odd * s);
        x[2 * i + 1] = static_cast<S>(even * s + odd * c);
    }
}

void apply_rope(float* x, int64_t position, const RopeTable& table) { rotate_lanes(x, position, table); }

// Every head of every row of x at direction · positions[row].
template <typename S>
static void rotate_rows(MatOf<S>& x, const std::vector<int64_t>& positions, const RopeTable& table,
                        const RopeLanes& lanes, int direction) {
    const int64_t dr = 2 * static_cast<int64_t>(table.inv_freq.size());
    const int64_t stride = lanes.stride ? lanes.stride : dr;
    const int64_t heads = lanes.heads ? lanes.heads : (x.cols() - lanes.first) / stride;
    if (static_cast<int64_t>(positions.size()) != x.rows())
        throw std::runtime_error("rope: " + std::to_string(positions.size()) + " positions for " +
                                 std::to_string(x.rows()) + " rows");
    if (stride < dr || heads < 1 || lanes.first + (heads - 1) * stride + dr > x.cols() ||
        (!lanes.heads && lanes.first + heads * stride != x.cols()))
        throw std::runtime_error("rope: " + std::to_string(x.cols()) + " columns do not hold " +
                                 (lanes.heads ? std::to_string(heads) : std::string("whole")) + " heads of " +
                                 std::to_string(dr) + " rope lanes from column " + std::to_string(lanes.first) +
                                 " every " + std::to_string(stride));
    for (Eigen::Index row = 0; row < x.rows(); ++row)
        for (int64_t head = 0; head < heads; ++head)
            rotate_lanes(&x(row, lanes.first + head * stride), direction * positions[row], table);
}

template <typename S>
void rope_forward(MatOf<S>& x, const std::vector<int64_t>& positions, const RopeTable& table, const RopeLanes& lanes) {
    rotate_rows(x, positions, table, lanes, +1);
}

template <typename S>
void rope_backward(MatOf<S>& d, const std::vector<int64_t>& positions, const RopeTable& table, const RopeLanes& lanes) {
    rotate_rows(d, positions, table, lanes, -1);
}

template void rope_forward(MatOf<float>&, const std::vector<int64_t>&, const RopeTable&, const RopeLanes&);
template void rope_forward(MatOf<double>&, const std::vector<int64_t>&, const RopeTable&, const RopeLanes&);
template void rope_backward(MatOf<float>&, const std::vector<int64_t>&, const RopeTable&, const RopeLanes&);
template void rope_backward(MatOf<double>&, const std::vector<int64_t>&, const RopeTable&, const RopeLanes&);

}  // namespace seek
