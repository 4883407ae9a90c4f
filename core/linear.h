// The three GEMMs of a linear layer y = x W^T (W [out, in]), in the precision training runs them:
//   Fprop  y   = x W^T
//   Dgrad  dx += dy W
//   Wgrad  dW += dy^T x
//
//   fp32  as written.
//   bf16  both operands rounded to BF16 (nearest even), products summed in FP32: a BF16 tensor core.
//   fp8   the V3 recipe (report §3.3): both operands E4M3, scaled in fine-grained tiles along the
//         GEMM's inner dimension K (quantize.h):
//           Fprop  x  1x128 (per token, 128 input channels)    W 128x128
//           Dgrad  dy 1x128 (per token, 128 output channels)   W 128x128 (the same blocks, read transposed)
//           Wgrad  dy and x 128x1 (per channel, 128 tokens: K is now the token dimension)
//         Accumulation follows `Fp8Training::accumulation` (fp8_gemm.h): Exact sums each 128-wide K
//         block in FP32 and scales it, which is the tensor core's partial sum promoted to FP32 every
//         N_C = 128 products without the accumulator's own error; it runs as dequantize + an FP32
//         GEMM, equal to fp8_gemm's Exact up to FP32 summation order (tests/test_linear.cpp).
//         TensorCore adds the 14-bit accumulator between promotions through fp8_gemm: faithful,
//         and about a hundred times slower.
// Gradients and master weights stay FP32 whatever the GEMMs use; the outputs are FP32.
//
// Templates on the scalar for the gradient checks: double supports fp32 only.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "fp8_gemm.h"
#include "quantize.h"
#include "tensor.h"

namespace seek {

enum class GemmPrecision { FP32, BF16, FP8 };
const char* gemm_precision_name(GemmPrecision precision);  // "fp32", "bf16", "fp8"
// "fp32", "bf16" or "fp8"; anything else throws std::invalid_argument naming the text.
GemmPrecision gemm_precision_from_name(const std::string& name);

struct LinearPrecision {
    GemmPrecision gemm = GemmPrecision::FP32;
    AccumulationModel accumulation;  // fp8 only: Exact (default) or TensorCore
    // FP32: the matrix-vector path at any number of rows (below), so that every row's output is a
    // pure function of that row. Decoding sets it: a batch of sequences, one token each, then gives
    // each sequence the bytes it gets alone, however many decode together.
    bool row_by_row = false;
};

// FP32 GEMMs with `precision`'s row_by_row: the layers that stay FP32 in low-precision training
// (the gate, the head) decode row by row like the others.
inline LinearPrecision fp32_like(const LinearPrecision& precision) {
    LinearPrecision fp32;
    fp32.row_by_row = precision.row_by_row;
    return fp32;
}

// FP32 runs two ways, by the number of rows of x:
//   at most kFewRows, or row_by_row (decoding: one token per sequence, an expert that sees a few tokens): the
//     matrix-vector path, matrix_vector_product below. W is read once for all rows, and each row's
//     output is a pure function of that row, so a sequence decodes to the same bytes alone or
//     batched with others.
//   more (prefill, training): gemm.h, whose sums are in one order whatever the shape, the CPU or
//     the threads; a product of at least kParallelWork flops (parallel.h) shares its rows among them.
//
// x_rounded: x as the low-precision GEMM reads it (rounded_input below), when the caller shares one
// rounding among several layers that read x; null rounds x here. The backward's two products,
// dx += dy W and dW += dy^T x, share out the threads when the layer is worth it (parallel.h).
template <typename S>
MatOf<S> linear_forward(const MatOf<S>& x, const MatOf<S>& weight, const LinearPrecision& precision = {},
                        const Mat* x_rounded = nullptr);
template <typename S>
void linear_backward(MatOf<S>& dx, MatOf<S>& dweight, const MatOf<S>& dy, const MatOf<S>& x, const MatOf<S>& weight,
                     const LinearPrecision& precision = {}, const Mat* x_rounded = nullptr);

// An input x as the FP8 (Exact) or BF16 GEMMs of `precision` read it: in Fprop, kActivationTile
// (1x128 tiles, one token's channels); in Wgrad, kTokenTile (128x1, along the tokens). Layers that
// read one x (gate_proj and up_proj) round it once and pass it as x_rounded above. A tile of Fprop
// lies within one token, so rounding commutes with picking tokens: a MoE rounds its tokens once,
// before dispatching them to the experts, as V3 does (report §3.3). Empty (nothing to share) for
// FP32, double, and TensorCore accumulation, which quantizes to codes itself.
constexpr Tile kTokenTile = {kActivationTile.cols, kActivationTile.rows};
template <typename S>
Mat rounded_input(const MatOf<S>& x, const LinearPrecision& precision, const Tile& tile);

constexpr int64_t kFewRows = 8;

// y = x W^T (x [m, k], W [n, k], y [m, n]; row strides given, rows contiguous), each element
//   y[i, j] = ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)),
//   l_r = the fused multiply-add chain x[i, r] w[j, r] + x[i, r + 8] w[j, r + 8] + ... in order of k
// (eight lanes of a 256-bit register). The order depends on k alone: not on m, on which rows or
// columns are computed together, on the thread count or the machine.
void matrix_vector_product(const float* x, int64_t m, int64_t x_stride, const float* w, int64_t n, int64_t w_stride,
                           int64_t k, float* y, int64_t y_stride);

// Eigen picks its GEMM blocking from the CPU's cache sizes, and the blocking decides in which order
// a product's terms are summed; its own threads split a product differently for every thread count.
// Both are fixed once, before main (cpu_check.cpp): the same cache sizes on every machine, and one
// thread per product (core/'s threads share out whole products: parallel.h).
void fix_machine_dependent_settings();

// A @ B^T with both operands rounded as `precision` says; a_tile and b_tile are their FP8 tiles.
// a_rounded: a already rounded in a_tile (rounded_input), or null.
Mat low_precision_gemm(const Mat& a, const Mat& b, const LinearPrecision& precision, const Tile& a_tile,
                       const Tile& b_tile, const Mat* a_rounded = nullptr);

}  // namespace seek
