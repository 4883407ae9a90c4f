// RMSNorm: y = x / sqrt(mean(x^2) + eps) * weight, per row (token).
#pragma once

#include "tensor.h"

namespace seek {

Mat rms_norm(const Mat& x, const Vec& weight, float eps);

}  // namespace seek
