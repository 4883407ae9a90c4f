#include "quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "random.h"
#include "simd.h"

namespace seek {

std::string tile_name(const Tile& tile) { return std::to_string(tile.rows) + "x" + std::to_string(tile.cols); }

int64_t tile_count(int64_t extent, int64_t tile_extent) { return (extent + tile_extent - 1) / tile_extent; }

static void check_tile(const Tile& tile, const char* function) {
    if (tile.rows < 1 || tile.cols < 1)
        throw std::invalid_argument(std::string(function) + ": a tile is at least 1x1, got " + tile_name(tile));
}

static const float kE4M3MaxFinite = fp8_spec(Fp8Format::E4M3).max_finite;  // 448

float scale_for_amax(float amax, ScaleFormat format) {
    const float scale = std::max(amax, kAmaxFloor) / kE4M3MaxFinite;
    if (format == ScaleFormat::Float32) return scale;
    // 2^ceil(log2 s), computed exactly: frexp gives s = f x 2^e with f in [0.5, 1), so s is a
    // power of two exactly when f = 0.5 (then s = 2^(e-1)); otherwise the next one up is 2^e.
    int exponent;
    const float fraction = std::frexp(scale, &exponent);
    return fraction == 0.5f ? scale : std::ldexp(1.0f, exponent);
}

// The largest |x| of rows [row_begin, row_end) x columns [col_begin, col_end): quantize's amax.
// std::max skips NaNs, so with a NaN in the tile it is the largest of the others (or an infinity).
static float tile_amax(const Mat& x, int64_t row_begin, int64_t row_end, int64_t col_begin, int64_t col_end) {
    float amax = 0;
    for (int64_t r = row_begin; r < row_end; ++r)
        for (int64_t c = col_begin; c < col_end; ++c) amax = std::max(amax, std::fabs(x(r, c)));
    return amax;
}

QuantizedMatrix quantize(const Mat& x, const Tile& tile, ScaleFormat format) {
    check_tile(tile, "quantize");
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

            const float scale = scale_for_amax(tile_amax(x, row_begin, row_end, col_begin, col_end), format);
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

// x / s to the bits of the division, from 1/s: the quotient by the reciprocal is within two units
// in the last place, and each fused multiply-add step q += (x - q s) / s, with x - q s exact,
// brings it to the correctly rounded one (Markstein: one step suffices from within one unit). A
// vector division costs several of these fused multiply-adds and cannot overlap as they do. Finite x
// and a normal s only (here |x / s| <= 448 and s >= 1e-4 / 448): a quotient so small that x - q s
// underflows rounds to a zero of x's sign at the E4M3 step after it, whichever float it was. The
// sign is copied from x because -0 + 0 is +0: x = -0 would come out as +0.
static inline float divide_by_scale(float x, float scale, float reciprocal) {
    float quotient = x * reciprocal;
    quotient = std::fma(std::fma(-quotient, scale, x), reciprocal, quotient);
    return std::copysign(std::fma(std::fma(-quotient, scale, x), reciprocal, quotient), x);
}

// out[c] = round_finite_to_e4m3(x[c] / s[c]) * s[c] for c < n: a finite tile's fake quantization.
// `scale` and `reciprocal` hold one value per element (column tiles) or are broadcast (a stride of 0).
static void fake_quantize_span(SimdLevel level, const float* in, float* out, int64_t n, const float* scale,
                               const float* reciprocal, int64_t scale_step) {
    int64_t c = 0;
#if defined(__AVX2__) && defined(__FMA__)
    // The same, eight lanes at a time and without a branch: divide_by_scale operation for operation,
    // then the rounding done by the FPU. With 2^e <= |q| < 2^(e+1), adding c = 2^(e+20) leaves a sum
    // whose unit in the last place, 2^(e-3), is E4M3's step in q's binade: the addition rounds |q|
    // to E4M3's grid, nearest even (a carry into the next binade included), and the subtraction is
    // exact. Below E4M3's smallest normal, 2^-6, the step stays 2^-9: c = 2^14 there, as in
    // round_finite_to_e4m3. No saturation is needed: in a finite tile |q| exceeds 448 by a unit in the
    // last place at most, and rounds to 448.
    const __m256 sign_mask = _mm256_set1_ps(-0.0f);
    const __m256i exponent = _mm256_set1_epi32(0x7F800000), twenty_binades = _mm256_set1_epi32(20 << 23);
    const __m256i subnormal_step = _mm256_set1_epi32(0x46800000);  // 2^14
    for (; level != SimdLevel::Scalar && c + 8 <= n; c += 8) {
        const __m256 x = _mm256_loadu_ps(in + c);
        const __m256 s = scale_step ? _mm256_loadu_ps(scale + c) : _mm256_broadcast_ss(scale);
        const __m256 r = scale_step ? _mm256_loadu_ps(reciprocal + c) : _mm256_broadcast_ss(reciprocal);
        __m256 q = _mm256_mul_ps(x, r);
        q = _mm256_fmadd_ps(_mm256_fnmadd_ps(q, s, x), r, q);
        q = _mm256_fmadd_ps(_mm256_fnmadd_ps(q, s, x), r, q);
        const __m256 magnitude = _mm256_andnot_ps(sign_mask, q);
        const __m256 step_maker = _mm256_castsi256_ps(_mm256_max_epi32(
            _mm256_add_epi32(_mm256_and_si256(_mm256_castps_si256(q), exponent), twenty_binades), subnormal_step));
        const __m256 rounded = _mm256_sub_ps(_mm256_add_ps(magnitude, step_maker), step_maker);
        _mm256_storeu_ps(out + c, _mm256_mul_ps(_mm256_or_ps(rounded, _mm256_and_ps(sign_mask, x)), s));
    }
#endif
    for (; c < n; ++c) {
        const float s = scale[c * scale_step], r = reciprocal[c * scale_step];
        out[c] = round_finite_to_e4m3(divide_by_scale(in[c], s, r)) * s;
    }
}

// The same for a tile holding an infinity or a NaN, by division: x / s may be NaN there (a NaN
// element, or infinity / infinity), which round_to_e4m3 keeps.
static void fake_quantize_span_nonfinite(const float* in, float* out, int64_t n, const float* scale, int64_t scale_step) {
    for (int64_t c = 0; c < n; ++c) out[c] = round_to_e4m3(in[c] / scale[c * scale_step]) * scale[c * scale_step];
}

// |v| as its bit pattern: non-negative floats order like their bits, so the largest |x| of a tile
// is an integer max, which vectorizes (a float one does not without -ffast-math). NaNs have the
// largest patterns of all.
static inline uint32_t magnitude_bits(float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    return bits & 0x7FFFFFFFu;
}

static constexpr uint32_t kInfinityBits = 0x7F800000u;

#ifdef SEEK_AVX512_FUNCTIONS
// quantize_dequantize with 16 lanes, for a CPU with AVX-512 (simd.h): the operations of the loops
// further down on each element, the columns past a tile's or the matrix's edge under a mask (neither
// read nor written). Only these functions are compiled for AVX-512 (their target attribute).
#ifndef __clang__
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's avx512fintrin.h: _mm512_undefined_* by design
#pragma GCC diagnostic ignored "-Wuninitialized"        // the same, in _mm512_reduce_max_epu32
#endif
// round_finite_to_e4m3(x / s) * s, 16 lanes: fake_quantize_span's AVX2 loop below, operation for operation.
__attribute__((target("avx512f"))) static inline __m512 fake_quantize_16(__m512 x, __m512 s, __m512 r) {
    const __m512i sign_mask = _mm512_set1_epi32(static_cast<int>(0x80000000u));
    const __m512i exponent = _mm512_set1_epi32(0x7F800000), twenty_binades = _mm512_set1_epi32(20 << 23);
    const __m512i subnormal_step = _mm512_set1_epi32(0x46800000);  // 2^14
    __m512 q = _mm512_mul_ps(x, r);
    q = _mm512_fmadd_ps(_mm512_fnmadd_ps(q, s, x), r, q);
    q = _mm512_fmadd_ps(_mm512_fnmadd_ps(q, s, x), r, q);
    const __m512i q_bits = _mm512_castps_si512(q);
    const __m512 magnitude = _mm512_castsi512_ps(_mm512_andnot_si512(sign_mask, q_bits));
    const __m512 step_maker = _mm512_castsi512_ps(
        _mm512_max_epi32(_mm512_add_epi32(_mm512_and_si512(q_bits, exponent), twenty_binades), subnormal_step));
    const __m512 rounded = _mm512_sub_ps(_mm512_add_ps(magnitude, step_maker), step_maker);
    const __m512i signed_rounded = _mm512_or_si512(_mm512_castps_si512(rounded), _mm512_and_si512(sign_mask, _mm512_castps_si512(x)));
    return _mm512_mul_ps(_mm512_castsi512_ps(signed_rounded), s);
}

// scale_for_amax and 1 / s for 16 finite amaxes (as bits) at once: the same divisions, lane by lane.
__attribute__((target("avx512f"))) static inline void scales_16(__m512i amax_bits, ScaleFormat format, __m512& scale,
                                                                __m512& reciprocal) {
    scale = _mm512_div_ps(_mm512_max_ps(_mm512_castsi512_ps(amax_bits), _mm512_set1_ps(kAmaxFloor)),
                          _mm512_set1_ps(kE4M3MaxFinite));
    if (format == ScaleFormat::PowerOfTwo) {
        // 2^ceil(log2 s): s when its mantissa is zero, else the next power of two up (s is normal here).
        const __m512i bits = _mm512_castps_si512(scale);
        const __mmask16 power_of_two = _mm512_testn_epi32_mask(bits, _mm512_set1_epi32(0x007FFFFF));
        const __m512i next = _mm512_add_epi32(_mm512_and_si512(bits, _mm512_set1_epi32(0x7F800000)), _mm512_set1_epi32(1 << 23));
        scale = _mm512_castsi512_ps(_mm512_mask_blend_epi32(power_of_two, next, bits));
    }
    reciprocal = _mm512_div_ps(_mm512_set1_ps(1.0f), scale);
}

// scales_16 from and to arrays of 16.
__attribute__((target("avx512f"))) static inline void scales_16_of(const uint32_t* amax_bits, ScaleFormat format, float* scale,
                                                                   float* reciprocal) {
    __m512 scales, reciprocals;
    scales_16(_mm512_loadu_si512(amax_bits), format, scales, reciprocals);
    _mm512_storeu_ps(scale, scales);
    _mm512_storeu_ps(reciprocal, reciprocals);
}

static inline __mmask16 first_lanes(int64_t n) { return static_cast<__mmask16>(n >= 16 ? 0xFFFFu : (1u << n) - 1u); }

// The 16-lane vectors in a row of `cols` floats when the templates below take them (1 to 8: at
// most 128 columns), else 0.
static inline int64_t narrow_row_vectors(int64_t cols) {
    const int64_t vectors = (cols + 15) / 16;
    return vectors >= 1 && vectors <= 8 ? vectors : 0;
}

// f(std::integral_constant<int, vectors>()) for vectors in 1 .. 8: a run-time count to a template's.
template <typename F>
static void dispatch_vectors(int64_t vectors, F&& f) {
    switch (vectors) {
        case 1: return f(std::integral_constant<int, 1>());
        case 2: return f(std::integral_constant<int, 2>());
        case 3: return f(std::integral_constant<int, 3>());
        case 4: return f(std::integral_constant<int, 4>());
        case 5: return f(std::integral_constant<int, 5>());
        case 6: return f(std::integral_constant<int, 6>());
        case 7: return f(std::integral_constant<int, 7>());
        case 8: return f(std::integral_constant<int, 8>());
        default: throw std::logic_error("dispatch_vectors: 1 to 8 vectors");
    }
}

// Every tile shape but a column (1x128 activations, 128x128 weights, a whole matrix), sixteen tiles
// at a time in row-major tile order: their largest |x|, their sixteen scales in one vector, then the
// rounding. A toy's 1x128 tiles are single rows of 48 or 64 floats: one by one, each tile would wait
// on its own reduction and divisions; sixteen at a time, they overlap.
__attribute__((target("avx512f"))) static void quantize_dequantize_tiles_avx512(const Mat& x, const Tile& tile,
                                                                               ScaleFormat format, Mat& out) {
    const int64_t rows = x.rows(), cols = x.cols(), tile_cols = tile_count(cols, tile.cols);
    const int64_t tiles = tile_count(rows, tile.rows) * tile_cols;
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF);
    alignas(64) uint32_t amax_bits[16];
    alignas(64) float scale[16], reciprocal[16];
    int64_t row_begin[16], row_end[16], col_begin[16], width[16];
    for (int64_t first = 0; first < tiles; first += 16) {
        const int64_t count = std::min<int64_t>(16, tiles - first);
        for (int64_t i = 0; i < 16; ++i) {
            const int64_t tile_row = (first + i) / tile_cols, tile_col = (first + i) % tile_cols;
            row_begin[i] = tile_row * tile.rows;
            row_end[i] = i < count ? std::min(rows, row_begin[i] + tile.rows) : row_begin[i];  // past the last: empty
            col_begin[i] = tile_col * tile.cols;
            width[i] = std::min(tile.cols, cols - col_begin[i]);
        }
        for (int64_t i = 0; i < 16; ++i) {
            __m512i amax = _mm512_setzero_si512();
            for (int64_t r = row_begin[i]; r < row_end[i]; ++r) {
                const float* in = &x(r, col_begin[i]);
                int64_t c = 0;
                for (; c + 16 <= width[i]; c += 16) amax = _mm512_max_epu32(amax, _mm512_and_si512(_mm512_loadu_si512(in + c), magnitude));
                if (c < width[i])
                    amax = _mm512_max_epu32(amax, _mm512_and_si512(_mm512_maskz_loadu_epi32(first_lanes(width[i] - c), in + c), magnitude));
            }
            amax_bits[i] = _mm512_reduce_max_epu32(amax);
        }
        scales_16_of(amax_bits, format, scale, reciprocal);
        for (int64_t i = 0; i < count; ++i) {
            if (amax_bits[i] >= kInfinityBits) {  // an infinity or a NaN: quantize's amax, and divisions
                const float nonfinite_scale =
                    scale_for_amax(tile_amax(x, row_begin[i], row_end[i], col_begin[i], col_begin[i] + width[i]), format);
                for (int64_t r = row_begin[i]; r < row_end[i]; ++r)
                    fake_quantize_span_nonfinite(&x(r, col_begin[i]), &out(r, col_begin[i]), width[i], &nonfinite_scale, 0);
                continue;
            }
            const __m512 s = _mm512_set1_ps(scale[i]), rs = _mm512_set1_ps(reciprocal[i]);
            for (int64_t r = row_begin[i]; r < row_end[i]; ++r) {
                const float* in = &x(r, col_begin[i]);
                float* o = &out(r, col_begin[i]);
                int64_t c = 0;
                for (; c + 16 <= width[i]; c += 16) _mm512_storeu_ps(o + c, fake_quantize_16(_mm512_loadu_ps(in + c), s, rs));
                if (c < width[i]) {
                    const __mmask16 lanes = first_lanes(width[i] - c);
                    _mm512_mask_storeu_ps(o + c, lanes, fake_quantize_16(_mm512_maskz_loadu_ps(lanes, in + c), s, rs));
                }
            }
        }
    }
}

// Tiles one column wide (Wgrad's 128x1 along the tokens): in a band of tile_rows rows every column
// is a tile, so sixteen columns at a time get their largest |x| down the band, their scales in one
// vector, and their rounding, row after row of contiguous floats.
__attribute__((target("avx512f"))) static void quantize_dequantize_columns_avx512(const Mat& x, int64_t tile_rows,
                                                                                 ScaleFormat format, Mat& out) {
    const int64_t rows = x.rows(), cols = x.cols();
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF);
    for (int64_t row_begin = 0; row_begin < rows; row_begin += tile_rows) {
        const int64_t row_end = std::min(rows, row_begin + tile_rows);
        for (int64_t col_begin = 0; col_begin < cols; col_begin += 16) {
            const __mmask16 lanes = first_lanes(cols - col_begin);
            __m512i amax = _mm512_setzero_si512();
            for (int64_t r = row_begin; r < row_end; ++r)
                amax = _mm512_max_epu32(amax, _mm512_and_si512(_mm512_maskz_loadu_epi32(lanes, &x(r, col_begin)), magnitude));
            if (_mm512_mask_cmpge_epu32_mask(lanes, amax, _mm512_set1_epi32(static_cast<int>(kInfinityBits)))) {
                // A column with an infinity or a NaN among these: all sixteen by division, as quantize does.
                const int64_t width = std::min<int64_t>(16, cols - col_begin);
                float column_scale[16];
                for (int64_t c = 0; c < width; ++c)
                    column_scale[c] = scale_for_amax(tile_amax(x, row_begin, row_end, col_begin + c, col_begin + c + 1), format);
                for (int64_t r = row_begin; r < row_end; ++r)
                    fake_quantize_span_nonfinite(&x(r, col_begin), &out(r, col_begin), width, column_scale, 1);
                continue;
            }
            __m512 s, rs;
            scales_16(amax, format, s, rs);
            for (int64_t r = row_begin; r < row_end; ++r)
                _mm512_mask_storeu_ps(&out(r, col_begin), lanes, fake_quantize_16(_mm512_maskz_loadu_ps(lanes, &x(r, col_begin)), s, rs));
        }
    }
}

