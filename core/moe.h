// DeepSeekMoE feed-forward (paper §2.1.2): SwiGLU experts, the shared experts every token uses,
// the routed experts the gate (gate.h) picks, and the dense FFN of the first
// first_k_dense_replace layers.
//
//   SwiGLU(x) = down_proj( silu(gate_proj x) * up_proj x ),   silu(a) = a / (1 + e^-a)
//   MoE(x)    = Shared(x) + sum_k w_k Expert_{idx_k}(x)
//
// Routed experts run grouped, in one plan every path shares: the (token, k) pairs sorted by expert
// (stable, so each expert's tokens stay in order) with per-expert offsets (moe_dispatch); each
// expert gathers its rows and runs once, one GEMM per projection, into the plan's order
// (moe_experts); the weighted rows are added back to their tokens (moe_combine). This is the
// "contiguous" layout of a GPU grouped GEMM (DeepGEMM's) and the structure of expert parallelism
// (all-to-all dispatch, expert GEMMs, all-to-all combine).
//
// A full V3 layer has 256 experts of 3 x 2048 x 7168 floats: 44 GB in FP32. Routed experts can
// therefore be materialized on demand, generated from (seed, HF name) or read from a checkpoint,
// through an ExpertStore that keeps them in an LRU bounded by bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "config.h"
#include "gate.h"
#include "kernels.h"
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

// What swiglu_forward keeps for swiglu_backward (training), each [T, width]: the two projections,
// their product and the sigmoid silu' needs, all from the forward's exps. With them the backward
// runs three GEMMs instead of five and no exp; without (nullptr) it recomputes them, to the same bits.
template <typename S>
struct SwigluActivationsOf {
    MatOf<S> gate;     // x Wg^T
    MatOf<S> up;       // x Wu^T
    MatOf<S> hidden;   // silu(gate) ⊙ up
    MatOf<S> sigmoid;  // σ(gate)
};
using SwigluActivations = SwigluActivationsOf<float>;

// SwiGLU FFN : y = (silu(x Wg^T) ⊙ x Wu^T) Wd^T, silu(a) = a σ(a)
//   silu'(a) = σ(a) (1 + a (1 - σ(a)))
// Its three projections run in `precision` (linear.h); gate_proj and up_proj read x rounded once,
// or x_rounded when the caller has rounded it already (rounded_input, Fprop's tiles).
template <typename S>
MatOf<S> swiglu_forward(const MatOf<S>& x, const MatOf<S>& gate_proj, const MatOf<S>& up_proj,
                        const MatOf<S>& down_proj, const LinearPrecision& precision = {},
                        SwigluActivationsOf<S>* act = nullptr, const Mat* x_rounded = nullptr);
template <typename S>
void swiglu_backward(MatOf<S>& dx, MatOf<S>& dgate_proj, MatOf<S>& dup_proj, MatOf<S>& ddown_proj,
                     const MatOf<S>& dy, const MatOf<S>& x, const MatOf<S>& gate_proj, const MatOf<S>& up_proj,
                     const MatOf<S>& down_proj, const LinearPrecision& precision = {},
                     const SwigluActivationsOf<S>* act = nullptr);
// The kernel-table form: x [T, hidden] -> [T, hidden].
Mat swiglu(const Mat& x, const FfnWeights& w, const LinearPrecision& precision = {}, SwigluActivations* act = nullptr);

// N(0, 1/fan_in) projections named `module`.{gate,up,down}_proj.weight; N(0, std^2) when std > 0.
// `reuse`: matrices whose storage the result may take over (an evicted expert's), or empty.
FfnWeights generated_ffn_weights(uint64_t seed, const std::string& module, int64_t hidden, int64_t width, float std = 0,
                                 FfnWeights reuse = {});
FfnWeights generated_expert(const ModelConfig& config, int64_t layer, int64_t expert, uint64_t seed, float std = 0,
                            FfnWeights reuse = {});
// gate_proj, up_proj [width, hidden] and down_proj [hidden, width], allocated and not filled.
FfnWeights sized_ffn_weights(int64_t hidden, int64_t width);

// Bytes of one routed expert in FP32: 3 x moe_intermediate_size x hidden_size x 4.
int64_t expert_bytes(const ModelConfig& config);

// Where a store gets an expert it does not hold: generated from (seed, HF name), or read from a
// checkpoint and dequantized (model.h's streaming source). `evicted`: the expert the store just
// dropped to make room (or empty), whose storage the loader may fill instead of allocating.
using ExpertLoader = std::function<FfnWeights(int64_t layer, int64_t expert, FfnWeights evicted)>;

