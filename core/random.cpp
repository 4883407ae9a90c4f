#include "random.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "parallel.h"

namespace seek {

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t hash_name(const std::string& name) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (unsigned char c : name) {
        h ^= c;
        h *= 0x100000001B3ull;
    }
    return h;
}

// Box-Muller on two uniforms in (0, 1]; computed in double so the float result is the same on any
// machine with IEEE doubles and a correctly rounded log/cos to float precision.
static float box_muller(uint64_t a, uint64_t b) {
    const double u1 = ((a >> 11) + 1) * 0x1.0p-53;
    const double u2 = (b >> 11) * 0x1.0p-53;
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

// The counter that normal_at's index is added to (twice the index: two draws per value).
static uint64_t tensor_key(uint64_t seed, uint64_t name_hash) { return splitmix64(seed ^ splitmix64(name_hash)); }

float normal_at(uint64_t seed, uint64_t name_hash, uint64_t index) {
    const uint64_t key = tensor_key(seed, name_hash) + 2 * index;
    return box_muller(splitmix64(key), splitmix64(key + 1));
}

// The vector paths' series, as constants: written as 1.0 / odd over a list inside a function, GCC
// divided at run time, seven scalar divisions a call, which held the whole generator to the
// divider's pace.
// ln m = 2 s (1 + z/3 + z^2/5 + ... + z^8/17), z = s^2, from the innermost coefficient out
[[maybe_unused]] constexpr double inverse_odd[8] = {1.0 / 17, 1.0 / 15, 1.0 / 13, 1.0 / 11, 1.0 / 9, 1.0 / 7, 1.0 / 5, 1.0 / 3};
// Taylor's +-1/k!, whose remainders (r^17/17!, r^18/18!) are below 2^-50 of the value for |r| <= pi/4
[[maybe_unused]] constexpr double sin_taylor[7] = {-1.0 / 6, 1.0 / 120, -1.0 / 5040, 1.0 / 362880, -1.0 / 39916800,
                                                   1.0 / 6227020800.0, -1.0 / 1307674368000.0};
[[maybe_unused]] constexpr double cos_taylor[8] = {-1.0 / 2, 1.0 / 24, -1.0 / 720, 1.0 / 40320, -1.0 / 3628800,
                                                   1.0 / 479001600, -1.0 / 87178291200.0, 1.0 / 20922789888000.0};

#if defined(__AVX2__) && defined(__FMA__)
// normal_at four indices at a time, to the same floats. splitmix64 runs on 64-bit lanes; Box-Muller's
// log and cos, which would be four libm calls, run as polynomials in double (below). They are
// accurate to a few units in the last place of a double, and libm's to about one, so the two
// doubles differ by far less than 2^-40 of the value: both round to the same float unless the value
// lies within 2^-40 of halfway between two floats (one in 65,000). Those lanes, and u1 = 1 (a signed
// zero), are recomputed with libm by normal_at itself: every float is normal_at's.
namespace avx2 {

static __m256i splitmix64(__m256i x) {
    // x * m for 64-bit lanes from 32-bit products: lo*lo + ((hi*lo + lo*hi) << 32)
    auto times = [](__m256i v, uint64_t m) {
        const __m256i m_lo = _mm256_set1_epi64x(static_cast<int64_t>(m & 0xffffffffu));
        const __m256i m_hi = _mm256_set1_epi64x(static_cast<int64_t>(m >> 32));
        const __m256i cross = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(v, 32), m_lo), _mm256_mul_epu32(v, m_hi));
        return _mm256_add_epi64(_mm256_mul_epu32(v, m_lo), _mm256_slli_epi64(cross, 32));
    };
    x = _mm256_add_epi64(x, _mm256_set1_epi64x(static_cast<int64_t>(0x9E3779B97F4A7C15ull)));
    x = times(_mm256_xor_si256(x, _mm256_srli_epi64(x, 30)), 0xBF58476D1CE4E5B9ull);
    x = times(_mm256_xor_si256(x, _mm256_srli_epi64(x, 27)), 0x94D049BB133111EBull);
    return _mm256_xor_si256(x, _mm256_srli_epi64(x, 31));
}