// The common case of both functions above: a matrix at most 128 columns wide (every activation of
// the toy), whose rows, in 1 x group tiles with group >= its width, are one tile each, of NV vectors,
// the last under a mask. With NV known, a row's vectors and a band's column maxima and scales stay
// in registers, and no tile bounds are computed.
template <int NV>
__attribute__((target("avx512f"))) static inline __m512 load_row_vector(const float* row, int v, __mmask16 last) {
    return v < NV - 1 ? _mm512_loadu_ps(row + 16 * v) : _mm512_maskz_loadu_ps(last, row + 16 * v);
}
template <int NV>
__attribute__((target("avx512f"))) static inline void store_row_vector(float* row, int v, __mmask16 last, __m512 value) {
    if (v < NV - 1)
        _mm512_storeu_ps(row + 16 * v, value);
    else
        _mm512_mask_storeu_ps(row + 16 * v, last, value);
}

// quantize_dequantize_tiles_avx512 for those rows: sixteen rows' maxima, their scales, their rounding.
template <int NV>
__attribute__((target("avx512f"))) static void quantize_dequantize_row_tiles_avx512(const Mat& x, ScaleFormat format, Mat& out) {
    const int64_t rows = x.rows(), cols = x.cols();
    const __mmask16 last = first_lanes(cols - 16 * (NV - 1));
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF);
    alignas(64) uint32_t amax_bits[16];
    alignas(64) float scale[16], reciprocal[16];
    for (int64_t first = 0; first < rows; first += 16) {
        const int64_t count = std::min<int64_t>(16, rows - first);
        for (int64_t i = 0; i < 16; ++i) {
            __m512i amax = _mm512_setzero_si512();
            if (i < count)
                for (int v = 0; v < NV; ++v)
                    amax = _mm512_max_epu32(amax, _mm512_and_si512(_mm512_castps_si512(load_row_vector<NV>(&x(first + i, 0), v, last)), magnitude));
            amax_bits[i] = _mm512_reduce_max_epu32(amax);
        }
        scales_16_of(amax_bits, format, scale, reciprocal);
        for (int64_t i = 0; i < count; ++i) {
            const float* in = &x(first + i, 0);
            float* o = &out(first + i, 0);
            if (amax_bits[i] >= kInfinityBits) {  // an infinity or a NaN: quantize's amax, and divisions
                const float nonfinite_scale = scale_for_amax(tile_amax(x, first + i, first + i + 1, 0, cols), format);
                fake_quantize_span_nonfinite(in, o, cols, &nonfinite_scale, 0);
                continue;
            }
            const __m512 s = _mm512_set1_ps(scale[i]), rs = _mm512_set1_ps(reciprocal[i]);
            for (int v = 0; v < NV; ++v) store_row_vector<NV>(o, v, last, fake_quantize_16(load_row_vector<NV>(in, v, last), s, rs));
        }
    }
}

