#include "norm.h"

#include <algorithm>
#include <cmath>

namespace seek {

// Each row's sums run in order, one addition after another: a chain of additions that waits on
// itself (four cycles an addition). kRows rows at a time keep kRows chains in flight side by side,
// each with the same order as alone, so the bits are those of one row at a time, several times faster.
constexpr Eigen::Index kRows = 8;

// sums[r] = sum over i, in order, of term(t0 + r, i), for the rows t0 .. t0 + count - 1.
template <typename Sum, typename Term>
static void row_sums(Eigen::Index t0, Eigen::Index count, Eigen::Index n, Sum* sums, const Term& term) {
    if (count == kRows) {
        Sum chains[kRows] = {};
        for (Eigen::Index i = 0; i < n; ++i)
            for (Eigen::Index r = 0; r < kRows; ++r) chains[r] += term(t0 + r, i);
        for (Eigen::Index r = 0; r < kRows; ++r) sums[r] = chains[r];
        return;
    }
    for (Eigen::Index r = 0; r < count; ++r) {
        Sum sum = 0;
        for (Eigen::Index i = 0; i < n; ++i) sum += term(t0 + r, i);
        sums[r] = sum;
    }
}

// r_t = 1 / sqrt(mean(x_t^2) + eps) for rows t0 .. t0 + count - 1. The sum of squares is in
// double: a 7168-wide row in float loses a few bits we would then see as noise when comparing
// against the GPU.
template <typename S>
static void inverse_rms(const MatOf<S>& x, Eigen::Index t0, Eigen::Index count, S eps, S* r) {
    double sum_sq[kRows];
    row_sums(t0, count, x.cols(), sum_sq, [&](Eigen::Index t, Eigen::Index i) { return static_cast<double>(x(t, i)) * x(t, i); });
    for (Eigen::Index k = 0; k < count; ++k) r[k] = static_cast<S>(1.0 / std::sqrt(sum_sq[k] / x.cols() + eps));
}

template <typename S>
MatOf<S> rms_norm_forward(const MatOf<S>& x, const VecOf<S>& weight, S eps) {
    MatOf<S> y(x.rows(), x.cols());
    for (Eigen::Index t0 = 0; t0 < x.rows(); t0 += kRows) {
        const Eigen::Index count = std::min(kRows, x.rows() - t0);
        S r[kRows];
        inverse_rms(x, t0, count, eps, r);
        for (Eigen::Index t = t0; t < t0 + count; ++t)
            for (Eigen::Index i = 0; i < x.cols(); ++i) y(t, i) = x(t, i) * r[t - t0] * weight[i];
    }
    return y;
}

template <typename S>
void rms_norm_backward(MatOf<S>& dx, VecOf<S>& dweight, const MatOf<S>& dy, const MatOf<S>& x,
                       const VecOf<S>& weight, S eps) {
    const Eigen::Index n = x.cols();
    for (Eigen::Index t0 = 0; t0 < x.rows(); t0 += kRows) {
        const Eigen::Index count = std::min(kRows, x.rows() - t0);
        S r[kRows], dy_w_x[kRows];
        inverse_rms(x, t0, count, eps, r);
        // d r / d x_i = -r^3 x_i / n: every output of the row pulls on every input through r.
        row_sums(t0, count, n, dy_w_x, [&](Eigen::Index t, Eigen::Index j) { return dy(t, j) * weight[j] * x(t, j); });
        for (Eigen::Index t = t0; t < t0 + count; ++t) {
            const S r_t = r[t - t0], dot = dy_w_x[t - t0];
            for (Eigen::Index i = 0; i < n; ++i) {
                dweight[i] += dy(t, i) * x(t, i) * r_t;
                dx(t, i) += r_t * (weight[i] * dy(t, i) - x(t, i) * r_t * r_t * dot / S(n));
            }
        }
    }
}

template MatOf<float> rms_norm_forward(const MatOf<float>&, const VecOf<float>&, float);
template MatOf<double> rms_norm_forward(const MatOf<double>&, const VecOf<double>&, double);
template void rms_norm_backward(MatOf<float>&, VecOf<float>&, const MatOf<float>&, const MatOf<float>&,
                                const VecOf<float>&, float);
template void rms_norm_backward(MatOf<double>&, VecOf<double>&, const MatOf<double>&, const MatOf<double>&,
                                const VecOf<double>&, double);

}  // namespace seek
