// The routing simulator: the real gate (gate.h) at any scale (V3: 256 experts in 8 groups, top-4
// groups, top-8) on synthetic token affinities, run four ways from the same tokens to show how
// each keeps the experts' load even:
//
//   none      the gate as it is: systematically preferred experts stay overloaded
//   aux_loss  the sequence-wise balance loss L_Bal (gate.h) takes a gradient step after every step
//   bias      auxiliary-loss-free balancing: update_bias (gate.h) with gamma after every step
//   bias+aux  both at once, as DeepSeek-V3 trains: the bias does the balancing, the small
//             sequence-wise loss only guards against extreme imbalance within one sequence
//
// Affinity model (standing in for a trained gate that sees real tokens):
//   logits[t, i] = token_std * (u_t . e_i) / sqrt(D) + p_i + c_i
//   u_t ~ N(0, I_D)   token t's features, fresh every step (D = feature_dim)
//   e_i ~ N(0, I_D)   expert i's embedding, fixed
//   p_i               expert i's systematic preference, p_i ~ N(0, preference_std^2), drifting
//                     after every step as p_i <- rho p_i + sqrt(1 - rho^2) N(0, preference_std^2),
//                     rho = exp(-1 / drift_steps): a random walk that keeps the spread while the
//                     favourites change over about drift_steps steps, so balancing must keep tracking
//   c_i               a learned per-expert logit offset, only in the runs with the loss (aux_loss,
//                     bias+aux): it stands for what the gate weights can learn from the loss, and
//                     moves by plain gradient descent, c_i <- c_i - aux_lr * sum_t dL_Bal/dlogits[t, i]
//                     (L_Bal carries alpha, so the step is aux_lr * alpha times the gradient of
//                     sum_i f_i P_i: aux_lr stands in for the gate's learning rate and how far the
//                     gate's weights move its logits, which a logit offset does not have)
// Each step's tokens count as one sequence for L_Bal. The bias run gives the gate a bias even when
// the config has none (V2-Lite): the point is to compare methods on the same routing problem.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <vector>

#include "config.h"

namespace seek {

enum class Balancing { None, AuxLoss, Bias, BiasAndLoss };
constexpr std::array<Balancing, 4> kBalancingMethods = {Balancing::None, Balancing::AuxLoss, Balancing::Bias,
                                                        Balancing::BiasAndLoss};
const char* balancing_name(Balancing method);  // "none", "aux_loss", "bias", "bias+aux"

struct SimulationOptions {
    int64_t steps = 2000;
    int64_t tokens = 4096;         // tokens routed per step
    int64_t feature_dim = 16;      // D
    double token_std = 1.0;        // spread of the token-dependent part of a logit
    double preference_std = 0.3;   // spread of the experts' preferences (logits)
    double drift_steps = 500;      // steps over which the preferences decorrelate
    double gamma = 0.001;          // bias update speed (V3: 0.001)
    double alpha = 0.0001;         // balance-loss factor (V3: 0.0001)
    double aux_lr = 10000;         // gradient step on the aux_loss run's offsets: aux_lr * alpha = 1 for V3
    int64_t node_limit = 4;        // M: a token's experts may span at most M groups (nodes)
    uint64_t seed = 0;
};

struct MethodStats {
    double max_vio = 0;              // MaxVio of this step's batch
    double max_vio_accumulated = 0;  // MaxVio of the load summed over all steps so far
    double balance_loss = 0;         // L_Bal of this step's tokens (alpha included)
    double beyond_limit = 0;         // fraction of this step's tokens whose experts span > node_limit groups
};

struct SimulationStep {
    int64_t step = 0;                      // 1-based
    std::array<MethodStats, kBalancingMethods.size()> methods;  // indexed like kBalancingMethods
};

// Same seed, same numbers. `on_step`, when given, sees every step as it finishes (progress, logs).
// Throws on a config that fails validate_config or options out of range, naming the option.
std::vector<SimulationStep> simulate_routing(const ModelConfig& config, const SimulationOptions& options,
                                             const std::function<void(const SimulationStep&)>& on_step = {});

}  // namespace seek
