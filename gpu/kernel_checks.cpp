#include "gpu/kernel_checks.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include "core/config.h"
#include "core/embedding.h"
#include "core/gate.h"
#include "core/grpo.h"
#include "core/linear.h"
#include "core/mla.h"
#include "core/moe.h"
#include "core/norm.h"
#include "core/quantize.h"
#include "core/random.h"
#include "core/rope.h"
#include "core/softmax.h"
#include "core/tolerance.h"
#include "gpu/embedding.h"
#include "gpu/gate.h"
#include "gpu/linear.h"
#include "gpu/mla_decode.h"
#include "gpu/moe.h"
#include "gpu/rms_norm.h"
#include "gpu/rope.h"
#include "gpu/softmax.h"
#if SEEK_BACKEND_FP8
#include "core/fp8_gemm.h"
#include "gpu/fp8_gemm.h"
#include "gpu/quantize.h"
#endif

namespace seek {

// N(0, std^2) values; operands of more than 4M values (V3's scale) are uniform with the same
// standard deviation instead, ten times quicker to draw and as good for checking a kernel.
static Mat random_matrix(int64_t rows, int64_t cols, uint64_t seed, float std = 1.0f) {
    Mat m(rows, cols);
    Rng rng(seed);
    if (m.size() <= (int64_t{1} << 22)) {
        for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = std * rng.normal();
    } else {
        const double half_width = std * std::sqrt(3.0);  // uniform on [-a, a] has variance a^2 / 3
        for (int64_t i = 0; i < m.size(); ++i) m.data()[i] = static_cast<float>(half_width * (2 * rng.uniform() - 1));
    }
    return m;
}

// The rule's measure for one output: max |got - expected| over max |expected| (compare_traces').
// Equal values count as no difference, so masked -inf scores compare equal; a NaN is infinitely far.
struct Difference {
    double max_abs = 0, max_rel = 0;
};
static Difference difference(const Mat& expected, const Mat& got) {
    if (expected.rows() != got.rows() || expected.cols() != got.cols()) return {INFINITY, INFINITY};
    double scale = 0, largest = 0;
    for (int64_t i = 0; i < expected.size(); ++i) {
        const float e = expected.data()[i], g = got.data()[i];
        if (std::isfinite(e)) scale = std::max(scale, static_cast<double>(std::fabs(e)));
        if (e == g) continue;
        const double diff = std::fabs(static_cast<double>(g) - e);
        largest = std::max(largest, std::isnan(diff) ? INFINITY : diff);
    }
    return {largest, largest == 0 ? 0 : largest / (scale > 0 ? scale : 1e-30)};
}

template <typename Int>
static Mat as_floats(const std::vector<Int>& values) {
    Mat m(1, static_cast<Eigen::Index>(values.size()));
    for (size_t i = 0; i < values.size(); ++i) m(0, static_cast<Eigen::Index>(i)) = static_cast<float>(values[i]);
    return m;
}
static Mat as_floats(const IndexMat& values) { return values.cast<float>(); }

// Adds one output of a kernel to its check: the check passes when every output is within its
// tolerance, and reports the output furthest beyond (or nearest to) its own.
static void measure(KernelCheck& check, const char* output, const Mat& expected, const Mat& got, double tolerance) {
    const Difference d = difference(expected, got);
    const auto ratio = [](double error, double limit) { return error == 0 ? 0.0 : limit == 0 ? INFINITY : error / limit; };
    const bool first = check.outputs.empty();
    if (first || ratio(d.max_rel, tolerance) > ratio(check.max_rel_error, check.tolerance)) {
        check.max_abs_error = d.max_abs;
        check.max_rel_error = d.max_rel;
        check.tolerance = tolerance;
    }
    check.passed = (first || check.passed) && d.max_rel <= tolerance;
    check.outputs.push_back({output, d.max_abs, d.max_rel, tolerance});
}

// The rule's tolerance for FP32 computed in another order (1e-5), and for exact ops (0).
static double fp32_rule() { return trace_tolerance("kernel", DType::F32, "f32"); }
static double exact_rule() { return trace_tolerance("kernel", DType::I32, "f32"); }

// Median milliseconds of `repeats` calls of `run`: the whole call (host to device copies included:
// what the kernel table's entry costs) and, from the GPU's events, its kernels alone.
template <typename Run>
static void time_calls(Device device, int repeats, const Run& run, KernelCheck& check) {
    std::vector<double> calls, kernels;
    for (int i = 0; i < repeats; ++i) {
        const double kernels_before = device_kernel_milliseconds(device);
        const auto start = std::chrono::steady_clock::now();
        run();
        calls.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        kernels.push_back(device_kernel_milliseconds(device) - kernels_before);
    }
    auto median = [](std::vector<double>& times) {
        std::sort(times.begin(), times.end());
        return times[times.size() / 2];
    };
    check.milliseconds = median(calls);
    check.kernel_milliseconds = median(kernels);
}

// The same call on the emulator's build of a kernel or on CUDA's (check_kernels refuses cuda in a
// build without it, through backend_kernels).
#if SEEK_HAVE_CUDA
#define SEEK_ON_DEVICE(device, call) ((device) == Device::Cuda ? cuda::call : emu::call)
#else
#define SEEK_ON_DEVICE(device, call) emu::call
#endif

// Runs one kernel variant: `run` calls it, `compare` measures its result against core's (through
// measure); on a GPU the call is then timed.
struct Runner {
    const KernelCheckOptions& options;
    std::vector<KernelCheck>& out;
    const std::function<void(const KernelCheck&)>& on_check;