// Column tiles (group x 1) of such a matrix, and with kRowTiles its row tiles (1 x group) too, from
// one read of x (quantize_dequantize_rows_and_columns): a band's column maxima and column scales in
// registers, its rows' maxima and scales in arrays, the band read row after row. Returns false, for
// the general functions to redo it all, on an infinity or a NaN.
template <int NV, bool kRowTiles>
__attribute__((target("avx512f"))) static bool quantize_dequantize_narrow_avx512(const Mat& x, int64_t group, ScaleFormat format,
                                                                                Mat* row_tiles, Mat& column_tiles) {
    const int64_t rows = x.rows(), cols = x.cols();
    const __mmask16 last = first_lanes(cols - 16 * (NV - 1));
    const __m512i magnitude = _mm512_set1_epi32(0x7FFFFFFF), infinity = _mm512_set1_epi32(static_cast<int>(kInfinityBits));
    const int64_t band = std::min(group, rows);  // rows a band holds at most
    std::vector<uint32_t> row_amax(kRowTiles ? static_cast<size_t>((band + 15) / 16 * 16) : 0);
    std::vector<float> row_scale(row_amax.size()), row_reciprocal(row_amax.size());
    for (int64_t row_begin = 0; row_begin < rows; row_begin += group) {
        const int64_t band_rows = std::min(group, rows - row_begin);
        __m512i column_amax[NV];
        for (int v = 0; v < NV; ++v) column_amax[v] = _mm512_setzero_si512();
        for (int64_t i = 0; i < (kRowTiles ? static_cast<int64_t>(row_amax.size()) : band_rows); ++i) {
            __m512i amax = _mm512_setzero_si512();
            if (i < band_rows)
                for (int v = 0; v < NV; ++v) {
                    const __m512i bits =
                        _mm512_and_si512(_mm512_castps_si512(load_row_vector<NV>(&x(row_begin + i, 0), v, last)), magnitude);
                    column_amax[v] = _mm512_max_epu32(column_amax[v], bits);
                    if (kRowTiles) amax = _mm512_max_epu32(amax, bits);
                }
            if (kRowTiles) row_amax[static_cast<size_t>(i)] = _mm512_reduce_max_epu32(amax);
        }
        __mmask16 nonfinite = 0;
        __m512 column_scale[NV], column_reciprocal[NV];
        for (int v = 0; v < NV; ++v) {
            nonfinite |= _mm512_cmpge_epu32_mask(column_amax[v], infinity);
            scales_16(column_amax[v], format, column_scale[v], column_reciprocal[v]);
        }
        for (size_t i = 0; i < row_amax.size(); i += 16) {
            nonfinite |= _mm512_cmpge_epu32_mask(_mm512_loadu_si512(&row_amax[i]), infinity);
            scales_16_of(&row_amax[i], format, &row_scale[i], &row_reciprocal[i]);
        }
        if (nonfinite) return false;
        for (int64_t i = 0; i < band_rows; ++i) {
            const float* in = &x(row_begin + i, 0);
            float* by_column = &column_tiles(row_begin + i, 0);
            float* by_row = kRowTiles ? &(*row_tiles)(row_begin + i, 0) : nullptr;
            const __m512 s = kRowTiles ? _mm512_set1_ps(row_scale[static_cast<size_t>(i)]) : _mm512_setzero_ps();
            const __m512 rs = kRowTiles ? _mm512_set1_ps(row_reciprocal[static_cast<size_t>(i)]) : _mm512_setzero_ps();
            for (int v = 0; v < NV; ++v) {
                const __m512 value = load_row_vector<NV>(in, v, last);
                store_row_vector<NV>(by_column, v, last, fake_quantize_16(value, column_scale[v], column_reciprocal[v]));
                if (kRowTiles) store_row_vector<NV>(by_row, v, last, fake_quantize_16(value, s, rs));
            }
        }
    }
    return true;
}

