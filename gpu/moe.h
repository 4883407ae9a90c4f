// The routed experts on a GPU backend (gpu/moe.cu), with core/moe.h's signatures:
//   seek::emu::moe_dispatch(topk_idx, experts, variant)             the kernels in the emulator (seek_gpu_emu)
//   seek::emu::moe_experts(x, plan, weights, precision, variant)
//   seek::emu::moe_combine(expert_out, plan, topk_weight, variant)
//   seek::emu::swiglu(x, weights, precision, variant)               the dense FFN / shared experts
// and the same in seek::cuda (seek_gpu, nvcc). Variants (gpu/moe.cu): dispatch 1 (a block, a
// thread per expert), 2 (tile ranks, one scan, placement); experts and swiglu 1 (a thread per
// output element), 2 (shared-memory tiles that never straddle two experts); combine 1 (a thread
// per output element, k order), 2 (a warp per token, plan order: core's).
// The plan equals core's moe_dispatch exactly; the experts' and the combine's outputs equal core's
// up to FP32 summation order (bounds in tests/gpu/test_moe_gpu.cpp). The GEMMs are FP32: a bf16 or
// fp8 LinearPrecision is refused (core runs those).
#pragma once

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/linear.h"
#include "core/moe.h"
#include "core/tensor.h"
#include "gpu/for_each_backend.h"

