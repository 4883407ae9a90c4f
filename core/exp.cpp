#include "exp.h"

#include <cmath>
#include <cstring>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

namespace seek {

// glibc's __exp2f_data (sysdeps/ieee754/flt-32/e_exp2f_data.c), as bit patterns.
// kTable[i]: the bits of 2^(i/32) minus i << 47, so that adding k << 47 to kTable[k mod 32] puts
// k div 32 into the exponent field.
static const uint64_t kTable[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51, 0x3fef72b83c7d517b,
    0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1, 0x3fef06fe0a31b715, 0x3feef1a7373aa9cb,
    0x3feedea64c123422, 0x3feece086061892d, 0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429,
    0x3feea47eb03a5585, 0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d, 0x3feee89f995ad3ad,
    0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069, 0x3fef5818dcfba487, 0x3fef7c97337b9b5f,
    0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
};
static constexpr uint64_t kInvLn2Scaled = 0x40471547652b82fe;  // 32 / ln 2
static constexpr uint64_t kShift = 0x4338000000000000;         // 1.5 * 2^52: adding it rounds to an integer
static constexpr uint64_t kC0 = 0x3ebc6af84b912394;            // the cubic's coefficients, scaled by 32^-3,
static constexpr uint64_t kC1 = 0x3f2ebfce50fac4f3;            // 32^-2
static constexpr uint64_t kC2 = 0x3f962e42ff0c52d6;            // and 32^-1

static double as_double(uint64_t bits) {
    double value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

static uint64_t as_bits(double value) {
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    return bits;
}

// expf's fast path: the top 12 bits of |x| below 0x42b (those of 88.0f), so |x| < 88; beyond it
// (overflow, underflow, inf, NaN) std::exp decides.
static bool fast_path(float x) {
    uint32_t bits;
    std::memcpy(&bits, &x, sizeof bits);
    return ((bits >> 20) & 0x7ff) <= 0x42a;
}

float exp_float(float x) {
    if (!fast_path(x)) return std::exp(x);
    const double xd = x;
    const double z = std::fma(as_double(kInvLn2Scaled), xd, as_double(kShift));  // k + shift
    const uint64_t ki = as_bits(z);
    const double kd = z - as_double(kShift);
    const double r = std::fma(as_double(kInvLn2Scaled), xd, -kd);  // x 32/ln2 - k, exactly rounded once
    const double s = as_double(kTable[ki % 32] + (ki << 47));      // 2^(k/32)
    const double cubic = std::fma(r, as_double(kC0), as_double(kC1));
    const double r2 = r * r;
    const double y = std::fma(cubic, r2, std::fma(r, as_double(kC2), 1.0));
    return static_cast<float>(y * s);
}

void exp_in_place(double* values, int64_t n) {
    for (int64_t i = 0; i < n; ++i) values[i] = std::exp(values[i]);
}

void exp_floats(const float* x, float* y, int64_t n) {
    int64_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    const __m256d inv_ln2 = _mm256_set1_pd(as_double(kInvLn2Scaled)), shift = _mm256_set1_pd(as_double(kShift));
    const __m256d c0 = _mm256_set1_pd(as_double(kC0)), c1 = _mm256_set1_pd(as_double(kC1));
    const __m256d c2 = _mm256_set1_pd(as_double(kC2)), one = _mm256_set1_pd(1.0);
    const __m256i low5 = _mm256_set1_epi64x(31);
    auto four = [&](__m128 x4) {  // the scalar path above, four lanes of double at a time
        const __m256d xd = _mm256_cvtps_pd(x4);
        const __m256d z = _mm256_fmadd_pd(inv_ln2, xd, shift);
        const __m256i ki = _mm256_castpd_si256(z);
        const __m256d kd = _mm256_sub_pd(z, shift);
        const __m256d r = _mm256_fmsub_pd(inv_ln2, xd, kd);
        const __m256i table = _mm256_i64gather_epi64(reinterpret_cast<const long long*>(kTable),
                                                     _mm256_and_si256(ki, low5), 8);
        const __m256d s = _mm256_castsi256_pd(_mm256_add_epi64(table, _mm256_slli_epi64(ki, 47)));
        const __m256d cubic = _mm256_fmadd_pd(r, c0, c1);
        const __m256d r2 = _mm256_mul_pd(r, r);
        const __m256d poly = _mm256_fmadd_pd(cubic, r2, _mm256_fmadd_pd(r, c2, one));
        return _mm256_cvtpd_ps(_mm256_mul_pd(poly, s));
    };
    const __m256i top_mask = _mm256_set1_epi32(0x7ff), limit = _mm256_set1_epi32(0x42a);
    for (; i + 8 <= n; i += 8) {
        const __m256 x8 = _mm256_loadu_ps(x + i);
        const __m256i top = _mm256_and_si256(_mm256_srli_epi32(_mm256_castps_si256(x8), 20), top_mask);
        if (!_mm256_testz_si256(_mm256_cmpgt_epi32(top, limit), _mm256_cmpgt_epi32(top, limit))) {
            for (int64_t j = i; j < i + 8; ++j) y[j] = exp_float(x[j]);  // a lane off the fast path
            continue;
        }
        const __m128 low = four(_mm256_castps256_ps128(x8)), high = four(_mm256_extractf128_ps(x8, 1));
        _mm256_storeu_ps(y + i, _mm256_set_m128(high, low));
    }
#endif
    for (; i < n; ++i) y[i] = exp_float(x[i]);
}

}  // namespace seek
