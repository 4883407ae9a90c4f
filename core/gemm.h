// The FP32 matrix product of the linear layers, with one summation order on every machine.
//
//     C[i, j] = C0[i, j] + A[i, 0] B[0, j] + A[i, 1] B[1, j] + ... + A[i, k-1] B[k-1, j]
//
// summed in that order as one chain of fused multiply-adds (C0 = C's own value when accumulating,
// else 0: the first step is then the product A[i, 0] B[0, j] rounded once). Nothing else decides the
// order: not the shape, not which rows or columns are computed together, not the thread count, not
// the vector width. So the AVX-512 kernel (16 lanes), the AVX2 one (8) and the scalar one give the
// same bits, a run takes the widest its CPU has (simd.h), and a product split across threads
// by rows is the product computed whole. (Eigen's GEMM, which this replaces in linear.h, sums the last
// few rows of a product in another order than the rest, so splitting its products changed bytes.)
//
// How it is fast (the structure of GotoBLAS and BLIS, reduced to what the layers need):
//  - micro-kernel: kRows rows of C by two vectors of columns (AVX-512: 8 x 32, AVX2: 4 x 16) held in
//    registers; each step of the sum loads one row of packed B and broadcasts one element of A per row,
//    then 2 kRows independent fused multiply-adds keep the FMA units busy;
//  - B is packed per pass of at most kDepth terms into panels of two vectors' width, zero-padded
//    past the last column, so the micro-kernel reads it contiguously and never needs a masked load;
//  - A is read where it lies (a row of x, or a column of dy in Wgrad): only its broadcasts touch it,
//    unless its rows or steps are 4 KB apart or more; then each block's rows are first copied into
//    contiguous strips, which L1 holds where the strided reads would evict each other.
// The chain is cut into passes of kDepth terms for the caches; each pass starts from what the last
// one stored in C, the same float the registers held, so the cut changes no bit.
#pragma once

#include <cstdint>

#include "simd.h"

namespace seek {

// A strided view of a float matrix: element (row, col) at data[row * row_stride + col * col_stride].
struct MatrixView {
    const float* data = nullptr;
    int64_t row_stride = 0, col_stride = 1;
};

// C [m, n] (row-major, rows c_stride apart) = A [m, k] B [k, n], or += when `accumulate`. Rows of C
// share out the threads when the product is worth it (parallel.h); the bytes never depend on that.
void gemm(int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c, int64_t c_stride, bool accumulate);

// gemm on one thread with the kernel of a given width (simd.h; an unavailable one throws
// std::invalid_argument), for tests and benches: every width gives the same bits.
void gemm_with(SimdLevel level, int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c,
               int64_t c_stride, bool accumulate);

}  // namespace seek
