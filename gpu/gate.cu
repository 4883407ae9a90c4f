// MoE routing on a GPU (core/gate.h's route_tokens), from the gate's logits [T, E] and its bias:
//
//   s     = sigmoid(logits) (V3)  or  softmax(logits) (V2)    per token, over the E experts
//   sel   = s + b                  (b: e_score_correction_bias; sel = s without one)
//   group = top-2 sum of its sel (with a bias), its max (without), for the G groups of E / G experts
//   kept  = the topk_group best groups                         -> group_mask
//   idx   = the K best sel among the kept groups' experts       -> topk_idx, best first
//   w     = s[idx] / (sum_k s[idx_k] + 1e-20) (norm_topk_prob) * routed_scaling_factor
//
// Every "best" ranks by value, ties to the lower index, as core does: the decisions (topk_idx,
// group_mask) are then a function of the float values alone, whatever order a GPU computes in.
//
// Both variants choose a top-k by repeated argmax: pick k is the best candidate ranked after pick
// k - 1 (in the total order "larger value, then lower index", so no pick repeats and none needs to
// be marked taken). K passes over the candidates, no sorting and no per-token list in memory: for
// V3's K = 8 of 256 experts that is 2,048 comparisons a token.
//   1. one thread per token: a plain port of core's loop, the token's scores in its own rows of the
//      outputs. Neighbouring threads read rows E floats apart (no coalescing), and a token's work
//      is serial: E exponentials, G x E / G group reads, K x E candidate reads;
//   2. one warp per token: lane l takes experts l, l + 32, ... (consecutive lanes read consecutive
//      floats: coalesced), and the warp combines its lanes' partial results with __shfl_xor_sync
//      butterflies: the softmax's max and sum, each group's top-2 (merged pairwise), and each
//      argmax (value, index and unbiased score moved together). The per-token serial chain shrinks
//      from E to E / 32 + 5 steps.
//
// Where the two differ from core in the last bit: variant 1 computes everything in core's order
// (sigmoid, the softmax's double sum from expert 0 up, the float weight sum in k order): equal
// bit for bit wherever expf is core's (the emulator). Variant 2 adds the softmax's double sum as
// a tree: the sum differs from core's by a few double ulps, so a softmax score can differ by one
// float ulp (the tests state the bound); its weight sum is in k order as core's. On a GPU, expf
// itself is within 2 ulp of the C library's. Decisions are equal as long as the values are; ties
// (equal floats) stay ties in every variant, since equal inputs give equal scores.
//
// The host function allocates device memory, copies the logits and bias in, launches, and copies
// the six outputs back.
#include "gpu/seek_cuda.h"

namespace SEEK_GPU_NAMESPACE {

// Groups are kept in a 64-bit mask: n_group <= 64 (V3 has 8).
constexpr int route_max_groups = 64;
constexpr int route_no_index = 0x7fffffff;  // an empty candidate: ranks after every real one

// a ranks before b: a larger value, or an equal value and a lower index.
__device__ __forceinline__ bool ranks_before(float value_a, int index_a, float value_b, int index_b) {
    return value_a > value_b || (value_a == value_b && index_a < index_b);
}

__device__ __forceinline__ float sigmoid_of(float logit) { return 1.0f / (1.0f + expf(-logit)); }

// A group's score from its two best biased scores: their sum with a bias (and more than one expert
// in the group), the best alone without.
__device__ __forceinline__ float group_score_of(float best, float second, bool has_bias, int group_size) {
    return has_bias && group_size > 1 ? best + second : best;
}

// w_k = c s_k / (sum_k s_k + 1e-20) with normalization, c s_k without: topk_weight's row holds the
// unbiased scores s_k of the picks, and their float sum in k order (core's order) is `sum`.
__device__ __forceinline__ void finish_weights(float* weight_row, int top_k, float sum, bool normalize, float scale) {
    const float denominator = sum + 1e-20f;  // HF's denominator
    for (int k = 0; k < top_k; ++k) {
        float w = weight_row[k];
        if (normalize) w = w / denominator;
        weight_row[k] = w * scale;
    }
}

// ---- variant 1: one thread per token ------------------------------------------------------------
constexpr int route_threads1 = 128;

// budget: route_kernel1 regs<=48 smem<=0 spills=0
__global__ void route_kernel1(float* __restrict__ scores, float* __restrict__ biased_scores,
                              float* __restrict__ group_scores, float* __restrict__ group_mask,
                              int* __restrict__ topk_idx, float* __restrict__ topk_weight,
                              const float* __restrict__ logits, const float* __restrict__ bias, int tokens, int experts,
                              int groups, int topk_group, int top_k, bool softmax, bool normalize, float scale) {
    const int t = blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= tokens) return;
    const size_t row = static_cast<size_t>(t) * experts;
    const float* z = logits + row;
    float* s = scores + row;
    float* sel = biased_scores + row;
    const bool has_bias = bias != nullptr;
    const int group_size = experts / groups;

