#include "gemm.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "gemm_kernels.h"
#include "parallel.h"

namespace seek {

#if defined(__AVX2__) && defined(__FMA__)
// The AVX2 kernel: 8 lanes, 4 rows x 16 columns of C in 8 of the 16 vector registers (the FMA units'
// latency times their count: fewer would leave them idle, more would not fit beside B and A).
namespace gemm_avx2 {

using Vec = __m256;
using Mask = __m256i;
constexpr int64_t kLanes = 8;
constexpr int kRows = 4;

static inline Vec zero() { return _mm256_setzero_ps(); }
static inline Vec load(const float* p) { return _mm256_loadu_ps(p); }
static inline Vec load_masked(const float* p, Mask mask) { return _mm256_maskload_ps(p, mask); }
static inline void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
static inline void store_masked(float* p, Vec v, Mask mask) { _mm256_maskstore_ps(p, mask, v); }
static inline Vec broadcast(const float* p) { return _mm256_broadcast_ss(p); }
static inline Vec fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
static inline Mask mask_for(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

#include "gemm_kernel.inc"

}  // namespace gemm_avx2

const GemmKernelFunctions* gemm_avx2_functions() {
    static const GemmKernelFunctions functions = {gemm_avx2::kBlockRows, gemm_avx2::kDepth, gemm_avx2::packed_b_floats,
                                                  gemm_avx2::pack_b, gemm_avx2::pass_over_block};
    return &functions;
}
#else
const GemmKernelFunctions* gemm_avx2_functions() { return nullptr; }
#endif

static const GemmKernelFunctions* functions_of(SimdLevel level) {
    switch (level) {
        case SimdLevel::Scalar: return nullptr;
        case SimdLevel::Avx2: return gemm_avx2_functions();
        case SimdLevel::Avx512: return gemm_avx512_functions();
    }
    return nullptr;
}

// The definition itself, element by element: the order every kernel keeps.
static void gemm_scalar(int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c, int64_t c_stride,
                        bool accumulate) {
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
            float sum = accumulate ? c[i * c_stride + j] : 0.0f;
            for (int64_t p = 0; p < k; ++p)
                sum = std::fma(a.data[i * a.row_stride + p * a.col_stride], b.data[p * b.row_stride + j * b.col_stride], sum);
            c[i * c_stride + j] = sum;
        }
}

static void run_gemm(SimdLevel level, bool threads, int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b,
                     float* c, int64_t c_stride, bool accumulate) {
    if (m <= 0 || n <= 0) return;
    const GemmKernelFunctions* kernel_functions = functions_of(level);
    if (!kernel_functions || k == 0) {
        gemm_scalar(m, n, k, a, b, c, c_stride, accumulate);
        return;
    }
    const GemmKernelFunctions& f = *kernel_functions;
    // B's panels, in a buffer every product on this thread reuses. The threads of the loop below read
    // this one through the pointer: by its name, each would find its own.
    thread_local std::vector<float> packed_buffer;
    const size_t packed_floats = static_cast<size_t>(f.packed_b_floats(n));
    if (packed_buffer.size() < packed_floats) packed_buffer.resize(packed_floats);
    float* const packed = packed_buffer.data();
    const int64_t blocks = (m + f.block_rows - 1) / f.block_rows;
    for (int64_t p0 = 0; p0 < k; p0 += f.depth) {
        const int64_t depth = std::min(f.depth, k - p0);
        f.pack_b(depth, n, b.data + p0 * b.row_stride, b.row_stride, b.col_stride, packed);
        const float* a_pass = a.data + p0 * a.col_stride;
        const bool from_c = accumulate || p0 > 0;  // a later pass continues the chain C holds
        parallel_for(blocks, threads && worth_threads(2.0 * double(m) * double(n) * double(depth)), [&](int64_t block) {
            thread_local std::vector<float> a_strips;  // this thread's own: the lambda runs on each
            a_strips.resize(static_cast<size_t>(f.block_rows * f.depth));
            f.pass_over_block(block, m, n, depth, a_pass, a.row_stride, a.col_stride, packed, c, c_stride, from_c,
                              a_strips.data());
        });
    }
}

void gemm(int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c, int64_t c_stride, bool accumulate) {
    run_gemm(simd_level(), true, m, n, k, a, b, c, c_stride, accumulate);
}

void gemm_with(SimdLevel level, int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c,
               int64_t c_stride, bool accumulate) {
    if (!simd_level_available(level))
        throw std::invalid_argument(std::string("gemm: no ") + simd_level_name(level) + " kernel in this build or CPU");
    run_gemm(level, false, m, n, k, a, b, c, c_stride, accumulate);
}

}  // namespace seek