#ifndef __clang__
#pragma GCC diagnostic pop
#endif
#endif

// Tiles one column wide (Wgrad's 128x1 along the tokens): a band of tile_rows rows holds one tile
// per column, so the amax and the rounding run along the rows' contiguous floats, every column at once.
static void quantize_dequantize_columns(SimdLevel level, const Mat& x, int64_t tile_rows, ScaleFormat format, Mat& out) {
    const int64_t rows = x.rows(), cols = x.cols();
    std::vector<uint32_t> amax_bits(static_cast<size_t>(cols));
    std::vector<float> scale(static_cast<size_t>(cols)), reciprocal(static_cast<size_t>(cols));
    for (int64_t row_begin = 0; row_begin < rows; row_begin += tile_rows) {
        const int64_t row_end = std::min(rows, row_begin + tile_rows);
        int64_t first_col = 0;
#if defined(__AVX2__) && defined(__FMA__)
        // Eight columns at a time down the band, their maxima kept in a register (a band of toy
        // rows fits in the L1 cache; through memory, the loop would store every row's maxima).
        const __m256i magnitude = _mm256_set1_epi32(0x7FFFFFFF);
        for (; first_col + 8 <= cols; first_col += 8) {
            __m256i amax = _mm256_setzero_si256();
            for (int64_t r = row_begin; r < row_end; ++r)
                amax = _mm256_max_epu32(amax, _mm256_and_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(&x(r, first_col))), magnitude));
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(&amax_bits[static_cast<size_t>(first_col)]), amax);
        }