    template <typename Run, typename Compare>
    void operator()(KernelCheck check, const Run& run, const Compare& compare) const {
        compare(check, run());
        if (options.device == Device::Cuda) time_calls(options.device, options.repeats, run, check);
        out.push_back(check);
        if (on_check) on_check(check);
    }
};

static KernelCheck check_of(const char* op, int variant, const std::string& variant_name, const std::string& shape,
                            double bytes, double flops) {
    KernelCheck check;
    check.op = op;
    check.variant = variant;
    check.variant_name = variant_name;
    check.shape = shape;
    check.bytes = bytes;
    check.flops = flops;
    return check;
}

static std::string str(int64_t value) { return std::to_string(value); }
static bool v3(const KernelCheckOptions& o) { return o.scale == "v3"; }

// ---- the ops, in the kernel table's order, then the ops outside it -----------------------------
// Each: the shapes (small: the toy's, quick in the emulator, with edges that are not multiples of
// the kernels' tiles; v3: DeepSeek-V3's), core's result, and each variant against it. bytes: what
// a call must move from and to memory at least; flops: floating-point operations per call.

static void check_embedding(const KernelCheckOptions& o, const Runner& runner) {
    const int64_t vocab = v3(o) ? 129280 : 128, dim = v3(o) ? 7168 : 64, T = v3(o) ? 4096 : 37;
    const Mat table = random_matrix(vocab, dim, o.seed + 1);
    std::vector<int32_t> tokens(T);
    Rng rng(o.seed + 2);
    for (int32_t& token : tokens) token = static_cast<int32_t>(rng.next_u64() % vocab);
    const Mat expected = embedding_forward(table, tokens);
    const char* names[] = {"", "a thread per element", "a warp per row, float4"};
    for (int variant = 1; variant <= 2; ++variant)
        runner(check_of("embedding", variant, names[variant], "T " + str(T) + ", vocab " + str(vocab) + ", dim " + str(dim),
                        4.0 * (2 * T * dim + T), 0),
               [&] { return SEEK_ON_DEVICE(o.device, embedding_forward(table, tokens, variant)); },
               [&](KernelCheck& check, const Mat& got) { measure(check, "out", expected, got, exact_rule()); });  // a copy
}

static void check_rms_norm(const KernelCheckOptions& o, const Runner& runner) {
    const int64_t rows = v3(o) ? 4096 : 37, cols = v3(o) ? 7168 : 64;
    const Mat x = random_matrix(rows, cols, o.seed + 1);
    const Vec weight = Vec::Ones(cols) + random_matrix(cols, 1, o.seed + 2, 0.1f);
    const float eps = 1e-6f;
    const Mat expected = rms_norm_forward<float>(x, weight, eps);
    const char* names[] = {"", "a thread per row", "a block per row, shared-memory tree", "a warp per row, shuffles"};
    for (int variant = 1; variant <= 3; ++variant)
        runner(check_of("rms_norm", variant, names[variant], "rows " + str(rows) + ", cols " + str(cols),
                        4.0 * (2 * rows * cols + cols),  // x in, y out, the weight once
                        4.0 * rows * cols),              // square, add; two products per output
               [&] { return SEEK_ON_DEVICE(o.device, rms_norm_forward(x, weight, eps, variant)); },
               [&](KernelCheck& check, const Mat& got) { measure(check, "out", expected, got, fp32_rule()); });
}

// MLA's q [T, H·dq]: each head's rope lanes after its dn nope lanes, positions up to V3's last
// (163,839), where an angle formed in float would be wrong in the second digit.
static void check_rope(const KernelCheckOptions& o, const Runner& runner) {
    const ModelConfig config = preset_config(v3(o) ? "v3" : "toy");
    const RopeTable table = rope_table(config);
    const int64_t T = v3(o) ? 4096 : 37, H = config.num_attention_heads, dn = config.qk_nope_head_dim;
    const int64_t dr = config.qk_rope_head_dim, dq = dn + dr, pairs = dr / 2;
    const RopeLanes lanes{dn, dq, H};
    const Mat x = random_matrix(T, H * dq, o.seed + 1);
    std::vector<int64_t> positions(T);
    for (int64_t t = 0; t < T; ++t) positions[t] = (t * 4441 + 163839) % 163840;
    Mat expected = x;
    rope_forward(expected, positions, table, lanes);
    const char* names[] = {"", "a thread per pair, in double", "a block per row, cos/sin in shared memory"};
    for (int variant = 1; variant <= 2; ++variant)
        runner(check_of("rope", variant, names[variant],
                        "T " + str(T) + ", " + str(H) + " heads of " + str(dr) + " lanes in " + str(dq),
                        2.0 * T * H * dr * 4 + T * 8 + pairs * 8, 6.0 * T * H * pairs),
               [&] {
                   Mat rotated = x;
                   SEEK_ON_DEVICE(o.device, rope_forward(rotated, positions, table, lanes, variant));
                   return rotated;
               },
               [&](KernelCheck& check, const Mat& got) { measure(check, "out", expected, got, fp32_rule()); });
}

// x W^T with K and N not multiples of the tiles at the small scale; V3's o_proj-sized square at v3.
static void check_linear(const KernelCheckOptions& o, const Runner& runner) {
    const int64_t M = v3(o) ? 512 : 37, K = v3(o) ? 7168 : 72, N = v3(o) ? 7168 : 100;
    const Mat x = random_matrix(M, K, o.seed + 1), weight = random_matrix(N, K, o.seed + 2, 1.0f / std::sqrt(float(K)));
    const Mat expected = linear_forward(x, weight, LinearPrecision{});
    const char* names[] = {"", "a thread per output", "32x32 shared-memory tiles", "64x64 tiles, 4x4 per thread"};
    for (int variant = 1; variant <= 3; ++variant)
        runner(check_of("linear", variant, names[variant], "M " + str(M) + ", K " + str(K) + ", N " + str(N),
                        4.0 * (M * K + N * K + M * N), 2.0 * M * N * K),
               [&] { return SEEK_ON_DEVICE(o.device, linear_forward(x, weight, variant)); },
               [&](KernelCheck& check, const Mat& got) { measure(check, "out", expected, got, fp32_rule()); });
}

// What an attention kernel returns: the output and, as the traced forward asks, its scores and
// probabilities; all three measured against core's under the FP32 rule.
struct AttentionResult {
    Mat out, scores, probs;
};
static void measure_attention(KernelCheck& check, const AttentionResult& expected, const AttentionResult& got) {
    measure(check, "out", expected.out, got.out, fp32_rule());
    measure(check, "scores", expected.scores, got.scores, fp32_rule());
    measure(check, "probs", expected.probs, got.probs, fp32_rule());
}

// The naive form: every head its own keys and values; T queries at the end of S keys.
static void check_attention(const KernelCheckOptions& o, const Runner& runner) {
    const int64_t H = v3(o) ? 128 : 4, T = v3(o) ? 4 : 7, start = v3(o) ? 4092 : 5, S = start + T;
    const int64_t dq = v3(o) ? 192 : 24, dv = v3(o) ? 128 : 16;
    const Mat q = random_matrix(T, H * dq, o.seed + 1), k = random_matrix(S, H * dq, o.seed + 2);
    const Mat v = random_matrix(S, H * dv, o.seed + 3);
    const float scale = 1.0f / std::sqrt(static_cast<float>(dq));
    AttentionResult expected;
    expected.out = attention_forward<float>(q, k, v, H, scale, start, &expected.scores, &expected.probs);
    runner(check_of("attention", 1, "a block per (head, query) row",
                    str(H) + " heads, T " + str(T) + " after " + str(start) + ", dq " + str(dq) + ", dv " + str(dv),
                    4.0 * (H * T * S * (dq + dv) + T * H * (dq + dv) + 2 * H * T * S), 2.0 * H * T * S * (dq + dv)),
           [&] {
               AttentionResult got;
               got.out = SEEK_ON_DEVICE(o.device, attention_forward(q, k, v, H, scale, start, &got.scores, &got.probs, 1));
               return got;
           },
           [&](KernelCheck& check, const AttentionResult& got) { measure_attention(check, expected, got); });
}

// The absorbed form over the latent cache. Small: 20 heads (a full and a partial 16-head tile of
// variant 2) and 3 queries after 197 cached tokens, so that variant 2 cuts the 200 keys into
// 3 splits of 67 (not a multiple of its 16-key tiles). v3: one decode step of V3's 128 heads over
// a 4,096-token cache, FlashMLA's shape.
static void check_latent_attention(const KernelCheckOptions& o, const Runner& runner) {
    const int64_t H = v3(o) ? 128 : 20, T = v3(o) ? 1 : 3, start = v3(o) ? 4095 : 197, S = start + T;
    const int64_t r = v3(o) ? 512 : 32, dr = v3(o) ? 64 : 8;
    const Mat q_absorbed = random_matrix(H * T, r, o.seed + 1, 0.2f), q_pe = random_matrix(H * T, dr, o.seed + 2);
    const Mat c_kv = random_matrix(S, r, o.seed + 3), k_pe = random_matrix(S, dr, o.seed + 4);
    const float scale = 1.0f / std::sqrt(192.0f);
    AttentionResult expected;
    expected.out = latent_attention_forward(q_absorbed, q_pe, c_kv, k_pe, H, scale, start, &expected.scores,
                                            &expected.probs);
    const int splits = SEEK_ON_DEVICE(o.device, mla_default_splits(int(H), int(T), int(S)));
    // Every variant takes the FP32 cache (3 and 4 round it themselves).
    const auto run_variant = [&](int variant) {
        AttentionResult got;
        got.out = SEEK_ON_DEVICE(o.device, latent_attention_forward(q_absorbed, q_pe, c_kv, k_pe, H, scale, start,
                                                                     &got.scores, &got.probs, variant, 0));
        return got;
    };
    const double cache = 4.0 * S * (r + dr), queries = 4.0 * H * T * (r + dr), outputs = 4.0 * H * T * r;
    const double traced = 2 * 4.0 * H * T * S;  // scores and probabilities, as the traced forward asks
    const std::string shape = str(H) + " heads, T " + str(T) + " after " + str(start) + ", r " + str(r) + ", dr " + str(dr);
    for (int variant = 1; variant <= 2; ++variant)
        runner(check_of("latent_attention", variant,
                        variant == 1 ? "a block per (head, query) row"
                                     : "split-KV (" + str(splits) + " splits), online softmax, combine",
                        shape, cache + queries + outputs + traced + (variant == 2 ? 2 * 4.0 * splits * H * T * (r + 1) : 0),
                        2.0 * H * T * S * (2 * r + dr)),
               [&] { return run_variant(variant); },
               [&](KernelCheck& check, const AttentionResult& got) { measure_attention(check, expected, got); });
    // Variants 3 and 4: variant 2 over the cache as stored in BF16, or c_kv in FP8 (1x128 tiles)
    // and k_pe in BF16, against core on the same rounded cache (the rounding is the cache's
    // choice, not the kernel's error: lesson 3 measures it).
    Mat c_kv_bf16, k_pe_bf16;
    gpu_detail::bf16_rows(c_kv, &c_kv_bf16);
    gpu_detail::bf16_rows(k_pe, &k_pe_bf16);
    const Mat c_kv_fp8 = dequantize(quantize(c_kv, kActivationTile));
    for (int variant = 3; variant <= 4; ++variant) {
        const Mat& c_kv_stored = variant == 3 ? c_kv_bf16 : c_kv_fp8;
        AttentionResult stored;
        stored.out = latent_attention_forward(q_absorbed, q_pe, c_kv_stored, k_pe_bf16, H, scale, start, &stored.scores,
                                              &stored.probs);
        runner(check_of("latent_attention", variant,
                        variant == 3 ? "variant 2 over a BF16 cache" : "variant 2 over an FP8 c_kv, BF16 k_pe", shape,
                        (variant == 3 ? cache / 2 : 1.0 * S * r + 4.0 * S * ((r + 127) / 128) + 2.0 * S * dr) + queries +
                            outputs + traced + 2 * 4.0 * splits * H * T * (r + 1),
                        2.0 * H * T * S * (2 * r + dr)),
               [&] { return run_variant(variant); },
               [&](KernelCheck& check, const AttentionResult& got) { measure_attention(check, stored, got); });
    }
    // Variant 5: variant 3 on tensor cores, the queries and probabilities in BF16 too. Against core
    // on the same BF16 queries and cache, the scores and probabilities are FP32 sums in another
    // order; the output differs by P's rounding, at most 2^-9 max |c_kv| (gpu/mla_decode.cu), which
    // relative to max |out| is the rule below, plus the FP32 rule.
    Mat q_absorbed_bf16, q_pe_bf16;
    gpu_detail::bf16_rows(q_absorbed, &q_absorbed_bf16);
    gpu_detail::bf16_rows(q_pe, &q_pe_bf16);
    AttentionResult stored;
    stored.out = latent_attention_forward(q_absorbed_bf16, q_pe_bf16, c_kv_bf16, k_pe_bf16, H, scale, start,
                                          &stored.scores, &stored.probs);
    const double p_rounding_rule =
        std::ldexp(1.0, -9) * c_kv_bf16.cwiseAbs().maxCoeff() / stored.out.cwiseAbs().maxCoeff() + fp32_rule();
    runner(check_of("latent_attention", 5, "variant 3 on tensor cores (BF16 mma.sync)", shape,
                    cache / 2 + queries + outputs + traced + 2 * 4.0 * splits * H * T * (r + 1),
                    2.0 * H * T * S * (2 * r + dr)),
           [&] { return run_variant(5); },
           [&](KernelCheck& check, const AttentionResult& got) {
               measure(check, "out", stored.out, got.out, p_rounding_rule);
               measure(check, "scores", stored.scores, got.scores, fp32_rule());
               measure(check, "probs", stored.probs, got.probs, fp32_rule());
           });
}

// The gate on logits [T, E] with a bias: the decisions (topk_idx, group_mask) exactly, the
// weights and scores within the FP32 rule.
static void check_route(const KernelCheckOptions& o, const Runner& runner) {
    const ModelConfig config = preset_config(v3(o) ? "v3" : "toy");
    const int64_t T = v3(o) ? 4096 : 37, E = config.n_routed_experts, K = config.num_experts_per_tok;
    const int64_t G = config.n_group;
    const Mat logits = random_matrix(T, E, o.seed + 1, 2.0f);
    const Vec bias = random_matrix(E, 1, o.seed + 2, 0.05f);
    const Routing expected = route_tokens(config, logits, bias);
    const char* names[] = {"", "a thread per token", "a warp per token, shuffle argmaxes"};
    for (int variant = 1; variant <= 2; ++variant)
        runner(check_of("route", variant, names[variant],
                        "T " + str(T) + ", " + str(E) + " experts in " + str(G) + " groups, top " + str(K),
                        4.0 * (T * E + E + 2 * T * E + 2 * T * G + 2 * T * K),
                        1.0 * T * E * (4 + K)),  // about: a sigmoid and a bias per score, K argmax passes
               [&] { return SEEK_ON_DEVICE(o.device, route_tokens(config, logits, bias, variant)); },
               [&](KernelCheck& check, const Routing& got) {
                   measure(check, "topk_idx", as_floats(expected.topk_idx), as_floats(got.topk_idx), exact_rule());
                   measure(check, "group_mask", expected.group_mask, got.group_mask, exact_rule());
                   measure(check, "topk_weight", expected.topk_weight, got.topk_weight, fp32_rule());
                   measure(check, "scores", expected.scores, got.scores, fp32_rule());
               });
}

// K distinct experts per token, drawn at random (the first two tokens take experts 0 .. K-1, so
// that one expert is surely shared), and their weights.
static IndexMat random_topk(int64_t T, int64_t K, int64_t E, uint64_t seed) {
    IndexMat topk(T, K);
    Rng rng(seed);
    std::vector<int32_t> experts(E);
    for (int64_t t = 0; t < T; ++t) {
        for (int64_t e = 0; e < E; ++e) experts[e] = static_cast<int32_t>(e);
        for (int64_t k = 0; k < K; ++k) {
            const int64_t pick = t < 2 ? k : k + static_cast<int64_t>(rng.next_u64() % (E - k));
            std::swap(experts[k], experts[pick]);
            topk(t, k) = experts[k];
        }
    }
    return topk;
}

static void check_moe_dispatch(const KernelCheckOptions& o, const Runner& runner) {
    const int64_t T = v3(o) ? 4096 : 37, K = v3(o) ? 8 : 4, E = v3(o) ? 256 : 16;
    const IndexMat topk = random_topk(T, K, E, o.seed + 1);
    const MoePlan expected = moe_dispatch(topk, E);
    const char* names[] = {"", "a block, a thread per expert", "tile ranks, one scan, placement"};
    for (int variant = 1; variant <= 2; ++variant)
        runner(check_of("moe_dispatch", variant, names[variant], "T " + str(T) + ", top " + str(K) + " of " + str(E),
                        4.0 * (2 * T * K + E + 1), 0),
               [&] { return SEEK_ON_DEVICE(o.device, moe_dispatch(topk, E, variant)); },
               [&](KernelCheck& check, const MoePlan& got) {
                   measure(check, "offsets", as_floats(expected.offsets), as_floats(got.offsets), exact_rule());
                   measure(check, "slots", as_floats(expected.slots), as_floats(got.slots), exact_rule());
               });
}

static FfnWeights random_ffn(int64_t hidden, int64_t width, uint64_t seed) {
    FfnWeights f;
    f.gate_proj = random_matrix(width, hidden, seed, 1.0f / std::sqrt(float(hidden)));
    f.up_proj = random_matrix(width, hidden, seed + 1, 1.0f / std::sqrt(float(hidden)));
    f.down_proj = random_matrix(hidden, width, seed + 2, 1.0f / std::sqrt(float(width)));
    return f;
}

// The routed experts: at the small scale the toy's (16 experts, top 4, expert 15 never chosen);
// at v3 a V3 expert's shape (hidden 7168, width 2048) for 8 experts (all 256 would be 45 GB of FP32).
static void check_moe_experts(const KernelCheckOptions& o, const Runner& runner) {
    const int64_t T = v3(o) ? 256 : 37, K = v3(o) ? 2 : 4, E = v3(o) ? 8 : 16;
    const int64_t hidden = v3(o) ? 7168 : 64, width = v3(o) ? 2048 : 48;
    const IndexMat topk = random_topk(T, K, v3(o) ? E : E - 1, o.seed + 1);
    const MoePlan plan = moe_dispatch(topk, E);
    MoeWeights weights;
    for (int64_t e = 0; e < E; ++e) weights.experts.push_back(random_ffn(hidden, width, o.seed + 10 + 3 * e));
    const Mat x = random_matrix(T, hidden, o.seed + 2);
    const Mat expected = moe_experts(x, plan, weights);
    const char* names[] = {"", "a thread per output element", "32x32 tiles within one expert"};
    for (int variant = 1; variant <= 2; ++variant)
        runner(check_of("moe_experts", variant, names[variant],
                        "T " + str(T) + ", top " + str(K) + " of " + str(E) + ", hidden " + str(hidden) + ", width " + str(width),
                        4.0 * (3 * E * width * hidden + T * hidden + T * K * hidden), 6.0 * T * K * hidden * width),
               [&] { return SEEK_ON_DEVICE(o.device, moe_experts(x, plan, weights, LinearPrecision{}, variant)); },
               [&](KernelCheck& check, const Mat& got) { measure(check, "out", expected, got, fp32_rule()); });
}

static void check_moe_combine(const KernelCheckOptions& o, const Runner& runner) {
    const int64_t T = v3(o) ? 4096 : 37, K = v3(o) ? 8 : 4, E = v3(o) ? 256 : 16, hidden = v3(o) ? 7168 : 64;
    const MoePlan plan = moe_dispatch(random_topk(T, K, E, o.seed + 1), E);
    const Mat expert_out = random_matrix(T * K, hidden, o.seed + 2), topk_weight = random_matrix(T, K, o.seed + 3).cwiseAbs();
    const Mat expected = moe_combine(expert_out, plan, topk_weight);
    const char* names[] = {"", "a thread per output, k order", "a warp per token, plan order"};
    for (int variant = 1; variant <= 2; ++variant)
        runner(check_of("moe_combine", variant, names[variant], "T " + str(T) + ", top " + str(K) + ", hidden " + str(hidden),
                        4.0 * (T * K * hidden + T * hidden + 2 * T * K), 2.0 * T * K * hidden),
               [&] { return SEEK_ON_DEVICE(o.device, moe_combine(expert_out, plan, topk_weight, variant)); },
               [&](KernelCheck& check, const Mat& got) { measure(check, "out", expected, got, fp32_rule()); });
}

// The dense FFN and the shared experts: the toy's dense layer; V3's shared expert.
static void check_swiglu(const KernelCheckOptions& o, const Runner& runner) {
    const int64_t T = v3(o) ? 512 : 37, hidden = v3(o) ? 7168 : 64, width = v3(o) ? 2048 : 192;
    const FfnWeights weights = random_ffn(hidden, width, o.seed + 1);
    const Mat x = random_matrix(T, hidden, o.seed + 2);
    const Mat expected = swiglu(x, weights, LinearPrecision{});
    const char* names[] = {"", "a thread per output element", "32x32 shared-memory tiles"};
    for (int variant = 1; variant <= 2; ++variant)
        runner(check_of("swiglu", variant, names[variant], "T " + str(T) + ", hidden " + str(hidden) + ", width " + str(width),
                        4.0 * (3 * width * hidden + 2 * T * hidden), 6.0 * T * hidden * width),
               [&] { return SEEK_ON_DEVICE(o.device, swiglu(x, weights, LinearPrecision{}, variant)); },
               [&](KernelCheck& check, const Mat& got) { measure(check, "out", expected, got, fp32_rule()); });
}

#if SEEK_BACKEND_FP8
// FP8 quantization, DeepSeek-V3's two tilings: 1x128 activation tiles and 128x128 weight blocks,
// codes and scales bit for bit (edge tiles partial at the small scale).
static void check_quantize(const KernelCheckOptions& o, const Runner& runner) {
    struct Case {
        const char* name;
        Tile tile;
        int64_t rows, cols;
    };
    const Case cases[] = {{"1x128", kActivationTile, v3(o) ? 4096 : 37, v3(o) ? 7168 : 200},
                          {"128x128", kWeightTile, v3(o) ? 7168 : 200, v3(o) ? 7168 : 300}};
    const char* names[] = {"", "a thread per tile", "a warp / block per tile"};
    for (const Case& c : cases) {
        const Mat x = random_matrix(c.rows, c.cols, o.seed + 1);
        const QuantizedMatrix expected = quantize(x, c.tile);
        for (int variant = 1; variant <= 2; ++variant)
            runner(check_of("quantize", variant, std::string(names[variant]) + ", " + c.name + " tiles",
                            str(c.rows) + " x " + str(c.cols), 5.0 * c.rows * c.cols + 4.0 * expected.scales.size(),
                            2.0 * c.rows * c.cols),  // |x| and max; x / s
                   [&] { return SEEK_ON_DEVICE(o.device, quantize(x, c.tile, ScaleFormat::Float32, variant)); },
                   [&](KernelCheck& check, const QuantizedMatrix& got) {
                       measure(check, "codes", as_floats(expected.codes), as_floats(got.codes), exact_rule());
                       measure(check, "scales", expected.scales, got.scales, exact_rule());
                   });
    }
}

// Variants 3 to 5 of the FP8 GEMMs run on tensor cores, for K a multiple of 16: all three on a GPU;
// in the emulator variant 3 (mma.sync, on the emulator's model of the instruction), not the wgmma
// ones. The last variant to check.
static int tensor_core_variants(const KernelCheckOptions& o, int64_t K) {
    if (K % 16 != 0) return 2;
    return o.device == Device::Cuda ? 5 : 3;
}
// Their tolerance against core's Exact model: the tensor core sums each 128-wide K block in its
// own accumulator, which keeps about 14 significant bits (V3 report §3.3.2; 2^-14 = 6e-5 per
// rounding), before the promotion to FP32. Core's TensorCore model of that accumulator stays near
// 4e-4 relative with promotion every 128 (lesson 3, `seek fp8 gemm`): 1e-3 allows for it, while a
// dropped block or scale is off by far more. Not yet run on a GPU: the first run tells.
// In the emulator, whose mma.sync sums each instruction's products exactly and rounds once, variant
// 3 is an FP32 computation in another order: the FP32 rule.
static double tensor_core_rule(const KernelCheckOptions& o, int variant, double rule) {
    if (variant < 3) return rule;
    return o.device == Device::Cuda ? 1e-3 : fp32_rule();
}

// The block-scaled GEMM on given codes: core's fp8_gemm (Exact) bit for bit (fp8_gemm.cu says why).
static void check_fp8_gemm(const KernelCheckOptions& o, const Runner& runner) {
    const int64_t M = v3(o) ? 256 : 37, K = v3(o) ? 7168 : 208, N = v3(o) ? 7168 : 130;  // 208: a partial K block
    const QuantizedMatrix a = quantize(random_matrix(M, K, o.seed + 1), kActivationTile);
    const QuantizedMatrix b = quantize(random_matrix(N, K, o.seed + 2, 1.0f / std::sqrt(float(K))), kWeightTile);
    const Mat expected = fp8_gemm(a, b, AccumulationModel{});
    const char* names[] = {"", "a thread per output", "shared-memory tiles, promotion per 128 of K",
                           "mma.sync e4m3 tensor cores (sm_89+)", "wgmma e4m3 tensor cores (sm_90a)",
                           "wgmma e4m3, TMA loads, 4 stages (sm_90a)"};
    for (int variant = 1; variant <= tensor_core_variants(o, K); ++variant)
        runner(check_of("fp8_gemm", variant, names[variant], "M " + str(M) + ", K " + str(K) + ", N " + str(N),
                        1.0 * (M * K + N * K) + 4.0 * (a.scales.size() + b.scales.size() + M * N), 2.0 * M * N * K),
               [&] { return SEEK_ON_DEVICE(o.device, fp8_gemm(a, b, AccumulationModel{}, variant)); },
               [&](KernelCheck& check, const Mat& got) {
                   measure(check, "out", expected, got, tensor_core_rule(o, variant, exact_rule()));
               });
}

// The grouped FP8 GEMM over the MoE's contiguous per-expert layout: group g's rows (one empty
// group at the small scale) times expert g's weight; core's fp8_gemm per group, bit for bit. At
// v3: 8 experts' gate_proj (2,048 x 7,168), 512 rows.
static void check_fp8_grouped_gemm(const KernelCheckOptions& o, const Runner& runner) {
    const std::vector<int64_t> group_rows = v3(o) ? std::vector<int64_t>{64, 80, 48, 64, 0, 96, 64, 96}
                                                  : std::vector<int64_t>{5, 0, 17, 9};
    const int64_t K = v3(o) ? 7168 : 208, N = v3(o) ? 2048 : 130;
    int64_t M = 0;
    for (int64_t rows : group_rows) M += rows;
    const Mat x = random_matrix(M, K, o.seed + 1);
    const QuantizedMatrix a = quantize(x, kActivationTile);  // per row: a group's rows quantize alone the same
    std::vector<QuantizedMatrix> b;
    Mat expected(M, N);
    for (size_t g = 0, first = 0; g < group_rows.size(); first += group_rows[g], ++g) {
        b.push_back(quantize(random_matrix(N, K, o.seed + 10 + g, 1.0f / std::sqrt(float(K))), kWeightTile));
        if (group_rows[g] == 0) continue;
        expected.middleRows(first, group_rows[g]) =
            fp8_gemm(quantize(x.middleRows(first, group_rows[g]), kActivationTile), b[g], AccumulationModel{});
    }
    const int64_t groups = static_cast<int64_t>(group_rows.size());
    const char* names[] = {"", "a thread per output", "shared-memory tiles, one group per tile",
                           "mma.sync e4m3 tensor cores (sm_89+)", "wgmma e4m3 tensor cores (sm_90a)",
                           "wgmma e4m3, TMA loads, 4 stages (sm_90a)"};
    for (int variant = 1; variant <= tensor_core_variants(o, K); ++variant)
        runner(check_of("fp8_grouped_gemm", variant, names[variant],
                        str(groups) + " groups, M " + str(M) + ", K " + str(K) + ", N " + str(N),
                        1.0 * (M * K + groups * N * K) + 4.0 * (a.scales.size() + groups * b[0].scales.size() + M * N),
                        2.0 * M * N * K),
               [&] { return SEEK_ON_DEVICE(o.device, fp8_grouped_gemm(a, group_rows, b, AccumulationModel{}, variant)); },
               [&](KernelCheck& check, const Mat& got) {
                   measure(check, "out", expected, got, tensor_core_rule(o, variant, exact_rule()));
               });
}

// The table's linear at fp8 precision: quantize x and W, then the GEMM, against core's
// linear_forward at fp8 (which dequantizes and runs an FP32 GEMM: another summation order).
static void check_linear_fp8(const KernelCheckOptions& o, const Runner& runner) {
    const int64_t M = v3(o) ? 256 : 37, K = v3(o) ? 7168 : 208, N = v3(o) ? 7168 : 130;
    const Mat x = random_matrix(M, K, o.seed + 1), weight = random_matrix(N, K, o.seed + 2, 1.0f / std::sqrt(float(K)));
    const Mat expected = linear_forward(x, weight, LinearPrecision{GemmPrecision::FP8, {}});
    const char* names[] = {"", "quantize, a thread per output", "quantize, shared-memory tiles",
                           "quantize, mma.sync e4m3 (sm_89+)", "quantize, wgmma e4m3 (sm_90a)",
                           "quantize, wgmma e4m3 with TMA loads (sm_90a)"};
    for (int variant = 1; variant <= tensor_core_variants(o, K); ++variant)
        runner(check_of("linear_fp8", variant, names[variant], "M " + str(M) + ", K " + str(K) + ", N " + str(N),
                        4.0 * (M * K + N * K + M * N), 2.0 * M * N * K),
               [&] { return SEEK_ON_DEVICE(o.device, fp8_linear_forward(x, weight, variant)); },
               [&](KernelCheck& check, const Mat& got) {
                   measure(check, "out", expected, got, tensor_core_rule(o, variant, fp32_rule()));
               });
}
#endif

// Softmax and log-softmax over rows as long as the vocabulary (129,280 at v3; 1,000 at the small
// scale, not a multiple of the 256 threads), against core's softmax_row and log_sum_exp.
static void check_softmax(const KernelCheckOptions& o, const Runner& runner, bool log_probs) {
    const int64_t rows = v3(o) ? 64 : 7, cols = v3(o) ? 129280 : 1000;
    const Mat x = random_matrix(rows, cols, o.seed + 1, 3.0f);
    Mat expected(rows, cols);
    for (int64_t t = 0; t < rows; ++t) {
        if (!log_probs) {
            softmax_row(&x(t, 0), &expected(t, 0), cols);
            continue;
        }
        const double lse = log_sum_exp(&x(t, 0), cols);
        for (int64_t i = 0; i < cols; ++i) expected(t, i) = static_cast<float>(x(t, i) - lse);
    }
    const char* names[] = {"", "a thread per row", "a block per row, two passes", "a block per row, online"};
    for (int variant = 1; variant <= 3; ++variant)
        runner(check_of(log_probs ? "log_softmax" : "softmax", variant, names[variant],
                        "rows " + str(rows) + ", cols " + str(cols), 4.0 * rows * cols * (variant == 3 ? 3 : 4),
                        4.0 * rows * cols),
               [&] {
                   return log_probs ? SEEK_ON_DEVICE(o.device, log_softmax_rows(x, variant))
                                    : SEEK_ON_DEVICE(o.device, softmax_rows(x, variant));
               },
               [&](KernelCheck& check, const Mat& got) { measure(check, "out", expected, got, fp32_rule()); });
}
static void check_softmax_probs(const KernelCheckOptions& o, const Runner& runner) { check_softmax(o, runner, false); }
static void check_log_softmax(const KernelCheckOptions& o, const Runner& runner) { check_softmax(o, runner, true); }

// GRPO's per-token objective and its gradient: a group of completions of one prompt, prompt tokens
// not counted; each token's ratio to the old policy kept 1e-3 away from the clip bounds (where
// the gradient jumps). The gradient against core's within the FP32 rule (the loss and the metrics
// against derived bounds: tests/gpu/test_softmax_gpu.cpp).
static void check_grpo(const KernelCheckOptions& o, const Runner& runner) {
    const int64_t vocab = v3(o) ? 129280 : 128, prompt = v3(o) ? 8 : 3;
    const std::vector<int64_t> completions = v3(o) ? std::vector<int64_t>{56, 40, 0, 56, 12, 56, 30, 56}
                                                   : std::vector<int64_t>{5, 0, 8, 2};
    Rng rng(o.seed + 1);
    Batch batch;
    batch.offsets.push_back(0);
    std::vector<double> rewards;
    for (int64_t length : completions) {
        const size_t first = batch.tokens.size();
        for (int64_t t = 0; t < prompt + length; ++t) batch.tokens.push_back(static_cast<int32_t>(rng.next_u64() % vocab));
        for (int64_t t = 0; t < prompt + length; ++t)
            batch.targets.push_back(t + 1 >= prompt && t + 1 < prompt + length ? batch.tokens[first + t + 1] : kIgnoreTarget);
        batch.offsets.push_back(static_cast<int64_t>(batch.targets.size()));
        rewards.push_back(rng.uniform() < 0.5 ? 1.0 : 0.1 * rng.uniform());
    }
    const int64_t rows = static_cast<int64_t>(batch.targets.size());
    const Mat logits = random_matrix(rows, vocab, o.seed + 2, 2.0f);
    const std::vector<double> advantages = group_advantages(rewards, true);
    const GrpoLossOptions options;
    std::vector<double> old_logp, ref_logp;
    for (int64_t t = 0; t < rows; ++t) {
        const double logp = batch.targets[t] == kIgnoreTarget ? 0 : logits(t, batch.targets[t]) - log_sum_exp(&logits(t, 0), vocab);
        double shift = 0;
        do shift = 0.8 * (rng.uniform() - 0.5);
        while (std::fabs(std::exp(-shift) - (1 - options.clip_low)) <= 1e-3 ||
               std::fabs(std::exp(-shift) - (1 + options.clip_high)) <= 1e-3);
        old_logp.push_back(logp + shift);
        ref_logp.push_back(logp + 0.6 * (rng.uniform() - 0.5));
    }
    Mat expected = Mat::Zero(rows, vocab);
    grpo_loss(expected, logits, batch, old_logp, ref_logp, advantages, options);
    runner(check_of("grpo", 1, "a block per token: ratio, clip, k3 KL, dlogits",
                    str(completions.size()) + " completions, " + str(rows) + " rows, vocab " + str(vocab),
                    4.0 * rows * vocab * 4, 8.0 * rows * vocab),
           [&] {
               Mat dlogits = Mat::Zero(rows, vocab);
               SEEK_ON_DEVICE(o.device, grpo_loss(dlogits, logits, batch, old_logp, ref_logp, advantages, options));
               return dlogits;
           },
           [&](KernelCheck& check, const Mat& got) { measure(check, "dlogits", expected, got, fp32_rule()); });
}

using CheckOp = void (*)(const KernelCheckOptions&, const Runner&);
struct OpCheck {
    const char* op;
    CheckOp check;
};
// The kernel table's ops in core/kernels.h's order, then the table's linear at fp8 precision, and
// the kernels outside the table: FP8 quantization and the GEMM on codes, and the vocabulary-wide
// softmax and GRPO objective of training.
static const std::vector<OpCheck> kOpChecks = {
    {"embedding", check_embedding},
    {"rms_norm", check_rms_norm},
    {"rope", check_rope},
    {"linear", check_linear},
    {"attention", check_attention},
    {"latent_attention", check_latent_attention},
    {"route", check_route},
    {"moe_dispatch", check_moe_dispatch},
    {"moe_experts", check_moe_experts},
    {"moe_combine", check_moe_combine},
    {"swiglu", check_swiglu},
#if SEEK_BACKEND_FP8
    {"linear_fp8", check_linear_fp8},
    {"quantize", check_quantize},
    {"fp8_gemm", check_fp8_gemm},
    {"fp8_grouped_gemm", check_fp8_grouped_gemm},
#endif
    {"softmax", check_softmax_probs},
    {"log_softmax", check_log_softmax},
    {"grpo", check_grpo},
};

std::vector<std::string> checked_ops() {
    std::vector<std::string> ops;
    for (const OpCheck& op : kOpChecks) ops.push_back(op.op);
    return ops;
}

std::vector<KernelCheck> check_kernels(const KernelCheckOptions& options,
                                       const std::function<void(const KernelCheck&)>& on_check) {
    if (options.device == Device::Cpu) throw std::invalid_argument("check_kernels: --device emu or cuda (cpu is the reference)");
    if (options.scale != "small" && options.scale != "v3")
        throw std::invalid_argument("scale must be small or v3, got '" + options.scale + "'");
    for (const std::string& op : options.ops)
        if (std::none_of(kOpChecks.begin(), kOpChecks.end(), [&](const OpCheck& c) { return op == c.op; }))
            throw std::invalid_argument("no kernel for op '" + op + "' (seek kernels --help lists them)");
    backend_kernels(options.device);  // throws when the device cannot run, saying why
    std::vector<KernelCheck> checks;
    const Runner runner{options, checks, on_check};
    for (const OpCheck& op : kOpChecks) {
        if (!options.ops.empty() && std::find(options.ops.begin(), options.ops.end(), op.op) == options.ops.end()) continue;
        // An op that fails to run (a kernel's error, memory) is a failed check; the other ops still run.
        try {
            op.check(options, runner);
        } catch (const std::exception& error) {
            KernelCheck failed = check_of(op.op, 0, std::string("error: ") + error.what(), options.scale, 0, 0);
            failed.max_abs_error = failed.max_rel_error = INFINITY;
            checks.push_back(failed);
            if (on_check) on_check(failed);
        }
    }
    return checks;
}

}  // namespace seek