// Routed experts loaded when first asked for and kept in a least-recently-used cache bounded by
// bytes (FP32 weights held). One store can serve every MoE layer of a model: entries are keyed by
// (layer, expert), so a budget covers the whole model, not each layer.
struct ExpertStore {
    int64_t n_routed_experts = 0;
    ExpertLoader load;
    int64_t capacity_bytes = 0;                         // at least one expert
    int64_t bytes_per_expert = 0;                       // expert_bytes(config)
    int64_t held_bytes = 0;                             // FP32 bytes of the experts in `cached`
    std::list<std::pair<std::pair<int64_t, int64_t>, FfnWeights>> cached;  // (layer, expert), most recent first
    int64_t materializations = 0;                       // experts loaded so far (a miss each)
    double materialize_seconds = 0;                     // time spent loading them
    std::function<void(const ExpertStore&)> on_generate;  // optional: called after each load (progress)
};
// A store of `capacity_bytes` (throws when it cannot hold one expert of the config).
ExpertStore make_expert_store(const ModelConfig& config, ExpertLoader load, int64_t capacity_bytes);
// Generated experts of any layer, at most `capacity` of them at once.
ExpertStore make_expert_store(const ModelConfig& config, uint64_t seed, int64_t capacity, float std = 0);

// model.layers.{i}.mlp of a MoE layer. The routed experts are held in `experts` (a checkpoint, a
// model being trained) or, when `store` is set, generated on demand (full scale).
struct MoeWeights {
    GateWeights gate;                    // mlp.gate.weight, mlp.gate.e_score_correction_bias
    FfnWeights shared_experts;           // mlp.shared_experts.*: the n_shared_experts as one SwiGLU
    std::vector<FfnWeights> experts;     // mlp.experts.{j}.*
    std::shared_ptr<ExpertStore> store;  // or these, on demand
    int64_t layer = 0;                   // which layer's experts to ask the store for
};
// Routed expert e of the layer; with a store, valid until the next call on the same layer.
const FfnWeights& routed_expert(const MoeWeights& moe, int64_t expert);

// Random weights for MoE layer `layer` (gate, shared and routed experts; zero bias), a pure
// function of (seed, HF name, index): N(0, 1/fan_in), or N(0, std^2) when std > 0.
// expert_cache > 0 generates the routed experts on demand into a store of that many.
MoeWeights generated_moe_weights(const ModelConfig& config, int64_t layer, uint64_t seed, float std = 0,
                                 int64_t expert_cache = 0);

// The first layer whose FFN is MoE (V3: 3, the toy: 1), or -1 when every layer is dense.
int64_t first_moe_layer(const ModelConfig& config);

// ---------------------------------------------------------------------------------------------
// The dispatch plan and the grouped experts

// The (token, k) pairs of topk_idx [T, K] sorted by expert: expert e's pairs are slots
// offsets[e] .. offsets[e+1] - 1, each slot holding t·K + k, tokens in order within an expert
// (a counting sort: a histogram of assignments, its exclusive prefix sum, then one pass).
struct MoePlan {
    int64_t top_k = 0;               // K
    std::vector<int64_t> offsets;    // [experts + 1]
    std::vector<int64_t> slots;      // [T·K]  t·K + k
};
MoePlan moe_dispatch(const IndexMat& topk_idx, int64_t experts);

// Row i = Expert_e(x_t) for plan slot i = t·K + k of expert e: [T·K, hidden], unweighted. Each
// used expert gathers its rows and runs once; an unused expert is never materialized. `act`, when
// given, receives each expert's SwiGLU activations (resized to the experts; an unused one's empty).
Mat moe_experts(const Mat& x, const MoePlan& plan, const MoeWeights& w, const LinearPrecision& precision = {},
                std::vector<SwigluActivations>* act = nullptr);
// out[t] = sum_k topk_weight[t, k] expert_out[slot of (t, k)]: [T, hidden], added in the plan's
// (expert) order.
Mat moe_combine(const Mat& expert_out, const MoePlan& plan, const Mat& topk_weight);

// What moe_forward keeps for moe_backward.
struct MoeActivations {
    Mat logits;      // the gate's [T, n_routed_experts]
    Routing routing;
    MoePlan plan;
    Mat expert_out;  // [T·K, hidden] in plan order
    std::vector<SwigluActivations> experts;  // each routed expert's, on its rows of the plan
    SwigluActivations shared;                // the shared experts'
};

// Gate, shared experts and routed experts on x ([T, hidden], ffn_norm'ed), returning the FFN
// output (the caller adds the residual). Traced under `prefix` ("layers.3.moe"): the gate's names,
// then shared_out, routed_out, out.
Mat moe_forward(const ModelConfig& config, const MoeWeights& w, const Mat& x, const ForwardContext& context,
                const std::string& prefix = "moe", MoeActivations* act = nullptr);

// Accumulates d(loss)/dx and the weight gradients from d(loss)/d(out): through the weighted sum
// (out_t += w_tk y(x_t): dy = w_tk dout_t, dw_tk = dout_t · y), each expert's SwiGLU, the shared
// experts, and the gate (gate_backward, with the balance loss of each sequence when alpha > 0).
void moe_backward(Mat& dx, MoeWeights& dw, const Mat& dout, const ModelConfig& config, const MoeWeights& w,
                  const Mat& x, const std::vector<int64_t>& offsets, const LinearPrecision& precision,
                  double balance_alpha, const MoeActivations& act);

}  // namespace seek
