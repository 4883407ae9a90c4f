#include "route_sim.h"

#include <cmath>
#include <stdexcept>
#include <string>

#include "gate.h"
#include "random.h"

namespace seek {

const char* balancing_name(Balancing method) {
    switch (method) {
        case Balancing::None: return "none";
        case Balancing::AuxLoss: return "aux_loss";
        case Balancing::Bias: return "bias";
        case Balancing::BiasAndLoss: return "bias+aux";
    }
    return "?";
}

static void check_options(const SimulationOptions& o) {
    auto check = [](bool ok, const std::string& message) {
        if (!ok) throw std::runtime_error("routing simulator: " + message);
    };
    check(o.steps > 0, "steps must be > 0, got " + std::to_string(o.steps));
    check(o.tokens > 0, "tokens must be > 0, got " + std::to_string(o.tokens));
    check(o.feature_dim > 0, "feature_dim must be > 0, got " + std::to_string(o.feature_dim));
    check(o.token_std >= 0 && o.preference_std >= 0, "standard deviations must be >= 0");
    check(o.drift_steps > 0, "drift_steps must be > 0");
    check(o.gamma >= 0, "gamma must be >= 0");
    check(o.alpha >= 0, "alpha must be >= 0");
    check(o.aux_lr >= 0, "aux_lr must be >= 0");
    check(o.node_limit > 0, "node_limit must be > 0, got " + std::to_string(o.node_limit));
}

static Mat normal_matrix(Rng& rng, int64_t rows, int64_t cols, double std) {
    Mat m(rows, cols);
    for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(std * rng.normal());
    return m;
}

std::vector<SimulationStep> simulate_routing(const ModelConfig& config, const SimulationOptions& o,
                                             const std::function<void(const SimulationStep&)>& on_step) {
    validate_config(config, config.name);
    if (config.n_routed_experts == 0) throw std::runtime_error(config.name + ": no routed experts to simulate");
    check_options(o);
    const int64_t E = config.n_routed_experts, D = o.feature_dim;

    Rng rng(o.seed);
    const Mat expert_embedding = normal_matrix(rng, E, D, 1.0);
    Vec preference = normal_matrix(rng, E, 1, o.preference_std);
    constexpr size_t M = kBalancingMethods.size();
    auto uses_loss = [](Balancing m) { return m == Balancing::AuxLoss || m == Balancing::BiasAndLoss; };
    auto uses_bias = [](Balancing m) { return m == Balancing::Bias || m == Balancing::BiasAndLoss; };
    std::array<Vec, M> aux_offset, bias;                                  // c_i and b_i of each run
    aux_offset.fill(Vec::Zero(E));
    bias.fill(Vec::Zero(E));
    const Vec model_bias = gate_has_bias(config) ? Vec::Zero(E) : Vec();  // the others keep the config's gate
    std::array<ExpertLoad, M> total;

    std::vector<SimulationStep> history;
    for (int64_t step = 1; step <= o.steps; ++step) {
        const Mat features = normal_matrix(rng, o.tokens, D, 1.0);
        Mat logits = features * expert_embedding.transpose() * static_cast<float>(o.token_std / std::sqrt(double(D)));
        logits.rowwise() += preference.transpose();

        SimulationStep record;
        record.step = step;
        for (size_t m = 0; m < kBalancingMethods.size(); ++m) {
            const Balancing method = kBalancingMethods[m];
            Routing routing;
            const Vec& gate_bias = uses_bias(method) ? bias[m] : model_bias;
            if (uses_loss(method)) {
                Mat offset_logits = logits;
                offset_logits.rowwise() += aux_offset[m].transpose();
                routing = route_tokens(config, offset_logits, gate_bias);
            } else {
                routing = route_tokens(config, logits, gate_bias);
            }
            const ExpertLoad load = count_load(config, routing.topk_idx, o.node_limit);
            add_load(total[m], load);

            MethodStats& stats = record.methods[m];
            stats.max_vio = max_violation(load.per_expert);
            stats.max_vio_accumulated = max_violation(total[m].per_expert);
            stats.balance_loss = sequence_balance_loss(config, routing, o.alpha);
            stats.beyond_limit = static_cast<double>(load.tokens_beyond_limit) / load.tokens;

            if (uses_loss(method)) {
                // c_i is added to every token's logit i, so dL/dc_i = sum_t dL/dlogits[t, i].
                const Mat grad = sequence_balance_loss_grad(config, routing, o.alpha);
                aux_offset[m] -= static_cast<float>(o.aux_lr) * grad.colwise().sum().transpose();
            }
            if (uses_bias(method)) update_bias(bias[m], load.per_expert, o.gamma);
        }
        const double rho = std::exp(-1.0 / o.drift_steps);
        preference = static_cast<float>(rho) * preference +
                     normal_matrix(rng, E, 1, std::sqrt(1 - rho * rho) * o.preference_std);

        history.push_back(record);
        if (on_step) on_step(record);
    }
    return history;
}

}  // namespace seek