#endif
        std::fill(amax_bits.begin() + first_col, amax_bits.end(), 0u);
        for (int64_t r = row_begin; r < row_end; ++r) {
            const float* in = &x(r, 0);
            for (int64_t c = first_col; c < cols; ++c) amax_bits[c] = std::max(amax_bits[c], magnitude_bits(in[c]));
        }
        bool finite = true;
        for (int64_t c = 0; c < cols; ++c) {
            float amax;
            std::memcpy(&amax, &amax_bits[c], 4);
            if (amax_bits[c] >= kInfinityBits) {  // an infinity or a NaN: quantize's amax
                finite = false;
                amax = tile_amax(x, row_begin, row_end, c, c + 1);
            }
            scale[c] = scale_for_amax(amax, format);
            reciprocal[c] = 1.0f / scale[c];
        }
        for (int64_t r = row_begin; r < row_end; ++r) {
            const float* in = &x(r, 0);
            float* o = &out(r, 0);
            if (finite)
                fake_quantize_span(level, in, o, cols, scale.data(), reciprocal.data(), 1);
            else
                fake_quantize_span_nonfinite(in, o, cols, scale.data(), 1);
        }
    }
}

Mat quantize_dequantize(const Mat& x, const Tile& tile, ScaleFormat format) {
    return quantize_dequantize_with(simd_level(), x, tile, format);
}

