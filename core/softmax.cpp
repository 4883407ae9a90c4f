#include "softmax.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "exp.h"

namespace seek {

template <typename S>
void softmax_row(const S* x, S* probs, int64_t n) {
    const S max = *std::max_element(x, x + n);
    for (int64_t i = 0; i < n; ++i) probs[i] = x[i] - max;
    exp_in_place(probs, n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += probs[i];
    for (int64_t i = 0; i < n; ++i) probs[i] = static_cast<S>(probs[i] / sum);
}

template <typename S>
double log_sum_exp(const S* x, int64_t n) {
    const double max = *std::max_element(x, x + n);
    double sum = 0;
    for_each_exp(x, n, max, [&](int64_t, double e) { sum += e; });
    return max + std::log(sum);
}

static void check_target(int32_t target, Eigen::Index vocab) {
    if (target < 0 || target >= vocab)
        throw std::runtime_error("target " + std::to_string(target) + " is outside the vocabulary of " +
                                 std::to_string(vocab));
}

static int64_t counted_targets(const std::vector<int32_t>& targets) {
    return std::count_if(targets.begin(), targets.end(), [](int32_t target) { return target != kIgnoreTarget; });
}

template <typename S>
S cross_entropy_forward(const MatOf<S>& logits, const std::vector<int32_t>& targets) {
    const int64_t counted = counted_targets(targets);
    double loss = 0;
    for (size_t t = 0; t < targets.size(); ++t) {
        if (targets[t] == kIgnoreTarget) continue;
        check_target(targets[t], logits.cols());
        loss += log_sum_exp(&logits(t, 0), logits.cols()) - logits(t, targets[t]);
    }
    return counted ? static_cast<S>(loss / counted) : S(0);
}

template <typename S>
void cross_entropy_backward(MatOf<S>& dlogits, S dloss, const MatOf<S>& logits, const std::vector<int32_t>& targets) {
    const int64_t counted = counted_targets(targets);
    if (counted == 0) return;
    const double per_token = double(dloss) / counted;
    for (size_t t = 0; t < targets.size(); ++t) {
        if (targets[t] == kIgnoreTarget) continue;
        check_target(targets[t], logits.cols());
        const double lse = log_sum_exp(&logits(t, 0), logits.cols());
        for_each_exp(&logits(t, 0), logits.cols(), lse,  // softmax
                     [&](int64_t v, double p) { dlogits(t, v) += static_cast<S>(per_token * p); });
        dlogits(t, targets[t]) -= static_cast<S>(per_token);
    }
}

template void softmax_row(const float*, float*, int64_t);
template void softmax_row(const double*, double*, int64_t);
template double log_sum_exp(const float*, int64_t);
template double log_sum_exp(const double*, int64_t);
template float cross_entropy_forward(const MatOf<float>&, const std::vector<int32_t>&);
template double cross_entropy_forward(const MatOf<double>&, const std::vector<int32_t>&);
template void cross_entropy_backward(MatOf<float>&, float, const MatOf<float>&, const std::vector<int32_t>&);
template void cross_entropy_backward(MatOf<double>&, double, const MatOf<double>&, const std::vector<int32_t>&);

}  // namespace seek
