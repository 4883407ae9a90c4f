#include "optim.h"

#include <cmath>
#include <stdexcept>

#include "safetensors.h"

namespace seek {

AdamWState make_adamw_state(const ModelWeights& weights) {
    AdamWState state;
    state.exp_avg = zeros_like(weights);
    state.exp_avg_sq = zeros_like(weights);
    return state;
}

double gradient_norm(ModelWeights& grads) {
    double sum = 0;
    for (const Parameter& p : model_parameters(grads)) {
        if (!p.trainable) continue;
        for (int64_t i = 0; i < shape_numel(p.shape); ++i) sum += double(p.values[i]) * p.values[i];
    }
    return std::sqrt(sum);
}

double adamw_step(ModelWeights& weights, ModelWeights& grads, AdamWState& state, const AdamWOptions& o, double lr) {
    const double norm = gradient_norm(grads);
    const double clip_factor = (o.clip > 0 && norm > o.clip) ? o.clip / norm : 1.0;
    state.step += 1;
    const double correction1 = 1 - std::pow(o.beta1, double(state.step));
    const double correction2 = 1 - std::pow(o.beta2, double(state.step));

    std::vector<Parameter> theta = model_parameters(weights), g = model_parameters(grads);
    std::vector<Parameter> m = model_parameters(state.exp_avg), v = model_parameters(state.exp_avg_sq);
    for (size_t i = 0; i < theta.size(); ++i) {
        if (!theta[i].trainable) continue;
        const double decay = theta[i].shape.size() > 1 ? o.weight_decay : 0.0;
        for (int64_t j = 0; j < shape_numel(theta[i].shape); ++j) {
            const double grad = g[i].values[j] * clip_factor;
            g[i].values[j] = static_cast<float>(grad);
            const double m_new = o.beta1 * m[i].values[j] + (1 - o.beta1) * grad;
            const double v_new = o.beta2 * v[i].values[j] + (1 - o.beta2) * grad * grad;
            m[i].values[j] = static_cast<float>(m_new);
            v[i].values[j] = static_cast<float>(v_new);
            const double update = (m_new / correction1) / (std::sqrt(v_new / correction2) + o.eps);
            theta[i].values[j] = static_cast<float>(theta[i].values[j] - lr * update - lr * decay * theta[i].values[j]);
        }
    }
    return norm;
}

double learning_rate(int64_t step, int64_t total, int64_t warmup, double peak, double min_lr) {
    if (warmup > 0 && step < warmup) return peak * double(step + 1) / double(warmup);
    const int64_t decay_steps = std::max<int64_t>(total - warmup, 1);
    const double progress = std::min(1.0, double(step - warmup) / double(decay_steps));
    return min_lr + 0.5 * (peak - min_lr) * (1 + std::cos(M_PI * progress));
}

void save_adamw_state(const std::string& path, AdamWState& state, const std::map<std::string, std::string>& metadata) {
    std::vector<TensorToWrite> tensors;
    std::vector<Parameter> m = model_parameters(state.exp_avg), v = model_parameters(state.exp_avg_sq);
    for (size_t i = 0; i < m.size(); ++i) {
        if (!m[i].trainable) continue;
        tensors.push_back(tensor_f32(m[i].name + ".exp_avg", m[i].shape, m[i].values));
        tensors.push_back(tensor_f32(v[i].name + ".exp_avg_sq", v[i].shape, v[i].values));
    }
    std::map<std::string, std::string> all = metadata;
    all["step"] = std::to_string(state.step);
    write_safetensors(path, tensors, all);
}

AdamWState load_adamw_state(const std::string& path, const ModelWeights& weights,
                            std::map<std::string, std::string>* metadata) {
    const SafetensorsFile file = open_safetensors(path);
    AdamWState state = make_adamw_state(weights);
    auto step = file.metadata.find("step");
    if (step == file.metadata.end()) throw std::runtime_error(path + ": no 'step' in the metadata");
    // Plain digits only, at most 2^53: a hand-edited "-5" or "1e12" is refused, not half-parsed.
    const std::string& digits = step->second;
    if (digits.empty() || digits.size() > 16 || digits.find_first_not_of("0123456789") != std::string::npos ||
        std::stoll(digits) > (int64_t{1} << 53))
        throw std::runtime_error(path + ": metadata 'step' is '" + digits.substr(0, 40) +
                                 "', not a whole number in [0, 2^53]");
    state.step = std::stoll(digits);
    std::vector<Parameter> m = model_parameters(state.exp_avg), v = model_parameters(state.exp_avg_sq);
    for (size_t i = 0; i < m.size(); ++i) {
        if (!m[i].trainable) continue;
        for (auto [moment, suffix] : {std::pair{&m[i], ".exp_avg"}, std::pair{&v[i], ".exp_avg_sq"}}) {
            const Mat values = read_matrix(file, moment->name + suffix, moment->shape);
            std::copy_n(values.data(), values.size(), moment->values);
        }
    }
    if (metadata) *metadata = file.metadata;
    return state;
}

}  // namespace seek
