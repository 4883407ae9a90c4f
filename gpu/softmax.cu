// Softmax, log-softmax and log-sum-exp over rows as long as the vocabulary (V3: 129,280 logits),
// and GRPO's per-token objective with its gradient, on a GPU (core/softmax.h, core/grpo.h):
//   softmax(x)_i = e^(x_i - m) / Σ_j e^(x_j - m)   (m = max_j x_j: no exponent is positive)
//   lse(x) = m + log Σ_j e^(x_j - m),   log_softmax(x)_i = x_i - lse(x)
//
// Accumulation. Each e^(x_i - m) is a float expf (as core's softmax_row takes it), and the sum is
// in double, as core's: a float sum of 129,280 terms, strided over 256 threads, would carry up to
// 505 + 8 roundings (3e-5 relative, worst case), a double sum about 1e-11. The op reads 4 bytes
// per logit and adds once, so even at 1/64 of float's rate (sm_89) the double adds keep up with
// memory. lse is then within (4 + ln n) u of core's (u = 2^-24): each term's expf is within 2 ulp
// (4u relative), its argument x_i - m rounded to float by at most u |x_i - m|, and
// Σ p_i |x_i - m| <= ln n (the softmax's entropy bounds it): derived in tests/gpu/test_softmax_gpu.cpp. lse is returned in
// double, probabilities as float(e^(x_i - m) (1 / Σ)) (the product in double), log-probabilities
// as float(x_i - lse) (the difference in double).
//
// Variants (softmax, log-softmax and lse alone are one kernel each, `output` choosing what it writes):
//   1. a thread per row: the max, the sum and the writes, three passes as core's loops. Threads
//      of a warp read addresses a whole row apart (no coalescing), and a batch of a few rows keeps
//      a few threads busy: the port, not the fast one;
//   2. a block of 256 threads per row, two passes for the statistics: a block-wide max, then each
//      thread sums e^(x_i - m) over a strided slice (neighbouring threads read neighbouring logits)
//      and the block adds the 256 partial sums (gpu/block_reduce.h: shuffles, then warps in order);
//      then the writes. The row is read three times (twice for lse alone);
//   3. a block per row, one pass for the statistics (the online softmax): each thread keeps a
//      running max m and sum l over its slice; a larger x rescales the sum, l <- l e^(m - x) + 1
//      (in double, rare), else l += e^(x - m); the block merges the 256 pairs by
//      (m1, l1) + (m2, l2) = (M, l1 e^(m1 - M) + l2 e^(m2 - M)), M = max(m1, m2). The row is read
//      twice (once for lse alone): a third less traffic than variant 2 for the same result.
// GRPO (one kernel, a block per completion token): variant 3's statistics give lse and
// log π(target) = x_target - lse; every thread evaluates the token's objective in double (the
// formulas of core's token_objective); one more pass adds dlogits_v += -w dJ/dlogp (onehot_v - q_v)
// and sums the entropy Σ q_v (lse - x_v). Per-token results go to arrays the host sums in row order.
//
// Bytes per call: softmax and log-softmax rows · cols · 4 · (reads + 1): variant 1 and 2 three
// reads, variant 3 two; lse alone one fewer read, no write. GRPO: rows · vocab · 4 · 4 (two reads
// of the logits, dlogits read and written). FLOPs: about 4 per logit (a subtraction, expf, an add,
// a product), 8 for GRPO's.
#include "gpu/seek_cuda.h"

#include <cmath>

#include "gpu/block_reduce.h"

