// gemm.h's AVX-512 kernel: 16 lanes, 8 rows x 32 columns of C in 16 of the 32 vector registers.
// This file alone is compiled with -mavx512f (core/CMakeLists.txt); gemm.cpp calls it only on a CPU
// that has AVX-512F. It includes nothing but intrinsics and gemm_kernels.h: see gemm_kernel.inc.
#include "gemm_kernels.h"

#if defined(__AVX512F__)
#include <immintrin.h>

namespace seek {
namespace gemm_avx512 {

using Vec = __m512;
using Mask = __mmask16;
constexpr int64_t kLanes = 16;
constexpr int kRows = 8;

static inline Vec zero() { return _mm512_setzero_ps(); }
static inline Vec load(const float* p) { return _mm512_loadu_ps(p); }
static inline Vec load_masked(const float* p, Mask mask) { return _mm512_maskz_loadu_ps(mask, p); }
static inline void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
static inline void store_masked(float* p, Vec v, Mask mask) { _mm512_mask_storeu_ps(p, mask, v); }
static inline Vec broadcast(const float* p) { return _mm512_set1_ps(*p); }
static inline Vec fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
static inline Mask mask_for(int64_t n) { return static_cast<Mask>((1u << n) - 1u); }

#include "gemm_kernel.inc"

}  // namespace gemm_avx512

const GemmKernelFunctions* gemm_avx512_functions() {
    static const GemmKernelFunctions functions = {gemm_avx512::kBlockRows, gemm_avx512::kDepth, gemm_avx512::packed_b_floats,
                                                  gemm_avx512::pack_b, gemm_avx512::pass_over_block};
    return &functions;
}

}  // namespace seek
#else
namespace seek {
const GemmKernelFunctions* gemm_avx512_functions() { return nullptr; }
}  // namespace seek
#endif
