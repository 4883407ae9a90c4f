#include "quantize.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "random.h"

namespace seek {

std::string tile_name(const Tile& tile) { return std::to_string(tile.rows) + "x" + std::to_string(tile.cols); }

int64_t tile_count(int64_t extent, int64_t tile_extent) { return (extent + tile_extent - 1) / tile_extent; }

float scale_for_amax(float amax, ScaleFormat format) {
    const float scale = std::max(amax, kAmaxFloor) / fp8_spec(Fp8Format::E4M3).max_finite;
    if (format == ScaleFormat::Float32) return scale;
    // 2^ceil(log2 s), computed exactly: frexp gives s = f x 2^e with f in [0.5, 1), so s is a
    // power of two exactly when f = 0.5 (then s = 2^(e-1)); otherwise the next one up is 2^e.
    int exponent;
    const float fraction = std::frexp(scale, &exponent);
    return fraction == 0.5f ? scale : std::ldexp(1.0f, exponent);
}

QuantizedMatrix quantize(const Mat& x, const Tile& tile, ScaleFormat format) {
    QuantizedMatrix q;
    q.rows = x.rows();
    q.cols = x.cols();
    q.tile = tile;
    q.codes.resize(static_cast<size_t>(x.size()));
    q.scales.resize(tile_count(q.rows, tile.rows), tile_count(q.cols, tile.cols));

    for (int64_t tile_row = 0; tile_row < q.scales.rows(); ++tile_row) {
        for (int64_t tile_col = 0; tile_col < q.scales.cols(); ++tile_col) {
            // This tile's elements; edge tiles stop at the matrix border.
            const int64_t row_begin = tile_row * tile.rows, row_end = std::min(q.rows, row_begin + tile.rows);
            const int64_t col_begin = tile_col * tile.cols, col_end = std::min(q.cols, col_begin + tile.cols);

            float amax = 0;
            for (int64_t r = row_begin; r < row_end; ++r)
                for (int64_t c = col_begin; c < col_end; ++c) amax = std::max(amax, std::fabs(x(r, c)));
            const float scale = scale_for_amax(amax, format);
            q.scales(tile_row, tile_col) = scale;

            // x / s in float, as act_quant computes it; saturating, although |x / s| <= 448 here.
            for (int64_t r = row_begin; r < row_end; ++r)
                for (int64_t c = col_begin; c < col_end; ++c)
                    q.codes[r * q.cols + c] = fp8_encode(x(r, c) / scale, Fp8Format::E4M3, Saturation::Finite);
        }
    }
    return q;
}

Mat dequantize(const QuantizedMatrix& q) {
    Mat x(q.rows, q.cols);
    for (int64_t r = 0; r < q.rows; ++r)
        for (int64_t c = 0; c < q.cols; ++c) x(r, c) = q.value(r, c);
    return x;
}

ErrorStats error_stats(const Mat& reference, const Mat& approx) {
    ErrorStats stats;
    double signal = 0, noise = 0, rel_sum = 0;
    int64_t groups = 0;
    for (int64_t r = 0; r < reference.rows(); ++r) {
        for (int64_t c0 = 0; c0 < reference.cols(); c0 += kQuantGroup) {
            double group_signal = 0, group_noise = 0;
            for (int64_t c = c0; c < std::min(reference.cols(), c0 + kQuantGroup); ++c) {
                const double x = reference(r, c), error = x - approx(r, c);
                group_signal += x * x;
                group_noise += error * error;
                stats.max_abs = std::max(stats.max_abs, std::fabs(error));
                if (x != 0 && approx(r, c) == 0) ++stats.flushed;
            }
            const double group_rel = group_noise == 0 ? 0 : std::sqrt(group_noise / group_signal);  // inf if all-zero
            stats.max_rel = std::max(stats.max_rel, group_rel);
            rel_sum += group_rel;
            ++groups;
            signal += group_signal;
            noise += group_noise;
        }
    }
    stats.mean_rel = groups ? rel_sum / groups : 0;
    stats.snr_db = noise > 0 ? 10 * std::log10(signal / noise) : std::numeric_limits<double>::infinity();
    return stats;
}

Mat outlier_activations(int64_t tokens, int64_t channels, int64_t outlier_channels, float outlier_scale,
                        uint64_t seed) {
    Rng rng(seed);
    // Student-t(3) = normal / sqrt(chi-squared(3) / 3).
    Mat x(tokens, channels);
    for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t c = 0; c < channels; ++c) {
            double chi_squared = 0;
            for (int i = 0; i < 3; ++i) {
                const double g = rng.normal();
                chi_squared += g * g;
            }
            x(t, c) = static_cast<float>(rng.normal() / std::sqrt(chi_squared / 3));
        }
    }
    // Spread the outlier channels over the width, so they fall into different 128-channel groups.
    for (int64_t i = 0; i < std::min(outlier_channels, channels); ++i) {
        const int64_t channel = (i * channels) / outlier_channels + channels / (2 * outlier_channels);
        x.col(std::min(channel, channels - 1)) *= outlier_scale;
    }
    return x;
}

}  // namespace seek
