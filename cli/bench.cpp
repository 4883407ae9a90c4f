// seek bench: measurements on this machine, printed as tables (never asserted in unit tests).
#include <dlfcn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "../core/analytics.h"
#include "../core/gemm.h"
#include "../core/generate.h"
#include "../core/linear.h"
#include "../core/mla.h"
#include "../core/model.h"
#include "../core/moe.h"
#include "../core/parallel.h"
#include "../core/norm.h"
#include "../core/optim.h"
#include "../core/random.h"
#include "commands.h"
#include "progress.h"

namespace seek::cli {

static const CommandSpec bench_spec = {
    "bench",
    "benchmarks on this machine",
    "bench mla: one attention layer of the model (weights generated from --seed) decodes one token\n"
    "over a cache of --context earlier tokens, naive vs absorbed, FP32 on the CPU. The cache is filled\n"
    "as a prefill of random hidden states would leave it. Reports the median time per token over\n"
    "--repeats runs, the same with an empty cache (projections only), the KV-cache bytes each form\n"
    "reads per token, the attention-core FLOPs, how far the two outputs differ, and each form's time against\n"
    "the memory bound: weights + cache read once at the read bandwidth the bench measures between that\n"
    "form's steps (a pass over 512 MB before each full step; the median), so a step and its bound see\n"
    "the machine in the same state; and the projections alone (the empty cache) against the weights'\n"
    "part of that bound. Then each form against a floor that also counts its attention core's FLOPs at\n"
    "the FMA peak the bench measures on the same threads, since a step streams weights and computes\n"
    "attention one after the other. At full V3 scale this needs about 2.1 GB of memory: the weights, the\n"
    "naive cache and the bandwidth's buffer.\n\n"
    "bench moe: the first MoE layer of the model (V3: layer 3, 256 routed experts + 1 shared, top-8)\n"
    "on --tokens random hidden states after RMSNorm, FP32 on the CPU: gate, shared expert, and the routed\n"
    "experts dispatched grouped (tokens sorted by expert, one GEMM per expert and projection). A V3\n"
    "layer's experts are 44 GB in FP32, so each routed expert is generated from --seed and its HF name\n"
    "when first used and kept in a cache of --cache experts: memory stays at gate + shared expert +\n"
    "cache (V3, --cache 8: about 1.6 GB). Reports tokens per second with the weight generation and\n"
    "without it (what resident weights would give), GFLOP/s, the peak resident memory, and the compute\n"
    "time against its byte bound: the weights the batch needs read once at the bandwidth the bench measures.\n\n"
    "bench gemm: the FP32 GEMMs of linear.h against this machine's own limit, on one thread. The bench\n"
    "first measures the peak: twelve independent chains of fused multiply-adds as wide as the registers\n"
    "of the GEMM kernel the run uses (gemm.h: 16 lanes with AVX-512, 8 with AVX2; SEEK_SIMD picks a\n"
    "narrower one), the most FLOP/s one thread can issue. Then linear_forward (y = x W^T) and\n"
    "linear_backward (dx = dy W, dW = dy^T x) at every shape of a training step of the model (default\n"
    "the toy preset; --batch x --seq tokens, the routed experts at their average share of them) and at\n"
    "large square shapes (--large), each timed as the best of three runs of at least --time s. Reports\n"
    "GFLOP/s and the share of the peak; when Debian's OpenBLAS is installed (libopenblas.so.0,\n"
    "scripts/setup.sh --peer), its cblas_sgemm at the same shapes, on one thread, beside it.\n\n"
    "bench train: training throughput of the whole model (default the toy preset; --preset or --config\n"
    "for another shape small enough to train on the CPU) on one fixed batch of --batch sequences of --seq\n"
    "random token ids 7..127 (from --seed): full steps of forward + backward + AdamW (lr 1e-3, clip 1.0),\n"
    "MTP on (lambda 0.3), targets the next token. --warmup steps run first and are not timed, then\n"
    "--steps timed steps, for each GEMM precision of --precision (fp32,bf16,fp8: the linear layers'\n"
    "GEMMs, linear.h), the precisions taking turns every 5 steps so that a shared machine's changing\n"
    "speed slows them alike. Reports ms per step, tokens per second and the ratio to fp32.\n"
    "--peer also runs the PyTorch peer, scripts/bench_torch_train.py (the same toy model, MTP, AdamW\n"
    "and clipping in eager PyTorch, float32) under /usr/bin/python3 with the same --batch, --seq,\n"
    "--steps, --warmup and thread count, and prints its tokens per second and seek's ratio to it;\n"
    "without python3 or torch it says so and exits 0. Both sides get OpenMP's thread count\n"
    "(OMP_NUM_THREADS; unset, the idle processors, at most 2; PyTorch through torch.set_num_threads):\n"
    "set OMP_NUM_THREADS=1 to compare one thread. --rounds N repeats seek's timing and the peer's in\n"
    "turn N times and reports each round's ratio and the medians, so that a shared machine's drift\n"
    "between the two sides shows instead of deciding the ratio. seek's threads share out the\n"
    "sequences' attention, the MoE experts, a layer's two backward products and fixed column slices\n"
    "of large products, as in seek train, only where the work is large enough to pay for starting\n"
    "them (core/parallel.h); the bytes are the same on any thread count.\n\n"
    "bench decode: greedy decoding of the toy model (or --preset/--config, small enough for the CPU)\n"
    "with weights initialized from --seed as seek train does: --batch prompts of --prompt random token\n"
    "ids 7..127, each continued by exactly --new tokens (<eos> does not stop them: a fixed amount of\n"
    "work), through the latent KV cache, as seek generate and seek eval decode. Timed two ways, the\n"
    "median of --repeats runs each: one sequence at a time (the first four, each alone: batch 1) and\n"
    "all --batch as one batch (one forward pass per step for every sequence). Reports new tokens per\n"
    "second, and the model's multiply-adds per second against the measured FMA peak of the run's\n"
    "threads (decoding a model this small is bound by per-op overhead, not arithmetic). --peer also\n"
    "runs scripts/bench_torch_decode.py (the same model in eager PyTorch, float32, absorbed latent\n"
    "cache, the same --batch, --prompt, --new, --repeats and thread count) and prints seek's ratio to it.",
    {
        {"preset", "NAME", "model shape: toy, v2-lite or v3; bench train uses toy unless given", "v3"},
        config_option(),
        {"context", "N", "mla: tokens already in the cache (k suffix allowed: 4k)", "4096"},
        {"repeats", "N", "mla: timed decode steps per form; decode: timed runs per form (medians reported)", "5"},
        {"tokens", "N", "moe: tokens in the batch", "64"},
        {"cache", "N", "moe: routed experts kept in memory", "8"},
        {"seed", "N", "seed of the generated weights and inputs", "0"},
        {"batch", "B", "train, gemm: sequences per step; decode: sequences decoded", "16"},
        {"seq", "T", "train, gemm: tokens per sequence", "64"},
        {"steps", "N", "train: timed steps per precision", "20"},
        {"warmup", "N", "train: untimed steps first", "3"},
        {"precision", "LIST", "train: comma-separated GEMM precisions (fp32, bf16, fp8)", "fp32,bf16,fp8"},
        {"large", "LIST", "gemm: the large square shapes (m = n = k), comma-separated", "512,1024,2048"},
        {"time", "S", "gemm: seconds each shape runs for, three times (the best counts)", "0.1"},
        {"prompt", "N", "decode: prompt tokens per sequence", "8"},
        {"new", "N", "decode: new tokens per sequence", "64"},
        {"peer", "", "train, decode: also run the PyTorch peer and compare", ""},
        {"rounds", "N", "train: times the whole measurement (seek, then the peer) runs, medians reported", "1"},
        {"peer-script", "PATH", "train, decode: the PyTorch peer; auto: scripts/bench_torch_train.py or _decode.py", "auto"},
        {"json", "", "print the results as JSON", ""},
    },
    "decode|gemm|mla|moe|train",
    1,
    1,
};

using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

static double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

// A decode step that must read W bytes of weights and cache cannot take less than W / the read
// bandwidth: the bound the memory-bound benches are measured against. The bandwidth is what summing
// a 512 MB buffer (far beyond any cache) reaches on the threads the bench itself runs on
// (parallel.h: two on an idle 2-vCPU machine), each thread its own contiguous share.
static Eigen::VectorXf bandwidth_buffer() { return Eigen::VectorXf::Ones(int64_t{128} << 20); }

// Bytes per second of one pass over the buffer.
static double read_bandwidth_pass(const Eigen::VectorXf& buffer) {
    const int64_t shares = parallel_threads(true), share = (buffer.size() + shares - 1) / shares;
    std::vector<float> sums(static_cast<size_t>(shares));
    const auto start = Clock::now();
    parallel_for(shares, true, [&](int64_t i) {
        const int64_t first = i * share, count = std::min(share, buffer.size() - first);
        sums[static_cast<size_t>(i)] = buffer.segment(first, count).sum();
    });
    const double bytes_per_second = 4.0 * buffer.size() / std::max(seconds_since(start), 1e-9);
    volatile float sink = 0;
    for (float sum : sums) sink = sink + sum;
    return bytes_per_second;
}

// The best of three passes.
static double measured_read_bandwidth() {
    const Eigen::VectorXf buffer = bandwidth_buffer();
    double best = 0;
    for (int pass = 0; pass < 3; ++pass) best = std::max(best, read_bandwidth_pass(buffer));
    return best;
}

struct DecodeTiming {
    double seconds_per_token = 0;       // median, full context
    double seconds_projections = 0;     // median, empty cache
    double read_bytes_per_second = 0;   // median of the passes between the steps
    Mat output;
};

// Decodes x_new at position `context` repeatedly, rewinding the cache each time so every run sees
// the same context, each time after a step with an empty cache (the projections alone) and a pass
// measuring the read bandwidth. This machine's bandwidth moves by half within a minute when
// others share its memory; measured between the steps, the bound moves with the steps.
static DecodeTiming time_decode(const ModelConfig& config, const MlaWeights& weights, const RopeTable& rope,
                                MlaCache& cache, const Mat& x_new, int64_t repeats, const Eigen::VectorXf& buffer) {
    const int64_t context = cache.length;
    auto step_seconds = [&](int64_t length) {
        cache.length = length;
        const auto start = Clock::now();
        mla_forward(config, weights, rope, x_new, {0, 1}, &cache, {}, "attn");
        return seconds_since(start);
    };
    std::vector<double> full, empty, bandwidths;
    for (int64_t i = 0; i < repeats; ++i) {
        empty.push_back(step_seconds(0));
        bandwidths.push_back(read_bandwidth_pass(buffer));
        full.push_back(step_seconds(context));
    }
    DecodeTiming timing;
    timing.seconds_per_token = median(full);
    timing.seconds_projections = median(empty);
    timing.read_bytes_per_second = median(bandwidths);
    cache.length = context;
    timing.output = mla_forward(config, weights, rope, x_new, {0, 1}, &cache, {}, "attn");
    cache.length = context;
    return timing;
}

static double measured_fma_peak();

// The FMA peak of the threads this bench runs on, each measuring its own at the same time: two
// threads on one core share its FMA units (an SMT pair measures about one core's peak between them).
static double measured_fma_peak_of_threads() {
    std::vector<double> peaks(static_cast<size_t>(parallel_threads(true)));
    parallel_for(static_cast<int64_t>(peaks.size()), true, [&](int64_t i) { peaks[static_cast<size_t>(i)] = measured_fma_peak(); });
    double sum = 0;
    for (double peak : peaks) sum += peak;
    return sum;
}

static int bench_mla(const ParsedArgs& args) {
    const ModelConfig config = config_from_args(args);
    const int64_t context = args.integer("context"), repeats = args.integer("repeats");
    const uint64_t seed = static_cast<uint64_t>(args.integer("seed"));
    if (context < 1) throw UsageError("--context must be >= 1");
    if (repeats < 1) throw UsageError("--repeats must be >= 1");
    if (context + 1 > config.max_position_embeddings)
        throw UsageError("--context exceeds max_position_embeddings of " + config.name);
    const int64_t H = config.num_attention_heads, r = config.kv_lora_rank, dr = config.qk_rope_head_dim;
    const int64_t dq = config.qk_head_dim(), dv = config.v_head_dim, d = config.hidden_size;

    auto phase = Clock::now();
    std::fprintf(stderr, "generating layer 0 attention weights of %s ...", config.name.c_str());
    const MlaWeights weights = generated_mla_weights(config, 0, seed);
    const RopeTable rope = rope_table(config);
    std::fprintf(stderr, " %.1f s\n", seconds_since(phase));

    phase = Clock::now();
    std::fprintf(stderr, "filling both caches with %lld tokens ...", static_cast<long long>(context));
    Mat x_context(context, d), x_new(1, d);
    Rng rng(seed + 1);
    for (int64_t i = 0; i < x_context.size(); ++i) x_context.data()[i] = rng.normal();
    for (int64_t i = 0; i < d; ++i) x_new(0, i) = rng.normal();
    MlaCache naive = make_mla_cache(config, AttnImpl::Naive, context + 1);
    MlaCache absorb = make_mla_cache(config, AttnImpl::Absorb, context + 1);
    mla_fill_cache(config, weights, rope, x_context, naive);
    mla_fill_cache(config, weights, rope, x_context, absorb);
    x_context.resize(0, 0);
    std::fprintf(stderr, " %.1f s\n", seconds_since(phase));

    std::fprintf(stderr, "timing %lld decode steps per form, the read bandwidth between them ...\n",
                 static_cast<long long>(repeats));
    const Eigen::VectorXf buffer = bandwidth_buffer();
    const DecodeTiming naive_timing = time_decode(config, weights, rope, naive, x_new, repeats, buffer);
    const DecodeTiming absorb_timing = time_decode(config, weights, rope, absorb, x_new, repeats, buffer);
    const double max_rel = (naive_timing.output - absorb_timing.output).cwiseAbs().maxCoeff() /
                           naive_timing.output.cwiseAbs().maxCoeff();

    const int64_t S = context + 1;
    // FP32 caches of one layer (analytics.h counts the elements per token and layer)
    const double naive_cache_bytes = 4.0 * S * kv_cache_method(config, "MLA naive").elements_per_token_per_layer;
    const double absorb_cache_bytes = 4.0 * S * kv_cache_method(config, "MLA").elements_per_token_per_layer;
    const double naive_flops = 2.0 * S * H * (dq + dv);         // q·k over dq, p·v over dv
    const double absorb_flops = 2.0 * S * H * (r + dr + r);     // q_abs·c + q_pe·k_pe, p·c
    int64_t weight_floats = weights.q_proj.size() + weights.q_a_proj.size() + weights.q_b_proj.size() +
                            weights.kv_a_proj_with_mqa.size() + weights.kv_b_proj.size() + weights.o_proj.size();

    // The memory-bound time of a decode step: its weights and its cache read once at the bandwidth
    // measured beside its steps.
    auto bound_seconds = [&](const DecodeTiming& timing, double cache_bytes) {
        return (4.0 * weight_floats + cache_bytes) / timing.read_bytes_per_second;
    };
    // The projections stream the weights, then the attention core computes over the cache, then
    // o_proj streams again: one after the other, so the core's FLOPs at the FMA peak come on top.
    const double peak = measured_fma_peak_of_threads();
    auto floor_seconds = [&](const DecodeTiming& timing, double cache_bytes, double flops) {
        return bound_seconds(timing, cache_bytes) + flops / peak;
    };
    // The projections alone (an empty cache) against the weights read once.
    auto projections_of_bound = [&](const DecodeTiming& timing) {
        return bound_seconds(timing, 0) / timing.seconds_projections;
    };

    if (args.flag("json")) {
        nlohmann::json out = {
            {"preset", config.name}, {"context", context}, {"repeats", repeats},
            {"weight_bytes", 4 * weight_floats}, {"max_rel_difference", max_rel},
            {"naive_of_memory_bound", bound_seconds(naive_timing, naive_cache_bytes) / naive_timing.seconds_per_token},
            {"absorb_of_memory_bound", bound_seconds(absorb_timing, absorb_cache_bytes) / absorb_timing.seconds_per_token},
            {"fma_peak_flops_per_second", peak},
            {"naive_of_memory_and_compute_floor",
             floor_seconds(naive_timing, naive_cache_bytes, naive_flops) / naive_timing.seconds_per_token},
            {"absorb_of_memory_and_compute_floor",
             floor_seconds(absorb_timing, absorb_cache_bytes, absorb_flops) / absorb_timing.seconds_per_token},
            {"naive", {{"seconds_per_token", naive_timing.seconds_per_token},
                       {"seconds_projections_only", naive_timing.seconds_projections},
                       {"projections_of_weight_bound", projections_of_bound(naive_timing)},
                       {"read_bytes_per_second", naive_timing.read_bytes_per_second},
                       {"cache_bytes_read", naive_cache_bytes}, {"attention_flops", naive_flops}}},
            {"absorb", {{"seconds_per_token", absorb_timing.seconds_per_token},
                        {"seconds_projections_only", absorb_timing.seconds_projections},
                        {"projections_of_weight_bound", projections_of_bound(absorb_timing)},
                        {"read_bytes_per_second", absorb_timing.read_bytes_per_second},
                        {"cache_bytes_read", absorb_cache_bytes}, {"attention_flops", absorb_flops}}},
        };
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
    }

    std::printf("MLA decode, %s, one layer, FP32, 1 new token over %lld cached tokens (median of %lld)\n\n",
                config.name.c_str(), static_cast<long long>(context), static_cast<long long>(repeats));
    std::printf("%-8s %11s %17s %14s %16s %11s %12s %9s %9s\n", "form", "ms / token", "ms (empty cache)",
                "cache MB read", "attention GFLOP", "cache GB/s", "memory GB/s", "bound ms", "of bound");
    auto row = [&](const char* form, const DecodeTiming& timing, double bytes, double flops) {
        const double attention_seconds = std::max(timing.seconds_per_token - timing.seconds_projections, 1e-9);
        std::printf("%-8s %11.2f %17.2f %14.1f %16.3f %11.1f %12.1f %9.2f %9.2f\n", form, 1e3 * timing.seconds_per_token,
                    1e3 * timing.seconds_projections, bytes / 1e6, flops / 1e9, bytes / attention_seconds / 1e9,
                    timing.read_bytes_per_second / 1e9, 1e3 * bound_seconds(timing, bytes),
                    bound_seconds(timing, bytes) / timing.seconds_per_token);
    };
    row("naive", naive_timing, naive_cache_bytes, naive_flops);
    row("absorb", absorb_timing, absorb_cache_bytes, absorb_flops);
    std::printf("\nweights read by both: %.1f MB; outputs differ by %.2e (relative to max |out|)\n",
                4.0 * weight_floats / 1e6, max_rel);
    std::printf("bound: weights + cache read once at the memory bandwidth measured between that form's steps (this\n"
                "run's threads summing 512 MB); \"of bound\" is bound / measured time, 1.00 being as fast as memory allows.\n");
    std::printf("projections alone (empty cache) against the weights read once: naive %.2f, absorb %.2f of their bound.\n",
                projections_of_bound(naive_timing), projections_of_bound(absorb_timing));
    std::printf("floor: the bound plus the attention core's FLOPs at the measured FMA peak of the same threads (%.1f GFLOP/s),\n"
                "as a step runs them one after the other: naive %.2f ms (%.2f of it), absorb %.2f ms (%.2f of it).\n",
                peak / 1e9, 1e3 * floor_seconds(naive_timing, naive_cache_bytes, naive_flops),
                floor_seconds(naive_timing, naive_cache_bytes, naive_flops) / naive_timing.seconds_per_token,
                1e3 * floor_seconds(absorb_timing, absorb_cache_bytes, absorb_flops),
                floor_seconds(absorb_timing, absorb_cache_bytes, absorb_flops) / absorb_timing.seconds_per_token);
    std::printf("naive caches %lld floats per token (K and V of %lld heads), absorb %lld: %.1fx less to read,\n"
                "for %.1fx the attention FLOPs (absorbed attention works in the %lld-wide latent).\n",
                static_cast<long long>(H * (dq + dv)), static_cast<long long>(H), static_cast<long long>(r + dr),
                naive_cache_bytes / absorb_cache_bytes, absorb_flops / naive_flops, static_cast<long long>(r));
    return 0;
}

static double peak_resident_bytes() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return 1024.0 * usage.ru_maxrss;  // Linux reports kilobytes
}

