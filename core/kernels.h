// The kernel table: which implementation of each op a forward pass runs.
//
// The op files (mla, gate, moe, ...), block.cpp and model.cpp never call an op's implementation
// directly: every op a forward pass runs goes through a Kernels table, a plain struct of function
// pointers carried in ForwardContext. cpu_kernels() is the reference: core/'s own functions, the
// ones the tests hold against float64 re-derivations and finite differences. Another
// implementation (gpu/'s kernels, on a GPU or in the thread-block emulator: `--device cuda|emu`;
// or a variant under test) starts from a copy of the reference and replaces entries one at a time:
//
//     Kernels kernels = cpu_kernels();
//     kernels.name = "cpu, rms_norm from my_norm.cu";
//     kernels.rms_norm = my_rms_norm;
//     ForwardContext context;
//     context.kernels = &kernels;
//
// Everything computed before the first call of a replaced entry stays bit-identical to the
// reference, so `seek compare reference.safetensors candidate.safetensors --tol auto` names the
// replaced op's output as the first tensor that differs (tests/test_kernels.cpp plants one).
//
// An entry takes and returns what its reference takes and returns (the reference is named next
// to it) and may differ from it only by floating-point rounding, within trace_tolerance (trace.h).
// Kernels record no trace names: the op files record them around the calls, so the names never
// depend on the backend. Backward passes are not in the table: training differentiates the
// reference ops (block.h).
#pragma once

#include <cstdint>
#include <vector>

#include "config.h"
#include "linear.h"
#include "tensor.h"

namespace seek {

struct Trace;
struct RopeTable;
struct RopeLanes;
struct Routing;
struct MoePlan;
struct MoeWeights;
struct FfnWeights;
template <typename S>
struct SwigluActivationsOf;
using SwigluActivations = SwigluActivationsOf<float>;

struct Kernels {
    const char* name = "cpu";  // recorded in a trace's metadata as "kernels"

    // embedding.h: embedding_forward. out[t] = table[tokens[t]]
    Mat (*embedding)(const Mat& table, const std::vector<int32_t>& tokens) = nullptr;
    // norm.h: rms_norm_forward. y = x / rms(x) * weight, per row
    Mat (*rms_norm)(const Mat& x, const Vec& weight, float eps) = nullptr;
    // rope.h: rope_forward. Rotates x's rope lanes in place, row i at positions[i]
    void (*rope)(Mat& x, const std::vector<int64_t>& positions, const RopeTable& table, const RopeLanes& lanes) = nullptr;
    // linear.h: linear_forward. y = x W^T in FP32, BF16 or FP8 (V3's block-scaled GEMM)
    Mat (*linear)(const Mat& x, const Mat& weight, const LinearPrecision& precision) = nullptr;

    // mla.h: attention_forward, MLA's naive form: every head attends to its own cached keys and
    // values; queries at positions start .. start + T - 1. Returns [T, heads · v_dim].
    Mat (*attention)(const MatRef& q, const MatRef& k, const MatRef& v, int64_t heads, float scale, int64_t start,
                     Mat* scores, Mat* probs) = nullptr;
    // mla.h: latent_attention_forward, MLA's absorbed form: every head attends to the one latent
    // cache (c_kv, k_pe). Returns the attention over the latent [heads · T, kv_lora_rank].
    Mat (*latent_attention)(const Mat& q_absorbed, const Mat& q_pe, const MatRef& c_kv, const MatRef& k_pe,
                            int64_t heads, float scale, int64_t start, Mat* scores, Mat* probs) = nullptr;

    // gate.h: route_tokens. Scores, bias, group-limited top-k and weights from the gate's logits
    Routing (*route)(const ModelConfig& config, const Mat& logits, const Vec& bias) = nullptr;
    // moe.h: moe_dispatch. The (token, k) pairs sorted by expert, with per-expert offsets
    MoePlan (*moe_dispatch)(const IndexMat& topk_idx, int64_t experts) = nullptr;
    // moe.h: moe_experts. Each routed expert's SwiGLU on its rows of the plan: [T · K, hidden]
    // `saved`, when given (training), receives each expert's SwiGLU activations for the backward
    Mat (*moe_experts)(const Mat& x, const MoePlan& plan, const MoeWeights& weights,
                       const LinearPrecision& precision, std::vector<SwigluActivations>* saved) = nullptr;
    // moe.h: moe_combine. out[t] = sum_k topk_weight[t, k] expert_out[row of (t, k)]
    Mat (*moe_combine)(const Mat& expert_out, const MoePlan& plan, const Mat& topk_weight) = nullptr;
    // moe.h: swiglu. down(silu(gate x) * up x): the dense FFN and the shared experts
    // `saved`, when given (training), receives its SwiGLU activations (moe.h) for the backward
    Mat (*swiglu)(const Mat& x, const FfnWeights& weights, const LinearPrecision& precision, SwigluActivations* saved) = nullptr;
};

// The reference: every entry core/'s own function.
const Kernels& cpu_kernels();

// What a forward pass runs with. A LinearPrecision alone converts to one (training's call sites).
struct ForwardContext {
    LinearPrecision precision;                 // of the linear layers' GEMMs (training: bf16 / fp8)
    const Kernels* kernels = &cpu_kernels();
    Trace* trace = nullptr;                    // records the intermediates when given

    ForwardContext(const LinearPrecision& gemm_precision = {}, const Kernels* implementation = &cpu_kernels(),
                   Trace* recorder = nullptr)
        : precision(gemm_precision), kernels(implementation), trace(recorder) {}
};

}  // namespace seek
