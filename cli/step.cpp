// seek step: run a model (a checkpoint, or the first blocks of generated weights) on a prompt and
// walk through every traced tensor in execution order, with what it is and its statistics.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <climits>

#include "../core/analytics.h"
#include "../core/checkpoint.h"
#include "../core/embedding.h"
#include "../core/forward.h"
#include "../core/glossary.h"
#include "../core/mla.h"
#include "../core/moe.h"
#include "../core/sample.h"
#include "../core/stream.h"
#include "../core/tokenizer.h"
#include "../gpu/backend.h"
#include "commands.h"
#include "progress.h"

namespace seek::cli {

static const CommandSpec step_spec = {
    "step",
    "run a model on a prompt and walk through every traced tensor",
    "Runs a prompt through a model and prints each intermediate tensor under its trace name (the\n"
    "names the viewer, `seek compare` and the lessons use) with its shape, statistics and first\n"
    "values; the MoE gate's choices are shown per token. Each decoder block is pre-norm residual:\n"
    "  h   = x + MLA(RMSNorm(x))                       Multi-head Latent Attention\n"
    "  out = h + FFN(RMSNorm(h))                       FFN: a dense SwiGLU in the first\n"
    "                                                  first_k_dense_replace layers, DeepSeekMoE after\n\n"
    "Two sources of weights:\n"
    "  --model DIR   a checkpoint (config.json + model.safetensors in the HF layout, F32, BF16 or FP8,\n"
    "                e.g. data/toy/grpo or one `seek train` wrote): every layer, then final_norm and\n"
    "                logits, and the MTP module's mtp.* names when the model has one. The prompt is\n"
    "                tokenized with the folder's tokenizer.json (DeepSeek's BPE, BOS in front) when it\n"
    "                has one, else with the toy's characters (a leading <bos> unless it has one).\n"
    "  otherwise     weights generated from --seed and each tensor's HF name (the same numbers on any\n"
    "                machine) for --preset or --config, blocks 0 .. --layers - 1 only (the toy's layer\n"
    "                0 is dense and layer 1 MoE, so the default shows both; a full-scale V3 layer runs\n"
    "                with its experts generated on demand).\n\n"
    "The trace is the way to get any tensor out, the logits included:\n"
    "  seek step --model data/toy/grpo --prompt '12+34=' --filter logits --trace logits.safetensors\n\n"
    "--attn naive expands per-head K and V from the latent and caches them; --attn absorb folds W_UK\n"
    "into the query and caches only c_kv and k_pe. Save both with --trace and diff them:\n"
    "  seek step --attn naive --trace naive.safetensors\n"
    "  seek step --attn absorb --trace absorb.safetensors\n"
    "  seek compare naive.safetensors absorb.safetensors --tol auto\n"
    "--decode feeds the prompt one token at a time through the caches instead of all at once; its\n"
    "trace holds every block's outputs (and the logits) and the latent caches, comparable with a\n"
    "prefill trace.\n\n"
    "--device runs the ops through another kernel table (core/kernels.h): emu runs gpu/'s CUDA kernels\n"
    "in the thread-block emulator on this CPU, cuda on a GPU; ops without a gpu/ kernel stay on core.\n"
    "The trace names are the same, so the two traces compare tensor by tensor:\n"
    "  seek step --model data/toy/grpo --trace cpu.safetensors --quiet\n"
    "  seek step --model data/toy/grpo --device emu --trace emu.safetensors --quiet\n"
    "  seek compare cpu.safetensors emu.safetensors --tol auto",
    {
        {"model", "DIR", "run this checkpoint (all layers and the logits) instead of generated weights", ""},
        {"memory", "SIZE", "--model: budget for weights held at once, e.g. 16G; read layer by layer (default 16G)", ""},
        {"expert-seed", "N", "--model: generate routed experts the checkpoint lacks from seed N (shape tests)", ""},
        preset_option("toy"),
        config_option(),
        {"prompt", "TEXT", "prompt to run (the toy tokenizer: printable ASCII and its specials)", "12+34="},
        {"tokens", "IDS", "token ids instead of --prompt, e.g. 1,49,50", ""},
        {"layers", "N", "generated weights: run decoder blocks 0 .. N-1", "2"},
        {"seed", "N", "seed of the generated weights", "0"},
        {"attn", "IMPL", "attention form: naive or absorb", "absorb"},
        {"decode", "", "process the prompt token by token through the KV cache", ""},
        {"device", "NAME", "run the ops on cpu (core), emu (gpu/ kernels in the emulator) or cuda (a GPU)", "cpu"},
        {"trace", "FILE", "save the trace as safetensors", ""},
        {"filter", "GLOBS", "only trace names matching these comma-separated globs, e.g. 'layers.1.moe.*'", ""},
        {"values", "N", "how many leading values to print per tensor", "6"},
        {"pause", "", "wait for Enter after each tensor", ""},
        {"quiet", "", "print only the summary", ""},
    },
    "",
    0,
    0,
};

static bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

static void print_entry(const TraceEntry& entry, size_t position, size_t count, int64_t shown_values) {
    const TensorStats stats = tensor_stats(entry.values);
    std::printf("[%zu/%zu] %-28s %s\n", position, count, entry.name.c_str(), format_shape(entry.shape).c_str());
    const std::string about = describe_tensor(entry.name);
    if (!about.empty()) std::printf("        %s\n", about.c_str());
    std::printf("        min %+.4f  max %+.4f  mean %+.4f  std %.4f", stats.min, stats.max, stats.mean, stats.std);
    if (stats.non_finite) std::printf("  (%lld masked -inf)", static_cast<long long>(stats.non_finite));
    std::printf("\n        first:");
    for (int64_t i = 0; i < shown_values && i < static_cast<int64_t>(entry.values.size()); ++i)
        std::printf(" %+.4f", entry.values[i]);
    std::printf("\n");
    // Attention probabilities are easier to read as a grid: head 0, one row per query.
    const bool is_probs = ends_with(entry.name, ".probs");
    if (is_probs && entry.shape.size() == 3 && entry.shape[1] <= 16 && entry.shape[2] <= 16) {
        std::printf("        head 0 (rows: queries, columns: keys; 0 above the diagonal is the causal mask):\n");
        for (int64_t s = 0; s < entry.shape[1]; ++s) {
            std::printf("         ");
            for (int64_t t = 0; t < entry.shape[2]; ++t) std::printf(" %.2f", entry.values[s * entry.shape[2] + t]);
            std::printf("\n");
        }
    }
    // The gate's decisions, one row per token.
    const bool is_choice = ends_with(entry.name, ".topk_idx") || ends_with(entry.name, ".topk_weight") ||
                           ends_with(entry.name, ".group_mask");
    if (is_choice && entry.shape.size() == 2 && entry.shape[0] <= 16 && entry.shape[1] <= 16) {
        const bool indices = entry.dtype == DType::I32, mask = ends_with(entry.name, ".group_mask");
        std::printf("        per token (rows: tokens; %s):\n",
                    indices ? "the experts chosen, best first" : mask ? "1 = group kept" : "the weights of those experts");
        for (int64_t t = 0; t < entry.shape[0]; ++t) {
            std::printf("         ");
            for (int64_t k = 0; k < entry.shape[1]; ++k) {
                const float v = entry.values[t * entry.shape[1] + k];
                if (indices || mask) std::printf(" %3d", static_cast<int>(v));
                else std::printf(" %.3f", v);
            }
            std::printf("\n");
        }
    }
    std::printf("\n");
}

// --tokens 1,49,50: ids as given (no <bos> added).
static std::vector<int32_t> tokens_from_list(const std::string& list) {
    std::vector<int32_t> tokens;
    for (const std::string& item : comma_items(list)) {
        const int64_t id = parse_count(item, "--tokens");
        if (id < 0 || id > INT32_MAX) throw UsageError("--tokens: '" + item + "' is not a token id");
        tokens.push_back(static_cast<int32_t>(id));
    }
    return tokens;
}

int run_step(int argc, char** argv) {
    if (wants_help(step_spec, argc, argv)) return 0;
    const ParsedArgs args = parse_args(step_spec, argc, argv);
    const bool checkpoint = args.flag("model");
    if (checkpoint)
        for (const char* generated_only : {"preset", "config", "layers", "seed"})
            if (args.flag(generated_only))
                throw UsageError(std::string("--") + generated_only + " is for generated weights; --model runs its own");
    if (args.flag("tokens") && args.flag("prompt")) throw UsageError("give --prompt or --tokens, not both");

    TraceOptions options;
    options.attn = args.choice("attn", attn_impl_from_name);
    options.decode = args.flag("decode");
    const Device device = args.choice("device", device_from_name);
    options.kernels = &backend_kernels(device);
    options.filters = parse_trace_filter(args.has("filter") ? args.str("filter") : "");
    const int64_t shown_values = args.integer("values");

    ModelConfig config;
    ModelWeights weights;
    CheckpointTokenizer tokenizer;
    const std::string directory = checkpoint ? args.str("model") : "";
    for (const char* model_only : {"memory", "expert-seed"})
        if (args.flag(model_only) && !checkpoint) throw UsageError(std::string("--") + model_only + " is for --model");
    // Full scale: the weights in FP32 would exceed the budget, so the checkpoint is read in place.
    const int64_t memory = args.flag("memory") ? memory_from_args(args) : int64_t{16} << 30;
    bool streaming = false, full_scale = false;
    if (checkpoint) {
        config = load_config(directory + "/config.json");
        full_scale = model_fp32_bytes(config) > memory;
        streaming = full_scale || args.flag("memory") || args.flag("expert-seed");
        tokenizer = checkpoint_tokenizer(directory);
        if (!streaming) weights = load_model(directory, config);
    } else {
        config = config_from_args(args);
    }
    if (full_scale && !args.flag("filter")) options.filters = {"layers.*.moe.topk_idx", "layers.*.moe.topk_weight"};
    const int64_t layers = checkpoint ? config.num_hidden_layers : args.integer("layers");
    if (layers < 1 || layers > config.num_hidden_layers)
        throw UsageError("--layers must be between 1 and num_hidden_layers (" +
                         std::to_string(config.num_hidden_layers) + "), got " + args.str("layers"));
    const std::string prompt = args.str("prompt");
    const std::vector<int32_t> tokens = args.flag("tokens") ? tokens_from_list(args.str("tokens"))
                                        : checkpoint        ? encode_checkpoint_prompt(tokenizer, prompt, "--prompt")
                                                            : tokens_of_prompt(prompt, "--prompt");
    try {
        check_tokens(config, tokens);
    } catch (const std::runtime_error& error) {
        throw UsageError(std::string(args.flag("tokens") ? "--tokens: " : "--prompt: ") + error.what());
    }
    const int64_t T = static_cast<int64_t>(tokens.size());
    const uint64_t seed = static_cast<uint64_t>(args.integer("seed"));
    auto piece = [&](int32_t token) { return checkpoint ? tokenizer.piece(token) : token_text(token); };

    const auto start = std::chrono::steady_clock::now();
    Trace trace;
    StreamedModel streamed;
    if (streaming) {
        Trace wants;  // does the trace want what the head computes?
        wants.filters = options.filters;
        const bool head = trace_wants(&wants, "final_norm") || trace_wants(&wants, "logits");
        streamed = open_streamed_from_args(args, head, layers * (options.decode ? T : 1));
        const MemoryPlan& plan = streamed.plan;
        std::printf("reading %s in place (%s of weights in FP32) under --memory %s: dense layer %s, head %s, "
                    "expert LRU %s (%lld experts of %s)\n",
                    directory.c_str(), human_bytes(static_cast<double>(model_fp32_bytes(config))).c_str(),
                    human_bytes(static_cast<double>(memory)).c_str(), human_bytes(static_cast<double>(plan.dense_bytes)).c_str(),
                    head ? human_bytes(static_cast<double>(plan.head_bytes)).c_str() : "not read",
                    human_bytes(static_cast<double>(plan.expert_bytes)).c_str(), static_cast<long long>(plan.experts),
                    human_bytes(static_cast<double>(expert_bytes(config))).c_str());
        std::fflush(stdout);
        trace = trace_source(config, streamed.source, tokens, options);
    } else {
        trace = checkpoint ? trace_model(config, weights, tokens, options)
                           : trace_generated(config, seed, layers, tokens, options);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (checkpoint) {
        trace.metadata["model"] = directory;
        trace.metadata["precision"] = precision_name(stored_precision(open_checkpoint(directory)));
        trace.metadata["tokenizer"] = tokenizer.bpe ? "tokenizer.json" : "toy";
    }
    if (!args.flag("tokens")) trace.metadata["prompt"] = prompt;

    const char* mode = options.decode ? "decoded token by token" : "prefill";
    if (checkpoint)
        std::printf("seek step: the checkpoint in %s, all %lld layers (attention %s, %s)\n", args.str("model").c_str(),
                    static_cast<long long>(layers), attn_impl_name(options.attn), mode);
    else
        std::printf("seek step: %s preset, layers 0..%lld (attention %s, %s), seed %llu\n", config.name.c_str(),
                    static_cast<long long>(layers - 1), attn_impl_name(options.attn), mode,
                    static_cast<unsigned long long>(seed));
    if (device != Device::Cpu) {
        bool available = false;
        const std::vector<BackendOp> ops = backend_ops(device);
        std::printf("device: %s\n  ops on it:", device_description(device, &available).c_str());
        for (const BackendOp& op : ops)
            if (op.on_device) std::printf(" %s", op.op.c_str());
        std::printf("\n");
        for (const BackendOp& op : ops) {
            std::printf("    %-17s %s", op.op.c_str(), op.kernel.c_str());
            if (!op.on_core.empty()) std::printf("; on core: %s", op.on_core.c_str());
            std::printf("\n");
        }
    }
    for (int64_t layer = 0; layer < layers && layer < 8; ++layer)
        std::printf("  layer %lld: MLA, then %s\n", static_cast<long long>(layer),
                    config.is_moe_layer(layer) ? "DeepSeekMoE (shared expert + routed experts)" : "dense SwiGLU FFN");
    if (layers > 8) std::printf("  ... %lld layers in all\n", static_cast<long long>(layers));
    std::printf("tokens: %lld:", static_cast<long long>(T));
    for (int32_t token : tokens) std::printf(" '%s'=%d", piece(token).c_str(), token);
    std::printf("\n\n");
    if (!args.flag("quiet")) {
        for (size_t i = 0; i < trace.entries.size(); ++i) {
            print_entry(trace.entries[i], i + 1, trace.entries.size(), shown_values);
            if (args.flag("pause")) {
                std::printf("(Enter for the next tensor)");
                std::fflush(stdout);
                std::string line;
                if (!std::getline(std::cin, line)) break;
            }
        }
    }

    const KvCacheMethod absorbed = kv_cache_method(config, "MLA"), naive = kv_cache_method(config, "MLA naive");
    std::printf("KV cache after %lld tokens (one layer): this run holds %lld floats.\n", static_cast<long long>(T),
                std::stoll(trace.metadata.at("kv_cache_floats")));
    std::printf("  absorbed: %lld x (kv_lora_rank %lld + qk_rope %lld) = %lld floats\n", static_cast<long long>(T),
                static_cast<long long>(config.kv_lora_rank), static_cast<long long>(config.qk_rope_head_dim),
                static_cast<long long>(T * absorbed.elements_per_token_per_layer));
    std::printf("  naive:    %lld x %lld heads x (k %lld + v %lld) = %lld floats (%.1fx more)\n",
                static_cast<long long>(T), static_cast<long long>(config.num_attention_heads),
                static_cast<long long>(config.qk_head_dim()), static_cast<long long>(config.v_head_dim),
                static_cast<long long>(T * naive.elements_per_token_per_layer),
                static_cast<double>(naive.elements_per_token_per_layer) / absorbed.elements_per_token_per_layer);

    // Expert load of each MoE layer, from the gate's choices in the trace.
    for (int64_t layer = 0; layer < layers; ++layer) {
        const std::string name = "layers." + std::to_string(layer) + ".moe.topk_idx";
        const TraceEntry* chosen = trace_find(trace, name);
        if (!chosen) continue;
        const IndexMat topk_idx = Eigen::Map<const Mat>(chosen->values.data(), chosen->shape[0], chosen->shape[1]).cast<int32_t>();
        const ExpertLoad load = count_load(config, topk_idx, config.topk_group);
        std::printf("layers.%lld.moe: tokens per expert", static_cast<long long>(layer));
        for (int64_t count : load.per_expert) std::printf(" %lld", static_cast<long long>(count));
        std::printf("; MaxVio %.2f (max load / mean load - 1)\n", max_violation(load.per_expert));
    }
    // The model's next-token prediction, from the last row of the logits.
    if (const TraceEntry* logits = trace_find(trace, "logits")) {
        const int64_t vocab = logits->shape.back();
        const float* last = logits->values.data() + logits->values.size() - vocab;
        const std::vector<double> p = token_probabilities(last, vocab, SamplingOptions{});
        std::vector<int32_t> order(vocab);
        for (int32_t i = 0; i < vocab; ++i) order[i] = i;
        const size_t shown = std::min<size_t>(5, order.size());
        std::partial_sort(order.begin(), order.begin() + shown, order.end(),
                          [&](int32_t a, int32_t b) { return p[a] > p[b]; });
        std::printf("next token:");
        for (size_t i = 0; i < shown; ++i) std::printf(" '%s' %.1f%%", piece(order[i]).c_str(), 100 * p[order[i]]);
        std::printf("\n");
    }

    if (streaming) {
        const StreamStats& stats = *streamed.stats;
        rusage usage{};
        getrusage(RUSAGE_SELF, &usage);
        std::printf("read in place: %lld layers, %s read (%s per token), %lld experts loaded (%lld generated), "
                    "%.2f s reading\n",
                    static_cast<long long>(stats.layers_read), human_bytes(static_cast<double>(stats.bytes_read)).c_str(),
                    human_bytes(static_cast<double>(stats.bytes_read) / T).c_str(),
                    static_cast<long long>(streamed.experts ? streamed.experts->materializations : 0),
                    static_cast<long long>(stats.experts_generated), stats.read_seconds);
        std::printf("time: %.2f s for %lld tokens (%.2f s per token); peak RSS %s (budget for weights %s)\n", seconds,
                    static_cast<long long>(T), seconds / T, human_bytes(usage.ru_maxrss * 1024.0).c_str(),
                    human_bytes(static_cast<double>(memory)).c_str());
    }
    if (args.flag("trace")) {
        save_trace(trace, args.str("trace"));
        std::printf("trace: %zu tensors written to %s\n", trace.entries.size(), args.str("trace").c_str());
    }
    return 0;
}

}  // namespace seek::cli