static int bench_moe(const ParsedArgs& args) {
    const ModelConfig config = config_from_args(args);
    const int64_t T = args.integer("tokens"), cache = args.integer("cache");
    const uint64_t seed = static_cast<uint64_t>(args.integer("seed"));
    if (T < 1) throw UsageError("--tokens must be >= 1, got " + args.str("tokens"));
    if (cache < 1) throw UsageError("--cache must be >= 1 expert, got " + args.str("cache"));
    const int64_t layer = first_moe_layer(config);
    if (layer < 0) throw UsageError(config.name + " has no MoE layer");
    const int64_t d = config.hidden_size, K = config.num_experts_per_tok;
    const double expert_mb = expert_bytes(config) / 1e6;

    keep_freed_memory();  // an evicted expert's 176 MB (V3) are reused by the next one
    auto phase = Clock::now();
    std::fprintf(stderr, "generating layer %lld gate and shared expert of %s ...", static_cast<long long>(layer),
                 config.name.c_str());
    const MoeWeights moe = generated_moe_weights(config, layer, seed, 0, cache);
    ExpertStore& store = *moe.store;
    const double setup_seconds = seconds_since(phase);
    std::fprintf(stderr, " %.1f s\n", setup_seconds);

    Mat x(T, d);
    Rng rng(seed + 1);
    for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = rng.normal();
    x = rms_norm(x, Vec::Ones(d), static_cast<float>(config.rms_norm_eps));

    // The forward of moe_forward, phase by phase, so each part gets its own time.
    phase = Clock::now();
    const Routing routing = gate_forward(config, moe.gate, x, {});
    const double gate_seconds = seconds_since(phase);
    phase = Clock::now();
    const Mat shared = config.n_shared_experts > 0 ? swiglu(x, moe.shared_experts) : Mat(Mat::Zero(T, d));
    const double shared_seconds = seconds_since(phase);
    const ExpertLoad load = count_load(config, routing.topk_idx, config.topk_group);
    const int64_t experts_used = std::count_if(load.per_expert.begin(), load.per_expert.end(),
                                               [](int64_t n) { return n > 0; });
    std::fprintf(stderr, "routing %lld tokens to %lld experts, generating each when first used ...\n",
                 static_cast<long long>(T), static_cast<long long>(experts_used));
    Progress progress = start_progress("experts", "experts", experts_used);
    store.on_generate = [&](const ExpertStore& generated) { show_progress(progress, generated.materializations); };
    phase = Clock::now();
    const MoePlan plan = moe_dispatch(routing.topk_idx, config.n_routed_experts);
    const Mat routed = moe_combine(moe_experts(x, plan, moe), plan, routing.topk_weight);
    const double routed_seconds = seconds_since(phase);
    const double generate_seconds = store.materialize_seconds;
    const double total_seconds = gate_seconds + shared_seconds + routed_seconds;
    const double compute_seconds = std::max(total_seconds - generate_seconds, 1e-9);

    // Multiply-adds: the gate, and three d x width projections per expert a token passes through.
    const double flops = 2.0 * T * d * config.n_routed_experts +
                         2.0 * 3 * T * d * config.moe_intermediate_size * (K + config.n_shared_experts);
    // Gate and shared expert, held throughout; the routed experts come on top.
    const double resident_bytes = 4.0 * (moe.gate.weight.size() + moe.shared_experts.gate_proj.size() +
                                         moe.shared_experts.up_proj.size() + moe.shared_experts.down_proj.size());
    const double weight_bytes_bound = resident_bytes + cache * expert_bytes(config);
    const double max_abs_out = (shared + routed).cwiseAbs().maxCoeff();
    // The byte bound: each weight the batch needs (gate, shared expert, every expert used) read once
    // from memory at the bandwidth measured here; compute can be no faster.
    const double bytes_needed = resident_bytes + experts_used * expert_bytes(config);
    const double peak_bytes = peak_resident_bytes();  // before the bandwidth's 512 MB buffer
    std::fprintf(stderr, "measuring the read bandwidth ...\n");
    const double bandwidth = measured_read_bandwidth();
    const double bound_seconds = bytes_needed / bandwidth;

    if (args.flag("json")) {
        nlohmann::json out = {
            {"preset", config.name}, {"layer", layer}, {"tokens", T}, {"expert_cache", cache},
            {"experts_used", experts_used}, {"experts_generated", store.materializations},
            {"max_vio", max_violation(load.per_expert)},
            {"seconds", {{"gate", gate_seconds}, {"shared", shared_seconds}, {"routed", routed_seconds},
                         {"generating_experts", generate_seconds}, {"total", total_seconds}}},
            {"tokens_per_second", T / total_seconds}, {"tokens_per_second_resident_weights", T / compute_seconds},
            {"gflops_per_second", flops / compute_seconds / 1e9}, {"weight_bytes_bound", weight_bytes_bound},
            {"peak_resident_bytes", peak_bytes}, {"max_abs_output", max_abs_out},
            {"bytes_needed", bytes_needed}, {"read_bandwidth", bandwidth}, {"bound_seconds", bound_seconds},
            {"compute_of_bound", bound_seconds / compute_seconds},
        };
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
    }

    std::printf("MoE layer %lld of %s, FP32, %lld tokens, grouped dispatch, expert cache %lld (%.1f MB each)\n\n",
                static_cast<long long>(layer), config.name.c_str(), static_cast<long long>(T),
                static_cast<long long>(cache), expert_mb);
    std::printf("%-34s %10s\n", "phase", "seconds");
    std::printf("%-34s %10.3f\n", "gate (scores, groups, top-k)", gate_seconds);
    std::printf("%-34s %10.3f\n", "shared expert", shared_seconds);
    std::printf("%-34s %10.3f\n", "routed experts", routed_seconds);
    std::printf("%-34s %10.3f\n", "  of which generating weights", generate_seconds);
    std::printf("\nexperts used: %lld of %lld (each generated once: %lld); MaxVio of this batch %.2f\n",
                static_cast<long long>(experts_used), static_cast<long long>(config.n_routed_experts),
                static_cast<long long>(store.materializations), max_violation(load.per_expert));
    std::printf("tokens/s: %.2f with weight generation, %.1f without (as if the weights were resident)\n",
                T / total_seconds, T / compute_seconds);
    std::printf("compute: %.1f GFLOP in %.2f s = %.1f GFLOP/s\n", flops / 1e9, compute_seconds,
                flops / compute_seconds / 1e9);
    std::printf("bound: the %.1f MB of weights this batch needs, read once at the measured %.1f GB/s: %.3f s;\n"
                "compute (without generation) runs at %.2f of the bound\n",
                bytes_needed / 1e6, bandwidth / 1e9, bound_seconds, bound_seconds / compute_seconds);
    std::printf("memory: weights held at most %.1f MB (gate + shared expert + %lld cached experts; all %lld\n"
                "experts would be %.1f MB); peak resident %.1f MB\n",
                weight_bytes_bound / 1e6, static_cast<long long>(cache),
                static_cast<long long>(config.n_routed_experts), config.n_routed_experts * expert_mb,
                peak_bytes / 1e6);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// bench train

struct TrainTiming {
    std::string precision;
    double seconds_per_step = 0;
    double tokens_per_second = 0;
    double final_loss = 0;
};

// One fixed batch: `batch` sequences of `seq` random token ids 7..127 (or the vocabulary's top),
// each position's target the next token, the last of each sequence ignored.
static Batch random_batch(const ModelConfig& config, int64_t batch, int64_t seq, uint64_t seed) {
    const int64_t low = 7, high = std::min<int64_t>(127, config.vocab_size - 1);
    if (high < low) throw UsageError("bench train needs a vocabulary of more than 8 tokens");
    Rng rng(seed);
    Batch b;
    b.offsets.push_back(0);
    for (int64_t s = 0; s < batch; ++s) {
        for (int64_t t = 0; t < seq; ++t)
            b.tokens.push_back(static_cast<int32_t>(low + static_cast<int64_t>(rng.next_u64() % (high - low + 1))));
        for (int64_t t = 0; t < seq; ++t) b.targets.push_back(t + 1 < seq ? b.tokens[s * seq + t + 1] : kIgnoreTarget);
        b.offsets.push_back(static_cast<int64_t>(b.tokens.size()));
    }
    return b;
}

// From the same starting weights with a fresh optimizer: `warmup` untimed steps, then `steps` timed
// ones of forward, backward and AdamW, as train.cpp runs them, minus the data loading and logging.
// Training at each precision from the same initial weights, the precisions taking turns: `warmup`
// untimed steps each, then `steps` timed steps each in rounds of a few steps, so that a machine
// whose speed drifts (a shared one) slows every precision alike and their ratio holds. Each
// precision's weights and optimizer are its own: its steps, and so its final loss, are those of
// a run alone.
static std::vector<TrainTiming> time_training(const ModelConfig& config, const ModelWeights& initial, const Batch& batch,
                                              const std::vector<GemmPrecision>& precisions, int64_t warmup,
                                              int64_t steps) {
    struct Run {
        ModelWeights weights, grads;
        AdamWState optimizer;
        std::vector<Parameter> grad_list;
        LinearPrecision precision;
        TrainTiming timing;
        double seconds = 0;
    };
    std::vector<Run> runs(precisions.size());
    for (size_t i = 0; i < precisions.size(); ++i) {
        Run& run = runs[i];
        run.weights = initial;
        run.optimizer = make_adamw_state(run.weights);
        run.grads = zeros_like(run.weights);
        run.grad_list = model_parameters(run.grads);
        run.precision.gemm = precisions[i];
        run.timing.precision = gemm_precision_name(precisions[i]);
    }
    const TrainingLoss loss;  // λ 0.3, no balance loss
    const AdamWOptions adamw;  // lr 1e-3, clip 1.0
    auto step = [&](Run& run) {
        for (Parameter& p : run.grad_list) std::fill_n(p.values, shape_numel(p.shape), 0.0f);
        ModelActivations act;
        const LossReport report = model_forward(config, run.weights, batch, run.precision, loss, act);
        model_backward(run.grads, config, run.weights, batch, run.precision, loss, act);
        adamw_step(run.weights, run.grads, run.optimizer, adamw, adamw.lr);
        run.timing.final_loss = report.total;
    };
    for (Run& run : runs)
        for (int64_t i = 0; i < warmup; ++i) step(run);
    constexpr int64_t kRoundSteps = 5;
    for (int64_t done = 0; done < steps; done += kRoundSteps) {
        const int64_t round = std::min(kRoundSteps, steps - done);
        for (Run& run : runs) {
            const auto start = Clock::now();
            for (int64_t i = 0; i < round; ++i) step(run);
            run.seconds += seconds_since(start);
        }
    }
    std::vector<TrainTiming> timings;
    for (Run& run : runs) {
        run.timing.seconds_per_step = run.seconds / steps;
        run.timing.tokens_per_second = static_cast<double>(batch.tokens.size()) * steps / run.seconds;
        timings.push_back(run.timing);
    }
    return timings;
}

static std::vector<GemmPrecision> precisions_from_text(const std::string& text) {
    std::vector<GemmPrecision> list;
    for (const std::string& item : comma_items(text)) {
        try {
            list.push_back(gemm_precision_from_name(item));
        } catch (const std::invalid_argument& error) {
            throw UsageError(std::string("--precision: ") + error.what());
        }
    }
    return list;
}

static std::string shell_quoted(const std::string& text) {
    std::string quoted = "'";
    for (char c : text) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted + "'";
}

// The PyTorch peer's JSON line, or {"available": false, "reason": ...} when it cannot run.
static nlohmann::json run_torch_peer(const std::string& script, const std::string& arguments) {
    const std::string python = "/usr/bin/python3";
    auto unavailable = [](const std::string& reason) { return nlohmann::json{{"available", false}, {"reason", reason}}; };
    if (access(python.c_str(), X_OK) != 0) return unavailable(python + " is not installed");
    if (access(script.c_str(), R_OK) != 0)
        return unavailable("the peer script " + script + " is not there (pass its path with --peer-script)");
    // OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when a shell sets them, steer OpenBLAS off its own
    // choice of kernel for this CPU (11% slower measured): the peer runs without them.
    const std::string command =
        "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE " + python + " " + shell_quoted(script) + " " + arguments + " 2>&1";
    std::fprintf(stderr, "running the PyTorch peer: %s\n", command.c_str());
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return unavailable("could not start " + python);
    std::string output, line;
    char buffer[4096];
    while (std::fgets(buffer, sizeof buffer, pipe)) output += buffer;
    const int status = pclose(pipe);
    // The result is the one line that parses as a JSON object; the rest is the peer's stderr.
    nlohmann::json result;
    size_t begin = 0;
    while (begin < output.size()) {
        const size_t end = std::min(output.find('\n', begin), output.size());
        line = output.substr(begin, end - begin);
        begin = end + 1;
        if (line.empty() || line[0] != '{') continue;
        try {
            result = nlohmann::json::parse(line);
        } catch (const std::exception&) {
            continue;
        }
    }
    if (status == 0 && result.is_object() && result.contains("tokens_per_s")) {
        result["available"] = true;
        return result;
    }
    if (output.find("No module named 'torch'") != std::string::npos)
        return unavailable("PyTorch is not installed for " + python + " (scripts/setup.sh --peer installs it)");
    while (!output.empty() && output.back() == '\n') output.pop_back();
    const size_t last_line = output.rfind('\n');
    return unavailable("the peer failed (exit status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) +
                       "): " + (last_line == std::string::npos ? output : output.substr(last_line + 1)));
}

static int bench_train(const ParsedArgs& args) {
    const ModelConfig config = args.flag("preset") || args.flag("config") ? config_from_args(args) : preset_config("toy");
    const int64_t batch_size = args.integer("batch"), seq = args.integer("seq");
    const int64_t steps = args.integer("steps"), warmup = args.integer("warmup");
    const uint64_t seed = static_cast<uint64_t>(args.integer("seed"));
    if (batch_size < 1) throw UsageError("--batch must be >= 1");
    if (seq < 3 || seq > config.max_position_embeddings)
        throw UsageError("--seq must be between 3 (MTP predicts two tokens ahead) and max_position_embeddings (" +
                         std::to_string(config.max_position_embeddings) + ")");
    if (steps < 1) throw UsageError("--steps must be >= 1");
    if (warmup < 0) throw UsageError("--warmup must be >= 0");
    const int64_t round_count = args.integer("rounds");
    if (round_count < 1 || round_count > 20) throw UsageError("--rounds must be between 1 and 20");
    const std::vector<GemmPrecision> precisions = precisions_from_text(args.str("precision"));
    // Weights, gradients and two AdamW moments in FP32, plus activations: keep it to toy-like sizes.
    const ParameterCounts counts = count_parameters(config);
    const int64_t max_parameters = int64_t{100} << 20;
    if (counts.total + counts.mtp > max_parameters)
        throw UsageError(config.name + " has " + std::to_string(counts.total + counts.mtp) +
                         " parameters; bench train trains at most " + std::to_string(max_parameters) +
                         " on the CPU (try --preset toy)");

    const int threads = thread_count();
    const char* omp_env = std::getenv("OMP_NUM_THREADS");
    const std::string omp_text = omp_env ? std::string("OMP_NUM_THREADS=") + omp_env : "OMP_NUM_THREADS unset";

    // Each step frees and allocates the same activations again; without this glibc returns them
    // to the kernel and page-faults them back in, which cost a third of a toy step.
    keep_freed_memory();
    const Batch batch = random_batch(config, batch_size, seq, seed);
    ModelWeights initial = init_model_weights(config, seed);
    const int64_t parameters = parameter_count(initial);

    // Rounds of seek's timing and then the peer's; each round's figures, and their medians.
    struct Round {
        std::vector<TrainTiming> timings;
        nlohmann::json peer;
        double ratio = 0;  // seek's reference precision over the peer, when the peer ran
    };
    std::vector<Round> rounds(static_cast<size_t>(round_count));
    for (int64_t r = 0; r < round_count; ++r) {
        Round& round = rounds[static_cast<size_t>(r)];
        std::fprintf(stderr, "%stiming %s: %lld warm-up + %lld timed steps each, taking turns every 5 steps ...",
                     round_count > 1 ? ("round " + std::to_string(r + 1) + "/" + std::to_string(round_count) + ": ").c_str() : "",
                     args.str("precision").c_str(), static_cast<long long>(warmup), static_cast<long long>(steps));
        round.timings = time_training(config, initial, batch, precisions, warmup, steps);
        std::fprintf(stderr, " done\n");
        if (args.flag("peer"))
            round.peer = run_torch_peer(args.str("peer-script") == "auto" ? "scripts/bench_torch_train.py" : args.str("peer-script"),
                                        "--batch " + std::to_string(batch_size) + " --seq " + std::to_string(seq) + " --steps " +
                                            std::to_string(steps) + " --warmup " + std::to_string(warmup) + " --threads " +
                                            std::to_string(threads) + " --seed " + std::to_string(seed));
        if (round.peer.is_object() && !round.peer.value("available", false)) break;  // it will not run in the next one either
    }
    while (!rounds.empty() && rounds.back().timings.empty()) rounds.pop_back();
    // Each precision's median over the rounds (its final loss is the same in every round).
    std::vector<TrainTiming> timings = rounds.front().timings;
    for (size_t i = 0; i < timings.size(); ++i) {
        std::vector<double> rates;
        for (const Round& round : rounds) rates.push_back(round.timings[i].tokens_per_second);
        timings[i].tokens_per_second = median(rates);
        timings[i].seconds_per_step = static_cast<double>(batch.tokens.size()) / timings[i].tokens_per_second;
    }
    double fp32_rate = 0;
    size_t reference_index = 0;  // seek's ratio to the peer: fp32 against PyTorch's float32, else the first precision
    for (size_t i = 0; i < timings.size(); ++i)
        if (timings[i].precision == "fp32") {
            fp32_rate = timings[i].tokens_per_second;
            reference_index = i;
        }
    const TrainTiming& reference = timings[reference_index];
    nlohmann::json peer = rounds.back().peer;
    const bool peer_ran = peer.is_object() && peer.value("available", false);
    std::vector<double> peer_rates, ratios;
    if (peer_ran)
        for (Round& round : rounds) {
            peer_rates.push_back(round.peer["tokens_per_s"].get<double>());
            round.ratio = round.timings[reference_index].tokens_per_second / peer_rates.back();
            ratios.push_back(round.ratio);
        }
    const double peer_rate = peer_ran ? median(peer_rates) : 0;
    const double peer_ratio = peer_ran ? median(ratios) : 0;

    const int64_t tokens = static_cast<int64_t>(batch.tokens.size());
    if (args.flag("json")) {
        nlohmann::json out = {{"preset", config.name}, {"parameters", parameters}, {"threads", threads},
                              {"omp_num_threads", omp_env ? nlohmann::json(omp_env) : nlohmann::json(nullptr)},
                              {"batch", batch_size}, {"seq", seq}, {"tokens_per_step", tokens},
                              {"warmup", warmup}, {"steps", steps}, {"results", nlohmann::json::array()}};
        for (const TrainTiming& t : timings)
            out["results"].push_back({{"precision", t.precision}, {"ms_per_step", 1e3 * t.seconds_per_step},
                                      {"tokens_per_second", t.tokens_per_second},
                                      {"vs_fp32", fp32_rate > 0 ? nlohmann::json(t.tokens_per_second / fp32_rate)
                                                                : nlohmann::json(nullptr)},
                                      {"final_loss", t.final_loss}});
        if (args.flag("peer")) {
            out["peer"] = peer;
            if (peer_ran) {
                out["peer"]["tokens_per_s"] = peer_rate;  // the medians over the rounds
                out["peer"]["ms_per_step"] = 1e3 * static_cast<double>(tokens) / peer_rate;
                out["seek_vs_peer"] = {{"precision", reference.precision}, {"ratio", peer_ratio}};
            }
        }
        out["rounds"] = nlohmann::json::array();
        for (const Round& round : rounds) {
            nlohmann::json item = nlohmann::json::object();
            for (const TrainTiming& t : round.timings) item[t.precision + "_tokens_per_second"] = t.tokens_per_second;
            if (peer_ran) {
                item["peer_tokens_per_s"] = round.peer["tokens_per_s"];
                item["seek_vs_peer"] = round.ratio;
            }
            out["rounds"].push_back(item);
        }
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
    }

    std::printf("Training throughput, %s (%lld parameters): %lld sequences x %lld tokens = %lld tokens per step,\n"
                "forward + backward (MTP, lambda 0.3) + AdamW (clip 1.0); %lld warm-up steps, then the mean of %lld timed steps%s,\n"
                "the precisions taking turns every 5 steps (a shared machine's drift slows them alike)\n"
                "%d OpenMP threads (%s) over sequences and experts, each matrix product on one thread, as seek train\n\n",
                config.name.c_str(), static_cast<long long>(parameters), static_cast<long long>(batch_size),
                static_cast<long long>(seq), static_cast<long long>(tokens), static_cast<long long>(warmup),
                static_cast<long long>(steps), rounds.size() > 1 ? (" (the median of " + std::to_string(rounds.size()) + " rounds)").c_str() : "",
                threads, omp_text.c_str());
    std::printf("%-10s %12s %12s %9s %12s\n", "precision", "ms / step", "tokens/s", "vs fp32", "final loss");
    for (const TrainTiming& t : timings) {
        char ratio[32] = "-";
        if (fp32_rate > 0) std::snprintf(ratio, sizeof ratio, "%.2fx", t.tokens_per_second / fp32_rate);
        std::printf("%-10s %12.2f %12.0f %9s %12.4f\n", t.precision.c_str(), 1e3 * t.seconds_per_step,
                    t.tokens_per_second, ratio, t.final_loss);
    }
    if (!args.flag("peer")) return 0;
    if (!peer_ran) {
        std::printf("\nPyTorch peer not run: %s\n", peer.value("reason", std::string("unknown")).c_str());
        return 0;
    }
    std::printf("\nPyTorch %s peer, float32, torch.get_num_threads() = %lld: %.2f ms / step, %.0f tokens/s\n"
                "seek %s / PyTorch: %.2fx\n",
                peer.value("version", std::string("?")).c_str(), static_cast<long long>(peer.value("threads", 0)),
                1e3 * static_cast<double>(tokens) / peer_rate, peer_rate, reference.precision.c_str(), peer_ratio);
    if (rounds.size() > 1) {
        std::printf("\n%-8s %14s %14s %9s\n", "round", ("seek " + reference.precision).c_str(), "PyTorch", "ratio");
        for (size_t r = 0; r < rounds.size(); ++r)
            std::printf("%-8zu %14.0f %14.0f %8.2fx\n", r + 1, rounds[r].timings[reference_index].tokens_per_second,
                        rounds[r].peer["tokens_per_s"].get<double>(), rounds[r].ratio);
        std::printf("(tokens/s; above, the medians over the %zu rounds)\n", rounds.size());
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// bench gemm

// The most FP32 FLOP/s one thread can issue here: twelve independent chains of fused multiply-adds
// (two FMA ports x a latency of four cycles need eight in flight; twelve leave room), each over
// the register width of the GEMM kernel this run uses (gemm.h: 16 lanes with AVX-512, 8 with AVX2).
// The best of three passes of about 0.4 GFLOP (0.8 with 16 lanes).
template <typename Vec, int kLanes, typename Fma>
static double fma_chains_per_second(Vec start(float), Fma fma, float lane0(Vec)) {
    constexpr int kChains = 12;
    constexpr int64_t kIterations = 2'000'000;
    double best = 0;
    for (int pass = 0; pass < 3; ++pass) {
        Vec chain[kChains];
        for (int c = 0; c < kChains; ++c) chain[c] = start(1.0f + 0.01f * c);
        const Vec scale = start(0.999999f), offset = start(1e-6f);  // stays near 1
        const auto begin = Clock::now();
        for (int64_t i = 0; i < kIterations; ++i)
            for (int c = 0; c < kChains; ++c) chain[c] = fma(chain[c], scale, offset);
        const double seconds = seconds_since(begin);
        float sink = 0;
        for (int c = 0; c < kChains; ++c) sink += lane0(chain[c]);
        volatile float keep = sink;  // the chains' results are used: the loop cannot be removed
        (void)keep;
        best = std::max(best, 2.0 * kLanes * kChains * kIterations / std::max(seconds, 1e-9));
    }
    return best;
}

static double scalar_fma_peak() {
    return fma_chains_per_second<float, 1>([](float v) { return v; }, [](float a, float b, float c) { return a * b + c; },
                                           [](float v) { return v; });
}

#if defined(__AVX2__) && defined(__FMA__)
static double avx2_fma_peak() {
    return fma_chains_per_second<__m256, 8>(
        [](float v) { return _mm256_set1_ps(v); }, [](__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); },
        [](__m256 v) { return _mm256_cvtss_f32(v); });
}
#endif

#if defined(__x86_64__) && defined(__GNUC__)
// fma_chains_per_second with 16 lanes, written out: compiled for AVX-512 alone (the rest of the file
// is not; lambdas inside it would not be) and called only where gemm runs its AVX-512 kernel, so
// only on a CPU that has it.
__attribute__((target("avx512f"))) static double avx512_fma_peak() {
    constexpr int kChains = 12;
    constexpr int64_t kIterations = 2'000'000;
    double best = 0;
    for (int pass = 0; pass < 3; ++pass) {
        __m512 chain[kChains];
        for (int c = 0; c < kChains; ++c) chain[c] = _mm512_set1_ps(1.0f + 0.01f * c);
        const __m512 scale = _mm512_set1_ps(0.999999f), offset = _mm512_set1_ps(1e-6f);
        const auto begin = Clock::now();
        for (int64_t i = 0; i < kIterations; ++i)
            for (int c = 0; c < kChains; ++c) chain[c] = _mm512_fmadd_ps(chain[c], scale, offset);
        const double seconds = seconds_since(begin);
        float sink = 0;
        for (int c = 0; c < kChains; ++c) sink += _mm512_cvtss_f32(chain[c]);
        volatile float keep = sink;
        (void)keep;
        const double flops = 2.0 * 16 * kChains * kIterations / (seconds > 1e-9 ? seconds : 1e-9);
        best = flops > best ? flops : best;
    }
    return best;
}
#endif

// The peak of the register width gemm's kernel uses, and that width in words.
static double measured_fma_peak() {
    switch (simd_level()) {
#if defined(__x86_64__) && defined(__GNUC__)
        case SimdLevel::Avx512: return avx512_fma_peak();
#endif
#if defined(__AVX2__) && defined(__FMA__)
        case SimdLevel::Avx2: return avx2_fma_peak();
#endif
        default: return scalar_fma_peak();
    }
}

static const char* fma_peak_width() {
    switch (simd_level()) {
        case SimdLevel::Avx512: return "16-lane";
        case SimdLevel::Avx2: return "8-lane";
        default: return "scalar";
    }
}

// Seconds per call of `run`: calls repeated for at least `at_least` seconds, the best of three such runs.
template <typename Run>
static double seconds_per_call(double at_least, Run run) {
    run();  // warm: first-touch pages, caches
    double best = 1e30;
    for (int pass = 0; pass < 3; ++pass) {
        int64_t calls = 0;
        const auto start = Clock::now();
        double seconds = 0;
        do {
            run();
            ++calls;
            seconds = seconds_since(start);
        } while (seconds < at_least);
        best = std::min(best, seconds / double(calls));
    }
    return best;
}

// Debian's OpenBLAS, when installed, opened at run time: seek does not link it, the bench only
// measures it beside Eigen at the same shapes (cblas.h's enums and LP64 int indices).
struct OpenBlas {
    using Sgemm = void (*)(int order, int trans_a, int trans_b, int m, int n, int k, float alpha, const float* a,
                           int lda, const float* b, int ldb, float beta, float* c, int ldc);
    Sgemm sgemm = nullptr;
    std::string version;
    static constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;
};

static OpenBlas open_openblas() {
    OpenBlas blas;
    void* library = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!library) return blas;
    blas.sgemm = reinterpret_cast<OpenBlas::Sgemm>(dlsym(library, "cblas_sgemm"));
    using SetThreads = void (*)(int);
    using Config = const char* (*)();
    if (auto set_threads = reinterpret_cast<SetThreads>(dlsym(library, "openblas_set_num_threads"))) set_threads(1);
    if (auto config = reinterpret_cast<Config>(dlsym(library, "openblas_get_config"))) blas.version = config();
    return blas;
}

struct GemmShape {
    std::string layer;  // HF name of the weight, or "square"
    int64_t m = 0, n = 0, k = 0;  // x [m, k], W [n, k]
};

// The linear layers of a training step on `tokens` tokens, each (layer, m, n, k) once.
static std::vector<GemmShape> training_shapes(const ModelConfig& c, int64_t tokens) {
    const int64_t H = c.num_attention_heads, d = c.hidden_size;
    std::vector<GemmShape> shapes;
    if (c.q_lora_rank > 0) {
        shapes.push_back({"q_a_proj", tokens, c.q_lora_rank, d});
        shapes.push_back({"q_b_proj", tokens, H * c.qk_head_dim(), c.q_lora_rank});
    } else {
        shapes.push_back({"q_proj", tokens, H * c.qk_head_dim(), d});
    }
    shapes.push_back({"kv_a_proj_with_mqa", tokens, c.kv_lora_rank + c.qk_rope_head_dim, d});
    shapes.push_back({"kv_b_proj", tokens, H * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank});
    shapes.push_back({"o_proj", tokens, d, H * c.v_head_dim});
    if (c.first_k_dense_replace > 0) {
        shapes.push_back({"mlp.gate_proj, up_proj", tokens, c.intermediate_size, d});
        shapes.push_back({"mlp.down_proj", tokens, d, c.intermediate_size});
    }
    if (c.n_routed_experts > 0) {
        shapes.push_back({"mlp.gate", tokens, c.n_routed_experts, d});
        const int64_t shared = c.moe_intermediate_size * c.n_shared_experts;
        if (shared > 0) {
            shapes.push_back({"shared_experts.gate_proj, up_proj", tokens, shared, d});
            shapes.push_back({"shared_experts.down_proj", tokens, d, shared});
        }
        const int64_t share = std::max<int64_t>(1, tokens * c.num_experts_per_tok / c.n_routed_experts);
        shapes.push_back({"experts.N.gate_proj, up_proj", share, c.moe_intermediate_size, d});
        shapes.push_back({"experts.N.down_proj", share, d, c.moe_intermediate_size});
    }
    shapes.push_back({"lm_head", tokens, c.vocab_size, d});
    return shapes;
}

static std::vector<int64_t> sizes_from_text(const std::string& text) {
    std::vector<int64_t> sizes;
    for (const std::string& item : comma_items(text)) {
        char* end = nullptr;
        const long long size = std::strtoll(item.c_str(), &end, 10);
        if (item.empty() || *end != '\0' || size < 1 || size > 8192)
            throw UsageError("--large: '" + item + "' is not a size between 1 and 8192");
        sizes.push_back(size);
    }
    return sizes;
}

static int bench_gemm(const ParsedArgs& args) {
    const ModelConfig config = args.flag("preset") || args.flag("config") ? config_from_args(args) : preset_config("toy");
    const int64_t batch_size = args.integer("batch"), seq = args.integer("seq");
    if (batch_size < 1 || seq < 1 || batch_size * seq > (int64_t{1} << 16))
        throw UsageError("--batch x --seq must be between 1 and 65536 tokens");
    const std::vector<int64_t> large = sizes_from_text(args.str("large"));
    const double at_least = args.number("time");
    if (!(at_least > 0 && at_least <= 60)) throw UsageError("--time must be between 0 and 60 seconds");
    std::vector<GemmShape> shapes = training_shapes(config, batch_size * seq);
    const size_t step_count = shapes.size();  // the training step's shapes come first, then the squares
    for (int64_t size : large) shapes.push_back({"square", size, size, size});
    // The largest operand: one of these must not become a giant allocation (--config of a big model).
    for (const GemmShape& s : shapes)
        if (std::max({s.m * s.k, s.n * s.k, s.m * s.n}) > (int64_t{1} << 26))
            throw UsageError(config.name + ": " + s.layer + " has an operand over 64M values; bench gemm is for " +
                             "toy-like shapes (try --preset toy, --batch or --seq)");

    keep_freed_memory();  // as seek train: each call's product reuses the memory the last one freed
    set_thread_count(1);  // one thread: the peak below is one thread's
    const double peak = measured_fma_peak();
    const OpenBlas blas = open_openblas();

    struct Row {
        GemmShape shape;
        double forward = 0, backward = 0, blas_forward = 0, blas_backward = 0;  // FLOP/s
    };
    std::vector<Row> rows;
    const uint64_t seed = static_cast<uint64_t>(args.integer("seed"));
    Progress progress = start_progress("timing", "shapes", static_cast<int64_t>(shapes.size()));
    for (const GemmShape& s : shapes) {
        const Mat x = generated_matrix(seed, "x", s.m, s.k, 1.0f), weight = generated_matrix(seed, "weight", s.n, s.k, 0.1f);
        const Mat dy = generated_matrix(seed, "dy", s.m, s.n, 1.0f);
        Mat y, dx = Mat::Zero(s.m, s.k), dweight = Mat::Zero(s.n, s.k);
        const double flops = 2.0 * s.m * s.n * s.k;
        Row row{s};
        row.forward = flops / seconds_per_call(at_least, [&] { y = linear_forward(x, weight); });
        row.backward = 2 * flops / seconds_per_call(at_least, [&] { linear_backward(dx, dweight, dy, x, weight); });
        if (blas.sgemm) {
            const int m = int(s.m), n = int(s.n), k = int(s.k);
            Mat blas_y(s.m, s.n);
            row.blas_forward = flops / seconds_per_call(at_least, [&] {
                blas.sgemm(OpenBlas::kRowMajor, OpenBlas::kNoTrans, OpenBlas::kTrans, m, n, k, 1.0f, x.data(), k,
                           weight.data(), k, 0.0f, blas_y.data(), n);
            });
            row.blas_backward = 2 * flops / seconds_per_call(at_least, [&] {
                blas.sgemm(OpenBlas::kRowMajor, OpenBlas::kNoTrans, OpenBlas::kNoTrans, m, k, n, 1.0f, dy.data(), n,
                           weight.data(), k, 1.0f, dx.data(), k);
                blas.sgemm(OpenBlas::kRowMajor, OpenBlas::kTrans, OpenBlas::kNoTrans, n, k, m, 1.0f, dy.data(), n,
                           x.data(), k, 1.0f, dweight.data(), k);
            });
        }
        rows.push_back(row);
        show_progress(progress, static_cast<int64_t>(rows.size()));
    }

    // The training step's shapes together, each run once: their flops over the sum of their times.
    // `passes`: 1 forward, 2 backward (dx and dW).
    auto together = [&](double Row::*rate, double passes) {
        double flops = 0, seconds = 0;
        for (size_t i = 0; i < step_count; ++i) {
            const double f = passes * 2.0 * rows[i].shape.m * rows[i].shape.n * rows[i].shape.k;
            flops += f;
            seconds += f / (rows[i].*rate);
        }
        return flops / seconds;
    };

    if (args.flag("json")) {
        nlohmann::json out = {{"bench", "gemm"}, {"model", config.name}, {"tokens", batch_size * seq},
                              {"peak_gflops", peak / 1e9}, {"simd", simd_level_name(simd_level())}, {"openblas", blas.sgemm ? blas.version : ""}};
        for (const Row& r : rows) {
            nlohmann::json item = {{"layer", r.shape.layer}, {"m", r.shape.m}, {"n", r.shape.n}, {"k", r.shape.k},
                                   {"forward_gflops", r.forward / 1e9}, {"backward_gflops", r.backward / 1e9}};
            if (blas.sgemm) {
                item["openblas_forward_gflops"] = r.blas_forward / 1e9;
                item["openblas_backward_gflops"] = r.blas_backward / 1e9;
            }
            out["shapes"].push_back(item);
        }
        out["toy_forward_gflops"] = together(&Row::forward, 1) / 1e9;
        out["toy_backward_gflops"] = together(&Row::backward, 2) / 1e9;
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
    }

    std::printf("FP32 GEMMs of linear.h on one thread (gemm.h, its %s kernel), %s: %lld tokens per step\n",
                simd_level_name(simd_level()), config.name.c_str(), static_cast<long long>(batch_size * seq));
    std::printf("peak, measured: %.1f GFLOP/s (12 chains of %s fused multiply-adds)\n", peak / 1e9, fma_peak_width());
    if (blas.sgemm)
        std::printf("OpenBLAS: %s, one thread\n", blas.version.c_str());
    else
        std::printf("OpenBLAS: not installed (scripts/setup.sh --peer installs it), its columns left out\n");
    std::printf("\n%-34s %6s %6s %6s   %9s %6s   %9s %6s", "layer", "m", "n", "k", "forward", "peak", "backward", "peak");
    if (blas.sgemm) std::printf("   %9s %9s", "BLAS fwd", "BLAS bwd");
    std::printf("\n");
    auto print_row = [&](const std::string& name, const GemmShape* s, double forward, double backward, double blas_forward,
                         double blas_backward) {
        if (s)
            std::printf("%-34s %6lld %6lld %6lld", name.c_str(), static_cast<long long>(s->m), static_cast<long long>(s->n),
                        static_cast<long long>(s->k));
        else
            std::printf("%-55s", name.c_str());
        std::printf("   %9.1f %5.0f%%   %9.1f %5.0f%%", forward / 1e9, 100 * forward / peak, backward / 1e9,
                    100 * backward / peak);
        if (blas.sgemm) std::printf("   %9.1f %9.1f", blas_forward / 1e9, blas_backward / 1e9);
        std::printf("\n");
    };
    for (size_t i = 0; i < rows.size(); ++i) {
        if (i == step_count) {
            print_row("the shapes above together", nullptr, together(&Row::forward, 1), together(&Row::backward, 2),
                      blas.sgemm ? together(&Row::blas_forward, 1) : 0, blas.sgemm ? together(&Row::blas_backward, 2) : 0);
            std::printf("\n");
        }
        const Row& r = rows[i];
        print_row(r.shape.layer, &r.shape, r.forward, r.backward, r.blas_forward, r.blas_backward);
    }
    std::printf("\nGFLOP/s; peak: the share of the measured peak. Backward is dx and dW together (twice the flops).\n");
    return 0;
}

// ---------------------------------------------------------------------------------------------
// bench decode

static int bench_decode(const ParsedArgs& args) {
    const ModelConfig config = args.flag("preset") || args.flag("config") ? config_from_args(args) : preset_config("toy");
    const int64_t batch = args.integer("batch"), prompt_tokens = args.integer("prompt"), new_tokens = args.integer("new");
    const int64_t repeats = args.integer("repeats");
    const uint64_t seed = static_cast<uint64_t>(args.integer("seed"));
    if (batch < 1) throw UsageError("--batch must be >= 1");
    if (prompt_tokens < 1 || new_tokens < 1) throw UsageError("--prompt and --new must be >= 1");
    if (prompt_tokens + new_tokens > config.max_position_embeddings)
        throw UsageError("--prompt + --new is " + std::to_string(prompt_tokens + new_tokens) +
                         ", more than max_position_embeddings (" + std::to_string(config.max_position_embeddings) + ")");
    if (repeats < 1) throw UsageError("--repeats must be >= 1");
    if (config.vocab_size <= 7) throw UsageError(config.name + ": the prompts' token ids 7.. need a larger vocabulary");
    const ParameterCounts counts = count_parameters(config);
    const int64_t max_parameters = int64_t{100} << 20;
    if (counts.total > max_parameters)
        throw UsageError(config.name + " has " + std::to_string(counts.total) + " parameters; bench decode holds at most " +
                         std::to_string(max_parameters) + " on the CPU (try --preset toy)");
    const int threads = thread_count();

    keep_freed_memory();
    const ModelWeights weights = init_model_weights(config, seed);
    std::vector<std::vector<int32_t>> prompts(batch);
    Rng prompt_rng(seed + 1);
    const uint64_t ids = static_cast<uint64_t>(std::min<int64_t>(config.vocab_size, 128) - 7);
    for (std::vector<int32_t>& prompt : prompts)
        for (int64_t t = 0; t < prompt_tokens; ++t) prompt.push_back(static_cast<int32_t>(7 + prompt_rng.next_u64() % ids));
    GenerateOptions options;
    options.sampling.temperature = 0;  // greedy
    options.max_new_tokens = new_tokens;
    options.stop_at_eos = false;

    // One form decodes the first four sequences each alone, the other all of them as one batch.
    const int64_t singles = std::min<int64_t>(batch, 4);
    auto decode = [&](bool batched) {
        const auto start = Clock::now();
        std::vector<Rng> rngs(batched ? batch : 1, Rng(seed));
        if (batched) {
            generate_batch(config, weights, prompts, options, rngs);
        } else {
            for (int64_t i = 0; i < singles; ++i) generate(config, weights, prompts[i], options, rngs[0]);
        }
        return seconds_since(start);
    };
    std::fprintf(stderr, "decoding %lld x %lld new tokens, %lld runs of each form ...", static_cast<long long>(batch),
                 static_cast<long long>(new_tokens), static_cast<long long>(repeats));
    decode(true);  // warm-up: the allocator's arenas, the caches
    std::vector<double> alone_seconds, batched_seconds;
    for (int64_t run = 0; run < repeats; ++run) {  // in turns, so a shared machine's drift slows both alike
        alone_seconds.push_back(decode(false));
        batched_seconds.push_back(decode(true));
    }
    std::fprintf(stderr, " done\n");
    const double alone_median = median(alone_seconds), batched_median = median(batched_seconds);
    const double alone_rate = singles * new_tokens / alone_median, batched_rate = batch * new_tokens / batched_median;

    // The model's multiply-adds per sequence: every prompt token and every new token but the last
    // goes through the model, token t attending over t + 1 positions (analytics.h).
    double flops_per_sequence = 0;
    for (int64_t t = 0; t < prompt_tokens + new_tokens - 1; ++t) flops_per_sequence += flops_per_token(config, t + 1).total;
    std::fprintf(stderr, "measuring the FMA peak ...\n");
    const double peak = measured_fma_peak() * threads;
    const double alone_flops = flops_per_sequence * singles / alone_median;
    const double batched_flops = flops_per_sequence * batch / batched_median;

    nlohmann::json peer;
    if (args.flag("peer"))
        peer = run_torch_peer(args.str("peer-script") == "auto" ? "scripts/bench_torch_decode.py" : args.str("peer-script"),
                              "--batch " + std::to_string(batch) + " --prompt " + std::to_string(prompt_tokens) +
                                  " --new " + std::to_string(new_tokens) + " --repeats " + std::to_string(repeats) +
                                  " --threads " + std::to_string(threads) + " --seed " + std::to_string(seed));
    const bool peer_ran = peer.is_object() && peer.value("available", false);
    const double peer_alone = peer_ran ? peer.value("tokens_per_s_one_at_a_time", 0.0) : 0;
    const double peer_batched = peer_ran ? peer.value("tokens_per_s", 0.0) : 0;

    if (args.flag("json")) {
        nlohmann::json out = {{"preset", config.name}, {"threads", threads}, {"batch", batch},
                              {"prompt", prompt_tokens}, {"new", new_tokens}, {"repeats", repeats},
                              {"one_at_a_time", {{"sequences", singles}, {"tokens_per_second", alone_rate},
                                                 {"gflops_per_second", alone_flops / 1e9}, {"of_peak", alone_flops / peak}}},
                              {"batched", {{"sequences", batch}, {"tokens_per_second", batched_rate},
                                           {"gflops_per_second", batched_flops / 1e9}, {"of_peak", batched_flops / peak}}},
                              {"fma_peak_gflops_per_second", peak / 1e9}};
        if (args.flag("peer")) {
            out["peer"] = peer;
            if (peer_ran && peer_alone > 0 && peer_batched > 0)
                out["seek_vs_peer"] = {{"one_at_a_time", alone_rate / peer_alone}, {"batched", batched_rate / peer_batched}};
        }
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
    }
    std::printf("Greedy decoding, %s: %lld-token prompts, %lld new tokens each, through the latent KV cache\n"
                "(prefill included), median of %lld runs; %d OpenMP threads; FP32 FMA peak of those threads %.1f GFLOP/s\n\n",
                config.name.c_str(), static_cast<long long>(prompt_tokens), static_cast<long long>(new_tokens),
                static_cast<long long>(repeats), threads, peak / 1e9);
    std::printf("%-26s %10s %12s %10s %9s", "form", "sequences", "tokens/s", "GFLOP/s", "of peak");
    if (peer_ran) std::printf(" %14s %9s", "PyTorch tok/s", "seek/PT");
    std::printf("\n");
    auto row = [&](const char* form, int64_t sequences, double rate, double flops, double peer_rate) {
        std::printf("%-26s %10lld %12.0f %10.2f %8.1f%%", form, static_cast<long long>(sequences), rate, flops / 1e9,
                    100 * flops / peak);
        if (peer_ran) std::printf(" %14.0f %8.1fx", peer_rate, peer_rate > 0 ? rate / peer_rate : 0.0);
        std::printf("\n");
    };
    row("one at a time (batch 1)", singles, alone_rate, alone_flops, peer_alone);
    row("one batch", batch, batched_rate, batched_flops, peer_batched);
    if (args.flag("peer") && !peer_ran)
        std::printf("\nPyTorch peer not run: %s\n", peer.value("reason", std::string("unknown")).c_str());
    else if (peer_ran)
        std::printf("\nPyTorch %s peer (scripts/bench_torch_decode.py), float32, torch.get_num_threads() = %lld%s\n",
                    peer.value("version", std::string("?")).c_str(), static_cast<long long>(peer.value("threads", 0)),
                    peer.value("batch_matches_alone", false) ? "" : "; its batch did NOT give the tokens of its sequences alone");
    return 0;
}

int run_bench(int argc, char** argv) {
    if (wants_help(bench_spec, argc, argv)) return 0;
    const ParsedArgs args = parse_args(bench_spec, argc, argv);
    if (args.positional[0] == "decode") return bench_decode(args);
    if (args.positional[0] == "gemm") return bench_gemm(args);
    if (args.positional[0] == "mla") return bench_mla(args);
    if (args.positional[0] == "moe") return bench_moe(args);
    if (args.positional[0] == "train") return bench_train(args);
    throw UsageError("unknown benchmark '" + args.positional[0] + "' (available: decode, gemm, mla, moe, train)");
}

}  // namespace seek::cli
