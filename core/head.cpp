#include "head.h"

#include "linear.h"
#include "norm.h"
#include "trace.h"

namespace seek {

Mat head_forward(const Mat& hidden, const Vec& norm_weight, const Mat& lm_head, float eps, const ForwardContext& context,
                 const std::string& prefix, HeadActivations* act) {
    const std::string dot = prefix.empty() ? "" : prefix + ".";
    Mat norm = context.kernels->rms_norm(hidden, norm_weight, eps);
    trace_record(context.trace, dot + "final_norm", norm);
    Mat logits = context.kernels->linear(norm, lm_head, fp32_like(context.precision));  // the head stays FP32
    trace_record(context.trace, dot + "logits", logits);
    if (act) {
        act->hidden = hidden;
        act->norm = std::move(norm);
    }
    return logits;
}

void head_backward(Mat& dhidden, Vec& dnorm_weight, Mat& dlm_head, const Mat& dlogits, const Vec& norm_weight,
                   const Mat& lm_head, float eps, const HeadActivations& act) {
    Mat dnorm = Mat::Zero(act.norm.rows(), act.norm.cols());
    linear_backward(dnorm, dlm_head, dlogits, act.norm, lm_head);
    rms_norm_backward(dhidden, dnorm_weight, dnorm, act.hidden, norm_weight, eps);
}

}  // namespace seek