    if (softmax) {  // core's softmax_row: exponentials in float, their sum in double, from expert 0 up
        float max = z[0];
        for (int i = 1; i < experts; ++i) max = fmaxf(max, z[i]);
        double sum = 0;
        for (int i = 0; i < experts; ++i) sum += s[i] = expf(z[i] - max);
        for (int i = 0; i < experts; ++i) s[i] = static_cast<float>(s[i] / sum);
    } else {
        for (int i = 0; i < experts; ++i) s[i] = sigmoid_of(z[i]);
    }
    for (int i = 0; i < experts; ++i) sel[i] = has_bias ? s[i] + bias[i] : s[i];

    for (int g = 0; g < groups; ++g) {
        float best = -INFINITY, second = -INFINITY;
        for (int i = g * group_size; i < (g + 1) * group_size; ++i) {
            if (sel[i] > best) {
                second = best;
                best = sel[i];
            } else if (sel[i] > second) {
                second = sel[i];
            }
        }
        group_scores[static_cast<size_t>(t) * groups + g] = group_score_of(best, second, has_bias, group_size);
    }

    // The topk_group best groups, by repeated argmax over the group scores.
    const float* gscore = group_scores + static_cast<size_t>(t) * groups;
    unsigned long long kept = 0;
    float last_value = 0;
    int last_group = -1;
    for (int pass = 0; pass < topk_group; ++pass) {
        int pick = -1;
        for (int g = 0; g < groups; ++g) {
            if (last_group >= 0 && !ranks_before(last_value, last_group, gscore[g], g)) continue;  // taken
            if (pick < 0 || ranks_before(gscore[g], g, gscore[pick], pick)) pick = g;
        }
        kept |= 1ull << pick;
        last_value = gscore[pick];
        last_group = pick;
    }
    for (int g = 0; g < groups; ++g) group_mask[static_cast<size_t>(t) * groups + g] = (kept >> g) & 1 ? 1.0f : 0.0f;

    // The K best experts of the kept groups by biased score; their unbiased scores are the weights.
    int* idx = topk_idx + static_cast<size_t>(t) * top_k;
    float* weight = topk_weight + static_cast<size_t>(t) * top_k;
    float sum = 0;
    int last_expert = -1;
    for (int k = 0; k < top_k; ++k) {
        int pick = -1;
        for (int i = 0; i < experts; ++i) {
            if (!((kept >> (i / group_size)) & 1)) continue;
            if (last_expert >= 0 && !ranks_before(sel[last_expert], last_expert, sel[i], i)) continue;
            if (pick < 0 || ranks_before(sel[i], i, sel[pick], pick)) pick = i;
        }
        idx[k] = pick;
        sum += weight[k] = s[pick];
        last_expert = pick;
    }
    finish_weights(weight, top_k, sum, normalize, scale);
}

// ---- variant 2: one warp per token, butterflies with shuffles ----------------------------------
constexpr int route_warps2 = 4;  // tokens per block
constexpr unsigned full_warp = 0xffffffffu;

// After five xor steps every lane holds the best (value, index) of the 32 (and its payload): the
// order is total, so the merge is associative and commutative and all lanes agree.
__device__ __forceinline__ void warp_argmax(float& value, int& index, float& payload) {
    for (int offset = warpSize / 2; offset > 0; offset /= 2) {
        const float other_value = __shfl_xor_sync(full_warp, value, offset);
        const int other_index = __shfl_xor_sync(full_warp, index, offset);
        const float other_payload = __shfl_xor_sync(full_warp, payload, offset);
        if (ranks_before(other_value, other_index, value, index)) {
            value = other_value;
            index = other_index;
            payload = other_payload;
        }
    }
}

