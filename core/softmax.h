// Softmax, log-sum-exp and the cross-entropy loss: the one implementation of each that attention,
// the MoE gate, the loss, GRPO's log-probabilities and the viewer's next-token bars all use.
//
//   softmax(x)_i     = e^(x_i - m) / sum_j e^(x_j - m),    m = max_j x_j  (no exponent is positive,
//                                                          so nothing overflows)
//   log_sum_exp(x)   = m + log sum_j e^(x_j - m)
//   log_softmax(x)_i = x_i - log_sum_exp(x)
//
// Templates on the scalar: float runs the model, double checks gradients. The sums are in double
// whatever the scalar: a 129,280-token vocabulary summed in float loses digits we would then see
// as noise when comparing backends.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "exp.h"
#include "tensor.h"

namespace seek {

// probs[i] = softmax(x)[i] over n values. The exponentials are taken in S, summed in double.
template <typename S>
void softmax_row(const S* x, S* probs, int64_t n);

// log sum_i e^(x_i), in double.
template <typename S>
double log_sum_exp(const S* x, int64_t n);

// use(i, e^(double(x[i]) - shift)) for i < n in order, the exps a block at a time (exp.h): the
// softmax of a row of logits, in double, as the losses need it.
template <typename S, typename Use>
void for_each_exp(const S* x, int64_t n, double shift, Use use) {
    constexpr int64_t kBlock = 64;
    double block[kBlock];
    for (int64_t first = 0; first < n; first += kBlock) {
        const int64_t count = std::min(kBlock, n - first);
        for (int64_t i = 0; i < count; ++i) block[i] = double(x[first + i]) - shift;
        exp_in_place(block, count);
        for (int64_t i = 0; i < count; ++i) use(first + i, block[i]);
    }
}

// Softmax cross-entropy, the mean over the counted tokens of -log softmax(logits[t])[targets[t]]:
//   loss = 1/C sum_t (log_sum_exp(logits[t]) - logits[t, targets[t]])
//   dlogits[t] += dloss / C (softmax(logits[t]) - onehot(targets[t]))
// A target of kIgnoreTarget (a prompt token, a sequence's last position) is not counted; C is the
// number of the others, and the loss is 0 when there are none. The gradient accumulates (+=), as
// every backward here does (model.h).
constexpr int32_t kIgnoreTarget = -1;
template <typename S>
S cross_entropy_forward(const MatOf<S>& logits, const std::vector<int32_t>& targets);
template <typename S>
void cross_entropy_backward(MatOf<S>& dlogits, S dloss, const MatOf<S>& logits, const std::vector<int32_t>& targets);

}  // namespace seek
