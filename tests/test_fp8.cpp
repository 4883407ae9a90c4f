// FP8 E4M3 / E5M2 and BF16 conversions: the format tables, rounding to nearest even, saturation
// and the special values; traces that keep FP8 and BF16 tensors in their dtype. (Bit-exactness against cuda_fp8.h over millions of values is the fp8
// oracle test's job, tests/fp8_oracle.cpp; these cases show the rules one at a time.)
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "core/fp8.h"
#include "core/random.h"
#include "core/trace.h"
#include "temp_dir.h"

using namespace seek;

namespace {
const float inf = std::numeric_limits<float>::infinity();
}

TEST_CASE("fp8: E4M3 decodes the table's landmarks", "[fp8]") {
    const Fp8Format f = Fp8Format::E4M3;
    CHECK(fp8_decode(0x00, f) == 0.0f);
    CHECK(std::signbit(fp8_decode(0x80, f)));             // -0
    CHECK(fp8_decode(0x01, f) == std::ldexp(1.0f, -9));    // smallest subnormal 0.001 x 2^-6
    CHECK(fp8_decode(0x07, f) == std::ldexp(7.0f, -9));    // largest subnormal
    CHECK(fp8_decode(0x08, f) == std::ldexp(1.0f, -6));    // smallest normal
    CHECK(fp8_decode(0x38, f) == 1.0f);                    // exponent field 7 = bias
    CHECK(fp8_decode(0x3A, f) == 1.25f);
    CHECK(fp8_decode(0x7E, f) == 448.0f);                  // 1.75 x 2^8
    CHECK(fp8_decode(0xFE, f) == -448.0f);
    CHECK(fp8_decode(0x78, f) == 256.0f);                  // exponent field 15 is a normal binade
    CHECK(std::isnan(fp8_decode(0x7F, f)));                // the only NaNs: S.1111.111
    CHECK(std::isnan(fp8_decode(0xFF, f)));
    CHECK(fp8_spec(f).max_finite == 448.0f);
    CHECK_FALSE(fp8_spec(f).has_infinity);
}

TEST_CASE("fp8: E5M2 decodes the table's landmarks, infinities included", "[fp8]") {
    const Fp8Format f = Fp8Format::E5M2;
    CHECK(fp8_decode(0x01, f) == std::ldexp(1.0f, -16));
    CHECK(fp8_decode(0x04, f) == std::ldexp(1.0f, -14));
    CHECK(fp8_decode(0x3C, f) == 1.0f);
    CHECK(fp8_decode(0x7B, f) == 57344.0f);
    CHECK(fp8_decode(0x7C, f) == inf);
    CHECK(fp8_decode(0xFC, f) == -inf);
    for (int code : {0x7D, 0x7E, 0x7F, 0xFD, 0xFE, 0xFF}) CHECK(std::isnan(fp8_decode(uint8_t(code), f)));
}

TEST_CASE("fp8: every finite code survives decode then encode, in both saturation modes", "[fp8]") {
    for (Fp8Format format : {Fp8Format::E4M3, Fp8Format::E5M2}) {
        for (Saturation saturation : {Saturation::Finite, Saturation::None}) {
            for (int code = 0; code < 256; ++code) {
                const float value = fp8_decode(uint8_t(code), format);
                if (!std::isfinite(value)) continue;
                INFO(fp8_spec(format).name << " code " << code);
                CHECK(fp8_encode(value, format, saturation) == code);
            }
        }
    }
}

TEST_CASE("fp8: ties round to the even code", "[fp8]") {
    const Fp8Format f = Fp8Format::E4M3;
    CHECK(fp8_encode(1.0625f, f) == 0x38);   // between 1 (mantissa 000) and 1.125 (001): down to even
    CHECK(fp8_encode(1.1875f, f) == 0x3A);   // between 1.125 (001) and 1.25 (010): up to even
    CHECK(fp8_encode(std::nextafter(1.0625f, 2.0f), f) == 0x39);  // just past the tie
    CHECK(fp8_encode(464.0f, f) == 0x7E);    // between 448 (110) and 480 (111, NaN): down to even
    CHECK(fp8_encode(std::ldexp(1.0f, -10), f) == 0x00);  // half the smallest subnormal: to even zero
    CHECK(fp8_encode(std::nextafter(std::ldexp(1.0f, -10), 1.0f), f) == 0x01);
    CHECK(fp8_encode(-std::ldexp(1.0f, -12), f) == 0x80);  // underflow keeps the sign
    CHECK(fp8_encode(std::ldexp(15.0f, -10), f) == 0x08);   // 7.5 x 2^-9 rounds up into the first normal
    CHECK(fp8_encode(61440.0f, Fp8Format::E5M2, Saturation::None) == 0x7C);  // tie above max: even is infinity
    CHECK(fp8_encode(61440.0f, Fp8Format::E5M2, Saturation::Finite) == 0x7B);
}