namespace SEEK_GPU_NAMESPACE {

// What a softmax kernel writes besides lse (per row, always): nothing, probabilities or log-probabilities.
enum SoftmaxOutput : int { softmax_lse_only = 0, softmax_probs = 1, softmax_log_probs = 2 };

// A row's statistics: its max and Σ e^(x - max), in double.
struct MaxSum {
    float max;
    double sum;
};

__device__ __forceinline__ MaxSum shuffle_xor(MaxSum value, int lane_mask) {
    return {shuffle_xor(value.max, lane_mask), shuffle_xor(value.sum, lane_mask)};
}

// (m1, l1) + (m2, l2) = (M, l1 e^(m1 - M) + l2 e^(m2 - M)): the statistics of the union of the two
// slices. Commutative, as block_reduce needs; a slice with nothing in it is (-inf, 0).
struct MergeMaxSum {
    __device__ __forceinline__ MaxSum operator()(MaxSum a, MaxSum b) const {
        const float max = fmaxf(a.max, b.max);
        if (max == -INFINITY) return {max, 0.0};
        return {max, a.sum * exp(static_cast<double>(a.max) - max) + b.sum * exp(static_cast<double>(b.max) - max)};
    }
};

// Statistics of x[begin], x[begin + step], ... in one pass (variant 3 and GRPO).
__device__ __forceinline__ MaxSum online_max_sum(const float* x, int begin, int step, int n) {
    MaxSum stats{-INFINITY, 0.0};
    for (int i = begin; i < n; i += step) {
        const float value = x[i];
        if (value > stats.max) {  // a new max: what was summed was relative to the old one
            stats.sum = stats.sum * exp(static_cast<double>(stats.max) - value) + 1.0;
            stats.max = value;
        } else if (stats.max > -INFINITY) {  // (a -inf before any finite logit adds nothing)
            stats.sum += expf(value - stats.max);
        }
    }
    return stats;
}

// Writes x's outputs at begin, begin + step, ... from the row's statistics.
__device__ __forceinline__ void write_outputs(float* out, const float* x, int begin, int step, int n, MaxSum stats,
                                              double lse, int output) {
    if (output == softmax_probs) {
        const double inv_sum = 1.0 / stats.sum;
        for (int i = begin; i < n; i += step) out[i] = static_cast<float>(expf(x[i] - stats.max) * inv_sum);
    } else if (output == softmax_log_probs) {
        for (int i = begin; i < n; i += step) out[i] = static_cast<float>(x[i] - lse);
    }
}

// ---- variant 1: a thread per row ----------------------------------------------------------------
constexpr int softmax_threads1 = 128;

// budget: softmax_kernel1 regs<=48 smem<=0 spills=0
__global__ void softmax_kernel1(float* __restrict__ out, double* __restrict__ lse, const float* __restrict__ x,
                                int rows, int cols, int output) {
    const int row = blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= rows) return;
    const float* x_row = x + static_cast<size_t>(row) * cols;
    MaxSum stats{-INFINITY, 0.0};
    for (int i = 0; i < cols; ++i) stats.max = fmaxf(stats.max, x_row[i]);
    for (int i = 0; i < cols; ++i) stats.sum += expf(x_row[i] - stats.max);
    const double row_lse = stats.max + log(stats.sum);
    write_outputs(out + static_cast<size_t>(row) * cols, x_row, 0, 1, cols, stats, row_lse, output);
    lse[row] = row_lse;
}

// ---- variant 2: a block per row, two passes for the statistics ---------------------------------
constexpr int softmax_threads = 256;  // variants 2, 3 and GRPO
constexpr int softmax_warps = softmax_threads / 32;

// budget: softmax_kernel2 regs<=40 smem<=256 spills=0
__global__ void __launch_bounds__(softmax_threads)
softmax_kernel2(float* __restrict__ out, double* __restrict__ lse, const float* __restrict__ x, int cols, int output) {
    __shared__ float max_scratch[softmax_warps];
    __shared__ double sum_scratch[softmax_warps];
    const float* x_row = x + static_cast<size_t>(blockIdx.x) * cols;
    float local_max = -INFINITY;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) local_max = fmaxf(local_max, x_row[i]);
    MaxSum stats{block_reduce(local_max, MaxOf(), max_scratch), 0.0};
    double local_sum = 0.0;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) local_sum += expf(x_row[i] - stats.max);
    stats.sum = block_reduce(local_sum, SumOf(), sum_scratch);
    const double row_lse = stats.max + log(stats.sum);
    write_outputs(out + static_cast<size_t>(blockIdx.x) * cols, x_row, threadIdx.x, blockDim.x, cols, stats, row_lse, output);
    if (threadIdx.x == 0) lse[blockIdx.x] = row_lse;
}