// budget: route_kernel2 regs<=48 smem<=0 spills=0
__global__ void route_kernel2(float* __restrict__ scores, float* __restrict__ biased_scores,
                              float* __restrict__ group_scores, float* __restrict__ group_mask,
                              int* __restrict__ topk_idx, float* __restrict__ topk_weight,
                              const float* __restrict__ logits, const float* __restrict__ bias, int tokens, int experts,
                              int groups, int topk_group, int top_k, bool softmax, bool normalize, float scale) {
    const int lane = threadIdx.x % warpSize;
    const int t = blockIdx.x * route_warps2 + threadIdx.x / warpSize;
    if (t >= tokens) return;  // whole warps leave together: every shuffle below has all 32 lanes
    const size_t row = static_cast<size_t>(t) * experts;
    const float* z = logits + row;
    float* s = scores + row;
    float* sel = biased_scores + row;
    const bool has_bias = bias != nullptr;
    const int group_size = experts / groups;

    if (softmax) {
        float max = -INFINITY;
        for (int i = lane; i < experts; i += warpSize) max = fmaxf(max, z[i]);
        for (int offset = warpSize / 2; offset > 0; offset /= 2) max = fmaxf(max, __shfl_xor_sync(full_warp, max, offset));
        double sum = 0;  // in double as core's; a tree here, not core's left-to-right order
        for (int i = lane; i < experts; i += warpSize) sum += s[i] = expf(z[i] - max);
        for (int offset = warpSize / 2; offset > 0; offset /= 2) sum += __shfl_xor_sync(full_warp, sum, offset);
        for (int i = lane; i < experts; i += warpSize) s[i] = static_cast<float>(s[i] / sum);
    } else {
        for (int i = lane; i < experts; i += warpSize) s[i] = sigmoid_of(z[i]);
    }
    for (int i = lane; i < experts; i += warpSize) sel[i] = has_bias ? s[i] + bias[i] : s[i];
    __syncwarp();  // the group loop reads biased scores other lanes wrote

    // Group scores: each lane's top-2 over its experts of the group, then the butterfly merges
    // pairs of top-2s (the best of the union, and the larger of the lesser best and both seconds).
    // Lane l keeps the scores of groups l and l + 32 for the selection below.
    float my_group_score[2] = {-INFINITY, -INFINITY};
    for (int g = 0; g < groups; ++g) {
        float best = -INFINITY, second = -INFINITY;
        for (int i = g * group_size + lane; i < (g + 1) * group_size; i += warpSize) {
            if (sel[i] > best) {
                second = best;
                best = sel[i];
            } else if (sel[i] > second) {
                second = sel[i];
            }
        }
        for (int offset = warpSize / 2; offset > 0; offset /= 2) {
            const float other_best = __shfl_xor_sync(full_warp, best, offset);
            const float other_second = __shfl_xor_sync(full_warp, second, offset);
            second = fmaxf(fminf(best, other_best), fmaxf(second, other_second));
            best = fmaxf(best, other_best);
        }
        const float score = group_score_of(best, second, has_bias, group_size);
        if (lane == 0) group_scores[static_cast<size_t>(t) * groups + g] = score;
        if (g == lane) my_group_score[0] = score;
        if (g == lane + warpSize) my_group_score[1] = score;
    }

    // The topk_group best groups: each pass, a warp argmax over the groups ranked after the last pick.
    unsigned long long kept = 0;
    float last_value = 0;
    int last_group = -1;
    for (int pass = 0; pass < topk_group; ++pass) {
        float value = -INFINITY, unused = 0;
        int pick = route_no_index;
        for (int j = 0; j < 2; ++j) {
            const int g = lane + j * warpSize;
            if (g >= groups) break;
            if (last_group >= 0 && !ranks_before(last_value, last_group, my_group_score[j], g)) continue;
            if (ranks_before(my_group_score[j], g, value, pick)) {
                value = my_group_score[j];
                pick = g;
            }
        }
        warp_argmax(value, pick, unused);
        kept |= 1ull << pick;
        last_value = value;
        last_group = pick;
    }
    for (int g = lane; g < groups; g += warpSize)
        group_mask[static_cast<size_t>(t) * groups + g] = (kept >> g) & 1 ? 1.0f : 0.0f;

    // The K best experts of the kept groups: each pass a warp argmax that carries the unbiased
    // score, so every lane adds the same weights in the same (k) order.
    int* idx = topk_idx + static_cast<size_t>(t) * top_k;
    float* weight = topk_weight + static_cast<size_t>(t) * top_k;
    float sum = 0, last_sel = 0;
    int last_expert = -1;
    for (int k = 0; k < top_k; ++k) {
        float value = -INFINITY, score = 0;
        int pick = route_no_index;
        for (int i = lane; i < experts; i += warpSize) {
            if (!((kept >> (i / group_size)) & 1)) continue;
            if (last_expert >= 0 && !ranks_before(last_sel, last_expert, sel[i], i)) continue;
            if (ranks_before(sel[i], i, value, pick)) {
                value = sel[i];
                pick = i;
                score = s[i];
            }
        }
        warp_argmax(value, pick, score);
        if (lane == 0) {
            idx[k] = pick;
            weight[k] = score;
        }
        sum += score;
        last_sel = value;
        last_expert = pick;
    }
    if (lane == 0) finish_weights(weight, top_k, sum, normalize, scale);
}

