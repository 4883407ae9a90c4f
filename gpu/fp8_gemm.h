// DeepSeek-V3's FP8 block-scaled GEMM on a GPU backend (gpu/fp8_gemm.cu), in the emulator
// (seek::emu, seek_gpu_emu) and on a GPU (seek::cuda, seek_gpu, nvcc):
//   fp8_gemm(a, b, model, variant)                 core/fp8_gemm.h's fp8_gemm, Exact model only:
//                                                  A 1x128 tiles, B 128x128 blocks; bit for bit
//   fp8_grouped_gemm(a, group_rows, b, model, v)   the grouped form over the MoE's contiguous
//                                                  per-expert layout: group g's rows times b[g]^T
//   fp8_linear_forward(x, weight, variant)         core's linear_forward at fp8 precision: quantize
//                                                  x (1x128) and W (128x128), then the GEMM
//   linear_forward(x, weight, precision, variant)  core's linear_forward by precision: fp32 runs
//                                                  gpu/linear.cu (variants 1-3), fp8 the above
//                                                  (variants 1-2); bf16 is refused (the kernel
//                                                  table's entry, gpu/backend_entries.inc, picks
//                                                  a variant per precision and sends bf16 to core)
// Variants 1 (a thread per output) and 2 (shared-memory tiles of codes and scales, promotion per
// 128-wide K block) run everywhere, the emulator included. Variants 3 (mma.sync e4m3 tensor cores,
// sm_89+), 4 (Hopper wgmma, sm_90a) and 5 (wgmma with TMA loads, sm_90a) run on such a GPU only
// (compiled only so far; K a multiple of 16); elsewhere they throw "needs a GPU with ...". Needs the CUDA toolkit's cuda_fp8.h
// (without it fp8_gemm.cu is not built).
#pragma once

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/fp8_gemm.h"
#include "core/linear.h"
#include "core/quantize.h"
#include "gpu/for_each_backend.h"
#include "gpu/linear.h"