// ---- variant 3: a block per row, the online softmax's single pass -------------------------------
// budget: softmax_kernel3 regs<=56 smem<=256 spills=0
__global__ void __launch_bounds__(softmax_threads)
softmax_kernel3(float* __restrict__ out, double* __restrict__ lse, const float* __restrict__ x, int cols, int output) {
    __shared__ MaxSum scratch[softmax_warps];
    const float* x_row = x + static_cast<size_t>(blockIdx.x) * cols;
    const MaxSum stats = block_reduce(online_max_sum(x_row, threadIdx.x, blockDim.x, cols), MergeMaxSum(), scratch);
    const double row_lse = stats.max + log(stats.sum);
    write_outputs(out + static_cast<size_t>(blockIdx.x) * cols, x_row, threadIdx.x, blockDim.x, cols, stats, row_lse, output);
    if (threadIdx.x == 0) lse[blockIdx.x] = row_lse;
}

// ---- GRPO: one completion token per block ------------------------------------------------------
struct GrpoCoefficients {
    double clip_low, clip_high, beta;
};

// Per token row (target < 0: not a completion token, the block leaves): the objective
//   ρ = e^(logp - old_logp),  J = min(ρ A, clip(ρ, 1 - ε_low, 1 + ε_high) A) - β KL,
//   KL = e^(ref - logp) - (ref - logp) - 1 (k3),  dJ/dlogp = ρ A [not clipped] - β (1 - e^(ref - logp))
// and dlogits_v += -w dJ/dlogp (onehot_v - q_v), w the token's aggregation weight. row_terms[3 row ..]:
// -w J, KL, the entropy Σ q_v (lse - x_v); row_clipped[row]: whether the clip bound.
// budget: grpo_token_kernel regs<=56 smem<=256 spills=0
__global__ void __launch_bounds__(softmax_threads)
grpo_token_kernel(float* __restrict__ dlogits, double* __restrict__ row_terms, int* __restrict__ row_clipped,
                  const float* __restrict__ logits, const int* __restrict__ targets, const double* __restrict__ row_weight,
                  const double* __restrict__ row_advantage, const double* __restrict__ old_logp,
                  const double* __restrict__ ref_logp, int vocab, GrpoCoefficients c) {
    __shared__ MaxSum stats_scratch[softmax_warps];
    __shared__ double sum_scratch[softmax_warps];
    const int row = blockIdx.x, target = targets[row];
    if (target < 0) return;  // the whole block: a prompt token or a sequence's last
    const float* x = logits + static_cast<size_t>(row) * vocab;
    const MaxSum stats = block_reduce(online_max_sum(x, threadIdx.x, blockDim.x, vocab), MergeMaxSum(), stats_scratch);
    const double lse = stats.max + log(stats.sum);

    // The token's objective, in double, the same in every thread (core's token_objective).
    const double logp = x[target] - lse, advantage = row_advantage[row];
    const double ratio = exp(logp - old_logp[row]);
    const double clipped_ratio = fmin(fmax(ratio, 1.0 - c.clip_low), 1.0 + c.clip_high);
    const bool clipped = clipped_ratio * advantage < ratio * advantage;
    const double log_ratio_ref = ref_logp[row] - logp;
    const double kl = exp(log_ratio_ref) - log_ratio_ref - 1.0;
    const double objective = (clipped ? clipped_ratio * advantage : ratio * advantage) - c.beta * kl;
    const double dlogp = (clipped ? 0.0 : ratio * advantage) - c.beta * (1.0 - exp(log_ratio_ref));
    const double weight = row_weight[row];
    const double scale = -weight * dlogp;  // the loss is -Σ w J; dlogp/dlogits = onehot - softmax

    float* d_row = dlogits + static_cast<size_t>(row) * vocab;
    const double inv_sum = 1.0 / stats.sum;
    double entropy = 0.0;
    for (int v = threadIdx.x; v < vocab; v += blockDim.x) {
        const double q = expf(x[v] - stats.max) * inv_sum;
        d_row[v] += static_cast<float>(scale * ((v == target ? 1.0 : 0.0) - q));
        entropy += q * (lse - x[v]);  // -q log q
    }
    entropy = block_reduce(entropy, SumOf(), sum_scratch);
    if (threadIdx.x == 0) {
        row_terms[3 * static_cast<size_t>(row)] = -weight * objective;
        row_terms[3 * static_cast<size_t>(row) + 1] = kl;
        row_terms[3 * static_cast<size_t>(row) + 2] = entropy;
        row_clipped[row] = clipped;
    }
}

