#include "linear.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "fp8.h"
#include "gemm.h"
#include "parallel.h"

namespace seek {

const char* gemm_precision_name(GemmPrecision precision) {
    switch (precision) {
        case GemmPrecision::FP32: return "fp32";
        case GemmPrecision::BF16: return "bf16";
        case GemmPrecision::FP8: return "fp8";
    }
    return "?";
}

GemmPrecision gemm_precision_from_name(const std::string& name) {
    if (name == "fp32") return GemmPrecision::FP32;
    if (name == "bf16") return GemmPrecision::BF16;
    if (name == "fp8") return GemmPrecision::FP8;
    throw std::invalid_argument("precision must be fp32, bf16 or fp8, got '" + name + "'");
}

void fix_machine_dependent_settings() {
    Eigen::setCpuCacheSizes(32 * 1024, 512 * 1024, 8 * 1024 * 1024);  // L1, L2, L3: common x86-64-v3 sizes
    Eigen::setNbThreads(1);
    // OMP_NUM_THREADS, or the idle processors, at most two, decided when first needed (parallel.h).
    defer_thread_count();
}

// An operand as a low-precision GEMM multiplies it: BF16-rounded, or FP8 fake-quantized in
// `tile`s (quantize.h). Both round element by element, so rounding x in 128x1 tiles is rounding
// x^T in 1x128 tiles, transposed: Wgrad's operands need no transposed copies.
static Mat rounded_operand(const Mat& x, GemmPrecision precision, const Tile& tile) {
    if (precision == GemmPrecision::FP8) return quantize_dequantize(x, tile);
    Mat rounded(x.rows(), x.cols());
    for (Eigen::Index i = 0; i < x.size(); ++i) rounded.data()[i] = bf16_decode(bf16_encode(x.data()[i]));
    return rounded;
}

static bool rounds_operands(const LinearPrecision& precision) {
    if (precision.gemm == GemmPrecision::FP32) return false;
    return precision.gemm == GemmPrecision::BF16 || precision.accumulation.mode != AccumulationMode::TensorCore;
}

template <typename S>
Mat rounded_input(const MatOf<S>& x, const LinearPrecision& precision, const Tile& tile) {
    if constexpr (std::is_same_v<S, float>) {
        if (rounds_operands(precision)) return rounded_operand(x, precision.gemm, tile);
    }
    return Mat();
}

// The three products of a linear layer, through gemm.h: every element one chain of fused
// multiply-adds in the order of the sum, whatever the shape, the threads or the CPU.
static MatrixView rows_of(const Mat& m) { return {m.data(), m.cols(), 1}; }        // m as stored
static MatrixView transpose_of(const Mat& m) { return {m.data(), 1, m.cols()}; }   // m^T, read in place

static void check_inner_dimension(const Mat& x, const Mat& weight) {
    if (x.cols() != weight.cols())
        throw std::invalid_argument("linear: x has " + std::to_string(x.cols()) + " columns, the weight " +
                                    std::to_string(weight.cols()));
}

// a b^T (y = x W^T)
static Mat product_nt(const Mat& a, const Mat& b) {
    check_inner_dimension(a, b);
    Mat product(a.rows(), b.rows());
    gemm(a.rows(), b.rows(), a.cols(), rows_of(a), transpose_of(b), product.data(), product.cols(), false);
    return product;
}

// dst += a b (dx += dy W)
static void add_product_nn(Mat& dst, const Mat& a, const Mat& b) {
    gemm(a.rows(), b.cols(), a.cols(), rows_of(a), rows_of(b), dst.data(), dst.cols(), true);
}

// dst += a^T b (dW += dy^T x)
static void add_product_tn(Mat& dst, const Mat& a, const Mat& b) {
    gemm(a.cols(), b.cols(), a.rows(), transpose_of(a), rows_of(b), dst.data(), dst.cols(), true);
}

Mat low_precision_gemm(const Mat& a, const Mat& b, const LinearPrecision& precision, const Tile& a_tile,
                       const Tile& b_tile, const Mat* a_rounded) {
    if (precision.gemm == GemmPrecision::FP32) return product_nt(a, b);
    if (precision.gemm == GemmPrecision::FP8 && precision.accumulation.mode == AccumulationMode::TensorCore)
        return fp8_gemm(quantize(a, a_tile), quantize(b, b_tile), precision.accumulation);
    // Exact: the E4M3 values times their scales, as dequantize(quantize()) gives them.
    const Mat b_rounded = rounded_operand(b, precision.gemm, b_tile);
    if (a_rounded) return product_nt(*a_rounded, b_rounded);
    return product_nt(rounded_operand(a, precision.gemm, a_tile), b_rounded);
}

// Double runs the gradient checks, in fp32 only.
template <typename S>
static void check_scalar(const LinearPrecision& precision) {
    if (!std::is_same_v<S, float> && precision.gemm != GemmPrecision::FP32)
        throw std::invalid_argument("linear layers in double run fp32 only");
}

// ---------------------------------------------------------------------------------------------
// The matrix-vector path

#if defined(__AVX2__) && defined(__FMA__)
// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7))
static inline float sum_lanes(__m256 lanes) {
    const __m128 halves = _mm_add_ps(_mm256_castps256_ps128(lanes), _mm256_extractf128_ps(lanes, 1));
    const __m128 pairs = _mm_add_ps(halves, _mm_movehl_ps(halves, halves));
    return _mm_cvtss_f32(_mm_add_ss(pairs, _mm_movehdup_ps(pairs)));
}

// R rows of W against C rows of x: R x C outputs, each in its own register of eight lanes. The
// last k % 8 products come from masked loads: their zero lanes add exactly nothing.
template <int R, int C>
static void dot_tile(const float* x, int64_t x_stride, const float* w, int64_t w_stride, int64_t k, float* y,
                     int64_t y_stride) {
    __m256 acc[R][C];
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) acc[r][c] = _mm256_setzero_ps();
    auto step = [&](auto load) {
        __m256 xv[C];
        for (int c = 0; c < C; ++c) xv[c] = load(x + c * x_stride);
        for (int r = 0; r < R; ++r) {
            const __m256 wv = load(w + r * w_stride);
            for (int c = 0; c < C; ++c) acc[r][c] = _mm256_fmadd_ps(xv[c], wv, acc[r][c]);
        }
    };
    int64_t i = 0;
    for (; i + 8 <= k; i += 8) step([&](const float* p) { return _mm256_loadu_ps(p + i); });
    if (i < k) {
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(k - i)), lane);
        step([&](const float* p) { return _mm256_maskload_ps(p + i, mask); });
    }
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) y[c * y_stride + r] = sum_lanes(acc[r][c]);
}
#else
// The same order without 256-bit registers (a build for CPUs before x86-64-v3).
template <int R, int C>
static void dot_tile(const float* x, int64_t x_stride, const float* w, int64_t w_stride, int64_t k, float* y,
                     int64_t y_stride) {
    for (int r = 0; r < R; ++r)
        for (int c = 0; c < C; ++c) {
            float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
            for (int64_t i = 0; i < k; ++i) {
#ifdef __FMA__
                lanes[i % 8] = std::fma(x[c * x_stride + i], w[r * w_stride + i], lanes[i % 8]);
#else
                lanes[i % 8] += x[c * x_stride + i] * w[r * w_stride + i];
#endif
            }
            y[c * y_stride + r] = ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) + ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
        }
}
#endif

