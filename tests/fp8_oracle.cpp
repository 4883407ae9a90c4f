// Bit-exact oracle: seekscope's FP8 and BF16 conversions (core/fp8) against NVIDIA's.
//
// cuda_fp8.h and cuda_bf16.h define their conversions as __host__ __device__ functions; on the
// host they are plain C++ (the PTX cvt instructions are used only when compiling for a GPU), so
// this program runs them on the CPU and needs no GPU. It compares, code for code:
//   encode (float -> E4M3 / E5M2, satfinite and non-saturating) over
//     - every float16 value (65,536 bit patterns, NaNs and infinities included),
//     - every bfloat16 value (65,536),
//     - random floats: uniform bit patterns (every exponent, NaNs, subnormals) and log-uniform
//       magnitudes over the FP8 ranges,
//     - the rounding boundaries: every midpoint between neighbouring FP8 values, the floats just
//       below and above it, the overflow thresholds, signed zeros, infinities, NaN payloads;
//   decode (E4M3 / E5M2 -> float) over all 256 codes (equal bits, or NaN on both sides);
//   bf16 encode (round to nearest even) over the same float sets plus every bfloat16 tie.
// It prints the mismatch count of every set and exits 1 if any is not zero.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/fp8.h"
#include "core/random.h"

using namespace seek;

namespace {

float float_from_bits(uint32_t bits) {
    float value;
    std::memcpy(&value, &bits, 4);
    return value;
}

uint32_t bits_of(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, 4);
    return bits;
}

struct EncodeMode {
    const char* name;
    Fp8Format format;
    Saturation saturation;
    __nv_fp8_interpretation_t nv_format;
    __nv_saturation_t nv_saturation;
};

const EncodeMode encode_modes[] = {
    {"E4M3 satfinite", Fp8Format::E4M3, Saturation::Finite, __NV_E4M3, __NV_SATFINITE},
    {"E4M3 nosat", Fp8Format::E4M3, Saturation::None, __NV_E4M3, __NV_NOSAT},
    {"E5M2 satfinite", Fp8Format::E5M2, Saturation::Finite, __NV_E5M2, __NV_SATFINITE},
    {"E5M2 nosat", Fp8Format::E5M2, Saturation::None, __NV_E5M2, __NV_NOSAT},
};

int64_t total_mismatches = 0;

void report(const std::string& set, const std::string& mode, size_t count, int64_t mismatches) {
    std::printf("%-34s %-15s %9zu values  %lld mismatches\n", set.c_str(), mode.c_str(), count,
                static_cast<long long>(mismatches));
    total_mismatches += mismatches;
}

// Every value through every FP8 mode; the first few mismatches are printed in full.
void check_fp8_encode(const std::string& set, const std::vector<float>& values) {
    for (const EncodeMode& mode : encode_modes) {
        int64_t mismatches = 0;
        for (float value : values) {
            const uint8_t ours = fp8_encode(value, mode.format, mode.saturation);
            const uint8_t theirs = __nv_cvt_float_to_fp8(value, mode.nv_saturation, mode.nv_format);
            if (ours == theirs) continue;
            if (++mismatches <= 5) {
                std::printf("  mismatch: %s of %.9g (bits 0x%08x): ours 0x%02x, cuda_fp8.h 0x%02x\n", mode.name,
                            value, bits_of(value), ours, theirs);
            }
        }
        report(set, mode.name, values.size(), mismatches);
    }
}

void check_bf16_encode(const std::string& set, const std::vector<float>& values) {
    int64_t mismatches = 0;
    for (float value : values) {
        const uint16_t ours = bf16_encode(value);
        const uint16_t theirs = __nv_bfloat16_raw(__float2bfloat16_rn(value)).x;
        if (ours == theirs) continue;
        if (++mismatches <= 5) {
            std::printf("  mismatch: BF16 of %.9g (bits 0x%08x): ours 0x%04x, cuda_bf16.h 0x%04x\n", value,
                        bits_of(value), ours, theirs);
        }
    }
    report(set, "BF16 rn", values.size(), mismatches);
}

void check_decode() {
    for (Fp8Format format : {Fp8Format::E4M3, Fp8Format::E5M2}) {
        const __nv_fp8_interpretation_t nv_format = format == Fp8Format::E4M3 ? __NV_E4M3 : __NV_E5M2;
        int64_t mismatches = 0;
        for (int code = 0; code < 256; ++code) {
            const float ours = fp8_decode(static_cast<uint8_t>(code), format);
            const float theirs = __half2float(__half(__nv_cvt_fp8_to_halfraw(static_cast<uint8_t>(code), nv_format)));
            const bool same = bits_of(ours) == bits_of(theirs) || (std::isnan(ours) && std::isnan(theirs));
            if (same) continue;
            ++mismatches;
            std::printf("  mismatch: decode %s 0x%02x: ours %.9g, cuda_fp8.h %.9g\n", fp8_spec(format).name, code, ours,
                        theirs);
        }
        report("decode: all 256 codes", fp8_spec(format).name, 256, mismatches);
    }
}