// Integers below 2^54 as doubles, exactly: each 32-bit half through the 2^52 bit trick.
static __m256d to_double(__m256i x) {
    const __m256i magic = _mm256_set1_epi64x(0x4330000000000000);  // 2^52
    const __m256d two52 = _mm256_set1_pd(0x1p52);
    const __m256d low = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(x, _mm256_set1_epi64x(0xffffffff)), magic)), two52);
    const __m256d high = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(x, 32), magic)), two52);
    return _mm256_fmadd_pd(high, _mm256_set1_pd(0x1p32), low);  // exact: the sum is an integer below 2^54
}

// ln u for u in (0, 1]: u = m 2^e with m in [sqrt(2)/2, sqrt(2)), ln m = 2 atanh(s), s = (m-1)/(m+1),
// |s| < 0.172, the odd series to s^17 (its remainder below 2^-50 of the value).
static __m256d log_unit(__m256d u) {
    const __m256i bits = _mm256_castpd_si256(u);
    __m256i exponent = _mm256_sub_epi64(_mm256_srli_epi64(bits, 52), _mm256_set1_epi64x(1023));
    __m256d m = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0x000fffffffffffff)),
                                                    _mm256_set1_epi64x(0x3ff0000000000000)));  // [1, 2)
    const __m256d big = _mm256_cmp_pd(m, _mm256_set1_pd(1.4142135623730951), _CMP_GT_OQ);
    m = _mm256_blendv_pd(m, _mm256_mul_pd(m, _mm256_set1_pd(0.5)), big);
    exponent = _mm256_sub_epi64(exponent, _mm256_castpd_si256(big));  // big is all ones: -(-1)
    const __m256d f = _mm256_sub_pd(m, _mm256_set1_pd(1.0));
    const __m256d s = _mm256_div_pd(f, _mm256_add_pd(f, _mm256_set1_pd(2.0)));
    const __m256d z = _mm256_mul_pd(s, s);
    __m256d series = _mm256_set1_pd(inverse_odd[0]);
#pragma GCC unroll 8
    for (int k = 1; k < 8; ++k) series = _mm256_fmadd_pd(series, z, _mm256_set1_pd(inverse_odd[k]));
    const __m256d two_s = _mm256_add_pd(s, s);
    const __m256d ln_m = _mm256_fmadd_pd(_mm256_mul_pd(two_s, z), series, two_s);
    // e ln2 in two parts (fdlibm's): e * ln2_hi is exact for |e| < 2^20
    // e (-53 .. 1) is each lane's low 32 bits: gathered into four int32 and converted exactly
    const __m256d e_signed = _mm256_cvtepi32_pd(_mm256_castsi256_si128(
        _mm256_permutevar8x32_epi32(exponent, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6))));
    const __m256d ln2_hi = _mm256_set1_pd(6.93147180369123816490e-01), ln2_lo = _mm256_set1_pd(1.90821492927058770002e-10);
    return _mm256_fmadd_pd(e_signed, ln2_hi, _mm256_fmadd_pd(e_signed, ln2_lo, ln_m));
}

