// The DeepSeekMoE gate (V3 paper §2.1.2; inference/model.py's Gate): which routed experts each token goes to and
// with what weight, how evenly that loads the experts, and the two ways V3 keeps the load even.
//
//   logits = x W_gate^T                                      [T, n_routed_experts]
//   s      = sigmoid(logits)  (V3)   or softmax(logits) (V2)  the token-to-expert affinities
//   sel    = s + b            b = e_score_correction_bias, used for selection only
//   groups: the experts are split into n_group equal groups (V3: 8 groups of 32, one per node);
//           a group scores the sum of its top-2 sel (with a bias) or its max sel (without);
//           only the topk_group best groups stay eligible (node-limited routing, M = topk_group)
//   idx    = the num_experts_per_tok eligible experts with the largest sel
//   w      = s[idx]                   the UNBIASED affinities
//            / sum(w)                 when norm_topk_prob (V3; HF adds 1e-20 to the denominator)
//            * routed_scaling_factor  (V3: 2.5)
//
// Ties are broken toward the lower index, for groups and experts alike, so routing is
// deterministic (torch.topk leaves the order of equal values unspecified).
//
// Groups apply whenever n_group > 1, as in DeepSeek's inference code; HF's "greedy" topk_method
// would ignore them, but no published config combines the two.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.h"
#include "kernels.h"
#include "linear.h"
#include "tensor.h"
#include "trace.h"

