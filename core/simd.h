// How wide the vectors of core/'s run-time dispatched loops are: gemm.h's kernels and FP8's fake
// quantization (quantize.h). The build targets one fixed level (x86-64-v3: AVX2 + FMA); on a CPU
// that also has AVX-512 these loops run 16 lanes instead of 8. Each computes element by element
// the same operations at every width, so the level changes the speed, never a bit, and tests hold
// every level to the scalar definition.
#pragma once

// Defined where core/'s own files may hold AVX-512 code (target attributes or *_avx512.cpp): the
// compiler accepts -mavx512f (core/CMakeLists.txt) and targets x86-64 with GCC's builtins.
#if defined(SEEK_AVX512_KERNELS) && defined(__x86_64__) && defined(__GNUC__)
#define SEEK_AVX512_FUNCTIONS 1
#endif

namespace seek {

enum class SimdLevel { Scalar, Avx2, Avx512 };

const char* simd_level_name(SimdLevel level);  // "scalar", "avx2", "avx512"
bool simd_level_available(SimdLevel level);    // compiled into this build and supported by this CPU
// SEEK_SIMD=scalar|avx2|avx512 when set (a narrower level shows what an older CPU gets; an unknown
// or unavailable one throws std::invalid_argument naming it), else the widest available. Decided
// once, at the first call.
SimdLevel simd_level();

}  // namespace seek
