// Softmax, log-softmax, log-sum-exp and GRPO's loss on a GPU backend (gpu/softmax.cu):
//   seek::emu::...   the kernels in the emulator (seek_gpu_emu)
//   seek::cuda::...  the kernels on a GPU (seek_gpu, nvcc)
// with core's signatures (core/softmax.h softmax_row, log_sum_exp; core/grpo.h grpo_loss) and a
// row-batched form of each (one launch for all rows). Softmax variants 1 (a thread per row),
// 2 (a block per row, two passes) and 3 (a block per row, online single pass); GRPO has one kernel.
#pragma once

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/grpo.h"
#include "core/softmax.h"
#include "core/tensor.h"
#include "gpu/for_each_backend.h"

namespace seek {

namespace gpu_detail {

enum SoftmaxOutput { lse_only = 0, probs = 1, log_probs = 2 };  // softmax_rows_gpu's `output`

inline void check_softmax_shape(const char* op, int64_t rows, int64_t cols) {
    if (rows > INT_MAX || cols > INT_MAX || (rows > 0 && cols < 1))
        throw std::invalid_argument(std::string(op) + ": " + std::to_string(rows) + " rows of " + std::to_string(cols) +
                                    " values: the kernels need 1 .. 2^31 - 1 of each");
}

// Row by row of x: out (probabilities or log-probabilities, when asked for) and lse.
template <typename HostFunction>
Mat softmax_rows(HostFunction host_function, const Mat& x, SoftmaxOutput output, std::vector<double>* lse, int variant) {
    check_softmax_shape("softmax", x.rows(), x.cols());
    Mat out(output == lse_only ? 0 : x.rows(), output == lse_only ? 0 : x.cols());
    std::vector<double> row_lse(x.rows());
    if (x.rows() > 0)
        host_function(output == lse_only ? nullptr : out.data(), row_lse.data(), x.data(), static_cast<int>(x.rows()),
                      static_cast<int>(x.cols()), output, variant);
    if (lse) *lse = std::move(row_lse);
    return out;
}

// The weight of one counted token of each row in the aggregate loss = -Σ weight · J (0 where the
// row is not counted), as core's grpo_loss weighs them: per sequence (GRPO), per token (DAPO) or
// by a constant (Dr. GRPO).
inline std::vector<double> grpo_row_weights(const Batch& batch, const GrpoLossOptions& options) {
    const size_t sequences = batch.offsets.size() - 1;
    std::vector<int64_t> lengths(sequences, 0);
    int64_t total_tokens = 0;
    for (size_t s = 0; s < sequences; ++s) {
        for (int64_t t = batch.offsets[s]; t < batch.offsets[s + 1]; ++t) lengths[s] += batch.targets[t] != kIgnoreTarget;
        total_tokens += lengths[s];
    }
    std::vector<double> weights(batch.targets.size(), 0.0);
    for (size_t s = 0; s < sequences; ++s) {
        if (lengths[s] == 0) continue;
        double weight = 0;
        switch (options.aggregation) {
            case LossAggregation::Sequence: weight = 1.0 / (double(sequences) * lengths[s]); break;
            case LossAggregation::Token: weight = 1.0 / double(total_tokens); break;
            case LossAggregation::Constant: weight = 1.0 / (double(sequences) * double(std::max<int64_t>(options.max_new_tokens, 1))); break;
        }
        for (int64_t t = batch.offsets[s]; t < batch.offsets[s + 1]; ++t)
            if (batch.targets[t] != kIgnoreTarget) weights[t] = weight;
    }
    return weights;
}

template <typename HostFunction>
GrpoLossReport grpo_loss(HostFunction host_function, Mat& dlogits, const Mat& logits, const Batch& batch,
                         const std::vector<double>& old_logp, const std::vector<double>& ref_logp,
                         const std::vector<double>& advantages, const GrpoLossOptions& options) {
    const std::string what = "grpo_loss: ";
    const int64_t rows = logits.rows(), vocab = logits.cols();
    auto require = [&](bool condition, const std::string& message) {
        if (!condition) throw std::invalid_argument(what + message);
    };
    require(!batch.offsets.empty() && batch.offsets.front() == 0 &&
                batch.offsets.back() == static_cast<int64_t>(batch.targets.size()),
            "batch offsets must run from 0 to the " + std::to_string(batch.targets.size()) + " targets");
    for (size_t s = 0; s + 1 < batch.offsets.size(); ++s)
        require(batch.offsets[s] <= batch.offsets[s + 1], "batch offsets decrease at sequence " + std::to_string(s));
    require(static_cast<int64_t>(batch.targets.size()) == rows,
            std::to_string(batch.targets.size()) + " targets for " + std::to_string(rows) + " rows of logits");
    require(dlogits.rows() == rows && dlogits.cols() == vocab,
            "dlogits is " + std::to_string(dlogits.rows()) + " x " + std::to_string(dlogits.cols()) + ", logits " +
                std::to_string(rows) + " x " + std::to_string(vocab));
    require(advantages.size() == batch.offsets.size() - 1 && old_logp.size() == batch.targets.size() &&
                ref_logp.size() == batch.targets.size(),
            "one advantage per sequence and one old/ref log-prob per row needed");
    check_softmax_shape("grpo_loss", rows, vocab);
    std::vector<int> targets(rows);
    std::vector<double> row_advantage(rows, 0.0);
    for (size_t s = 0; s + 1 < batch.offsets.size(); ++s) {
        for (int64_t t = batch.offsets[s]; t < batch.offsets[s + 1]; ++t) {
            const int32_t target = batch.targets[t];
            require(target == kIgnoreTarget || (target >= 0 && target < vocab),
                    "row " + std::to_string(t) + ": target " + std::to_string(target) + " is outside the vocabulary of " +
                        std::to_string(vocab));
            targets[t] = target;
            row_advantage[t] = advantages[s];
        }
    }
    const std::vector<double> weights = grpo_row_weights(batch, options);
    std::vector<double> row_terms(3 * rows, 0.0);
    std::vector<int> row_clipped(rows, 0);
    if (rows > 0)
        host_function(dlogits.data(), row_terms.data(), row_clipped.data(), logits.data(), targets.data(), weights.data(),
                      row_advantage.data(), old_logp.data(), ref_logp.data(), static_cast<int>(rows),
                      static_cast<int>(vocab), options.clip_low, options.clip_high, options.beta);
    // The per-token terms summed in row order, as core sums them.
    GrpoLossReport report;
    int64_t clipped = 0;
    for (int64_t t = 0; t < rows; ++t) {
        if (targets[t] == kIgnoreTarget) continue;
        report.loss += row_terms[3 * t];
        report.kl += row_terms[3 * t + 1];
        report.entropy += row_terms[3 * t + 2];
        clipped += row_clipped[t];
        ++report.tokens;
    }
    if (report.tokens > 0) {
        report.kl /= report.tokens;
        report.entropy /= report.tokens;
        report.clip_fraction = double(clipped) / report.tokens;
    }
    return report;
}

// Core's per-row signatures, one launch for the one row.
template <typename HostFunction>
void softmax_row(HostFunction host_function, const float* x, float* probs, int64_t n, int variant) {
    check_softmax_shape("softmax_row", 1, n);
    double lse = 0;
    host_function(probs, &lse, x, 1, static_cast<int>(n), SoftmaxOutput::probs, variant);
}
template <typename HostFunction>
double log_sum_exp(HostFunction host_function, const float* x, int64_t n, int variant) {
    check_softmax_shape("log_sum_exp", 1, n);
    double lse = 0;
    host_function(nullptr, &lse, x, 1, static_cast<int>(n), SoftmaxOutput::lse_only, variant);
    return lse;
}
template <typename HostFunction>
std::vector<double> log_sum_exp_rows(HostFunction host_function, const Mat& x, int variant) {
    std::vector<double> lse;
    softmax_rows(host_function, x, SoftmaxOutput::lse_only, &lse, variant);
    return lse;
}

}  // namespace gpu_detail

// One backend's names (gpu/for_each_backend.h): the .cu's host functions, on row-major host arrays
// (gpu/softmax.cu says what each holds); softmax_rows / log_softmax_rows / log_sum_exp_rows over
// every row of x; core's per-row softmax_row and log_sum_exp (one launch for the one row);
// grpo_loss as core's.
#define SEEK_SOFTMAX_API(backend)                                                                                     \
    namespace backend {                                                                                               \
    void softmax_rows_gpu(float* out, double* lse, const float* x, int rows, int cols, int output, int variant);      \
    void grpo_loss_gpu(float* dlogits, double* row_terms, int* row_clipped, const float* logits, const int* targets,  \
                       const double* row_weight, const double* row_advantage, const double* old_logp,                 \
                       const double* ref_logp, int rows, int vocab, double clip_low, double clip_high, double beta);  \
    inline Mat softmax_rows(const Mat& x, int variant) {                                                              \
        return gpu_detail::softmax_rows(softmax_rows_gpu, x, gpu_detail::probs, nullptr, variant);                    \
    }                                                                                                                 \
    inline Mat log_softmax_rows(const Mat& x, int variant) {                                                          \
        return gpu_detail::softmax_rows(softmax_rows_gpu, x, gpu_detail::log_probs, nullptr, variant);                \
    }                                                                                                                 \
    inline std::vector<double> log_sum_exp_rows(const Mat& x, int variant) {                                          \
        return gpu_detail::log_sum_exp_rows(softmax_rows_gpu, x, variant);                                            \
    }                                                                                                                 \
    inline void softmax_row(const float* x, float* probs, int64_t n, int variant) {                                   \
        gpu_detail::softmax_row(softmax_rows_gpu, x, probs, n, variant);                                              \
    }                                                                                                                 \
    inline double log_sum_exp(const float* x, int64_t n, int variant) {                                               \
        return gpu_detail::log_sum_exp(softmax_rows_gpu, x, n, variant);                                              \
    }                                                                                                                 \
    inline GrpoLossReport grpo_loss(Mat& dlogits, const Mat& logits, const Batch& batch,                              \
                                    const std::vector<double>& old_logp, const std::vector<double>& ref_logp,         \
                                    const std::vector<double>& advantages, const GrpoLossOptions& options) {          \
        return gpu_detail::grpo_loss(grpo_loss_gpu, dlogits, logits, batch, old_logp, ref_logp, advantages, options); \
    }                                                                                                                 \
    }
SEEK_FOR_EACH_GPU_BACKEND(SEEK_SOFTMAX_API)
#undef SEEK_SOFTMAX_API

}  // namespace seek