Mat quantize_dequantize_with(SimdLevel level, const Mat& x, const Tile& tile, ScaleFormat format) {
    check_tile(tile, "quantize_dequantize");
    if (!simd_level_available(level))
        throw std::invalid_argument(std::string("quantize_dequantize: no ") + simd_level_name(level) + " loop in this build or CPU");
    const int64_t rows = x.rows(), cols = x.cols();
    Mat out(rows, cols);
#ifdef SEEK_AVX512_FUNCTIONS
    if (level == SimdLevel::Avx512) {
        const int64_t vectors = narrow_row_vectors(cols);
        if (tile.cols == 1 && tile.rows > 1) {
            bool done = false;
            if (vectors)
                dispatch_vectors(vectors, [&](auto nv) {
                    done = quantize_dequantize_narrow_avx512<decltype(nv)::value, false>(x, tile.rows, format, nullptr, out);
                });
            if (!done) quantize_dequantize_columns_avx512(x, tile.rows, format, out);
        } else if (tile.rows == 1 && cols <= tile.cols && vectors) {
            dispatch_vectors(vectors, [&](auto nv) { quantize_dequantize_row_tiles_avx512<decltype(nv)::value>(x, format, out); });
        } else {
            quantize_dequantize_tiles_avx512(x, tile, format, out);
        }
        return out;
    }
#endif
    if (tile.cols == 1 && tile.rows > 1) {
        quantize_dequantize_columns(level, x, tile.rows, format, out);
        return out;
    }
    // Three passes, so that no tile waits on the divisions of the one before (a toy's rows are
    // 1x128 tiles of 48 or 64 floats: per-tile latency, not the rounding, would set the pace), over
    // bands of about 16 KB, so that the rounding reads x from the L1 cache the largest |x| left it in.
    const int64_t tile_rows = tile_count(rows, tile.rows), tile_cols = tile_count(cols, tile.cols);
    const int64_t band = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, tile.rows * cols));  // tile rows
    auto width_of = [&](int64_t tile_col) { return std::min(cols, (tile_col + 1) * tile.cols) - tile_col * tile.cols; };
    auto rows_of = [&](int64_t tile_row) { return std::min(rows, (tile_row + 1) * tile.rows); };  // its end
    std::vector<uint32_t> amax_bits(static_cast<size_t>(std::min(band, tile_rows) * tile_cols));
    std::vector<float> scale(amax_bits.size()), reciprocal(amax_bits.size());
    for (int64_t band_begin = 0; band_begin < tile_rows; band_begin += band) {
        const int64_t band_end = std::min(tile_rows, band_begin + band);
        const size_t tiles = static_cast<size_t>((band_end - band_begin) * tile_cols);
        // 1. Each tile's largest |x|.
        std::fill(amax_bits.begin(), amax_bits.end(), 0u);
        for (int64_t tile_row = band_begin; tile_row < band_end; ++tile_row) {
            uint32_t* tile_amax = &amax_bits[static_cast<size_t>((tile_row - band_begin) * tile_cols)];
            for (int64_t r = tile_row * tile.rows; r < rows_of(tile_row); ++r)
                for (int64_t tile_col = 0; tile_col < tile_cols; ++tile_col) {
                    const float* in = &x(r, tile_col * tile.cols);
                    const int64_t width = width_of(tile_col);
                    uint32_t amax = tile_amax[tile_col];
                    for (int64_t c = 0; c < width; ++c) amax = std::max(amax, magnitude_bits(in[c]));
                    tile_amax[tile_col] = amax;
                }
        }
        // 2. Its scale, in loops without branches that the compiler vectorizes (at a toy's 48 or 64
        // floats a tile, two scalar divisions per tile cost about 5% of the whole).
        std::memcpy(scale.data(), amax_bits.data(), tiles * 4);  // each tile's amax, as a float
        for (size_t t = 0; t < tiles; ++t)
            if (amax_bits[t] >= kInfinityBits) {  // an infinity or a NaN: quantize's amax
                const int64_t tile_row = band_begin + static_cast<int64_t>(t) / tile_cols;
                const int64_t tile_col = static_cast<int64_t>(t) % tile_cols;
                scale[t] = tile_amax(x, tile_row * tile.rows, rows_of(tile_row), tile_col * tile.cols,
                                     tile_col * tile.cols + width_of(tile_col));
            }
        for (size_t t = 0; t < tiles; ++t) scale[t] = scale_for_amax(scale[t], format);
        for (size_t t = 0; t < tiles; ++t) reciprocal[t] = 1.0f / scale[t];
        // 3. x / s rounded to E4M3, times s.
        for (int64_t tile_row = band_begin; tile_row < band_end; ++tile_row)
            for (int64_t r = tile_row * tile.rows; r < rows_of(tile_row); ++r)
                for (int64_t tile_col = 0; tile_col < tile_cols; ++tile_col) {
                    const size_t t = static_cast<size_t>((tile_row - band_begin) * tile_cols + tile_col);
                    const float* in = &x(r, tile_col * tile.cols);
                    float* o = &out(r, tile_col * tile.cols);
                    const int64_t width = width_of(tile_col);
                    if (amax_bits[t] < kInfinityBits)
                        fake_quantize_span(level, in, o, width, &scale[t], &reciprocal[t], 0);
                    else
                        fake_quantize_span_nonfinite(in, o, width, &scale[t], 0);
                }
    }
    return out;
}