// Rows j0 .. j0 + R - 1 of W against every row of x, three rows of x at a time.
template <int R>
static void dot_rows(const float* x, int64_t m, int64_t x_stride, const float* w, int64_t w_stride, int64_t k, float* y,
                     int64_t y_stride) {
    int64_t i = 0;
    for (; i + 3 <= m; i += 3) dot_tile<R, 3>(x + i * x_stride, x_stride, w, w_stride, k, y + i * y_stride, y_stride);
    if (m - i == 2) dot_tile<R, 2>(x + i * x_stride, x_stride, w, w_stride, k, y + i * y_stride, y_stride);
    if (m - i == 1) dot_tile<R, 1>(x + i * x_stride, x_stride, w, w_stride, k, y + i * y_stride, y_stride);
}

void matrix_vector_product(const float* x, int64_t m, int64_t x_stride, const float* w, int64_t n, int64_t w_stride,
                           int64_t k, float* y, int64_t y_stride) {
    // Blocks of 8 rows of W: one row of x keeps eight registers busy, more rows four at a time.
    constexpr int64_t kBlock = 8;
    const int64_t blocks = (n + kBlock - 1) / kBlock;
    parallel_for(blocks, worth_threads(2.0 * m * n * k), [&](int64_t b) {
        const int64_t j0 = b * kBlock, rows = std::min(kBlock, n - j0);
        if (rows == kBlock && m == 1) {
            dot_tile<8, 1>(x, x_stride, w + j0 * w_stride, w_stride, k, y + j0, y_stride);
            return;
        }
        int64_t j = j0;
        for (; j + 4 <= j0 + rows; j += 4) dot_rows<4>(x, m, x_stride, w + j * w_stride, w_stride, k, y + j, y_stride);
        for (; j < j0 + rows; ++j) dot_rows<1>(x, m, x_stride, w + j * w_stride, w_stride, k, y + j, y_stride);
    });
}

// ---------------------------------------------------------------------------------------------

