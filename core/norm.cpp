#include "norm.h"

#include <cmath>

namespace seek {

// 1 / sqrt(mean(x_t^2) + eps). The sum of squares is in double: a 7168-wide row in float loses a
// few bits we would then see as noise when comparing against the GPU.
template <typename S>
static S inverse_rms(const MatOf<S>& x, Eigen::Index t, S eps) {
    double sum_sq = 0;
    for (Eigen::Index i = 0; i < x.cols(); ++i) sum_sq += static_cast<double>(x(t, i)) * x(t, i);
    return static_cast<S>(1.0 / std::sqrt(sum_sq / x.cols() + eps));
}

template <typename S>
MatOf<S> rms_norm_forward(const MatOf<S>& x, const VecOf<S>& weight, S eps) {
    MatOf<S> y(x.rows(), x.cols());
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
        const S r = inverse_rms(x, t, eps);
        for (Eigen::Index i = 0; i < x.cols(); ++i) y(t, i) = x(t, i) * r * weight[i];
    }
    return y;
}

template <typename S>
void rms_norm_backward(MatOf<S>& dx, VecOf<S>& dweight, const MatOf<S>& dy, const MatOf<S>& x,
                       const VecOf<S>& weight, S eps) {
    const Eigen::Index n = x.cols();
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
        const S r = inverse_rms(x, t, eps);
        // d r / d x_i = -r^3 x_i / n: every output of the row pulls on every input through r.
        S dy_w_x = 0;
        for (Eigen::Index j = 0; j < n; ++j) dy_w_x += dy(t, j) * weight[j] * x(t, j);
        for (Eigen::Index i = 0; i < n; ++i) {
            dweight[i] += dy(t, i) * x(t, i) * r;
            dx(t, i) += r * (weight[i] * dy(t, i) - x(t, i) * r * r * dy_w_x / S(n));
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
