// AdamW with gradient clipping and a warmup + cosine learning rate (V3 report §4.2: β1 0.9,
// β2 0.95, weight decay 0.1, clip 1.0).
//
//   g      <- g * min(1, clip / ||g||)          ||g|| over every trainable tensor together
//   m      <- β1 m + (1 - β1) g
//   v      <- β2 v + (1 - β2) g²
//   θ      <- θ - lr (m / (1 - β1^t)) / (sqrt(v / (1 - β2^t)) + ε) - lr λ θ     (decoupled decay)
// Weight decay skips 1-D tensors (norm scales), as is usual: shrinking them toward zero is not
// regularization. Moments are FP32 (V3 keeps them in BF16; FP32 keeps the resume test exact).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model.h"

namespace seek {

struct AdamWOptions {
    double lr = 1e-3;
    double beta1 = 0.9;
    double beta2 = 0.95;
    double eps = 1e-8;
    double weight_decay = 0.1;
    double clip = 1.0;  // max global gradient norm; 0 = no clipping
};

struct AdamWState {
    int64_t step = 0;  // updates done
    ModelWeights exp_avg, exp_avg_sq;  // m and v, shaped like the weights
};
AdamWState make_adamw_state(const ModelWeights& weights);

// The global 2-norm of the trainable gradients.
double gradient_norm(ModelWeights& grads);

// One update at learning rate `lr` (the schedule's value); clips the gradients in place and
// returns their norm before clipping.
double adamw_step(ModelWeights& weights, ModelWeights& grads, AdamWState& state, const AdamWOptions& options,
                  double lr);

// Linear warmup from 0 over `warmup` steps, then cosine from peak down to min_lr at `total`.
// step counts from 0.
double learning_rate(int64_t step, int64_t total, int64_t warmup, double peak, double min_lr);

// The moments as safetensors tensors "<name>.exp_avg" / "<name>.exp_avg_sq" with the step in the
// metadata; loading checks that every trainable tensor has both with its shape.
void save_adamw_state(const std::string& path, AdamWState& state, const std::map<std::string, std::string>& metadata);
AdamWState load_adamw_state(const std::string& path, const ModelWeights& weights,
                            std::map<std::string, std::string>* metadata = nullptr);

}  // namespace seek