RowAndColumnTiles quantize_dequantize_rows_and_columns(const Mat& x, int64_t group, ScaleFormat format) {
    return quantize_dequantize_rows_and_columns_with(simd_level(), x, group, format);
}

RowAndColumnTiles quantize_dequantize_rows_and_columns_with(SimdLevel level, const Mat& x, int64_t group,
                                                            ScaleFormat format) {
    check_tile({group, group}, "quantize_dequantize_rows_and_columns");
    if (!simd_level_available(level))
        throw std::invalid_argument(std::string("quantize_dequantize: no ") + simd_level_name(level) + " loop in this build or CPU");
#ifdef SEEK_AVX512_FUNCTIONS
    // One pass when a row is one tile of at most 8 vectors; otherwise, or on an infinity or a NaN, the two calls.
    const int64_t vectors = narrow_row_vectors(x.cols());
    if (level == SimdLevel::Avx512 && x.cols() <= group && vectors) {
        RowAndColumnTiles out{Mat(x.rows(), x.cols()), Mat(x.rows(), x.cols())};
        bool done = false;
        dispatch_vectors(vectors, [&](auto nv) {
            done = quantize_dequantize_narrow_avx512<decltype(nv)::value, true>(x, group, format, &out.row_tiles, out.column_tiles);
        });
        if (done) return out;
    }
#endif
    return {quantize_dequantize_with(level, x, {1, group}, format), quantize_dequantize_with(level, x, {group, 1}, format)};
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
