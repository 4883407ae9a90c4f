// MoE routing on a GPU backend (gpu/gate.cu), with core/gate.h's route_tokens signature:
//   seek::emu::route_tokens(config, logits, bias, variant)   the kernels in the emulator (seek_gpu_emu)
//   seek::cuda::route_tokens(config, logits, bias, variant)  the kernels on a GPU (seek_gpu, nvcc)
// Variants 1 (a thread per token) and 2 (a warp per token, shuffles). Both return core's Routing:
// topk_idx and group_mask equal to seek::route_tokens's, the float fields equal up to the softmax
// sum's order (variant 2) and the GPU's expf (gpu/gate.cu says where each may differ).
#pragma once

#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/config.h"
#include "core/gate.h"
#include "core/tensor.h"
#include "gpu/for_each_backend.h"

namespace seek {

namespace gpu_detail {

// A NaN or an infinity in the logits or the bias is refused: core's insertion and the kernels'
// repeated argmax agree on any ordering of finite floats, not on NaN, which compares false.
inline void check_route_finite(const float* values, int64_t rows, int64_t cols, const std::string& what) {
    for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c)
            if (!std::isfinite(values[r * cols + c]))
                throw std::invalid_argument("route_tokens: " + what + "[" + std::to_string(r) + ", " + std::to_string(c) +
                                            "] is " + std::to_string(values[r * cols + c]) + ": routing needs finite values");
}

template <typename HostFunction>
Routing route_tokens(HostFunction host_function, const ModelConfig& config, const Mat& logits, const Vec& bias,
                     int variant) {
    validate_routing(config, config.name);  // the routing fields only, as core's route_tokens: the whole config was checked at load
    const int64_t T = logits.rows(), E = config.n_routed_experts, K = config.num_experts_per_tok, G = config.n_group;
    if (E == 0) throw std::invalid_argument(config.name + ": route_tokens needs n_routed_experts > 0");
    if (logits.cols() != E)
        throw std::invalid_argument("gate logits have " + std::to_string(logits.cols()) + " columns, " + config.name +
                                    " has n_routed_experts " + std::to_string(E));
    const bool has_bias = bias.size() != 0;
    if (has_bias && bias.size() != E)
        throw std::invalid_argument("e_score_correction_bias has " + std::to_string(bias.size()) + " entries, expected " +
                                    std::to_string(E));
    if (G > 64) throw std::invalid_argument(config.name + ": n_group " + std::to_string(G) + ", the kernels keep at most 64 groups");
    if (T > INT_MAX || E > INT_MAX)
        throw std::invalid_argument("route_tokens: " + std::to_string(T) + " tokens x " + std::to_string(E) +
                                    " experts, the kernels index tokens and experts with int");
    check_route_finite(logits.data(), T, E, "gate logits");
    if (has_bias) check_route_finite(bias.data(), 1, E, "e_score_correction_bias");

    Routing r;
    r.scores.resize(T, E);
    r.biased_scores.resize(T, E);
    r.group_scores.resize(T, G);
    r.group_mask.resize(T, G);
    r.topk_idx.resize(T, K);
    r.topk_weight.resize(T, K);
    host_function(r.scores.data(), r.biased_scores.data(), r.group_scores.data(), r.group_mask.data(), r.topk_idx.data(),
                  r.topk_weight.data(), logits.data(), has_bias ? bias.data() : nullptr, static_cast<int>(T),
                  static_cast<int>(E), static_cast<int>(G), static_cast<int>(config.topk_group), static_cast<int>(K),
                  config.scoring_func == "softmax", config.norm_topk_prob,
                  static_cast<float>(config.routed_scaling_factor), variant);
    return r;
}

}  // namespace gpu_detail

// One backend's names (gpu/for_each_backend.h): the .cu's host function (logits [tokens, experts],
// bias [experts] or null; outputs as Routing's) and the wrapper with core's signature.
#define SEEK_GATE_API(backend)                                                                                        \
    namespace backend {                                                                                               \
    void route_tokens_gpu(float* scores, float* biased_scores, float* group_scores, float* group_mask, int* topk_idx, \
                          float* topk_weight, const float* logits, const float* bias, int tokens, int experts,        \
                          int groups, int topk_group, int top_k, bool softmax, bool normalize, float scale,           \
                          int variant);                                                                               \
    inline Routing route_tokens(const ModelConfig& config, const Mat& logits, const Vec& bias, int variant) {         \
        return gpu_detail::route_tokens(route_tokens_gpu, config, logits, bias, variant);                             \
    }                                                                                                                 \
    }
SEEK_FOR_EACH_GPU_BACKEND(SEEK_GATE_API)
#undef SEEK_GATE_API

}  // namespace seek
