#include "simd.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

namespace seek {

const char* simd_level_name(SimdLevel level) {
    switch (level) {
        case SimdLevel::Scalar: return "scalar";
        case SimdLevel::Avx2: return "avx2";
        case SimdLevel::Avx512: return "avx512";
    }
    return "?";
}

bool simd_level_available(SimdLevel level) {
    switch (level) {
        case SimdLevel::Scalar: return true;
        case SimdLevel::Avx2:
#if defined(__AVX2__) && defined(__FMA__)
            return true;  // the build's own level: cpu_check.cpp has made sure the CPU has it
#else
            return false;
#endif
        case SimdLevel::Avx512:
#ifdef SEEK_AVX512_FUNCTIONS
            return __builtin_cpu_supports("avx512f");
#else
            return false;
#endif
    }
    return false;
}

static SimdLevel choose_level() {
    const char* asked = std::getenv("SEEK_SIMD");
    if (asked && *asked) {
        for (SimdLevel level : {SimdLevel::Scalar, SimdLevel::Avx2, SimdLevel::Avx512})
            if (std::string(asked) == simd_level_name(level)) {
                if (!simd_level_available(level))
                    throw std::invalid_argument(std::string("SEEK_SIMD=") + asked + ": this build or CPU does not have it");
                return level;
            }
        throw std::invalid_argument(std::string("SEEK_SIMD=") + asked + ": expected scalar, avx2 or avx512");
    }
    if (simd_level_available(SimdLevel::Avx512)) return SimdLevel::Avx512;
    if (simd_level_available(SimdLevel::Avx2)) return SimdLevel::Avx2;
    return SimdLevel::Scalar;
}

SimdLevel simd_level() {
    static const SimdLevel level = choose_level();
    return level;
}

}  // namespace seek