namespace seek {

namespace gpu_detail {

inline void check_moe_int(int64_t value, const std::string& what) {
    if (value > INT_MAX) throw std::invalid_argument(what + " is " + std::to_string(value) + ", the kernels index it with int");
}

inline void check_moe_fp32(const LinearPrecision& precision, const char* op) {
    if (precision.gemm != GemmPrecision::FP32)
        throw std::invalid_argument(std::string(op) + ": the GPU kernels compute FP32 GEMMs; precision " +
                                    gemm_precision_name(precision.gemm) + " runs in core (linear.h)");
}

// A plan as the kernels take it: int offsets and slots, checked to be a dispatch of `tokens` x K
// assignments (offsets from 0 up to T K, the slots a permutation of 0 .. T K - 1), so that no
// kernel reads outside its arrays.
struct KernelPlan {
    std::vector<int> offsets, slots;
    int experts = 0, top_k = 0, rows = 0;
};
inline KernelPlan kernel_plan(const MoePlan& plan, int64_t tokens, const std::string& op) {
    const int64_t experts = static_cast<int64_t>(plan.offsets.size()) - 1, rows = static_cast<int64_t>(plan.slots.size());
    if (experts < 0) throw std::invalid_argument(op + ": the plan has no offsets");
    if (rows != tokens * plan.top_k)
        throw std::invalid_argument(op + ": the plan has " + std::to_string(rows) + " slots, expected " +
                                    std::to_string(tokens) + " tokens x top_k " + std::to_string(plan.top_k));
    check_moe_int(rows, op + ": tokens x top_k");
    check_moe_int(experts + 1, op + ": experts + 1");
    KernelPlan k;
    k.experts = static_cast<int>(experts);
    k.top_k = static_cast<int>(plan.top_k);
    k.rows = static_cast<int>(rows);
    for (int64_t e = 0; e <= experts; ++e) {
        const int64_t offset = plan.offsets[e];
        if ((e == 0 && offset != 0) || (e > 0 && offset < plan.offsets[e - 1]) || offset > rows || (e == experts && offset != rows))
            throw std::invalid_argument(op + ": plan offset " + std::to_string(e) + " is " + std::to_string(offset) +
                                        ", offsets must rise from 0 to the " + std::to_string(rows) + " slots");
        k.offsets.push_back(static_cast<int>(offset));
    }
    std::vector<bool> seen(rows, false);
    for (int64_t i = 0; i < rows; ++i) {
        const int64_t slot = plan.slots[i];
        if (slot < 0 || slot >= rows || seen[slot])
            throw std::invalid_argument(op + ": plan slot " + std::to_string(i) + " holds " + std::to_string(slot) +
                                        ", the slots must be a permutation of 0 .. " + std::to_string(rows - 1));
        seen[slot] = true;
        k.slots.push_back(static_cast<int>(slot));
    }
    return k;
}

template <typename HostFunction>
MoePlan moe_dispatch(HostFunction host_function, const IndexMat& topk_idx, int64_t experts, int variant) {
    const int64_t T = topk_idx.rows(), K = topk_idx.cols();
    if (experts < 0) throw std::invalid_argument("moe_dispatch: " + std::to_string(experts) + " experts");
    check_moe_int(T * K, "moe_dispatch: tokens x top_k");
    check_moe_int(experts + 1, "moe_dispatch: experts + 1");
    check_moe_int(experts * ((T * K + 255) / 256) + 1, "moe_dispatch: experts x tiles of 256 assignments");
    for (int64_t t = 0; t < T; ++t)
        for (int64_t k = 0; k < K; ++k)
            if (topk_idx(t, k) < 0 || topk_idx(t, k) >= experts)
                throw std::invalid_argument("moe_dispatch: token " + std::to_string(t) + " chose expert " +
                                            std::to_string(topk_idx(t, k)) + " of " + std::to_string(experts));
    std::vector<int> offsets(experts + 1), slots(T * K);
    host_function(offsets.data(), slots.data(), topk_idx.data(), static_cast<int>(T), static_cast<int>(K),
                  static_cast<int>(experts), variant);
    MoePlan plan;
    plan.top_k = K;
    plan.offsets.assign(offsets.begin(), offsets.end());
    plan.slots.assign(slots.begin(), slots.end());
    return plan;
}

// The used experts' weights, packed for the kernels: each used expert's three matrices copied in
// as soon as routed_expert gives them (a store's expert is valid only until its next call).
struct PackedExperts {
    std::vector<float> gate, up, down;
    std::vector<int> index;  // [experts]: place in the packs, -1 unused
    int used = 0;
    int64_t width = -1;
};
inline void pack_expert(PackedExperts& packed, const FfnWeights& f, int64_t dim, const std::string& name) {
    if (packed.width < 0) packed.width = f.gate_proj.rows();
    const int64_t width = packed.width;
    auto check = [&](const Mat& m, int64_t rows, int64_t cols, const char* leaf) {
        if (m.rows() != rows || m.cols() != cols)
            throw std::invalid_argument(name + "." + leaf + " is " + std::to_string(m.rows()) + " x " +
                                        std::to_string(m.cols()) + ", expected " + std::to_string(rows) + " x " +
                                        std::to_string(cols));
    };
    check(f.gate_proj, width, dim, "gate_proj");
    check(f.up_proj, width, dim, "up_proj");
    check(f.down_proj, dim, width, "down_proj");
    packed.gate.insert(packed.gate.end(), f.gate_proj.data(), f.gate_proj.data() + f.gate_proj.size());
    packed.up.insert(packed.up.end(), f.up_proj.data(), f.up_proj.data() + f.up_proj.size());
    packed.down.insert(packed.down.end(), f.down_proj.data(), f.down_proj.data() + f.down_proj.size());
    ++packed.used;
}

inline void check_moe_grid(int64_t rows, int64_t width, int64_t dim, const std::string& op) {
    check_moe_int(rows * width, op + ": rows x width");
    check_moe_int(rows * dim, op + ": rows x hidden");
}

template <typename HostFunction>
Mat moe_experts(HostFunction host_function, const Mat& x, const MoePlan& plan, const MoeWeights& w,
                const LinearPrecision& precision, int variant) {
    check_moe_fp32(precision, "moe_experts");
    check_moe_int(x.rows(), "moe_experts: tokens");
    check_moe_int(x.cols(), "moe_experts: hidden");
    const KernelPlan k = kernel_plan(plan, x.rows(), "moe_experts");
    PackedExperts packed;
    packed.index.assign(k.experts, -1);
    for (int e = 0; e < k.experts; ++e) {
        if (k.offsets[e + 1] == k.offsets[e]) continue;  // an unused expert is never materialized
        packed.index[e] = packed.used;
        pack_expert(packed, routed_expert(w, e), x.cols(), "experts." + std::to_string(e));
    }
    Mat expert_out(k.rows, x.cols());
    if (k.rows == 0) return expert_out;
    check_moe_grid(k.rows, packed.width, x.cols(), "moe_experts");
    host_function(expert_out.data(), x.data(), static_cast<int>(x.rows()), static_cast<int>(x.cols()), k.offsets.data(),
                  k.slots.data(), k.top_k, k.experts, packed.gate.data(), packed.up.data(), packed.down.data(),
                  packed.index.data(), packed.used, static_cast<int>(packed.width), variant);
    return expert_out;
}

// The dense FFN (or the shared experts) is the grouped SwiGLU with one group: one expert taking
// every token, in order.
template <typename HostFunction>
Mat swiglu(HostFunction host_function, const Mat& x, const FfnWeights& f, const LinearPrecision& precision, int variant) {
    check_moe_fp32(precision, "swiglu");
    check_moe_int(x.rows(), "swiglu: tokens");
    check_moe_int(x.cols(), "swiglu: hidden");
    PackedExperts packed;
    packed.index = {0};
    pack_expert(packed, f, x.cols(), "swiglu");
    Mat out(x.rows(), x.cols());
    if (x.rows() == 0) return out;
    check_moe_grid(x.rows(), packed.width, x.cols(), "swiglu");
    const int T = static_cast<int>(x.rows());
    const std::vector<int> offsets = {0, T};
    std::vector<int> slots(T);
    for (int t = 0; t < T; ++t) slots[t] = t;  // t K + k with K = 1
    host_function(out.data(), x.data(), T, static_cast<int>(x.cols()), offsets.data(), slots.data(), 1, 1,
                  packed.gate.data(), packed.up.data(), packed.down.data(), packed.index.data(), 1,
                  static_cast<int>(packed.width), variant);
    return out;
}

template <typename HostFunction>
Mat moe_combine(HostFunction host_function, const Mat& expert_out, const MoePlan& plan, const Mat& topk_weight, int variant) {
    if (topk_weight.cols() != plan.top_k)
        throw std::invalid_argument("moe_combine: topk_weight has " + std::to_string(topk_weight.cols()) +
                                    " columns, the plan's top_k is " + std::to_string(plan.top_k));
    const KernelPlan k = kernel_plan(plan, topk_weight.rows(), "moe_combine");
    if (expert_out.rows() != k.rows)
        throw std::invalid_argument("moe_combine: expert_out has " + std::to_string(expert_out.rows()) + " rows, the plan " +
                                    std::to_string(k.rows) + " slots");
    check_moe_int(expert_out.cols(), "moe_combine: hidden");
    check_moe_int(topk_weight.rows() * expert_out.cols(), "moe_combine: tokens x hidden");
    check_moe_int(int64_t{k.rows} * expert_out.cols(), "moe_combine: rows x hidden");
    Mat out(topk_weight.rows(), expert_out.cols());
    host_function(out.data(), expert_out.data(), k.slots.data(), topk_weight.data(), static_cast<int>(topk_weight.rows()),
                  k.top_k, static_cast<int>(expert_out.cols()), variant);
    return out;
}

}  // namespace gpu_detail

// One backend's names (gpu/for_each_backend.h): the .cu's host functions, on row-major host arrays
// (gpu/moe.cu says what each takes); pieces open to the tests (the dispatch's scan,
// exclusive_scan_gpu; the tiled GEMM's row tiles, grouped_gemm_tile_rows and grouped_gemm_tiles,
// and the GEMM on a given table, grouped_swiglu_tiles_gpu); and the wrappers with core's
// signatures.
#define SEEK_MOE_API(backend)                                                                                          \
    namespace backend {                                                                                                \
    void moe_dispatch_gpu(int* offsets, int* slots, const int* topk_idx, int tokens, int top_k, int experts,           \
                          int variant);                                                                                \
    void moe_experts_gpu(float* expert_out, const float* x, int tokens, int dim, const int* offsets, const int* slots, \
                         int top_k, int experts, const float* gate_proj, const float* up_proj, const float* down_proj, \
                         const int* weight_index, int used, int width, int variant);                                   \
    void moe_combine_gpu(float* out, const float* expert_out, const int* slots, const float* topk_weight, int tokens,  \
                         int top_k, int dim, int variant);                                                             \
    void exclusive_scan_gpu(int* values, int n);                                                                       \
    int grouped_gemm_tile_rows();                                                                                      \
    std::vector<int> grouped_gemm_tiles(const int* offsets, int experts);                                              \
    void grouped_swiglu_tiles_gpu(float* expert_out, const float* x, int tokens, int dim, const int* slots, int rows,  \
                                  int top_k, int experts, const float* gate_proj, const float* up_proj,                \
                                  const float* down_proj, const int* weight_index, int used, int width,                \
                                  const int* tiles, int tile_count);                                                   \
    inline MoePlan moe_dispatch(const IndexMat& topk_idx, int64_t experts, int variant) {                              \
        return gpu_detail::moe_dispatch(moe_dispatch_gpu, topk_idx, experts, variant);                                 \
    }                                                                                                                  \
    inline Mat moe_experts(const Mat& x, const MoePlan& plan, const MoeWeights& w, const LinearPrecision& precision,   \
                           int variant) {                                                                              \
        return gpu_detail::moe_experts(moe_experts_gpu, x, plan, w, precision, variant);                               \
    }                                                                                                                  \
    inline Mat moe_combine(const Mat& expert_out, const MoePlan& plan, const Mat& topk_weight, int variant) {          \
        return gpu_detail::moe_combine(moe_combine_gpu, expert_out, plan, topk_weight, variant);                       \
    }                                                                                                                  \
    inline Mat swiglu(const Mat& x, const FfnWeights& w, const LinearPrecision& precision, int variant) {              \
        return gpu_detail::swiglu(moe_experts_gpu, x, w, precision, variant);                                          \
    }                                                                                                                  \
    }
SEEK_FOR_EACH_GPU_BACKEND(SEEK_MOE_API)
#undef SEEK_MOE_API

}  // namespace seek
