// exp_floats against glibc's expf (the bits the bundled runs were made with) and against e^x in
// double (an independent reference).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "../core/exp.h"

using namespace seek;

static uint32_t bits_of(float value) {
    uint32_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    return bits;
}

static float float_of(uint32_t bits) {
    float value;
    std::memcpy(&value, &bits, sizeof value);
    return value;
}

static bool same_result(float a, float b) { return (std::isnan(a) && std::isnan(b)) || bits_of(a) == bits_of(b); }

// Checks inputs through exp_floats (in blocks of 8 and a ragged tail) and exp_float against
// std::exp; returns how many results differ.
static int64_t differences_in(const std::vector<float>& inputs) {
    std::vector<float> outputs(inputs.size());
    exp_floats(inputs.data(), outputs.data(), static_cast<int64_t>(inputs.size()));
    int64_t differences = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const float expected = std::exp(inputs[i]);
        differences += !same_result(outputs[i], expected) + !same_result(exp_float(inputs[i]), expected);
    }
    return differences;
}

// The special values, then every float whose bits are a multiple of `stride`, a million at a time.
static int64_t count_differences(uint64_t stride, int64_t* checked) {
    std::vector<float> inputs = {0.0f, -0.0f, 1.0f, -1.0f, 88.0f, -88.0f, std::nextafter(88.0f, 0.0f),
                                 std::nextafter(-88.0f, 0.0f), 88.72283f, 89.0f, -87.33654f, -103.0f, -104.0f, -150.0f,
                                 std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
                                 std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min(),
                                 1e-30f, -1e-30f, 0.5f * float(M_LN2) / 32};
    int64_t differences = differences_in(inputs);
    *checked = static_cast<int64_t>(inputs.size());
    inputs.clear();
    for (uint64_t bits = 0; bits <= 0xffffffffu; bits += stride) {
        inputs.push_back(float_of(static_cast<uint32_t>(bits)));
        if (inputs.size() == (1u << 20) + 3 || bits + stride > 0xffffffffu) {  // + 3: a ragged tail
            differences += differences_in(inputs);
            *checked += static_cast<int64_t>(inputs.size());
            inputs.clear();
        }
    }
    return differences;
}

TEST_CASE("exp_floats: glibc's expf bit for bit on a sweep of every float class", "[exp]") {
    int64_t checked = 0;
    CHECK(count_differences(9973, &checked) == 0);  // a prime stride: mantissas of every pattern
    CHECK(checked > 400000);
}

TEST_CASE("exp_floats: within one ulp of e^x rounded from double", "[exp]") {
    // An independent reference: exp in double, rounded once to float, which glibc's expf matches or
    // misses by at most one ulp. Over the fast path's range, every 257th float.
    std::vector<float> inputs;
    for (uint64_t bits = 0; bits <= 0xffffffffu; bits += 257) {
        const float x = float_of(static_cast<uint32_t>(bits));
        if (std::isfinite(x) && std::fabs(x) < 87.0f) inputs.push_back(x);
    }
    std::vector<float> outputs(inputs.size());
    exp_floats(inputs.data(), outputs.data(), static_cast<int64_t>(inputs.size()));
    int64_t beyond_one_ulp = 0, rounded_differently = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const float reference = static_cast<float>(std::exp(static_cast<double>(inputs[i])));
        const int64_t ulps = std::llabs(int64_t(bits_of(outputs[i])) - int64_t(bits_of(reference)));
        beyond_one_ulp += ulps > 1;
        rounded_differently += ulps == 1;
    }
    CHECK(inputs.size() > 8000000);
    CHECK(beyond_one_ulp == 0);
    CHECK(rounded_differently < int64_t(inputs.size() / 1000));  // nearly always correctly rounded
}

