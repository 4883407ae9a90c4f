#include "norm.h"

#include <cmath>

namespace seek {

Mat rms_norm(const Mat& x, const Vec& weight, float eps) {
    Mat y(x.rows(), x.cols());
    for (Eigen::Index t = 0; t < x.rows(); ++t) {
        // Sum of squares in double: a 7168-wide row in float loses a few bits we would then see
        // as noise when comparing against the GPU.
        double sum_sq = 0;
        for (Eigen::Index i = 0; i < x.cols(); ++i) sum_sq += static_cast<double>(x(t, i)) * x(t, i);
        const float inv_rms = static_cast<float>(1.0 / std::sqrt(sum_sq / x.cols() + eps));
        for (Eigen::Index i = 0; i < x.cols(); ++i) y(t, i) = x(t, i) * inv_rms * weight[i];
    }
    return y;
}

}  // namespace seek