// cos t for t in [0, 2 pi + 1): t = n pi/2 + r, |r| <= pi/4, pi/2 in three parts (fdlibm's), then
// cos r or sin r by the quadrant n mod 4.
static __m256d cos_small(__m256d t) {
    const __m256d n = _mm256_round_pd(_mm256_mul_pd(t, _mm256_set1_pd(6.36619772367581382433e-01)),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256d r = _mm256_fnmadd_pd(n, _mm256_set1_pd(1.57079632673412561417e+00), t);  // exact
    r = _mm256_fnmadd_pd(n, _mm256_set1_pd(6.07710050630396597660e-11), r);
    r = _mm256_fnmadd_pd(n, _mm256_set1_pd(2.02226624871116645580e-21), r);
    const __m256d z = _mm256_mul_pd(r, r);
    // sin r = r + r z (s[0] + z (s[1] + ...)) to r^15, cos r = 1 + z (c[0] + ...) to r^16 (sin_taylor, cos_taylor)
    __m256d sin_series = _mm256_set1_pd(sin_taylor[6]), cos_series = _mm256_set1_pd(cos_taylor[7]);
#pragma GCC unroll 8
    for (int k = 5; k >= 0; --k) sin_series = _mm256_fmadd_pd(sin_series, z, _mm256_set1_pd(sin_taylor[k]));
#pragma GCC unroll 8
    for (int k = 6; k >= 0; --k) cos_series = _mm256_fmadd_pd(cos_series, z, _mm256_set1_pd(cos_taylor[k]));
    const __m256d sin_r = _mm256_fmadd_pd(_mm256_mul_pd(r, z), sin_series, r);
    const __m256d cos_r = _mm256_fmadd_pd(z, cos_series, _mm256_set1_pd(1.0));
    // quadrant 0: cos r, 1: -sin r, 2: -cos r, 3: sin r
    const __m256i quadrant = _mm256_and_si256(_mm256_castpd_si256(_mm256_add_pd(n, _mm256_set1_pd(0x1p52))),
                                              _mm256_set1_epi64x(3));
    const __m256d odd = _mm256_castsi256_pd(_mm256_cmpeq_epi64(_mm256_and_si256(quadrant, _mm256_set1_epi64x(1)),
                                                               _mm256_set1_epi64x(1)));
    const __m256i flip = _mm256_slli_epi64(_mm256_srli_epi64(_mm256_add_epi64(quadrant, _mm256_set1_epi64x(1)), 1), 63);
    return _mm256_xor_pd(_mm256_blendv_pd(cos_r, sin_r, odd), _mm256_castsi256_pd(flip));
}

// normal_at(first + i) for i < n (a multiple of 4, at most kBlock) into out; returns a mask of the
// lanes to redo with libm. Phase by phase over the block: each phase's groups of four are
// independent, so the processor overlaps the long dependency chains (two hashes, a division, a
// square root, two series) of many groups, where one group of four computed to the end at a time
// waited on its own latency.
constexpr int kBlock = 64;
static uint64_t box_muller_block(uint64_t key, uint64_t first, int n, float* out) {
    alignas(32) double u1[kBlock], u2[kBlock], value[kBlock];
    // counter = key + 2 index: normal_at's two draws are counters key + 2 index and the one after
    __m256i counter = _mm256_add_epi64(_mm256_set1_epi64x(static_cast<int64_t>(key + 2 * first)), _mm256_setr_epi64x(0, 2, 4, 6));
    for (int i = 0; i < n; i += 4, counter = _mm256_add_epi64(counter, _mm256_set1_epi64x(8))) {
        const __m256i a = splitmix64(counter), b = splitmix64(_mm256_add_epi64(counter, _mm256_set1_epi64x(1)));
        _mm256_store_pd(u1 + i, _mm256_mul_pd(to_double(_mm256_add_epi64(_mm256_srli_epi64(a, 11), _mm256_set1_epi64x(1))),
                                              _mm256_set1_pd(0x1.0p-53)));
        _mm256_store_pd(u2 + i, _mm256_mul_pd(to_double(_mm256_srli_epi64(b, 11)), _mm256_set1_pd(0x1.0p-53)));
    }
    for (int i = 0; i < n; i += 4)  // the radius sqrt(-2 ln u1), kept in value
        _mm256_store_pd(value + i, _mm256_sqrt_pd(_mm256_mul_pd(_mm256_set1_pd(-2.0), log_unit(_mm256_load_pd(u1 + i)))));
    for (int i = 0; i < n; i += 4)
        _mm256_store_pd(value + i, _mm256_mul_pd(_mm256_load_pd(value + i),
                                                 cos_small(_mm256_mul_pd(_mm256_set1_pd(6.283185307179586), _mm256_load_pd(u2 + i)))));
    uint64_t redo = 0;
    for (int i = 0; i < n; i += 4) {
        const __m256d v = _mm256_load_pd(value + i);
        _mm_storeu_ps(out + i, _mm256_cvtpd_ps(v));
        // Within 2^12 of the 2^29 units a float drops from a double's mantissa of halfway, or u1 = 1.
        const __m256i dropped = _mm256_and_si256(_mm256_castpd_si256(v), _mm256_set1_epi64x((1 << 29) - 1));
        const __m256i from_half = _mm256_sub_epi64(dropped, _mm256_set1_epi64x(1 << 28));
        const __m256i near_half = _mm256_and_si256(_mm256_cmpgt_epi64(_mm256_set1_epi64x(1 << 12), from_half),
                                                   _mm256_cmpgt_epi64(from_half, _mm256_set1_epi64x(-(1 << 12))));
        const __m256i one = _mm256_castpd_si256(_mm256_cmp_pd(_mm256_load_pd(u1 + i), _mm256_set1_pd(1.0), _CMP_EQ_OQ));
        redo |= static_cast<uint64_t>(_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_or_si256(near_half, one)))) << i;
    }
    return redo;
}

}  // namespace avx2
#endif