TEST_CASE("exp_floats: in place, any length, and the lanes off the fast path", "[exp]") {
    for (int64_t n : {0, 1, 7, 8, 9, 16, 23}) {
        std::vector<float> values(n);
        for (int64_t i = 0; i < n; ++i) values[i] = (i % 5 == 3) ? 95.0f - i : 0.37f * float(i) - 3.0f;  // some overflow
        std::vector<float> expected(n);
        for (int64_t i = 0; i < n; ++i) expected[i] = std::exp(values[i]);
        exp_in_place(values.data(), n);
        for (int64_t i = 0; i < n; ++i) CHECK(same_result(values[i], expected[i]));
    }
    std::vector<float> sigmoids = {-3.0f, 0.0f, 2.5f, -100.0f, 100.0f};
    std::vector<float> expected;
    for (float a : sigmoids) expected.push_back(1.0f / (1.0f + std::exp(-a)));
    sigmoid_in_place(sigmoids.data(), int64_t(sigmoids.size()));
    for (size_t i = 0; i < sigmoids.size(); ++i) CHECK(same_result(sigmoids[i], expected[i]));
}

// Every one of the 2^32 floats (about a minute): run by hand, `./build/tests/seek_tests "[.exhaustive]"`.
TEST_CASE("exp_floats: glibc's expf bit for bit on every float", "[.exhaustive]") {
    int64_t checked = 0;
    CHECK(count_differences(1, &checked) == 0);
    CHECK(checked == (int64_t{1} << 32) + 21);
}

// exp_doubles against glibc's exp: every double whose bits are a multiple of `stride` (2^64 / stride
// of them, over every exponent) plus `dense` values in the range softmax feeds it, [-50, 0].
static int64_t double_differences(uint64_t stride, int64_t dense, int64_t* checked) {
    std::vector<double> inputs = {0.0, -0.0, 1.0, -1.0, 0x1p-54, -0x1p-54, 0x1p-55, 511.9, 512.0, -512.0, 709.7,
                                  709.8, -745.1, -746.0, std::numeric_limits<double>::infinity(),
                                  -std::numeric_limits<double>::infinity(), std::numeric_limits<double>::quiet_NaN(),
                                  std::numeric_limits<double>::denorm_min()};
    int64_t differences = 0;
    *checked = 0;
    auto flush = [&] {
        std::vector<double> outputs(inputs.size());
        exp_doubles(inputs.data(), outputs.data(), static_cast<int64_t>(inputs.size()));
        for (size_t i = 0; i < inputs.size(); ++i) {
            const double expected = std::exp(inputs[i]);
            const bool same = (std::isnan(expected) && std::isnan(outputs[i])) ||
                              std::memcmp(&expected, &outputs[i], sizeof expected) == 0;
            const double scalar = exp_double(inputs[i]);
            const bool same_scalar = (std::isnan(expected) && std::isnan(scalar)) ||
                                     std::memcmp(&expected, &scalar, sizeof expected) == 0;
            differences += !same + !same_scalar;
        }
        *checked += static_cast<int64_t>(inputs.size());
        inputs.clear();
    };
    for (uint64_t bits = 0;; bits += stride) {
        double x;
        std::memcpy(&x, &bits, sizeof x);
        inputs.push_back(x);
        if (inputs.size() == (1u << 20) + 1) flush();  // + 1: a ragged tail
        if (bits > ~uint64_t{0} - stride) break;
    }
    for (int64_t i = 0; i < dense; ++i) {
        inputs.push_back(-50.0 * double(i) / double(dense));
        if (inputs.size() == (1u << 20) + 1) flush();
    }
    flush();
    return differences;
}

TEST_CASE("exp_doubles: glibc's exp bit for bit over every exponent and softmax's range", "[exp]") {
    int64_t checked = 0;
    CHECK(double_differences(uint64_t{1} << 42, 2'000'003, &checked) == 0);  // 4 million + 2 million
    CHECK(checked > 6'000'000);
}

// A billion doubles (about a minute): run by hand, `./build/tests/seek_tests "[.exhaustive]"`.
TEST_CASE("exp_doubles: glibc's exp bit for bit on a billion doubles", "[.exhaustive]") {
    int64_t checked = 0;
    CHECK(double_differences(uint64_t{1} << 34, 100'000'000, &checked) == 0);
    CHECK(checked > 1'000'000'000);
}
