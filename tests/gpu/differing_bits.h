// The kernel tests' bit-for-bit comparison: how many elements' FP32 bits differ.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/tensor.h"

namespace seek::test {

// The number of elements whose bits differ (NaNs count as equal to NaNs).
inline int64_t differing_bits(const Mat& got, const Mat& expected) {
    int64_t differing = 0;
    for (int64_t i = 0; i < expected.size(); ++i) {
        const float g = got.data()[i], e = expected.data()[i];
        if (std::isnan(g) && std::isnan(e)) continue;
        differing += std::memcmp(&g, &e, 4) != 0;
    }
    return differing;
}

}  // namespace seek::test