// ---- host ---------------------------------------------------------------------------------------
// x: [rows, cols] host array; lse: [rows]; out: [rows, cols] (probabilities for output 1,
// log-probabilities for 2; unused, may be null, for 0). variant: 1, 2 or 3.
void softmax_rows_gpu(float* out, double* lse, const float* x, int rows, int cols, int output, int variant) {
    if (variant < 1 || variant > 3) {
        throw std::invalid_argument("softmax: variant " + std::to_string(variant) + " does not exist (1, 2, 3)");
    }
    if (output < softmax_lse_only || output > softmax_log_probs) {
        throw std::invalid_argument("softmax: output " + std::to_string(output) + " is not 0 (lse), 1 (probs) or 2 (log-probs)");
    }
    if (rows == 0) return;
    const size_t count = static_cast<size_t>(rows) * cols;
    DeviceArray<float> d_x(count), d_out(output == softmax_lse_only ? 0 : count);
    DeviceArray<double> d_lse(rows);
    d_x.copy_from_host(x);
    switch (variant) {
        case 1:
            SEEK_LAUNCH(softmax_kernel1, ceil_div(rows, softmax_threads1), softmax_threads1, 0)
            (d_out.data, d_lse.data, d_x.data, rows, cols, output);
            break;
        case 2:
            SEEK_LAUNCH(softmax_kernel2, rows, softmax_threads, 0)(d_out.data, d_lse.data, d_x.data, cols, output);
            break;
        case 3:
            SEEK_LAUNCH(softmax_kernel3, rows, softmax_threads, 0)(d_out.data, d_lse.data, d_x.data, cols, output);
            break;
    }
    SEEK_CUDA_CHECK(cudaGetLastError());
    d_lse.copy_to_host(lse);
    if (output != softmax_lse_only) d_out.copy_to_host(out);
}

// logits, dlogits (added to): [rows, vocab] host arrays; per row: targets (-1: not counted),
// row_weight, row_advantage, old_logp, ref_logp; out per row: row_terms [rows, 3] (-w J, KL,
// entropy; left as they are for rows not counted), row_clipped. Shapes checked by gpu/softmax.h.
void grpo_loss_gpu(float* dlogits, double* row_terms, int* row_clipped, const float* logits, const int* targets,
                   const double* row_weight, const double* row_advantage, const double* old_logp, const double* ref_logp,
                   int rows, int vocab, double clip_low, double clip_high, double beta) {
    if (rows == 0) return;
    const size_t count = static_cast<size_t>(rows) * vocab;
    DeviceArray<float> d_logits(count), d_dlogits(count);
    DeviceArray<int> d_targets(rows), d_clipped(rows);
    DeviceArray<double> d_weight(rows), d_advantage(rows), d_old_logp(rows), d_ref_logp(rows), d_terms(3 * static_cast<size_t>(rows));
    d_logits.copy_from_host(logits);
    d_dlogits.copy_from_host(dlogits);
    d_targets.copy_from_host(targets);
    d_weight.copy_from_host(row_weight);
    d_advantage.copy_from_host(row_advantage);
    d_old_logp.copy_from_host(old_logp);
    d_ref_logp.copy_from_host(ref_logp);
    d_terms.copy_from_host(row_terms);
    d_clipped.copy_from_host(row_clipped);
    SEEK_LAUNCH(grpo_token_kernel, rows, softmax_threads, 0)
    (d_dlogits.data, d_terms.data, d_clipped.data, d_logits.data, d_targets.data, d_weight.data, d_advantage.data,
     d_old_logp.data, d_ref_logp.data, vocab, GrpoCoefficients{clip_low, clip_high, beta});
    SEEK_CUDA_CHECK(cudaGetLastError());
    d_dlogits.copy_to_host(dlogits);
    d_terms.copy_to_host(row_terms);
    d_clipped.copy_to_host(row_clipped);
}

}  // namespace SEEK_GPU_NAMESPACE
