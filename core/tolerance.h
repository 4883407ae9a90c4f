// The tolerance rule: how far tensor b of one trace may be from the same tensor a of another and
// still count as the same computation, as max |a - b| / max |a| (compare_traces' relative error).
// `seek compare --tol auto`, the kernel tests and the backend tests all ask this one function.
//
//   exact, 0      integer tensors (I32: topk_idx) and the gate's group_mask: expert ids and kept
//                 groups are decisions, equal or wrong. A routing flip is what makes an FP8 or a
//                 GPU trace diverge from the reference, and the first tensor to show it is the one
//                 to look at.
//   fp32, 1e-5    both sides compute the same math in float in another order (another backend,
//                 naive vs absorbed attention, prefill vs decoding): each rounding is 6e-8
//                 relative, and through the sums and the toy's four layers it grows to 1.3e-6 at
//                 most (measured on data/toy/grpo, three prompts, naive and token-by-token decoding
//                 against absorbed prefill). An eightfold margin, while a dropped or doubled term,
//                 or a value off by 0.1%, is caught.
//   bf16, 5e-2    weights stored in BF16 (8 significant bits: a relative rounding of up to 2^-9 =
//                 2e-3 per weight), computed in FP32. Measured against the FP32 checkpoint on five
//                 prompts: 1.1e-2 at worst before the first routing flip, and 4.7e-2 on the logits.
//   fp8, 0.3      weights in E4M3 with 128x128 block scales (4 significant bits: up to 2^-4 = 6e-2
//                 per weight): 7.8e-2 at worst before the first routing flip, 0.16 on the logits.
// After a routing flip the layers downstream compute something else (up to 0.5 relative on the
// toy): the flip itself, at an exact-tolerance topk_idx or group_mask, is the finding.
//
// The precision of a comparison is the coarser of the two traces' "precision" metadata: what the
// weights were stored in (f32 when absent). GEMM precision in training (linear.h) is another matter:
// traces are of inference, which runs in FP32 whatever the weights were stored in.
#pragma once

#include <string>
#include <vector>

#include "safetensors.h"
#include "trace.h"

namespace seek {

double trace_tolerance(const std::string& name, DType dtype, const std::string& precision = "f32");

// "f32", "bf16" or "fp8": the coarser of the two traces' metadata "precision".
std::string comparison_precision(const Trace& a, const Trace& b);

// Whether each compared tensor of a comparison is within its tolerance (status Compared only; a
// shape mismatch always fails), and the first that is not, in a's order, which is the order the
// forward pass computed them: the first op whose output differs.
struct ToleranceCheck {
    std::vector<double> tolerance;  // per diff; -1 where the diff is not a comparison
    std::vector<bool> within;       // per diff
    int failures = 0;
    int first_failure = -1;         // index into the diffs, -1 when every tensor is within
};
ToleranceCheck check_tolerances(const std::vector<TensorDiff>& diffs, const Trace& a, const std::string& precision);

}  // namespace seek