namespace seek {

namespace gpu_detail {

inline void check_int_extents(const char* op, int64_t M, int64_t N, int64_t K) {
    if (M > INT_MAX || N > INT_MAX || K > INT_MAX) {
        throw std::invalid_argument(std::string(op) + ": M = " + std::to_string(M) + ", N = " + std::to_string(N) +
                                    ", K = " + std::to_string(K) + ": the kernels index rows and columns with int");
    }
}

// What the kernels take: the Exact model, A in 1x128 tiles and B in 128x128 blocks, the same K,
// int extents, and as many codes and scales as the shapes say.
inline void check_fp8_operands(const QuantizedMatrix& a, const QuantizedMatrix& b, const AccumulationModel& model) {
    if (model.mode != AccumulationMode::Exact) {
        throw std::invalid_argument("fp8_gemm: the GPU kernels accumulate each 128-wide K block exactly in FP32 "
                                    "(the Exact model); the tensor-core model runs in core/ only");
    }
    if (a.tile.rows != kActivationTile.rows || a.tile.cols != kActivationTile.cols ||
        b.tile.rows != kWeightTile.rows || b.tile.cols != kWeightTile.cols) {
        throw std::invalid_argument("fp8_gemm: the GPU kernels take A in " + tile_name(kActivationTile) +
                                    " tiles and B in " + tile_name(kWeightTile) + " blocks, got " +
                                    tile_name(a.tile) + " and " + tile_name(b.tile));
    }
    if (a.cols != b.cols) {
        throw std::invalid_argument("fp8_gemm: A is [" + std::to_string(a.rows) + ", " + std::to_string(a.cols) +
                                    "] but B is [" + std::to_string(b.rows) + ", " + std::to_string(b.cols) +
                                    "]: the K extents differ");
    }
    check_int_extents("fp8_gemm", a.rows, b.rows, a.cols);
    for (const QuantizedMatrix* q : {&a, &b}) {
        const char* name = q == &a ? "A" : "B";
        if (static_cast<int64_t>(q->codes.size()) != q->rows * q->cols ||
            q->scales.rows() != tile_count(q->rows, q->tile.rows) ||
            q->scales.cols() != tile_count(q->cols, q->tile.cols)) {
            throw std::invalid_argument(std::string("fp8_gemm: ") + name + " [" + std::to_string(q->rows) + ", " +
                                        std::to_string(q->cols) + "] has " + std::to_string(q->codes.size()) +
                                        " codes and " + std::to_string(q->scales.rows()) + " x " +
                                        std::to_string(q->scales.cols()) + " scales");
        }
    }
}

template <typename HostFunction>
Mat fp8_gemm(HostFunction host_function, const QuantizedMatrix& a, const QuantizedMatrix& b,
             const AccumulationModel& model, int variant) {
    check_fp8_operands(a, b, model);
    Mat c(a.rows, b.rows);
    host_function(c.data(), a.codes.data(), a.scales.data(), b.codes.data(), b.scales.data(), static_cast<int>(a.rows),
                  static_cast<int>(b.rows), static_cast<int>(a.cols), variant);
    return c;
}

// The grouped GEMM over the MoE's contiguous per-expert layout: A's rows in groups of
// group_rows[g] consecutive rows (the tokens routed to expert g, in order; 0 allowed), group g
// times B_g = b[g]^T. A in 1x128 tiles, every B_g [N, K] in 128x128 blocks; the Exact model.
template <typename HostFunction>
Mat fp8_grouped_gemm(HostFunction host_function, const QuantizedMatrix& a, const std::vector<int64_t>& group_rows,
                     const std::vector<QuantizedMatrix>& b, const AccumulationModel& model, int variant) {
    if (b.empty() || b.size() != group_rows.size()) {
        throw std::invalid_argument("fp8_grouped_gemm: " + std::to_string(group_rows.size()) + " groups of rows but " +
                                    std::to_string(b.size()) + " matrices B (one per group, at least one)");
    }
    std::vector<int> offsets{0};
    int64_t rows = 0;
    for (size_t g = 0; g < group_rows.size(); ++g) {
        if (group_rows[g] < 0) {
            throw std::invalid_argument("fp8_grouped_gemm: group " + std::to_string(g) + " has " +
                                        std::to_string(group_rows[g]) + " rows");
        }
        rows += group_rows[g];
        check_int_extents("fp8_grouped_gemm", rows, 0, 0);
        offsets.push_back(static_cast<int>(rows));
        // Each group is an fp8_gemm of its own: its operands are checked as fp8_gemm checks them.
        if (b[g].rows != b[0].rows || b[g].cols != a.cols) {
            throw std::invalid_argument("fp8_grouped_gemm: B " + std::to_string(g) + " is [" + std::to_string(b[g].rows) +
                                        ", " + std::to_string(b[g].cols) + "], expected [" + std::to_string(b[0].rows) +
                                        ", " + std::to_string(a.cols) + "]");
        }
    }
    if (rows != a.rows) {
        throw std::invalid_argument("fp8_grouped_gemm: the groups hold " + std::to_string(rows) + " rows, A has " +
                                    std::to_string(a.rows));
    }
    std::vector<uint8_t> b_codes;
    std::vector<float> b_scales;
    for (const QuantizedMatrix& b_g : b) {
        check_fp8_operands(a, b_g, model);
        b_codes.insert(b_codes.end(), b_g.codes.begin(), b_g.codes.end());
        b_scales.insert(b_scales.end(), b_g.scales.data(), b_g.scales.data() + b_g.scales.size());
    }
    Mat c(a.rows, b[0].rows);
    host_function(c.data(), a.codes.data(), a.scales.data(), b_codes.data(), b_scales.data(), offsets.data(),
                  static_cast<int>(b.size()), static_cast<int>(b[0].rows), static_cast<int>(a.cols), variant);
    return c;
}

template <typename HostFunction>
Mat fp8_linear_forward(HostFunction host_function, const Mat& x, const Mat& weight, int variant) {
    if (weight.cols() != x.cols()) {
        throw std::invalid_argument("fp8_linear_forward: x is [" + std::to_string(x.rows()) + ", " +
                                    std::to_string(x.cols()) + "] but the weight is [" + std::to_string(weight.rows()) +
                                    ", " + std::to_string(weight.cols()) + "]: the input features differ");
    }
    check_int_extents("fp8_linear_forward", x.rows(), weight.rows(), x.cols());
    Mat y(x.rows(), weight.rows());
    host_function(y.data(), x.data(), weight.data(), static_cast<int>(x.rows()), static_cast<int>(weight.rows()),
                  static_cast<int>(x.cols()), variant);
    return y;
}

using LinearFunction = Mat (*)(const Mat& x, const Mat& weight, int variant);

inline Mat linear_forward(LinearFunction fp32_linear, LinearFunction fp8_linear, const Mat& x, const Mat& weight,
                          const LinearPrecision& precision, int variant) {
    switch (precision.gemm) {
        case GemmPrecision::FP32: return fp32_linear(x, weight, variant);
        case GemmPrecision::FP8:
            if (precision.accumulation.mode != AccumulationMode::Exact) {
                throw std::invalid_argument("linear_forward: fp8 on the GPU accumulates exactly (the Exact model); "
                                            "the tensor-core model runs in core/ only");
            }
            return fp8_linear(x, weight, variant);
        case GemmPrecision::BF16: break;
    }
    throw std::invalid_argument(std::string("linear_forward: ") + gemm_precision_name(precision.gemm) +
                                " GEMMs have no GPU kernel yet (fp32 and fp8 do)");
}

}  // namespace gpu_detail

// One backend's names (gpu/for_each_backend.h): the .cu's host functions, on row-major host arrays
// (c [M, N]; a [M, K] codes with a_scales [M, ceil(K / 128)]; b [N, K] codes with b_scales
// [ceil(N / 128), ceil(K / 128)]; y [M, N], x [M, K], weight [N, K] floats), and the wrappers
// listed at the top of this file.
#define SEEK_FP8_GEMM_API(backend)                                                                                     \
    namespace backend {                                                                                                \
    void fp8_gemm_gpu(float* c, const uint8_t* a, const float* a_scales, const uint8_t* b, const float* b_scales,      \
                      int M, int N, int K, int variant);                                                               \
    void fp8_grouped_gemm_gpu(float* c, const uint8_t* a, const float* a_scales, const uint8_t* b,                     \
                              const float* b_scales, const int* group_offsets, int groups, int N, int K, int variant); \
    void fp8_linear_forward_gpu(float* y, const float* x, const float* weight, int M, int N, int K, int variant);      \
    inline Mat fp8_gemm(const QuantizedMatrix& a, const QuantizedMatrix& b, const AccumulationModel& model,            \
                        int variant) {                                                                                 \
        return gpu_detail::fp8_gemm(fp8_gemm_gpu, a, b, model, variant);                                               \
    }                                                                                                                  \
    inline Mat fp8_grouped_gemm(const QuantizedMatrix& a, const std::vector<int64_t>& group_rows,                      \
                                const std::vector<QuantizedMatrix>& b, const AccumulationModel& model, int variant) {  \
        return gpu_detail::fp8_grouped_gemm(fp8_grouped_gemm_gpu, a, group_rows, b, model, variant);                   \
    }                                                                                                                  \
    inline Mat fp8_linear_forward(const Mat& x, const Mat& weight, int variant) {                                      \
        return gpu_detail::fp8_linear_forward(fp8_linear_forward_gpu, x, weight, variant);                             \
    }                                                                                                                  \
    inline Mat linear_forward(const Mat& x, const Mat& weight, const LinearPrecision& precision, int variant) {        \
        return gpu_detail::linear_forward(linear_forward, fp8_linear_forward, x, weight, precision, variant);          \
    }                                                                                                                  \
    }
SEEK_FOR_EACH_GPU_BACKEND(SEEK_FP8_GEMM_API)
#undef SEEK_FP8_GEMM_API

}  // namespace seek