// ---- the value sets ----------------------------------------------------------------------

std::vector<float> all_float16() {
    std::vector<float> values;
    for (uint32_t bits = 0; bits < 65536; ++bits) values.push_back(__half2float(__half(__half_raw{uint16_t(bits)})));
    return values;
}

std::vector<float> all_bfloat16() {
    std::vector<float> values;
    for (uint32_t bits = 0; bits < 65536; ++bits) values.push_back(float_from_bits(bits << 16));
    return values;
}

// Half of the values are uniform 32-bit patterns (every exponent, ~0.4% NaNs, ~0.4% subnormals);
// half are log-uniform magnitudes from 2^-20 to 2^17, both signs, which is where the FP8 grids live.
std::vector<float> random_floats(size_t count) {
    Rng rng(20241227);
    std::vector<float> values;
    for (size_t i = 0; i < count / 2; ++i) values.push_back(float_from_bits(static_cast<uint32_t>(rng.next_u64())));
    for (size_t i = count / 2; i < count; ++i) {
        const double magnitude = std::exp2(-20.0 + 37.0 * rng.uniform());
        values.push_back(static_cast<float>(rng.uniform() < 0.5 ? -magnitude : magnitude));
    }
    return values;
}

// Where rounding decides: each midpoint between neighbouring FP8 values of either format (an
// exact tie) and its float neighbours, the overflow thresholds and the special values.
std::vector<float> rounding_boundaries() {
    std::vector<float> values;
    auto add_with_neighbours = [&](float value) {
        for (float v : {value, std::nextafter(value, 0.0f), std::nextafter(value, INFINITY)}) {
            values.push_back(v);
            values.push_back(-v);
        }
    };
    for (Fp8Format format : {Fp8Format::E4M3, Fp8Format::E5M2}) {
        const Fp8Spec& spec = fp8_spec(format);
        for (int code = 0; code < spec.max_finite_code; ++code) {
            const float low = fp8_decode(uint8_t(code), format), high = fp8_decode(uint8_t(code + 1), format);
            add_with_neighbours(low);
            add_with_neighbours((low + high) / 2);
        }
        const float max = spec.max_finite;
        const float ulp_at_max = static_cast<float>(fp8_ulp(max, format));
        add_with_neighbours(max);
        add_with_neighbours(max + ulp_at_max / 2);  // 464 / 61440: the overflow threshold
        add_with_neighbours(max + ulp_at_max);      // 480 / 65536: the first value past max
        add_with_neighbours(2 * max);
    }
    add_with_neighbours(std::numeric_limits<float>::max());
    add_with_neighbours(std::numeric_limits<float>::denorm_min());
    add_with_neighbours(std::numeric_limits<float>::min());
    for (uint32_t bits : {0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u, 0x7F800001u,
                          0xFF800001u, 0x7FFFFFFFu, 0xFFFFFFFFu, 0x7FA00000u}) {
        values.push_back(float_from_bits(bits));
    }
    return values;
}

// Every float whose low 16 bits are exactly half a bfloat16 unit: a tie for bf16 rounding.
std::vector<float> all_bfloat16_ties() {
    std::vector<float> values;
    for (uint32_t high = 0; high < 65536; ++high) values.push_back(float_from_bits((high << 16) | 0x8000u));
    return values;
}

}  // namespace

int main() {
    std::printf("seekscope core/fp8 vs cuda_fp8.h / cuda_bf16.h (CUDA %d.%d host functions)\n\n",
                CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10);
    const std::vector<float> float16 = all_float16();
    const std::vector<float> bfloat16 = all_bfloat16();
    const std::vector<float> random = random_floats(1200000);
    const std::vector<float> boundaries = rounding_boundaries();

    check_fp8_encode("encode: every float16", float16);
    check_fp8_encode("encode: every bfloat16", bfloat16);
    check_fp8_encode("encode: random floats", random);
    check_fp8_encode("encode: rounding boundaries", boundaries);
    check_decode();
    check_bf16_encode("bf16: every float16", float16);
    check_bf16_encode("bf16: random floats", random);
    check_bf16_encode("bf16: every tie", all_bfloat16_ties());
    check_bf16_encode("bf16: rounding boundaries", boundaries);

    std::printf("\n%s: %lld mismatches in total\n", total_mismatches ? "FAIL" : "OK",
                static_cast<long long>(total_mismatches));
    return total_mismatches ? 1 : 0;
}