#if defined(__AVX2__) && defined(__FMA__) && defined(__GNUC__) && defined(__x86_64__)
#define SEEK_AVX512_GENERATOR 1
// The same block eight lanes at a time, for CPUs with AVX-512 (checked at run time: the build
// targets x86-64-v3). Every operation is avx2's on wider registers, so each lane computes the same
// doubles and the same lanes are redone: the same floats. What is faster is splitmix64, whose 64-bit
// multiplies are one instruction here (VPMULLQ) against avx2's five, and the integer-to-double
// conversions, one instruction against to_double's six.
// Each function carries the target attribute (`#pragma GCC target` is GCC's alone, not clang's).
#define SEEK_AVX512 __attribute__((target("avx512f,avx512dq")))
#ifndef __clang__
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // GCC 12's avx512fintrin.h: _mm512_undefined_* by design
#endif
namespace avx512 {

SEEK_AVX512 static __m512i splitmix64(__m512i x) {
    x = _mm512_add_epi64(x, _mm512_set1_epi64(static_cast<int64_t>(0x9E3779B97F4A7C15ull)));
    x = _mm512_mullo_epi64(_mm512_xor_si512(x, _mm512_srli_epi64(x, 30)), _mm512_set1_epi64(static_cast<int64_t>(0xBF58476D1CE4E5B9ull)));
    x = _mm512_mullo_epi64(_mm512_xor_si512(x, _mm512_srli_epi64(x, 27)), _mm512_set1_epi64(static_cast<int64_t>(0x94D049BB133111EBull)));
    return _mm512_xor_si512(x, _mm512_srli_epi64(x, 31));
}

// avx2::log_unit
SEEK_AVX512 static __m512d log_unit(__m512d u) {
    const __m512i bits = _mm512_castpd_si512(u);
    __m512i exponent = _mm512_sub_epi64(_mm512_srli_epi64(bits, 52), _mm512_set1_epi64(1023));
    __m512d m = _mm512_castsi512_pd(_mm512_or_si512(_mm512_and_si512(bits, _mm512_set1_epi64(0x000fffffffffffff)),
                                                    _mm512_set1_epi64(0x3ff0000000000000)));  // [1, 2)
    const __mmask8 big = _mm512_cmp_pd_mask(m, _mm512_set1_pd(1.4142135623730951), _CMP_GT_OQ);
    m = _mm512_mask_mul_pd(m, big, m, _mm512_set1_pd(0.5));
    exponent = _mm512_mask_add_epi64(exponent, big, exponent, _mm512_set1_epi64(1));
    const __m512d f = _mm512_sub_pd(m, _mm512_set1_pd(1.0));
    const __m512d s = _mm512_div_pd(f, _mm512_add_pd(f, _mm512_set1_pd(2.0)));
    const __m512d z = _mm512_mul_pd(s, s);
    __m512d series = _mm512_set1_pd(inverse_odd[0]);
#pragma GCC unroll 8
    for (int k = 1; k < 8; ++k) series = _mm512_fmadd_pd(series, z, _mm512_set1_pd(inverse_odd[k]));
    const __m512d two_s = _mm512_add_pd(s, s);
    const __m512d ln_m = _mm512_fmadd_pd(_mm512_mul_pd(two_s, z), series, two_s);
    const __m512d e_signed = _mm512_cvtepi64_pd(exponent);  // exact: -53 .. 1
    const __m512d ln2_hi = _mm512_set1_pd(6.93147180369123816490e-01), ln2_lo = _mm512_set1_pd(1.90821492927058770002e-10);
    return _mm512_fmadd_pd(e_signed, ln2_hi, _mm512_fmadd_pd(e_signed, ln2_lo, ln_m));
}

// avx2::cos_small
SEEK_AVX512 static __m512d cos_small(__m512d t) {
    const __m512d n = _mm512_roundscale_pd(_mm512_mul_pd(t, _mm512_set1_pd(6.36619772367581382433e-01)),
                                           _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512d r = _mm512_fnmadd_pd(n, _mm512_set1_pd(1.57079632673412561417e+00), t);
    r = _mm512_fnmadd_pd(n, _mm512_set1_pd(6.07710050630396597660e-11), r);
    r = _mm512_fnmadd_pd(n, _mm512_set1_pd(2.02226624871116645580e-21), r);
    const __m512d z = _mm512_mul_pd(r, r);
    __m512d sin_series = _mm512_set1_pd(sin_taylor[6]), cos_series = _mm512_set1_pd(cos_taylor[7]);
#pragma GCC unroll 8
    for (int k = 5; k >= 0; --k) sin_series = _mm512_fmadd_pd(sin_series, z, _mm512_set1_pd(sin_taylor[k]));
#pragma GCC unroll 8
    for (int k = 6; k >= 0; --k) cos_series = _mm512_fmadd_pd(cos_series, z, _mm512_set1_pd(cos_taylor[k]));
    const __m512d sin_r = _mm512_fmadd_pd(_mm512_mul_pd(r, z), sin_series, r);
    const __m512d cos_r = _mm512_fmadd_pd(z, cos_series, _mm512_set1_pd(1.0));
    const __m512i quadrant = _mm512_and_si512(_mm512_castpd_si512(_mm512_add_pd(n, _mm512_set1_pd(0x1p52))),
                                              _mm512_set1_epi64(3));
    const __mmask8 odd = _mm512_test_epi64_mask(quadrant, _mm512_set1_epi64(1));
    const __m512i flip = _mm512_slli_epi64(_mm512_srli_epi64(_mm512_add_epi64(quadrant, _mm512_set1_epi64(1)), 1), 63);
    return _mm512_xor_pd(_mm512_mask_blend_pd(odd, cos_r, sin_r), _mm512_castsi512_pd(flip));
}

// avx2::box_muller_block for n a multiple of 8, at most kBlock.
constexpr int kBlock = 64;
SEEK_AVX512 static uint64_t box_muller_block(uint64_t key, uint64_t first, int n, float* out) {
    alignas(64) double u1[kBlock], u2[kBlock], value[kBlock];
    __m512i counter = _mm512_add_epi64(_mm512_set1_epi64(static_cast<int64_t>(key + 2 * first)),
                                       _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0));
    for (int i = 0; i < n; i += 8, counter = _mm512_add_epi64(counter, _mm512_set1_epi64(16))) {
        const __m512i a = splitmix64(counter), b = splitmix64(_mm512_add_epi64(counter, _mm512_set1_epi64(1)));
        // integers up to 2^53: converted exactly
        _mm512_store_pd(u1 + i, _mm512_mul_pd(_mm512_cvtepu64_pd(_mm512_add_epi64(_mm512_srli_epi64(a, 11), _mm512_set1_epi64(1))),
                                              _mm512_set1_pd(0x1.0p-53)));
        _mm512_store_pd(u2 + i, _mm512_mul_pd(_mm512_cvtepu64_pd(_mm512_srli_epi64(b, 11)), _mm512_set1_pd(0x1.0p-53)));
    }
    for (int i = 0; i < n; i += 8)
        _mm512_store_pd(value + i, _mm512_sqrt_pd(_mm512_mul_pd(_mm512_set1_pd(-2.0), log_unit(_mm512_load_pd(u1 + i)))));
    for (int i = 0; i < n; i += 8)
        _mm512_store_pd(value + i, _mm512_mul_pd(_mm512_load_pd(value + i),
                                                 cos_small(_mm512_mul_pd(_mm512_set1_pd(6.283185307179586), _mm512_load_pd(u2 + i)))));
    uint64_t redo = 0;
    for (int i = 0; i < n; i += 8) {
        const __m512d v = _mm512_load_pd(value + i);
        _mm256_storeu_ps(out + i, _mm512_cvtpd_ps(v));
        const __m512i dropped = _mm512_and_si512(_mm512_castpd_si512(v), _mm512_set1_epi64((1 << 29) - 1));
        const __m512i from_half = _mm512_sub_epi64(dropped, _mm512_set1_epi64(1 << 28));
        const __mmask8 near_half = _mm512_cmpgt_epi64_mask(_mm512_set1_epi64(1 << 12), from_half) &
                                   _mm512_cmpgt_epi64_mask(from_half, _mm512_set1_epi64(-(1 << 12)));
        const __mmask8 one = _mm512_cmp_pd_mask(_mm512_load_pd(u1 + i), _mm512_set1_pd(1.0), _CMP_EQ_OQ);
        redo |= static_cast<uint64_t>(near_half | one) << i;
    }
    return redo;
}

}  // namespace avx512
#ifndef __clang__
#pragma GCC diagnostic pop
#endif
#undef SEEK_AVX512
#endif

