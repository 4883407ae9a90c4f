// DeepSeekMoE feed-forward (paper §2.1.2, reference 1.3 and 1.6): SwiGLU experts, the shared
// expert every token uses, the routed experts the gate (gate.h) picks, and the dense FFN of the
// first first_k_dense_replace layers.
//
//   SwiGLU(x) = down_proj( silu(gate_proj x) * up_proj x ),   silu(a) = a / (1 + e^-a)
//   MoE(x)    = Shared(x) + sum_k w_k Expert_{idx_k}(x)
//
// Routed experts are dispatched two ways that give the same sums:
//   per token  for each token, for each chosen expert: add w * Expert(x_t). The readable reference.
//   grouped    sort the (token, expert) pairs by expert, gather each expert's tokens into one
//              matrix, run that expert once (one GEMM per projection), scatter-add the weighted
//              rows back. This is the structure of a GPU grouped GEMM and of expert parallelism
//              (all-to-all dispatch, expert GEMMs, all-to-all combine).
//
// A full V3 layer has 256 experts of 3 x 2048 x 7168 floats: 44 GB in FP32. Routed experts are
// therefore materialized on demand from (seed, HF name) through an ExpertStore that keeps at most
// `capacity` of them.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <string>
#include <utility>

#include "config.h"
#include "gate.h"
#include "linear.h"
#include "tensor.h"
#include "trace.h"

namespace seek {

// HF names: model.layers.{i}.mlp.{gate_proj, up_proj, down_proj}.weight (dense layers),
// model.layers.{i}.mlp.shared_experts.*, model.layers.{i}.mlp.experts.{j}.*
struct FfnWeights {
    Mat gate_proj;  // [width, hidden]  w1
    Mat up_proj;    // [width, hidden]  w3
    Mat down_proj;  // [hidden, width]  w2
};

// SwiGLU FFN : y = (silu(x Wg^T) ⊙ x Wu^T) Wd^T, silu(a) = a σ(a)
//   silu'(a) = σ(a) (1 + a (1 - σ(a)))
// Its three projections run in `precision` (linear.h). The backward recomputes x Wg^T and x Wu^T
// instead of saving them: two GEMMs for less to keep.
template <typename S>
MatOf<S> swiglu_forward(const MatOf<S>& x, const MatOf<S>& gate_proj, const MatOf<S>& up_proj,
                        const MatOf<S>& down_proj, const LinearPrecision& precision = {});
template <typename S>
void swiglu_backward(MatOf<S>& dx, MatOf<S>& dgate_proj, MatOf<S>& dup_proj, MatOf<S>& ddown_proj,
                     const MatOf<S>& dy, const MatOf<S>& x, const MatOf<S>& gate_proj, const MatOf<S>& up_proj,
                     const MatOf<S>& down_proj, const LinearPrecision& precision = {});

inline Mat swiglu_ffn(const FfnWeights& w, const Mat& x) {  // x [T, hidden] -> [T, hidden]
    return swiglu_forward<float>(x, w.gate_proj, w.up_proj, w.down_proj);
}

// N(0, 1/fan_in) projections named `module`.{gate,up,down}_proj.weight; N(0, std^2) when std > 0.
FfnWeights generated_ffn_weights(uint64_t seed, const std::string& module, int64_t hidden, int64_t width, float std = 0);
FfnWeights generated_dense_ffn(const ModelConfig& config, int64_t layer, uint64_t seed);     // intermediate_size
FfnWeights generated_shared_experts(const ModelConfig& config, int64_t layer, uint64_t seed);  // n_shared x moe_intermediate_size
FfnWeights generated_expert(const ModelConfig& config, int64_t layer, int64_t expert, uint64_t seed);

// Bytes of one routed expert in FP32: 3 x moe_intermediate_size x hidden_size x 4.
int64_t expert_bytes(const ModelConfig& config);

// Routed experts of one layer, generated when first asked for and kept in a least-recently-used
// cache of at most `capacity` experts (memory: capacity x expert_bytes).
struct ExpertStore {
    ModelConfig config;
    int64_t layer = 0;
    uint64_t seed = 0;
    int64_t capacity = 0;
    std::list<std::pair<int64_t, FfnWeights>> cached;  // most recently used first
    int64_t materializations = 0;                      // experts generated so far (a miss each)
    double materialize_seconds = 0;                     // time spent generating them
    std::function<void(const ExpertStore&)> on_generate;  // optional: called after each generation (progress)
};

// capacity 0 = all n_routed_experts (the toy); the V3 bench keeps a few.
ExpertStore make_expert_store(const ModelConfig& config, int64_t layer, uint64_t seed, int64_t capacity = 0);
// The reference stays valid until the next call on the same store.
const FfnWeights& routed_expert(ExpertStore& store, int64_t expert);

// The first layer whose FFN is MoE (V3: 3, the toy: 1), or -1 when every layer is dense.
int64_t first_moe_layer(const ModelConfig& config);

struct MoeLayer {
    GateWeights gate;
    FfnWeights shared;  // empty when n_shared_experts == 0
    ExpertStore experts;
};
MoeLayer generated_moe_layer(const ModelConfig& config, int64_t layer, uint64_t seed, int64_t expert_cache = 0);

enum class Dispatch { PerToken, Grouped };

// sum_k w_{t,k} Expert_{idx_{t,k}}(x_t) for every token: [T, hidden].
Mat routed_per_token(ExpertStore& experts, const Routing& routing, const Mat& x);
Mat routed_grouped(ExpertStore& experts, const Routing& routing, const Mat& x);

// Gate, shared expert and routed experts on x ([T, hidden], already ffn_norm'ed), returning the
// FFN output (the caller adds the residual). Traced under `prefix` ("layers.3.moe"): the gate's
// names, then shared_out, routed_out, out. `routing`, when given, receives the gate's decisions.
Mat moe_forward(const ModelConfig& config, MoeLayer& layer, const Mat& x, Dispatch dispatch = Dispatch::Grouped,
                Trace* trace = nullptr, const std::string& prefix = "moe", Routing* routing = nullptr);

}  // namespace seek