namespace seek {

// "model.layers.3.mlp": the HF module of a layer's feed-forward; it holds the gate
// (".gate.weight"), the experts (".experts.17.up_proj.weight") or a dense FFN (".up_proj.weight").
std::string mlp_module_name(int64_t layer);

// HF names: model.layers.{i}.mlp.gate.weight and model.layers.{i}.mlp.gate.e_score_correction_bias
struct GateWeights {
    Mat weight;  // [n_routed_experts, hidden]  BF16 in the checkpoint, FP32 here
    Vec bias;    // [n_routed_experts]  e_score_correction_bias; empty unless gate_has_bias(config)
};

// The checkpoint carries e_score_correction_bias exactly when topk_method is "noaux_tc" (V3).
bool gate_has_bias(const ModelConfig& config);

// N(0, 1/hidden) gate weights from (seed, HF name); the bias starts at zero, as in a fresh model.
// std > 0 draws N(0, std^2) instead (a model to train, model.h).
GateWeights generated_gate_weights(const ModelConfig& config, int64_t layer, uint64_t seed, float std = 0);

struct Routing {
    Mat scores;         // [T, E]  s: sigmoid or softmax of the logits
    Mat biased_scores;  // [T, E]  s + b: what selection ranks (equal to s without a bias)
    Mat group_scores;   // [T, G]  top-2 sum (with a bias) or max of each group's biased scores
    Mat group_mask;     // [T, G]  1 for the topk_group groups kept, 0 for the excluded ones
    IndexMat topk_idx;  // [T, K]  chosen experts, best biased score first
    Mat topk_weight;    // [T, K]  their weights in the output sum
};

// s = sigmoid(logits) or softmax(logits) per row, as config.scoring_func says.
template <typename S>
MatOf<S> gate_scores(const ModelConfig& config, const MatOf<S>& logits);
// w_k = c s_{idx_k} / Z [T, K]: c = routed_scaling_factor, Z = sum_k s_{idx_k} + 1e-20 when
// norm_topk_prob (HF's denominator), else 1.
template <typename S>
MatOf<S> gate_weights(const ModelConfig& config, const MatOf<S>& scores, const IndexMat& topk_idx);

// Routes T tokens from their gate logits [T, n_routed_experts]. `bias` is the
// e_score_correction_bias, or empty for a gate without one; its presence also switches the group
// score from max to top-2 sum. Throws if the config fails validate_config (e.g. experts not
// divisible into groups) or the shapes do not match it.
Routing route_tokens(const ModelConfig& config, const Mat& logits, const Vec& bias);

// The gate op: logits = x W_gate^T (FP32, as V3 keeps the gate), then the kernel table's route.
// Traced under `prefix` ("layers.3.moe"): scores, biased_scores, group_scores, group_mask,
// topk_idx (I32), topk_weight. `logits`, when given, receives the logits (the backward needs them).
Routing gate_forward(const ModelConfig& config, const GateWeights& gate, const Mat& x, const ForwardContext& context,
                     const std::string& prefix = "moe", Mat* logits = nullptr);

// The gate's differentiable part: with the selection topk_idx held fixed, w = gate_weights(gate_scores(logits)).
// The selection (bias, groups, top-k) is a step function of the logits: no gradient. Backward:
//   ds_{idx_j} = (c dw_j - sum_k dw_k w_k) / Z      (without normalization: c dw_j)
//   sigmoid: dlogits_e += ds_e s_e (1 - s_e)        only the chosen experts' logits move
//   softmax: dlogits_e += s_e (ds_e - sum_i s_i ds_i)   every logit moves through the sum
template <typename S>
void gate_weights_backward(MatOf<S>& dlogits, const MatOf<S>& dweights, const ModelConfig& config,
                           const MatOf<S>& logits, const IndexMat& topk_idx);

// The gate op's backward: d(loss)/d(topk_weight) [T, K] back through the weights and the FP32
// projection into dx and dgate.weight; balance_alpha > 0 adds the gradient of the sequence-wise
// balance loss of each sequence (offsets) below.
void gate_backward(Mat& dx, GateWeights& dgate, const Mat& dweights, const ModelConfig& config, const GateWeights& gate,
                   const Mat& x, const Mat& logits, const Routing& routing, const std::vector<int64_t>& offsets,
                   double balance_alpha);

// ---------------------------------------------------------------------------------------------
// Load statistics

struct ExpertLoad {
    std::vector<int64_t> per_expert;  // [n_routed_experts]  token-to-expert assignments
    std::vector<int64_t> per_group;   // [n_group]           the same, summed per group (per node)
    int64_t tokens = 0;
    int64_t tokens_beyond_limit = 0;  // tokens whose chosen experts span more than `node_limit` groups
};

// Counts the assignments in topk_idx. `node_limit` is the paper's M: a group stands for a node,
// and a token whose experts sit on more than M nodes breaks node-limited routing.
ExpertLoad count_load(const ModelConfig& config, const IndexMat& topk_idx, int64_t node_limit);
void add_load(ExpertLoad& total, const ExpertLoad& batch);  // accumulate over steps

// MaxVio = max_i load_i / mean_i load_i - 1 (Wang et al. 2024, used in the V3 paper): 0 when
// perfectly balanced, 1 when the busiest expert does twice its share. 0 when nothing was routed.
double max_violation(const std::vector<int64_t>& load);

// ---------------------------------------------------------------------------------------------
// Balancing

// Auxiliary-loss-free balancing, applied after each training step on the batch's load:
//   b_i <- b_i + gamma * sign(mean_j load_j - load_i)
// underloaded experts become more attractive, overloaded ones less; an expert exactly at the mean
// keeps its bias. V3 used gamma = 0.001, then 0 for the last 500B tokens.
void update_bias(Vec& bias, const std::vector<int64_t>& load, double gamma);

// The complementary sequence-wise balance loss (paper eqs. 17-20) over the T tokens of `routing`,
// taken as one sequence:
//   L_Bal = alpha * sum_i f_i P_i
//   f_i   = E / (K T) * (tokens that chose expert i)     1 for every expert when balanced
//   P_i   = 1/T * sum_t s'_{i,t},  s'_{i,t} = s_{i,t} / sum_j s_{j,t}
// so a balanced router gives L_Bal = alpha.
double sequence_balance_loss(const ModelConfig& config, const Routing& routing, double alpha);

// dL_Bal/dlogits [T, E]. f comes from a top-k and carries no gradient; P does, through s':
//   sigmoid: dL/dz_{j,t} = alpha/T * s_j (1 - s_j) * (f_j - sum_i f_i s'_i) / sum_i s_i
//   softmax: dL/dz_{j,t} = alpha/T * s_j * (f_j - sum_i f_i s_i)
// Both push the logits of overloaded experts (f_j above the token's average) down.
Mat sequence_balance_loss_grad(const ModelConfig& config, const Routing& routing, double alpha);

// The sequence-wise balance loss summed over the sequences of a batch (sequence s: rows
// offsets[s] .. offsets[s+1] - 1 of the routing); 0 when alpha is 0.
double balance_loss(const ModelConfig& config, const Routing& routing, const std::vector<int64_t>& offsets, double alpha);

}  // namespace seek