NormalsPath fastest_normals_path() {
#ifdef SEEK_AVX512_GENERATOR
    static const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq");
    if (avx512) return NormalsPath::Avx512;
#endif
#if defined(__AVX2__) && defined(__FMA__)
    return NormalsPath::Avx2;
#else
    return NormalsPath::Scalar;
#endif
}

void normals_at(uint64_t seed, uint64_t name_hash, uint64_t first, int64_t count, float* out, NormalsPath path) {
    if (path > fastest_normals_path())
        throw std::invalid_argument(std::string("normals_at: this CPU cannot run the ") + normals_path_name(path) + " generator");
    int64_t i = 0;
    [[maybe_unused]] const uint64_t key = tensor_key(seed, name_hash);
    // A block's redo lanes, recomputed by the definition.
    [[maybe_unused]] auto redo_lanes = [&](uint64_t redo) {
        for (; redo != 0; redo &= redo - 1) {
            const int lane = __builtin_ctzll(redo);
            out[i + lane] = normal_at(seed, name_hash, first + i + lane);
        }
    };
#ifdef SEEK_AVX512_GENERATOR
    if (path == NormalsPath::Avx512)
        while (i + 8 <= count) {
            const int n = static_cast<int>(std::min<int64_t>(avx512::kBlock, (count - i) / 8 * 8));
            redo_lanes(avx512::box_muller_block(key, first + i, n, out + i));
            i += n;
        }
#endif
#if defined(__AVX2__) && defined(__FMA__)
    if (path != NormalsPath::Scalar)
        while (i + 4 <= count) {
            const int n = static_cast<int>(std::min<int64_t>(avx2::kBlock, (count - i) / 4 * 4));
            redo_lanes(avx2::box_muller_block(key, first + i, n, out + i));
            i += n;
        }
#endif
    for (; i < count; ++i) out[i] = normal_at(seed, name_hash, first + i);
}