// ---- host ---------------------------------------------------------------------------------------
// logits [tokens, experts]; bias [experts] or null. Outputs as core's Routing: scores and
// biased_scores [tokens, experts], group_scores and group_mask [tokens, groups], topk_idx and
// topk_weight [tokens, top_k]. The caller has checked the config (core's validate_config) and
// groups <= route_max_groups. variant: 1 or 2.
void route_tokens_gpu(float* scores, float* biased_scores, float* group_scores, float* group_mask, int* topk_idx,
                      float* topk_weight, const float* logits, const float* bias, int tokens, int experts, int groups,
                      int topk_group, int top_k, bool softmax, bool normalize, float scale, int variant) {
    if (variant < 1 || variant > 2) {
        throw std::invalid_argument("route_tokens: variant " + std::to_string(variant) + " does not exist (1, 2)");
    }
    if (groups < 1 || groups > route_max_groups || experts % groups != 0 || topk_group < 1 || topk_group > groups ||
        top_k < 1 || top_k > topk_group * (experts / groups)) {
        throw std::invalid_argument("route_tokens: " + std::to_string(experts) + " experts in " + std::to_string(groups) +
                                    " groups, keep " + std::to_string(topk_group) + ", top-" + std::to_string(top_k) +
                                    " is not a routing these kernels run");
    }
    if (tokens == 0) return;
    const size_t score_count = static_cast<size_t>(tokens) * experts;
    const size_t group_count = static_cast<size_t>(tokens) * groups;
    const size_t pick_count = static_cast<size_t>(tokens) * top_k;
    DeviceArray<float> d_logits(score_count), d_bias(bias ? experts : 0), d_scores(score_count), d_biased(score_count);
    DeviceArray<float> d_group_scores(group_count), d_group_mask(group_count), d_weight(pick_count);
    DeviceArray<int> d_idx(pick_count);
    d_logits.copy_from_host(logits);
    if (bias) d_bias.copy_from_host(bias);
    const float* bias_arg = bias ? d_bias.data : nullptr;
    switch (variant) {
        case 1:
            SEEK_LAUNCH(route_kernel1, ceil_div(tokens, route_threads1), route_threads1, 0)
            (d_scores.data, d_biased.data, d_group_scores.data, d_group_mask.data, d_idx.data, d_weight.data,
             d_logits.data, bias_arg, tokens, experts, groups, topk_group, top_k, softmax, normalize, scale);
            break;
        case 2:
            SEEK_LAUNCH(route_kernel2, ceil_div(tokens, route_warps2), route_warps2 * 32, 0)
            (d_scores.data, d_biased.data, d_group_scores.data, d_group_mask.data, d_idx.data, d_weight.data,
             d_logits.data, bias_arg, tokens, experts, groups, topk_group, top_k, softmax, normalize, scale);
            break;
    }
    SEEK_CUDA_CHECK(cudaGetLastError());
    d_scores.copy_to_host(scores);
    d_biased.copy_to_host(biased_scores);
    d_group_scores.copy_to_host(group_scores);
    d_group_mask.copy_to_host(group_mask);
    d_idx.copy_to_host(topk_idx);
    d_weight.copy_to_host(topk_weight);
}

}  // namespace SEEK_GPU_NAMESPACE
