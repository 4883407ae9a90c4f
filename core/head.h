// The output head: logits = lm_head(RMSNorm(h)) (model.py's final norm and ParallelHead). The main
// model's head predicts token t+1 at position t; the MTP module (mtp.h) predicts token t+2 through
// its own norm and the same lm_head. The head stays FP32, as the V3 report keeps it.
#pragma once

#include <string>

#include "kernels.h"
#include "tensor.h"

namespace seek {

// What head_forward keeps for head_backward.
struct HeadActivations {
    Mat hidden;  // h, the head's input
    Mat norm;    // RMSNorm(h)
};

// Traced under `prefix`: "" gives final_norm and logits, "mtp" gives mtp.final_norm and mtp.logits.
Mat head_forward(const Mat& hidden, const Vec& norm_weight, const Mat& lm_head, float eps, const ForwardContext& context,
                 const std::string& prefix = "", HeadActivations* act = nullptr);
// Accumulates d(loss)/dh and the gradients of the norm weight and lm_head from d(loss)/d(logits).
void head_backward(Mat& dhidden, Vec& dnorm_weight, Mat& dlm_head, const Mat& dlogits, const Vec& norm_weight,
                   const Mat& lm_head, float eps, const HeadActivations& act);

}  // namespace seek
