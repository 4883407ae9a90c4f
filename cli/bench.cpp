// seek bench: measurements on this machine, printed as tables (never asserted in unit tests).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "../core/mla.h"
#include "../core/random.h"
#include "commands.h"

namespace seek::cli {

static const CommandSpec bench_spec = {
    "bench",
    "benchmarks on this machine",
    "bench mla: one attention layer of the model (weights generated from --seed) decodes one token\n"
    "over a cache of --context earlier tokens, naive vs absorbed, FP32 on the CPU. The cache is filled\n"
    "as a prefill of random hidden states would leave it. Reports the median time per token over\n"
    "--repeats runs, the same with an empty cache (projections only), the KV-cache bytes each form\n"
    "reads per token, the attention-core FLOPs, and how far the two outputs differ.\n"
    "At full V3 scale this needs about 2.5 GB of memory for weights and the naive cache.",
    {
        preset_option("v3"),
        config_option(),
        {"context", "N", "tokens already in the cache (k suffix allowed: 4k)", "4096"},
        {"repeats", "N", "timed decode steps per form (median reported)", "5"},
        {"seed", "N", "seed of the generated weights and inputs", "0"},
        {"json", "", "print the results as JSON", ""},
    },
    "mla",
    1,
    1,
};

using Clock = std::chrono::steady_clock;

static double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

struct DecodeTiming {
    double seconds_per_token = 0;       // median, full context
    double seconds_projections = 0;     // median, empty cache
    Mat output;
};

// Decodes x_new at position `context` repeatedly, rewinding the cache each time so every run sees
// the same context.
static DecodeTiming time_decode(const ModelConfig& config, const MlaWeights& weights, const RopeTable& rope,
                                MlaCache& cache, const Mat& x_new, int64_t repeats) {
    auto median_time = [&](int64_t context) {
        std::vector<double> times;
        for (int64_t i = 0; i < repeats; ++i) {
            cache.length = context;
            const auto start = Clock::now();
            mla_forward(config, weights, rope, x_new, cache);
            times.push_back(seconds_since(start));
        }
        std::sort(times.begin(), times.end());
        return times[times.size() / 2];
    };
    DecodeTiming timing;
    const int64_t context = cache.length;
    timing.seconds_projections = median_time(0);
    timing.seconds_per_token = median_time(context);
    cache.length = context;
    timing.output = mla_forward(config, weights, rope, x_new, cache);
    cache.length = context;
    return timing;
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

    std::fprintf(stderr, "timing %lld decode steps per form ...\n", static_cast<long long>(repeats));
    const DecodeTiming naive_timing = time_decode(config, weights, rope, naive, x_new, repeats);
    const DecodeTiming absorb_timing = time_decode(config, weights, rope, absorb, x_new, repeats);
    const double max_rel = (naive_timing.output - absorb_timing.output).cwiseAbs().maxCoeff() /
                           naive_timing.output.cwiseAbs().maxCoeff();

    const int64_t S = context + 1;
    const double naive_cache_bytes = 4.0 * S * H * (dq + dv);
    const double absorb_cache_bytes = 4.0 * S * (r + dr);
    const double naive_flops = 2.0 * S * H * (dq + dv);         // q·k over dq, p·v over dv
    const double absorb_flops = 2.0 * S * H * (r + dr + r);     // q_abs·c + q_pe·k_pe, p·c
    int64_t weight_floats = weights.q_proj.size() + weights.q_a_proj.size() + weights.q_b_proj.size() +
                            weights.kv_a_proj_with_mqa.size() + weights.kv_b_proj.size() + weights.o_proj.size();

    if (args.flag("json")) {
        nlohmann::json out = {
            {"preset", config.name}, {"context", context}, {"repeats", repeats},
            {"weight_bytes", 4 * weight_floats}, {"max_rel_difference", max_rel},
            {"naive", {{"seconds_per_token", naive_timing.seconds_per_token},
                       {"seconds_projections_only", naive_timing.seconds_projections},
                       {"cache_bytes_read", naive_cache_bytes}, {"attention_flops", naive_flops}}},
            {"absorb", {{"seconds_per_token", absorb_timing.seconds_per_token},
                        {"seconds_projections_only", absorb_timing.seconds_projections},
                        {"cache_bytes_read", absorb_cache_bytes}, {"attention_flops", absorb_flops}}},
        };
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
    }

    std::printf("MLA decode, %s, one layer, FP32, 1 new token over %lld cached tokens (median of %lld)\n\n",
                config.name.c_str(), static_cast<long long>(context), static_cast<long long>(repeats));
    std::printf("%-8s %14s %18s %16s %16s %14s\n", "form", "ms / token", "ms (empty cache)", "cache MB read",
                "attention GFLOP", "cache GB/s");
    auto row = [&](const char* form, const DecodeTiming& timing, double bytes, double flops) {
        const double attention_seconds = std::max(timing.seconds_per_token - timing.seconds_projections, 1e-9);
        std::printf("%-8s %14.2f %18.2f %16.1f %16.3f %14.1f\n", form, 1e3 * timing.seconds_per_token,
                    1e3 * timing.seconds_projections, bytes / 1e6, flops / 1e9, bytes / attention_seconds / 1e9);
    };
    row("naive", naive_timing, naive_cache_bytes, naive_flops);
    row("absorb", absorb_timing, absorb_cache_bytes, absorb_flops);
    std::printf("\nweights read by both: %.1f MB; outputs differ by %.2e (relative to max |out|)\n",
                4.0 * weight_floats / 1e6, max_rel);
    std::printf("naive caches %lld floats per token (K and V of %lld heads), absorb %lld: %.1fx less to read,\n"
                "for %.1fx the attention FLOPs (absorbed attention works in the %lld-wide latent).\n",
                static_cast<long long>(H * (dq + dv)), static_cast<long long>(H), static_cast<long long>(r + dr),
                naive_cache_bytes / absorb_cache_bytes, absorb_flops / naive_flops, static_cast<long long>(r));
    return 0;
}

int run_bench(int argc, char** argv) {
    if (wants_help(bench_spec, argc, argv)) return 0;
    const ParsedArgs args = parse_args(bench_spec, argc, argv);
    if (args.positional[0] == "mla") return bench_mla(args);
    throw UsageError("unknown benchmark '" + args.positional[0] + "' (available: mla)");
}

}  // namespace seek::cli
