#include "quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
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

// round_to_e4m3 for a finite v. Written on the float's bits, choosing with masks, so that a loop
// over it vectorizes: GCC keeps a branch per element for a float min or a ?: between float values.
static inline float round_finite_to_e4m3(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    const uint32_t sign = bits & 0x80000000u;
    bits &= 0x7FFFFFFFu;                                 // |v|: non-negative floats order like their bits,
    bits = bits < 0x43E00000u ? bits : 0x43E00000u;     // so this is min(|v|, 448): satfinite
    float magnitude;
    std::memcpy(&magnitude, &bits, 4);
    // Below the smallest normal, 2^-6, the grid is every multiple of 2^-9. Adding 2^14, whose
    // float ulp is 2^-9, makes the FPU round to that grid (nearest even); subtracting is exact.
    const float subnormal = (magnitude + 0x1p14f) - 0x1p14f;
    uint32_t subnormal_bits;
    std::memcpy(&subnormal_bits, &subnormal, 4);
    // Normal: keep 3 of float's 23 mantissa bits. Adding 0x7FFFF rounds the 20 dropped bits half
    // down; one more when the kept part is odd makes ties go to even (bf16_encode's trick). A
    // carry into the exponent is the correct rounding up to the next binade.
    const uint32_t normal_bits = (bits + 0x7FFFFu + ((bits >> 20) & 1u)) & ~0xFFFFFu;
    const uint32_t below_normal = 0u - static_cast<uint32_t>(bits < 0x3C800000u);  // all ones if |v| < 2^-6
    const uint32_t rounded = (below_normal & subnormal_bits) | (~below_normal & normal_bits) | sign;
    float result;
    std::memcpy(&result, &rounded, 4);
    return result;
}

float round_to_e4m3(float v) {
    if (std::isnan(v)) return fp8_decode(fp8_encode(v, Fp8Format::E4M3), Fp8Format::E4M3);
    return round_finite_to_e4m3(v);  // an infinity saturates to +-448 like any large value
}

Mat quantize_dequantize(const Mat& x, const Tile& tile, ScaleFormat format) {
    const int64_t rows = x.rows(), cols = x.cols();
    const uint32_t infinity_bits = 0x7F800000u;
    Mat out(rows, cols);
    for (int64_t row_begin = 0; row_begin < rows; row_begin += tile.rows) {
        const int64_t row_end = std::min(rows, row_begin + tile.rows);
        for (int64_t col_begin = 0; col_begin < cols; col_begin += tile.cols) {
            const int64_t width = std::min(cols, col_begin + tile.cols) - col_begin;
            // The largest |x| as the largest magnitude bit pattern (an integer max vectorizes;
            // a float one does not without -ffast-math). NaNs have the largest patterns of all.
            uint32_t amax_bits = 0;
            for (int64_t r = row_begin; r < row_end; ++r) {
                const float* in = &x(r, col_begin);
                for (int64_t c = 0; c < width; ++c) {
                    uint32_t bits;
                    std::memcpy(&bits, &in[c], 4);
                    bits &= 0x7FFFFFFFu;
                    amax_bits = amax_bits < bits ? bits : amax_bits;
                }
            }
            const bool finite = amax_bits < infinity_bits;
            float amax;
            std::memcpy(&amax, &amax_bits, 4);
            if (!finite) {  // quantize's amax: std::max skips NaNs, so it may be an infinity or finite
                amax = 0;
                for (int64_t r = row_begin; r < row_end; ++r)
                    for (int64_t c = col_begin; c < col_begin + width; ++c) amax = std::max(amax, std::fabs(x(r, c)));
            }
            const float scale = scale_for_amax(amax, format);
            for (int64_t r = row_begin; r < row_end; ++r) {
                const float* in = &x(r, col_begin);
                float* o = &out(r, col_begin);
                if (finite) {
                    for (int64_t c = 0; c < width; ++c) o[c] = round_finite_to_e4m3(in[c] / scale) * scale;
                } else {  // x / s may be NaN here (a NaN element, or infinity / infinity)
                    for (int64_t c = 0; c < width; ++c) o[c] = round_to_e4m3(in[c] / scale) * scale;
                }
            }
        }
    }
    return out;
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
