// RMSNorm, per row (token): y = x r w,  r = 1 / sqrt(mean(x^2) + eps), and its backward:
//   dw_i  += sum_t dy_ti x_ti r_t
//   dx_ti += r_t (w_i dy_ti - x_ti r_t^2 mean_j(dy_tj w_j x_tj))   (r depends on every x of the row)
// Templates on the scalar: float runs the model, double checks the gradients (tests/test_backward.cpp).
#pragma once

#include "tensor.h"

namespace seek {

template <typename S>
MatOf<S> rms_norm_forward(const MatOf<S>& x, const VecOf<S>& weight, S eps);
template <typename S>
void rms_norm_backward(MatOf<S>& dx, VecOf<S>& dweight, const MatOf<S>& dy, const MatOf<S>& x,
                       const VecOf<S>& weight, S eps);

inline Mat rms_norm(const Mat& x, const Vec& weight, float eps) { return rms_norm_forward<float>(x, weight, eps); }

}  // namespace seek
