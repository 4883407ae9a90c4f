// Seeded inputs for the kernel tests: N(0, std^2) values whose rows differ in magnitude, so that a
// kernel mixing up rows, or scales per row (FP8's 1x128 tiles), shows.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/random.h"
#include "core/tensor.h"

namespace seek::test {

// Row t is scaled by base^(t % period - period / 2): with base 10 and period 5, 10^-2 .. 10^2.
inline Mat rows_of_varied_magnitude(int rows, int cols, uint64_t seed, float base = 10.0f, int period = 5,
                                    float std = 1.0f) {
    Rng rng(seed);
    Mat x(rows, cols);
    for (int t = 0; t < rows; ++t) {
        const float scale = std * std::pow(base, static_cast<float>(t % period - period / 2));
        for (int i = 0; i < cols; ++i) x(t, i) = scale * rng.normal();
    }
    return x;
}

}  // namespace seek::test