template <typename S>
MatOf<S> linear_forward(const MatOf<S>& x, const MatOf<S>& weight, const LinearPrecision& precision,
                        const Mat* x_rounded) {
    check_scalar<S>(precision);
    if constexpr (std::is_same_v<S, float>) {
        if (precision.gemm != GemmPrecision::FP32)
            return low_precision_gemm(x, weight, precision, kActivationTile, kWeightTile, x_rounded);
        check_inner_dimension(x, weight);
        if (x.rows() > kFewRows && !precision.row_by_row) return product_nt(x, weight);
        Mat y(x.rows(), weight.rows());
        matrix_vector_product(x.data(), x.rows(), x.cols(), weight.data(), weight.rows(), weight.cols(), x.cols(),
                              y.data(), y.cols());
        return y;
    } else {
        return x * weight.transpose();
    }
}

// The 128x1 tiles of Wgrad are 1x128 tiles of the transposes. Dgrad (dx) and Wgrad (dW) are two
// independent products into different matrices: two jobs that share the threads when the layer is
// worth it, each computed as it would be alone (inside another parallel loop, one after the other).
template <typename S>
void linear_backward(MatOf<S>& dx, MatOf<S>& dweight, const MatOf<S>& dy, const MatOf<S>& x,
                     const MatOf<S>& weight, const LinearPrecision& precision, const Mat* x_rounded) {
    check_scalar<S>(precision);
    if (dy.rows() != x.rows() || dy.cols() != weight.rows() || x.cols() != weight.cols() || dx.rows() != x.rows() ||
        dx.cols() != x.cols() || dweight.rows() != weight.rows() || dweight.cols() != weight.cols())
        throw std::invalid_argument("linear backward: shapes do not match: dy " + std::to_string(dy.rows()) + "x" +
                                    std::to_string(dy.cols()) + ", x " + std::to_string(x.rows()) + "x" + std::to_string(x.cols()) +
                                    ", weight " + std::to_string(weight.rows()) + "x" + std::to_string(weight.cols()));
    enum Job : int64_t { kDgrad, kWgrad };
    const bool parallel = worth_threads(4.0 * double(dy.rows()) * double(dy.cols()) * double(x.cols()));
    if constexpr (std::is_same_v<S, float>) {
        if (precision.gemm == GemmPrecision::FP8 && precision.accumulation.mode == AccumulationMode::TensorCore) {
            dx += low_precision_gemm(dy, weight.transpose(), precision, kActivationTile, kWeightTile);
            dweight += low_precision_gemm(dy.transpose(), x.transpose(), precision, kActivationTile, kActivationTile);
            return;
        }
        if (precision.gemm == GemmPrecision::FP32) {
            parallel_for(2, parallel, [&](int64_t job) {
                if (job == kDgrad)
                    add_product_nn(dx, dy, weight);
                else
                    add_product_tn(dweight, dy, x);
            });
            return;
        }
        // Low precision as low_precision_gemm on the transposes above, without copying them: W's
        // 128x128 blocks are W^T's, transposed, and 128x1 tiles of dy and x are 1x128 tiles of dy^T, x^T.
        // dy in Dgrad's 1x128 tiles and Wgrad's 128x1 in one pass over dy; BF16 rounds element by
        // element, so one rounding serves both.
        const RowAndColumnTiles dy_rounded = precision.gemm == GemmPrecision::FP8
                                                 ? quantize_dequantize_rows_and_columns(dy, kQuantGroup)
                                                 : RowAndColumnTiles{rounded_operand(dy, precision.gemm, kActivationTile), Mat()};
        const Mat& dy_tokens = precision.gemm == GemmPrecision::FP8 ? dy_rounded.column_tiles : dy_rounded.row_tiles;
        parallel_for(2, parallel, [&](int64_t job) {
            if (job == kDgrad) {  // dx += dy W
                add_product_nn(dx, dy_rounded.row_tiles, rounded_operand(weight, precision.gemm, kWeightTile));
            } else {  // dW += dy^T x
                const Mat x_tokens = x_rounded ? Mat() : rounded_operand(x, precision.gemm, kTokenTile);
                add_product_tn(dweight, dy_tokens, x_rounded ? *x_rounded : x_tokens);
            }
        });
    } else {
        parallel_for(2, parallel, [&](int64_t job) {
            if (job == kDgrad)
                dx.noalias() += dy * weight;
            else
                dweight.noalias() += dy.transpose() * x;
        });
    }
}

template MatOf<float> linear_forward(const MatOf<float>&, const MatOf<float>&, const LinearPrecision&, const Mat*);
template MatOf<double> linear_forward(const MatOf<double>&, const MatOf<double>&, const LinearPrecision&, const Mat*);
template void linear_backward(MatOf<float>&, MatOf<float>&, const MatOf<float>&, const MatOf<float>&,
                              const MatOf<float>&, const LinearPrecision&, const Mat*);
template void linear_backward(MatOf<double>&, MatOf<double>&, const MatOf<double>&, const MatOf<double>&,
                              const MatOf<double>&, const LinearPrecision&, const Mat*);
template Mat rounded_input(const MatOf<float>&, const LinearPrecision&, const Tile&);
template Mat rounded_input(const MatOf<double>&, const LinearPrecision&, const Tile&);

}  // namespace seek
