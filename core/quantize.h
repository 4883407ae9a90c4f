// Fine-grained FP8 scaling: per tensor, per 1x128 token group (activations), per 128x128 block
// (weights), and quantize / dequantize (V3 report §3.3; inference/kernel.py; the checkpoint's weight_scale_inv).
//
// A matrix is cut into tiles; each tile gets one float scale s chosen so that its largest
// magnitude lands on E4M3's largest value:
//     amax = max(|x| over the tile, 1e-4)      the floor keeps an all-zero tile finite (act_quant)
//     s    = amax / 448                          or, with UE8M0 scales, 2^ceil(log2(amax / 448))
//     code = E4M3(x / s)                        round to nearest even; |x / s| <= 448 by construction
//     x   ~= decode(code) * s                   s multiplies: it is the checkpoint's weight_scale_inv
// so each element is off by at most half an E4M3 unit in the last place at its scale (plus the
// float rounding of x / s and decode * s when s is not a power of two).
//
// Scale layouts (row-major, one entry per tile; edge tiles may be partial):
//     per tensor        tile = the whole matrix     scales [1, 1]
//     1x128 activations tile = 1 x 128              scales [T, ceil(K / 128)]          (act_quant)
//     128x128 weights   tile = 128 x 128            scales [ceil(out / 128), ceil(in / 128)]
// A tile's scale sees only the elements that exist: the checkpoint pads edge blocks with zeros
// for the amax, which changes nothing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "fp8.h"
#include "simd.h"
#include "tensor.h"

namespace seek {

struct Tile {
    int64_t rows = 1;
    int64_t cols = 1;
};
constexpr int64_t kQuantGroup = 128;                     // DeepSeek-V3's group and block edge
constexpr Tile kActivationTile = {1, kQuantGroup};       // per token per 128 channels
constexpr Tile kWeightTile = {kQuantGroup, kQuantGroup};  // per 128 output x 128 input channels
constexpr float kAmaxFloor = 1e-4f;
inline Tile whole_matrix_tile(const Mat& x) { return {std::max<int64_t>(x.rows(), 1), std::max<int64_t>(x.cols(), 1)}; }

// "1x128", "128x128", ...
std::string tile_name(const Tile& tile);

enum class ScaleFormat {
    Float32,     // s = amax / 448
    PowerOfTwo,  // UE8M0: s = 2^ceil(log2(amax / 448)), an 8-bit exponent; x / s and decode * s are exact
};

// The scale for a tile whose largest magnitude is `amax` (amax floored at kAmaxFloor).
float scale_for_amax(float amax, ScaleFormat format);

// E4M3 codes plus one scale per tile.
struct QuantizedMatrix {
    int64_t rows = 0, cols = 0;
    Tile tile;
    std::vector<uint8_t> codes;  // [rows, cols] row-major, E4M3
    Mat scales;                  // [ceil(rows / tile.rows), ceil(cols / tile.cols)], multipliers

    float scale_at(int64_t row, int64_t col) const { return scales(row / tile.rows, col / tile.cols); }
    float value(int64_t row, int64_t col) const {
        return fp8_decode(codes[row * cols + col], Fp8Format::E4M3) * scale_at(row, col);
    }
};

// Rows and columns of the scale grid for a [rows, cols] matrix cut into `tile`s.
int64_t tile_count(int64_t extent, int64_t tile_extent);

QuantizedMatrix quantize(const Mat& x, const Tile& tile, ScaleFormat format = ScaleFormat::Float32);
Mat dequantize(const QuantizedMatrix& q);

// dequantize(quantize(x, tile, format)) bit for bit, without the codes in between: "fake
// quantization", what FP8 training with exact accumulation multiplies (linear.h). Each element
// is rounded to the E4M3 grid in float arithmetic (round_to_e4m3) instead of being encoded and
// decoded, which is many times faster; tests/test_quantize.cpp checks the two agree on every bit.
Mat quantize_dequantize(const Mat& x, const Tile& tile, ScaleFormat format = ScaleFormat::Float32);
// The same with the rounding loop at a given vector width (simd.h), for tests: the same bits at
// every width available (an unavailable one throws std::invalid_argument).
Mat quantize_dequantize_with(SimdLevel level, const Mat& x, const Tile& tile, ScaleFormat format = ScaleFormat::Float32);

// quantize_dequantize(x, 1 x group) and quantize_dequantize(x, group x 1) in one pass over x, bit
// for bit the two calls: the operands the backward of a linear layer takes from dy (Dgrad's row
// tiles, Wgrad's column tiles, linear.h), read once instead of twice.
struct RowAndColumnTiles {
    Mat row_tiles;     // 1 x group
    Mat column_tiles;  // group x 1
};
RowAndColumnTiles quantize_dequantize_rows_and_columns(const Mat& x, int64_t group = kQuantGroup,
                                                       ScaleFormat format = ScaleFormat::Float32);
// The same with a given vector width (simd.h), for tests. One pass with AVX-512 when a row is one
// tile of at most 128 columns; otherwise the two calls.
RowAndColumnTiles quantize_dequantize_rows_and_columns_with(SimdLevel level, const Mat& x, int64_t group = kQuantGroup,
                                                            ScaleFormat format = ScaleFormat::Float32);

// fp8_decode(fp8_encode(v, E4M3, Saturation::Finite)): v rounded to the nearest E4M3 value, ties
// to even, saturating at +-448, with v's sign (also on a zero); NaN stays NaN.
float round_to_e4m3(float v);

// How far `approx` is from `reference` (same shape). The relative errors are taken per group of
// 128 consecutive elements of a row (a 1x128 activation tile; for a weight, 128 input channels
// of one output channel): |group - approx group| / |group| in 2-norms. An element-wise ratio would
// be useless here, since any value flushed to zero makes it 1.
struct ErrorStats {
    double max_rel = 0;   // the worst group's relative error
    double mean_rel = 0;  // the mean over groups
    double max_abs = 0;   // largest |reference - approx| of any element
    double snr_db = 0;    // 10 log10(sum reference^2 / sum (reference - approx)^2); +inf if exact
    int64_t flushed = 0;  // nonzero reference elements that became exactly zero
};
ErrorStats error_stats(const Mat& reference, const Mat& approx);

// Synthetic activations [tokens, channels] shaped like an LLM's: Student-t with 3 degrees of
// freedom (heavy tails: a few values per token far beyond the rest) and `outlier_channels`
// channels scaled by `outlier_scale` (the "massive activation" channels every token carries).
// A pure function of the seed.
Mat outlier_activations(int64_t tokens, int64_t channels, int64_t outlier_channels, float outlier_scale,
                        uint64_t seed);

}  // namespace seek
