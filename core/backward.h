// Backward passes for training, one beside each forward, in the style of llm.c's train_gpt2.c.
//
// Every function is a template on the scalar type: float trains, double lets the tests check each
// gradient against central finite differences to ~1e-9. Where core/ has the forward as one function
// (linear, RMSNorm, RoPE, SwiGLU), its backward sits beside it in that file. The rest live here
// with the forms training uses: attention over whole sequences (held equal to mla_forward's naive
// attention in the tests), embedding, cross-entropy and the gate's weights (held equal to
// route_tokens').
//
// Conventions (llm.c's):
//   - arguments: outputs first, then inputs; backward: gradients of the inputs and parameters,
//     then the gradient of the output, then what the forward saw.
//   - every gradient ACCUMULATES (+=) into a matrix the caller has sized and zeroed: a parameter
//     used twice, or a residual stream read by two branches, sums its gradients for free.
//   - linear layers are y = x W^T with W [out, in] (linear.h), so dx = dy W and dW = dy^T x.
//   - positions are 0 .. T-1: a training sequence is one whole prefill.
#pragma once

#include <cstdint>
#include <vector>

#include "config.h"
#include "gate.h"
#include "linear.h"
#include "mla.h"
#include "norm.h"
#include "rope.h"
#include "tensor.h"

namespace seek {

// Linear (linear.h): linear_forward and linear_backward, in FP32, BF16 or FP8.
// RMSNorm (norm.h): rms_norm_forward and rms_norm_backward.

// RoPE (rope.h): rope_forward and rope_backward.

// SwiGLU (moe.h): swiglu_forward and swiglu_backward.

// ---------------------------------------------------------------------------------------------
// Causal multi-head attention in MLA's naive form (mla.h), the one training uses: every head h
// has its own keys and values.
//   q [T, H·dq], k [T, H·dq], v [T, H·dv]   (per head: [q_nope ; q_pe], [k_nope ; k_pe], v)
//   scores_h = scale q_h k_h^T,  P_h = causal softmax(scores_h),  out_h = P_h v_h
// probs [H·T, T] stacks the heads as rows h·T + s, the trace's layout; out is [T, H·dv].
// Backward, per head (dP = dout_h v_h^T; a masked entry has P = 0 and so gets no gradient):
//   dv_h += P_h^T dout_h
//   dscores[s, t] = P[s, t] (dP[s, t] - sum_t' P[s, t'] dP[s, t'])
//   dq_h += scale dscores k_h,   dk_h += scale dscores^T q_h
template <typename S>
void attention_forward(MatOf<S>& out, MatOf<S>& probs, const MatOf<S>& q, const MatOf<S>& k, const MatOf<S>& v,
                       int64_t heads, S scale);
template <typename S>
void attention_backward(MatOf<S>& dq, MatOf<S>& dk, MatOf<S>& dv, const MatOf<S>& dout, const MatOf<S>& q,
                        const MatOf<S>& k, const MatOf<S>& v, const MatOf<S>& probs, int64_t heads, S scale);

// ---------------------------------------------------------------------------------------------
// Embedding: out[t] = table[tokens[t]]. A token seen twice gathers twice, so its row of dtable
// receives the sum: dtable[tokens[t]] += dout[t].
template <typename S>
MatOf<S> embedding_forward(const MatOf<S>& table, const std::vector<int32_t>& tokens);
template <typename S>
void embedding_backward(MatOf<S>& dtable, const MatOf<S>& dout, const std::vector<int32_t>& tokens);

// ---------------------------------------------------------------------------------------------
// Softmax cross-entropy, the mean over the counted tokens of -log softmax(logits[t])[targets[t]]:
//   loss = 1/C sum_t (logsumexp(logits[t]) - logits[t, targets[t]])
//   dlogits[t] += dloss / C (softmax(logits[t]) - onehot(targets[t]))
// A target of kIgnoreTarget (a prompt token, a sequence's last position) is not counted; C is the
// number of the others, and the loss is 0 when there are none.
constexpr int32_t kIgnoreTarget = -1;
template <typename S>
S cross_entropy_forward(const MatOf<S>& logits, const std::vector<int32_t>& targets);
template <typename S>
void cross_entropy_backward(MatOf<S>& dlogits, S dloss, const MatOf<S>& logits, const std::vector<int32_t>& targets);

// ---------------------------------------------------------------------------------------------
// The MoE gate's differentiable part (gate.h): with the selection topk_idx [T, K] held fixed,
//   s = sigmoid(logits) (or softmax, config.scoring_func),  w_k = c s_{idx_k} / Z  [T, K]
// where c = routed_scaling_factor and Z = sum_k s_{idx_k} + 1e-20 when norm_topk_prob, else 1.
// The selection (bias, groups, top-k) is a step function of the logits: no gradient. Backward:
//   ds_{idx_j} = (c dw_j - sum_k dw_k w_k) / Z      (without normalization: c dw_j)
//   sigmoid: dlogits_e += ds_e s_e (1 - s_e)        only the chosen experts' logits move
//   softmax: dlogits_e += s_e (ds_e - sum_i s_i ds_i)   every logit moves through the sum
template <typename S>
MatOf<S> gate_weights_forward(const ModelConfig& config, const MatOf<S>& logits, const IndexMat& topk_idx);
template <typename S>
void gate_weights_backward(MatOf<S>& dlogits, const MatOf<S>& dweights, const ModelConfig& config,
                           const MatOf<S>& logits, const IndexMat& topk_idx);

}  // namespace seek