TEST_CASE("fp8: overflow saturates or becomes NaN or infinity, and NaN is 0x7F", "[fp8]") {
    const float just_past_tie = std::nextafter(464.0f, inf);
    CHECK(fp8_encode(just_past_tie, Fp8Format::E4M3, Saturation::Finite) == 0x7E);
    CHECK(fp8_encode(just_past_tie, Fp8Format::E4M3, Saturation::None) == 0x7F);
    CHECK(fp8_encode(-1e6f, Fp8Format::E4M3, Saturation::Finite) == 0xFE);
    CHECK(fp8_encode(-1e6f, Fp8Format::E4M3, Saturation::None) == 0xFF);
    CHECK(fp8_encode(inf, Fp8Format::E4M3, Saturation::Finite) == 0x7E);  // satfinite clamps infinities too
    CHECK(fp8_encode(inf, Fp8Format::E5M2, Saturation::Finite) == 0x7B);
    CHECK(fp8_encode(-inf, Fp8Format::E5M2, Saturation::None) == 0xFC);
    CHECK(fp8_encode(1e6f, Fp8Format::E5M2, Saturation::None) == 0x7C);
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (Fp8Format format : {Fp8Format::E4M3, Fp8Format::E5M2}) {
        CHECK(fp8_encode(nan, format) == 0x7F);
        CHECK(fp8_encode(-nan, format, Saturation::None) == 0x7F);  // the sign of a NaN is dropped
    }
}

TEST_CASE("fp8: the rounding error is at most half an ulp across the whole E4M3 range", "[fp8]") {
    Rng rng(3);
    for (int i = 0; i < 200000; ++i) {
        const float magnitude = static_cast<float>(std::exp2(-12.0 + 20.8 * rng.uniform()));  // up to ~460
        const float value = rng.uniform() < 0.5 ? -magnitude : magnitude;
        const float decoded = fp8_decode(fp8_encode(value, Fp8Format::E4M3), Fp8Format::E4M3);
        const double bound = std::fabs(value) <= 464 ? fp8_ulp(value, Fp8Format::E4M3) / 2 : std::fabs(value) - 448;
        INFO("value " << value << " decoded " << decoded);
        REQUIRE(std::fabs(double(decoded) - value) <= bound);
    }
    CHECK(fp8_ulp(1.0, Fp8Format::E4M3) == 0.125);
    CHECK(fp8_ulp(300.0, Fp8Format::E4M3) == 32.0);
    CHECK(fp8_ulp(1e-3, Fp8Format::E4M3) == std::ldexp(1.0, -9));  // subnormal spacing
    CHECK(fp8_ulp(0.0, Fp8Format::E4M3) == std::ldexp(1.0, -9));
    CHECK(fp8_ulp(1.0, Fp8Format::E5M2) == 0.25);
}

TEST_CASE("fp8: BF16 rounds to nearest even, overflows to infinity, canonicalizes NaN", "[fp8]") {
    CHECK(bf16_encode(1.0f) == 0x3F80);
    CHECK(bf16_encode(1.0f + std::ldexp(1.0f, -8)) == 0x3F80);      // tie: 0x3F80 is even
    CHECK(bf16_encode(1.0f + std::ldexp(3.0f, -8)) == 0x3F82);      // tie: up to even 0x3F82
    CHECK(bf16_encode(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)) == 0x3F81);
    CHECK(bf16_encode(-2.0f) == 0xC000);
    CHECK(bf16_encode(std::numeric_limits<float>::max()) == 0x7F80);  // rounds up past the largest BF16
    CHECK(bf16_encode(-inf) == 0xFF80);
    CHECK(bf16_encode(std::numeric_limits<float>::quiet_NaN()) == 0x7FFF);
    CHECK(bf16_decode(0x3FC0) == 1.5f);
    CHECK(bf16_decode(0x0001) == std::ldexp(1.0f, -133));
    CHECK(std::isnan(bf16_decode(0x7FC1)));
    for (float value : {0.1f, -3.14159f, 1e-30f, 6e4f}) CHECK(bf16_encode(bf16_decode(bf16_encode(value))) == bf16_encode(value));
}

TEST_CASE("fp8: format names", "[fp8]") {
    CHECK(fp8_format_from_name("e4m3") == Fp8Format::E4M3);
    CHECK(fp8_format_from_name("E5M2") == Fp8Format::E5M2);
    CHECK_THROWS_WITH(fp8_format_from_name("e3m4"), Catch::Contains("unknown FP8 format 'e3m4'"));
    CHECK(std::string(fp8_spec(Fp8Format::E5M2).name) == "E5M2");
}

TEST_CASE("fp8: traces store F8_E4M3 and BF16 entries in their own dtype", "[fp8]") {
    TempDir dir("seek_test_fp8");
    const std::string path = dir.file("trace.safetensors");
    const float on_grid[] = {448.0f, -0.001953125f, 1.25f, 0.0f};  // E4M3 values
    const float any[] = {0.1f, -3.0f, 1e-30f, 65504.0f};
    Trace trace;
    trace_record(&trace, "layers.0.attn.q_fp8", {2, 2}, on_grid, DType::F8_E4M3);
    trace_record(&trace, "layers.0.attn.q_bf16", {4}, any, DType::BF16);
    save_trace(trace, path);

    const SafetensorsFile file = open_safetensors(path);
    CHECK(file.at("layers.0.attn.q_fp8").dtype == DType::F8_E4M3);
    CHECK(file.at("layers.0.attn.q_fp8").end - file.at("layers.0.attn.q_fp8").begin == 4);  // one byte each
    CHECK(file.at("layers.0.attn.q_bf16").dtype == DType::BF16);
    const Trace loaded = load_trace(path);
    REQUIRE(loaded.entries.size() == 2);
    CHECK(loaded.entries[0].dtype == DType::F8_E4M3);
    CHECK(loaded.entries[0].values == std::vector<float>(on_grid, on_grid + 4));  // exact: already on the grid
    CHECK(loaded.entries[1].dtype == DType::BF16);
    for (int i = 0; i < 4; ++i) CHECK(loaded.entries[1].values[i] == bf16_decode(bf16_encode(any[i])));
}
