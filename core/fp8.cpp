#include "fp8.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace seek {

const Fp8Spec& fp8_spec(Fp8Format format) {
    static const Fp8Spec e4m3 = {"E4M3", 4, 3, 7, 0x7E, 448.0f, false};
    static const Fp8Spec e5m2 = {"E5M2", 5, 2, 15, 0x7B, 57344.0f, true};
    return format == Fp8Format::E4M3 ? e4m3 : e5m2;
}

Fp8Format fp8_format_from_name(const std::string& name) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "e4m3") return Fp8Format::E4M3;
    if (lower == "e5m2") return Fp8Format::E5M2;
    throw std::invalid_argument("unknown FP8 format '" + name + "' (expected e4m3 or e5m2)");
}

// The exponent e of the binade [2^e, 2^(e+1)) that holds `magnitude`, or the smallest normal
// exponent for zeros and subnormals: they all share the subnormal spacing.
static int binade_exponent(double magnitude, const Fp8Spec& spec) {
    const int min_exponent = spec.min_normal_exponent();
    return magnitude >= std::ldexp(1.0, min_exponent) ? std::ilogb(magnitude) : min_exponent;
}

// Non-negative FP8 codes are ordered like the values they stand for, and within the binade of
// exponent e (e >= min normal exponent, subnormals counted as the min normal exponent's binade)
//     code = (e - min_normal_exponent) * 2^mantissa_bits + value / ulp,   ulp = 2^(e - mantissa_bits)
// where value / ulp lies in [2^m, 2^(m+1)) for normal numbers (the implicit leading one plus the
// mantissa field) and in [0, 2^m) for subnormals (exponent field 0). So rounding value / ulp to
// an integer, ties to even, and adding the binade's offset gives the rounded code directly; a
// mantissa that rounds up to 2^(m+1) carries into the next binade's code by itself.
uint8_t fp8_encode(float value, Fp8Format format, Saturation saturation) {
    const Fp8Spec& spec = fp8_spec(format);
    const uint8_t nan_code = 0x7F;
    if (std::isnan(value)) return nan_code;

    const uint8_t sign = std::signbit(value) ? 0x80 : 0x00;
    const uint8_t infinity_code = spec.max_finite_code + 1;  // E5M2: 0x7C
    const uint8_t overflow_code = saturation == Saturation::Finite ? spec.max_finite_code
                                  : spec.has_infinity              ? infinity_code
                                                                   : nan_code;
    const double magnitude = std::fabs(static_cast<double>(value));
    if (std::isinf(magnitude)) return sign | overflow_code;

    const int exponent = binade_exponent(magnitude, spec);
    // Exact: a float has 24 significant bits and the scaling is by a power of two. nearbyint
    // rounds in the current mode, which is round-to-nearest-even unless a caller changed it.
    const double units = std::nearbyint(std::ldexp(magnitude, spec.mantissa_bits - exponent));
    const int64_t code = (int64_t{exponent - spec.min_normal_exponent()} << spec.mantissa_bits) +
                         static_cast<int64_t>(units);
    if (code > spec.max_finite_code) return sign | overflow_code;
    return sign | static_cast<uint8_t>(code);
}

float fp8_decode(uint8_t code, Fp8Format format) {
    const Fp8Spec& spec = fp8_spec(format);
    const bool negative = code & 0x80;
    const int magnitude_code = code & 0x7F;
    if (magnitude_code > spec.max_finite_code) {
        if (spec.has_infinity && magnitude_code == spec.max_finite_code + 1) {
            return negative ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
        }
        return std::numeric_limits<float>::quiet_NaN();
    }
    const int exponent_field = magnitude_code >> spec.mantissa_bits;
    const int mantissa = magnitude_code & ((1 << spec.mantissa_bits) - 1);
    // Subnormal: 0.mantissa x 2^min_exponent; normal: 1.mantissa x 2^(field - bias).
    const float magnitude =
        exponent_field == 0
            ? std::ldexp(static_cast<float>(mantissa), spec.min_normal_exponent() - spec.mantissa_bits)
            : std::ldexp(static_cast<float>((1 << spec.mantissa_bits) | mantissa),
                         exponent_field - spec.bias - spec.mantissa_bits);
    return negative ? -magnitude : magnitude;
}

double fp8_ulp(double value, Fp8Format format) {
    const Fp8Spec& spec = fp8_spec(format);
    return std::ldexp(1.0, binade_exponent(std::fabs(value), spec) - spec.mantissa_bits);
}

std::vector<uint8_t> e4m3_bytes(const float* values, int64_t count) {
    std::vector<uint8_t> bytes(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) bytes[i] = fp8_encode(values[i], Fp8Format::E4M3, Saturation::Finite);
    return bytes;
}

std::vector<uint8_t> bf16_bytes(const float* values, int64_t count) {
    std::vector<uint8_t> bytes(static_cast<size_t>(count) * 2);
    for (int64_t i = 0; i < count; ++i) {
        const uint16_t bits = bf16_encode(values[i]);
        std::memcpy(&bytes[2 * i], &bits, 2);  // little-endian host (asserted in safetensors.cpp)
    }
    return bytes;
}

}  // namespace seek
