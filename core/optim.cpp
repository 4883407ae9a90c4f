#include "optim.h"

#include <cmath>
#include <stdexcept>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "parallel.h"
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

// One tensor's update in double, each element on its own:
//   g <- g c                         (c: the clipping factor)
//   m <- beta1 m + (1 - beta1) g     v <- beta2 v + (1 - beta2) g^2
//   theta <- theta - lr (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps) - lr decay theta
// The multiply-adds are fused where written so (std::fma, _mm256_fmadd_pd): the same operations in
// the loop over four doubles and in the scalar one, whichever compiler builds them.
static void adamw_update(float* theta, float* g, float* m, float* v, int64_t n, double beta1, double beta2, double eps,
                         double clip_factor, double correction1, double correction2, double lr, double lr_decay) {
    int64_t j = 0;
#if defined(__AVX2__) && defined(__FMA__)
    const __m256d b1 = _mm256_set1_pd(beta1), b2 = _mm256_set1_pd(beta2), one_b1 = _mm256_set1_pd(1 - beta1);
    const __m256d one_b2 = _mm256_set1_pd(1 - beta2), c = _mm256_set1_pd(clip_factor), e = _mm256_set1_pd(eps);
    const __m256d c1 = _mm256_set1_pd(correction1), c2 = _mm256_set1_pd(correction2);
    const __m256d rate = _mm256_set1_pd(lr), rate_decay = _mm256_set1_pd(lr_decay);
    for (; j + 4 <= n; j += 4) {
        const __m256d grad = _mm256_mul_pd(_mm256_cvtps_pd(_mm_loadu_ps(g + j)), c);
        _mm_storeu_ps(g + j, _mm256_cvtpd_ps(grad));
        const __m256d m_new = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(m + j)), b1, _mm256_mul_pd(one_b1, grad));
        const __m256d v_new = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm_loadu_ps(v + j)), b2,
                                              _mm256_mul_pd(_mm256_mul_pd(one_b2, grad), grad));
        _mm_storeu_ps(m + j, _mm256_cvtpd_ps(m_new));
        _mm_storeu_ps(v + j, _mm256_cvtpd_ps(v_new));
        const __m256d update = _mm256_div_pd(_mm256_div_pd(m_new, c1), _mm256_add_pd(_mm256_sqrt_pd(_mm256_div_pd(v_new, c2)), e));
        const __m256d old = _mm256_cvtps_pd(_mm_loadu_ps(theta + j));
        _mm_storeu_ps(theta + j, _mm256_cvtpd_ps(_mm256_fnmadd_pd(old, rate_decay, _mm256_fnmadd_pd(update, rate, old))));
    }
#endif
    for (; j < n; ++j) {
        const double grad = g[j] * clip_factor;
        g[j] = static_cast<float>(grad);
        const double m_new = std::fma(double(m[j]), beta1, (1 - beta1) * grad);
        const double v_new = std::fma(double(v[j]), beta2, (1 - beta2) * grad * grad);
        m[j] = static_cast<float>(m_new);
        v[j] = static_cast<float>(v_new);
        const double update = (m_new / correction1) / (std::sqrt(v_new / correction2) + eps);
        const double old = theta[j];
        theta[j] = static_cast<float>(std::fma(-old, lr_decay, std::fma(-update, lr, old)));
    }
}

double adamw_step(ModelWeights& weights, ModelWeights& grads, AdamWState& state, const AdamWOptions& o, double lr) {
    const double norm = gradient_norm(grads);
    const double clip_factor = (o.clip > 0 && norm > o.clip) ? o.clip / norm : 1.0;
    state.step += 1;
    const double correction1 = 1 - std::pow(o.beta1, double(state.step));
    const double correction2 = 1 - std::pow(o.beta2, double(state.step));

    std::vector<Parameter> theta = model_parameters(weights), g = model_parameters(grads);
    std::vector<Parameter> m = model_parameters(state.exp_avg), v = model_parameters(state.exp_avg_sq);
    // Every element is updated on its own, so the tensors share out the threads (about 20 flops
    // an element, with a division and a square root in double: 1.1 ms for the toy's 757k on one).
    double elements = 0;
    for (const Parameter& p : theta) elements += double(shape_numel(p.shape));
    parallel_for(static_cast<int64_t>(theta.size()), worth_threads(20 * elements), [&](int64_t i) {
        if (!theta[i].trainable) return;
        const double decay = theta[i].shape.size() > 1 ? o.weight_decay : 0.0;
        adamw_update(theta[i].values, g[i].values, m[i].values, v[i].values, shape_numel(theta[i].shape), o.beta1,
                     o.beta2, o.eps, clip_factor, correction1, correction2, lr, lr * decay);
    });
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