void normals_at(uint64_t seed, uint64_t name_hash, uint64_t first, int64_t count, float* out) {
    normals_at(seed, name_hash, first, count, out, fastest_normals_path());
}

const char* normals_path_name(NormalsPath path) {
    switch (path) {
        case NormalsPath::Scalar: return "scalar";
        case NormalsPath::Avx2: return "avx2";
        case NormalsPath::Avx512: return "avx512";
    }
    return "?";
}

Mat generated_matrix(uint64_t seed, const std::string& name, int64_t rows, int64_t cols, float std) {
    Mat m;
    fill_generated(m, seed, name, rows, cols, std);
    return m;
}

void fill_generated(Mat& m, uint64_t seed, const std::string& name, int64_t rows, int64_t cols, float std) {
    m.resize(rows, cols);  // Eigen keeps the allocation when the size is unchanged
    const uint64_t name_hash = hash_name(name);
    float* values = m.data();
    const int64_t count = rows * cols, chunk = 4096;
    // A value costs 3 to 5 ns here (two hashes, a log and a cosine, in blocks of 64): several hundred
    // flops of a product.
    parallel_for((count + chunk - 1) / chunk, worth_threads(5e2 * count), [&](int64_t c) {
        const int64_t first = c * chunk, n = std::min(chunk, count - first);
        normals_at(seed, name_hash, static_cast<uint64_t>(first), n, values + first);
        for (int64_t i = first; i < first + n; ++i) values[i] *= std;
    });
}

float Rng::normal() {
    const uint64_t a = next_u64();
    return box_muller(a, next_u64());
}

}  // namespace seek
