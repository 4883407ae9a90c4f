// seek route: the DeepSeekMoE gate on a prompt (which experts each token picks, the load it puts on
// each expert), and the balancing simulator at full V3 scale.
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "../core/forward.h"  // generated_embedding
#include "../core/moe.h"
#include "../core/norm.h"
#include "../core/embedding.h"
#include "../core/route_sim.h"
#include "../core/stream.h"
#include "../core/tokenizer.h"
#include "commands.h"
#include "progress.h"

namespace seek::cli {

static std::string text_of(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return text;
}

// The simulator's defaults live in SimulationOptions; --help shows them from there.
static const SimulationOptions sim_defaults;

static const CommandSpec route_spec = {
    "route",
    "DeepSeekMoE routing: the gate on a prompt, expert load, and the balancing simulator",
    "The gate (paper eqs. 12-16, DeepSeek's inference code): s = sigmoid(x W_gate^T) (V3) or softmax (V2);\n"
    "experts are ranked by s + b, b = e_score_correction_bias, which steers selection only. The experts\n"
    "form n_group groups (V3: 8 groups of 32, one per node); a group scores the sum of its top-2 biased\n"
    "scores (max without a bias) and only the topk_group best stay eligible (node-limited routing).\n"
    "The top num_experts_per_tok eligible experts get weights from the UNBIASED scores, divided by their\n"
    "sum when norm_topk_prob, times routed_scaling_factor (V3: 2.5). Ties go to the lower index.\n"
    "MaxVio = max load / mean load - 1: 0 when every expert gets its share.\n\n"
    "--model DIR: a checkpoint's own routing. The prompt (tokenized with the folder's tokenizer.json when\n"
    "it has one) runs through every layer, read in place under --memory as in `seek step --model`, and\n"
    "each token's experts in every MoE layer are printed (--json: {tokens, pieces, layers: [{layer,\n"
    "topk_idx, topk_weight}]}).\n"
    "  seek route --model /path/to/DeepSeek-V3 --prompt 'The capital of France is' --memory 16G\n\n"
    "Without --simulate: routes the prompt through one MoE layer's gate (generated from --seed; the\n"
    "input is RMSNorm of the token embeddings, no attention before it) and prints each token's experts\n"
    "and weights, the load per expert and per group, and MaxVio.\n\n"
    "--simulate: the gate at the config's scale on synthetic tokens, run four ways from the same seed:\n"
    "  none      no balancing\n"
    "  aux_loss  the sequence-wise balance loss L_Bal = alpha sum_i f_i P_i (eqs. 17-20) takes a gradient\n"
    "            step, c_i <- c_i - aux_lr dL_Bal/dc_i, on a learned per-expert logit offset c_i (it\n"
    "            stands for the gate weights; the step is aux_lr x alpha = 1 x dsum(f P)/dc by default)\n"
    "  bias      auxiliary-loss-free: b_i <- b_i + gamma sign(mean load - load_i) after every step\n"
    "  bias+aux  both together, as DeepSeek-V3 trains (gamma 0.001 and alpha 0.0001)\n"
    "Affinity model: logits[t, i] = token_std (u_t . e_i) / sqrt(16) + p_i (+ c_i), with token features\n"
    "u_t ~ N(0, I_16) fresh every step, fixed expert embeddings e_i ~ N(0, I_16), and a systematic\n"
    "preference per expert p_i ~ N(0, preference_std^2) that drifts after every step as\n"
    "p_i <- rho p_i + sqrt(1 - rho^2) N(0, preference_std^2), rho = exp(-1/drift_steps): the spread stays,\n"
    "the favourite experts change over about drift_steps steps. Each step's --tokens tokens count as\n"
    "one sequence for L_Bal. Prints each method's batch MaxVio every\n"
    "--every steps, then start / end / accumulated values; --out FILE writes one JSON line per step.\n"
    "  seek route --preset v3 --simulate --steps 2000       (V3 scale: minutes on 2 cores)",
    {
        preset_option("toy"),
        config_option(),
        {"model", "DIR", "route the prompt through this checkpoint's every MoE layer", ""},
        {"memory", "SIZE", "--model: budget for weights held at once, e.g. 16G (default 16G)", ""},
        {"expert-seed", "N", "--model: generate routed experts the checkpoint lacks from seed N", ""},
        {"prompt", "TEXT", "prompt to route (without --simulate)", "12+34="},
        {"layer", "N", "MoE layer whose gate routes the prompt (default: the first MoE layer)", ""},
        {"seed", "N", "seed of the generated weights, or of the simulator", "0"},
        {"node-limit", "M", "count tokens whose experts span more than M groups (default: topk_group)", ""},
        {"json", "", "print the result as JSON", ""},
        {"simulate", "", "run the balancing simulator instead", ""},
        {"steps", "N", "simulator: training steps", std::to_string(sim_defaults.steps)},
        {"tokens", "N", "simulator: tokens routed per step", std::to_string(sim_defaults.tokens)},
        {"every", "K", "simulator: print MaxVio every K steps", "200"},
        {"gamma", "X", "simulator: bias update speed", text_of(sim_defaults.gamma)},
        {"alpha", "X", "simulator: balance-loss factor (default: the config's aux_loss_alpha, V3 0.0001)", ""},
        {"aux-lr", "X", "simulator: gradient step size of the aux_loss run", text_of(sim_defaults.aux_lr)},
        {"token-std", "X", "simulator: spread of the token-dependent part of the logits", text_of(sim_defaults.token_std)},
        {"preference-std", "X", "simulator: spread of the experts' preferences (logits)",
         text_of(sim_defaults.preference_std)},
        {"drift-steps", "N", "simulator: steps over which the preferences decorrelate", text_of(sim_defaults.drift_steps)},
        {"out", "FILE", "simulator: write one JSON line per step to FILE", ""},
    },
    "",
    0,
    0,
};

static int64_t node_limit_from_args(const ParsedArgs& args, const ModelConfig& config) {
    if (!args.flag("node-limit")) return config.topk_group;
    const int64_t limit = args.integer("node-limit");
    if (limit < 1) throw UsageError("--node-limit must be >= 1, got " + args.str("node-limit"));
    return limit;
}

static std::string gate_summary(const ModelConfig& c) {
    char text[256];
    std::snprintf(text, sizeof text, "%lld routed experts in %lld groups of %lld, top-%lld groups, top-%lld experts, %s%s",
                  static_cast<long long>(c.n_routed_experts), static_cast<long long>(c.n_group),
                  static_cast<long long>(c.n_routed_experts / c.n_group), static_cast<long long>(c.topk_group),
                  static_cast<long long>(c.num_experts_per_tok), c.scoring_func.c_str(),
                  gate_has_bias(c) ? " + bias" : "");
    return text;
}

// ---------------------------------------------------------------------------------------------
// The gate on a prompt

static int route_prompt(const ParsedArgs& args, const ModelConfig& config) {
    const uint64_t seed = static_cast<uint64_t>(args.integer("seed"));
    const int64_t layer = args.flag("layer") ? args.integer("layer") : first_moe_layer(config);
    if (layer < 0 || layer >= config.num_hidden_layers || !config.is_moe_layer(layer))
        throw UsageError("--layer " + std::to_string(layer) + " is not an MoE layer of " + config.name +
                         " (the first " + std::to_string(config.first_k_dense_replace) + " layers are dense)");
    const std::vector<int32_t> tokens = prompt_from_args(args, config);
    const int64_t node_limit = node_limit_from_args(args, config);

    const Mat x = rms_norm(generated_embedding(config, tokens, seed), Vec::Ones(config.hidden_size),
                           static_cast<float>(config.rms_norm_eps));
    const Routing routing = gate_forward(config, generated_gate_weights(config, layer, seed), x, {});
    const ExpertLoad load = count_load(config, routing.topk_idx, node_limit);
    const int64_t T = x.rows(), K = config.num_experts_per_tok, group_size = config.n_routed_experts / config.n_group;

    if (args.flag("json")) {
        nlohmann::json out = {{"preset", config.name}, {"layer", layer}, {"seed", seed},
                              {"tokens", tokens}, {"load_per_expert", load.per_expert},
                              {"load_per_group", load.per_group}, {"max_vio", max_violation(load.per_expert)},
                              {"node_limit", node_limit}, {"tokens_beyond_node_limit", load.tokens_beyond_limit}};
        for (int64_t t = 0; t < T; ++t) {
            nlohmann::json experts = nlohmann::json::array(), weights = nlohmann::json::array();
            for (int64_t k = 0; k < K; ++k) {
                experts.push_back(routing.topk_idx(t, k));
                weights.push_back(routing.topk_weight(t, k));
            }
            out["topk_idx"].push_back(experts);
            out["topk_weight"].push_back(weights);
        }
        std::printf("%s\n", out.dump(2).c_str());
        return 0;
    }

    std::printf("seek route: %s, layer %lld gate, seed %llu\n%s\n", config.name.c_str(), static_cast<long long>(layer),
                static_cast<unsigned long long>(seed), gate_summary(config).c_str());
    std::printf("weights: unbiased scores%s x %g; bias: %s\n\n", config.norm_topk_prob ? " / their sum" : "",
                config.routed_scaling_factor, gate_has_bias(config) ? "zero (a fresh model)" : "none");
    std::printf("%-10s %-12s %s\n", "token", "groups kept", "experts, best first: e<expert>/g<group> weight");
    for (int64_t t = 0; t < T; ++t) {
        std::string groups;
        for (int64_t g = 0; g < config.n_group; ++g)
            if (routing.group_mask(t, g) != 0) groups += std::to_string(g) + " ";
        std::printf("%-10s %-12s", ("'" + token_text(tokens[t]) + "'").c_str(), groups.c_str());
        float sum = 0;
        for (int64_t k = 0; k < K; ++k) {
            const int32_t e = routing.topk_idx(t, k);
            std::printf(" e%d/g%lld %.3f", e, static_cast<long long>(e / group_size), routing.topk_weight(t, k));
            sum += routing.topk_weight(t, k);
        }
        std::printf("   (sum %.3f)\n", sum);
    }

    std::printf("\nload per expert (tokens routed to it; mean %.2f):\n", double(T * K) / config.n_routed_experts);
    for (int64_t e = 0; e < config.n_routed_experts; ++e)
        std::printf("%s e%-3lld %3lld", e % 8 == 0 ? (e == 0 ? " " : "\n ") : "", static_cast<long long>(e),
                    static_cast<long long>(load.per_expert[e]));
    std::printf("\nload per group: ");
    for (int64_t g = 0; g < config.n_group; ++g)
        std::printf(" g%lld %lld", static_cast<long long>(g), static_cast<long long>(load.per_group[g]));
    std::printf("\nMaxVio = max load / mean load - 1 = %.3f\n", max_violation(load.per_expert));
    std::printf("tokens whose experts span more than M = %lld groups: %lld of %lld\n", static_cast<long long>(node_limit),
                static_cast<long long>(load.tokens_beyond_limit), static_cast<long long>(T));
    return 0;
}

// ---------------------------------------------------------------------------------------------
// The simulator

static SimulationOptions simulation_options(const ParsedArgs& args, const ModelConfig& config) {
    SimulationOptions o;
    o.steps = args.integer("steps");
    o.tokens = args.integer("tokens");
    o.gamma = args.number("gamma");
    o.alpha = args.flag("alpha") ? args.number("alpha") : config.aux_loss_alpha;
    o.aux_lr = args.number("aux-lr");
    o.token_std = args.number("token-std");
    o.preference_std = args.number("preference-std");
    o.drift_steps = args.number("drift-steps");
    o.node_limit = node_limit_from_args(args, config);
    o.seed = static_cast<uint64_t>(args.integer("seed"));
    if (o.steps < 1) throw UsageError("--steps must be >= 1, got " + args.str("steps"));
    if (o.tokens < 1) throw UsageError("--tokens must be >= 1, got " + args.str("tokens"));
    if (args.integer("every") < 1) throw UsageError("--every must be >= 1, got " + args.str("every"));
    for (const char* name : {"gamma", "alpha", "aux-lr", "token-std", "preference-std"})
        if (args.flag(name) && args.number(name) < 0) throw UsageError(std::string("--") + name + " must be >= 0");
    if (o.drift_steps <= 0) throw UsageError("--drift-steps must be > 0, got " + args.str("drift-steps"));
    return o;
}

static nlohmann::json step_json(const SimulationStep& step) {
    nlohmann::json line = {{"step", step.step}};
    for (size_t m = 0; m < kBalancingMethods.size(); ++m) {
        const MethodStats& s = step.methods[m];
        line[balancing_name(kBalancingMethods[m])] = {{"max_vio", s.max_vio},
                                                      {"max_vio_accumulated", s.max_vio_accumulated},
                                                      {"balance_loss", s.balance_loss},
                                                      {"beyond_node_limit", s.beyond_limit}};
    }
    return line;
}

static int route_simulate(const ParsedArgs& args, const ModelConfig& config) {
    const SimulationOptions o = simulation_options(args, config);
    const int64_t every = args.integer("every");
    const bool json = args.flag("json");
    std::ofstream log;
    if (args.flag("out")) {
        log.open(args.str("out"));
        if (!log) throw std::runtime_error(args.str("out") + ": cannot open for writing");
    }

    if (!json) {
        std::printf("routing simulator: %s, %s\n", config.name.c_str(), gate_summary(config).c_str());
        std::printf("%lld steps of %lld tokens, seed %llu; gamma %g, alpha %g, aux_lr %g; preferences: std %g, "
                    "drifting over %g steps\n\n",
                    static_cast<long long>(o.steps), static_cast<long long>(o.tokens),
                    static_cast<unsigned long long>(o.seed), o.gamma, o.alpha, o.aux_lr, o.preference_std,
                    o.drift_steps);
        std::printf("MaxVio of each step's batch (max load / mean load - 1):\n%8s", "step");
        for (Balancing method : kBalancingMethods) std::printf(" %10s", balancing_name(method));
        std::printf("\n");
    }
    keep_freed_memory();  // every step allocates and frees about ten tokens x experts matrices
    Progress progress = start_progress("simulating", "steps", o.steps);
    const std::vector<SimulationStep> history = simulate_routing(config, o, [&](const SimulationStep& step) {
        if (log.is_open()) log << step_json(step).dump() << "\n";
        if (!json && (step.step == 1 || step.step % every == 0 || step.step == o.steps)) {
            if (progress.enabled) std::fprintf(stderr, "\r\033[K");
            std::printf("%8lld", static_cast<long long>(step.step));
            for (const MethodStats& stats : step.methods) std::printf(" %10.3f", stats.max_vio);
            std::printf("\n");
            std::fflush(stdout);
        }
        show_progress(progress, step.step);
    });
    if (log.is_open() && !log.flush()) throw std::runtime_error(args.str("out") + ": write failed");

    // End = mean batch MaxVio over the last `window` steps: one batch alone is noisy.
    const int64_t window = std::min<int64_t>(every, o.steps);
    nlohmann::json summary = {{"preset", config.name}, {"steps", o.steps}, {"tokens_per_step", o.tokens},
                              {"seed", o.seed}, {"gamma", o.gamma}, {"alpha", o.alpha}, {"aux_lr", o.aux_lr},
                              {"end_window_steps", window}};
    for (size_t m = 0; m < kBalancingMethods.size(); ++m) {
        double end = 0;
        for (int64_t i = o.steps - window; i < o.steps; ++i) end += history[i].methods[m].max_vio / window;
        const MethodStats& last = history.back().methods[m];
        summary["methods"][balancing_name(kBalancingMethods[m])] = {
            {"start_max_vio", history.front().methods[m].max_vio},
            {"end_max_vio", end},
            {"accumulated_max_vio", last.max_vio_accumulated},
            {"end_balance_loss", last.balance_loss},
            {"end_beyond_node_limit", last.beyond_limit}};
    }
    const double none_end = summary["methods"]["none"]["end_max_vio"].get<double>();
    const double bias_end = summary["methods"]["bias"]["end_max_vio"].get<double>();
    summary["none_over_bias_end"] = bias_end > 0 ? none_end / bias_end : 0.0;
    if (json) {
        std::printf("%s\n", summary.dump(2).c_str());
        return 0;
    }

    std::printf("\n%-10s %12s %14s %16s %18s\n", "method", "start MaxVio", "end MaxVio", "accumulated", "L_Bal / alpha");
    for (Balancing method : kBalancingMethods) {
        const nlohmann::json& s = summary["methods"][balancing_name(method)];
        std::printf("%-10s %12.3f %14.3f %16.3f %18.4f\n", balancing_name(method), s["start_max_vio"].get<double>(),
                    s["end_max_vio"].get<double>(), s["accumulated_max_vio"].get<double>(),
                    o.alpha > 0 ? s["end_balance_loss"].get<double>() / o.alpha : 0.0);
    }
    std::printf("(end: mean over the last %lld steps; accumulated: the load of all steps together; "
                "L_Bal / alpha is 1 when balanced)\n",
                static_cast<long long>(window));
    std::printf("the bias ends with %.1fx lower MaxVio than no balancing\n", summary["none_over_bias_end"].get<double>());
    if (log.is_open()) std::printf("per-step JSON lines: %s\n", args.str("out").c_str());
    return 0;
}

// ---------------------------------------------------------------------------------------------
// A checkpoint's routing: every MoE layer, every token

static int route_model(const ParsedArgs& args) {
    for (const char* generated_only : {"preset", "config", "layer", "seed", "simulate"})
        if (args.flag(generated_only)) throw UsageError(std::string("--") + generated_only + " is not for --model");
    const std::string directory = args.str("model");
    const CheckpointTokenizer tokenizer = checkpoint_tokenizer(directory);
    const ModelConfig config = load_config(directory + "/config.json");
    const StreamedModel model = open_streamed_from_args(args, false, config.num_hidden_layers);
    if (config.n_routed_experts == 0) throw UsageError(directory + " has no routed experts");
    const std::vector<int32_t> tokens = encode_checkpoint_prompt(tokenizer, args.str("prompt"), "--prompt");
    try {
        check_tokens(config, tokens);
    } catch (const std::runtime_error& error) {
        throw UsageError(std::string("--prompt: ") + error.what());
    }
    TraceOptions options;
    options.filters = {"layers.*.moe.topk_idx", "layers.*.moe.topk_weight"};
    const Trace trace = trace_source(config, model.source, tokens, options);
    const int64_t T = static_cast<int64_t>(tokens.size()), K = config.num_experts_per_tok;

    nlohmann::json out = {{"model", directory}, {"tokens", tokens}, {"pieces", nlohmann::json::array()}};
    for (int32_t token : tokens) out["pieces"].push_back(tokenizer.piece(token));
    std::vector<int64_t> moe_layers;
    for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer) {
        const std::string prefix = "layers." + std::to_string(layer) + ".moe.";
        const TraceEntry* idx = trace_find(trace, prefix + "topk_idx");
        const TraceEntry* weight = trace_find(trace, prefix + "topk_weight");
        if (!idx || !weight) continue;
        moe_layers.push_back(layer);
        nlohmann::json entry = {{"layer", layer}};
        for (int64_t t = 0; t < T; ++t) {
            std::vector<int> experts;
            std::vector<float> weights;
            for (int64_t k = 0; k < K; ++k) {
                experts.push_back(static_cast<int>(idx->values[t * K + k]));
                weights.push_back(weight->values[t * K + k]);
            }
            entry["topk_idx"].push_back(experts);
            entry["topk_weight"].push_back(weights);
        }
        out["layers"].push_back(entry);
    }
    if (args.flag("json")) {
        std::printf("%s\n", out.dump().c_str());
        return 0;
    }
    std::printf("seek route: %s, %lld tokens, %zu MoE layers\n%s\n", directory.c_str(), static_cast<long long>(T),
                moe_layers.size(), gate_summary(config).c_str());
    for (int64_t t = 0; t < T; ++t) {
        std::printf("\ntoken %lld '%s' (id %d): experts, best first, per MoE layer\n", static_cast<long long>(t),
                    tokenizer.piece(tokens[t]).c_str(), tokens[t]);
        for (size_t i = 0; i < moe_layers.size(); ++i) {
            std::printf("  layer %3lld:", static_cast<long long>(moe_layers[i]));
            for (int64_t k = 0; k < K; ++k)
                std::printf(" %3d (%.3f)", out["layers"][i]["topk_idx"][t][k].get<int>(),
                            out["layers"][i]["topk_weight"][t][k].get<float>());
            std::printf("\n");
        }
    }
    return 0;
}

int run_route(int argc, char** argv) {
    if (wants_help(route_spec, argc, argv)) return 0;
    const ParsedArgs args = parse_args(route_spec, argc, argv);
    if (args.flag("model")) return route_model(args);
    const ModelConfig config = config_from_args(args);
    if (config.n_routed_experts == 0) throw UsageError(config.name + " has no routed experts");
    return args.flag("simulate") ? route_simulate(args, config) : route_prompt(args, config);
}

}  // namespace seek::cli
