// FP8 (E4M3, E5M2) and BF16, bit-exact on the CPU.
//
// DeepSeek-V3 stores weights and activations as E4M3 (V3 report §3.3): the "fn" variant of the
// OCP FP8 formats, which has no infinities and a single NaN pattern per sign (S.1111.111), so
// its largest finite value is 1.75 x 2^8 = 448. E5M2 follows IEEE conventions (infinities,
// several NaNs) and reaches 1.75 x 2^15 = 57344.
//
//   format  sign exp mantissa  bias  min subnormal  min normal  max finite  inf   NaN codes
//   E4M3     1    4     3       7    2^-9           2^-6        448         none  0x7F, 0xFF
//   E5M2     1    5     2      15    2^-16          2^-14       57344       0x7C  0x7D-0x7F (+ sign)
//   BF16     1    8     7     127    2^-133         2^-126      3.39e38     yes   (the top half of an FP32)
//
// Encoding rounds to nearest, ties to even, exactly like cuda_fp8.h's __nv_cvt_float_to_fp8 (the
// oracle test checks every float16 and bfloat16 value and a million random floats against it):
//   - a NaN input becomes 0x7F in both formats (NVIDIA's canonical NaN, sign dropped);
//   - a value whose rounded magnitude exceeds the largest finite one overflows: with
//     Saturation::Finite (PTX .satfinite) it becomes +-max finite, infinities included; with
//     Saturation::None it becomes NaN (E4M3, which has no infinity) or +-inf (E5M2);
//   - values below half the smallest subnormal become a zero of the input's sign.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace seek {

enum class Fp8Format { E4M3, E5M2 };
enum class Saturation { Finite, None };  // cuda_fp8.h: __NV_SATFINITE, __NV_NOSAT

// The bit layout of one format, as in the table above.
struct Fp8Spec {
    const char* name;
    int exponent_bits;
    int mantissa_bits;
    int bias;
    uint8_t max_finite_code;  // largest positive finite code: 0x7E (E4M3), 0x7B (E5M2)
    float max_finite;         // its value: 448, 57344
    bool has_infinity;
    int min_normal_exponent() const { return 1 - bias; }  // -6 (E4M3), -14 (E5M2)
};
const Fp8Spec& fp8_spec(Fp8Format format);
// "e4m3" or "e5m2" (any case); anything else throws std::invalid_argument naming the text.
Fp8Format fp8_format_from_name(const std::string& name);

uint8_t fp8_encode(float value, Fp8Format format, Saturation saturation = Saturation::Finite);
float fp8_decode(uint8_t code, Fp8Format format);  // NaN codes give a quiet NaN

// The spacing of the format's representable values at magnitude |value| (one unit in the last
// place): 2^(e - mantissa_bits) for |value| in [2^e, 2^(e+1)), the subnormal spacing below the
// smallest normal. E4M3: 1/512 below 2^-6, 32 between 256 and 448. Rounding to nearest errs by
// at most half of it.
double fp8_ulp(double value, Fp8Format format);

// The little-endian bytes safetensors stores for `count` values as F8_E4M3 (satfinite) or BF16.
std::vector<uint8_t> e4m3_bytes(const float* values, int64_t count);
std::vector<uint8_t> bf16_bytes(const float* values, int64_t count);

// bfloat16: the upper 16 bits of a float32, rounded to nearest even; every NaN becomes 0x7FFF
// (cuda_bf16.h's __float2bfloat16_rn, also checked by the oracle test). Inline, so that a loop
// rounding a whole matrix (BF16 training, linear.cpp) compiles to vector code.
inline uint16_t bf16_encode(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return 0x7FFF;  // NaN: the canonical one
    // Adding 0x7FFF rounds the dropped 16 bits half down; adding one more when the kept part is
    // odd turns exact halves into round-half-to-even. A carry into the exponent is the correct
    // rounding up to the next binade (or to infinity).
    const uint32_t round_to_nearest_even = 0x7FFF + ((bits >> 16) & 1);
    return static_cast<uint16_t>((bits + round_to_nearest_even) >> 16);
}

inline float bf16_decode(uint16_t bits) {
    const uint32_t widened = static_cast<uint32_t>(bits) << 16;
    float value;
    std::memcpy(&value, &widened, 4);
    return value;
}

}  // namespace seek
