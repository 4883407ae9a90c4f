#include "app.h"

#include <imgui.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/analytics.h"
#include "core/embedding.h"
#include "core/forward.h"
#include "core/generate.h"
#include "core/sample.h"
#include "core/tokenizer.h"
#include "draw.h"
#include "layout.h"

namespace seek::viewer {

const std::vector<Panel>& panels() {
    static const std::vector<Panel> table = {
        {"forward", "Forward pass", "Forward", draw_forward_panel},
        {"mla", "MLA: the latent KV cache", "MLA", draw_mla_panel},
        {"moe", "MoE: routing and load balance", "MoE", draw_moe_panel},
        {"fp8", "FP8: scaling and accumulation", "FP8", draw_fp8_panel},
        {"compare", "Compare traces", "Compare", draw_compare_panel},
        {"grpo", "GRPO and training logs", "GRPO", draw_grpo_panel},
        {"heatmap-test", "Heatmap test", "Heatmap test", draw_heatmap_test_panel, true},
    };
    return table;
}

const Panel* find_panel(const std::string& name) {
    for (const Panel& panel : panels())
        if (name == panel.name) return &panel;
    return nullptr;
}

void report_error(App& app, const std::string& message) {
    std::fprintf(stderr, "seekscope: %s\n", message.c_str());
    app.errors.push_back(message);
}

// A trace is current: keep the selected tensor when the new trace has it, else show the first.
static void set_trace(App& app, Trace trace, const ModelConfig& config, std::vector<int32_t> tokens,
                      std::string source) {
    app.trace = std::move(trace);
    app.trace_config = config;
    app.tokens = std::move(tokens);
    app.trace_source = std::move(source);
    if (!trace_find(app.trace, app.selected))
        app.selected = app.trace.entries.empty() ? "" : app.trace.entries.front().name;
    ++app.trace_version;
}

const std::vector<std::string>& full_scale_filter() {
    // The token paths (every MoE layer's choices) and layer 0's latent cache for the MLA panel: a few
    // KB per token, where the whole trace would be hundreds of GB.
    static const std::vector<std::string> filter = {"layers.*.moe.topk_idx", "layers.*.moe.topk_weight",
                                                    "layers.0.attn.c_kv", "layers.0.attn.k_pe"};
    return filter;
}

bool load_checkpoint(App& app, const std::string& directory, bool streamed) {
    try {
        namespace fs = std::filesystem;
        if (!fs::exists(directory)) throw std::runtime_error(directory + ": no such directory");
        if (!fs::is_directory(directory))
            throw std::runtime_error(directory + ": not a directory (expected one with config.json and model.safetensors)");
        ModelConfig config = load_config(directory + "/config.json");
        CheckpointTokenizer tokenizer = checkpoint_tokenizer(directory);
        // Held in FP32 in memory up to kMaxLoadedParameters; beyond, or sharded as DeepSeek ships
        // its checkpoints, read in place layer by layer like `seek step --model`.
        const int64_t parameters = count_parameters(config).total;
        streamed = streamed || parameters > kMaxLoadedParameters ||
                   fs::exists(fs::path(directory) / "model.safetensors.index.json");
        std::shared_ptr<const ModelWeights> weights;
        std::shared_ptr<const StreamedModel> source;
        if (streamed) {
            StreamOptions options = app.stream_options;
            options.memory_bytes = app.memory_bytes;
            options.head = false;  // the trace wants no logits: V3's lm_head alone is 3.7 GB in FP32
            source = std::make_shared<const StreamedModel>(open_streamed(directory, options));
        } else {
            weights = std::make_shared<const ModelWeights>(load_model(directory, config));
        }
        app.model = config;
        app.weights = std::move(weights);
        app.streamed = std::move(source);
        app.tokenizer = std::move(tokenizer);
        set_token_pieces(app.tokenizer);
        app.model_dir = directory;
        app.model_label = directory;
        return true;
    } catch (const std::exception& error) {
        report_error(app, "could not load the model from " + directory + ": " + error.what());
        return false;
    }
}

std::string bundled_checkpoint() {
    namespace fs = std::filesystem;
    std::vector<std::string> candidates = {"data/toy/grpo"};
#ifdef SEEK_SOURCE_DIR
    candidates.push_back(std::string(SEEK_SOURCE_DIR) + "/data/toy/grpo");
#endif
    for (const std::string& directory : candidates) {
        std::error_code error;
        if (fs::is_regular_file(directory + "/config.json", error) &&
            fs::is_regular_file(directory + "/model.safetensors", error))
            return directory;
    }
    return "";
}

Trace run_model(const App& app, const std::vector<int32_t>& tokens, AttnImpl attn,
                const std::vector<std::string>& filters) {
    TraceOptions options;
    options.attn = attn;
    options.filters = filters;
    if (app.streamed) {
        if (filters.empty()) options.filters = full_scale_filter();
        Trace trace = trace_source(app.model, app.streamed->source, tokens, options);
        trace.metadata["model"] = app.model_dir;
        return trace;
    }
    if (!app.weights) return trace_generated(app.model, app.seed, kGeneratedLayers, tokens, options);
    Trace trace = trace_model(app.model, *app.weights, tokens, options);
    trace.metadata["model"] = app.model_dir;
    return trace;
}

// The five likeliest next tokens: softmax of the last row of `logits`.
static std::vector<NextToken> likeliest_next_tokens(const Trace& trace) {
    const TraceEntry* logits = trace_find(trace, "logits");
    if (!logits || logits->shape.size() != 2 || logits->shape[0] < 1) return {};
    const int64_t vocab = logits->shape[1];
    const std::vector<double> p =
        token_probabilities(logits->values.data() + (logits->shape[0] - 1) * vocab, vocab, SamplingOptions{});
    std::vector<NextToken> next;
    for (int64_t token = 0; token < vocab; ++token) next.push_back({static_cast<int32_t>(token), p[token]});
    const size_t shown = std::min<size_t>(5, next.size());
    std::partial_sort(next.begin(), next.begin() + static_cast<std::ptrdiff_t>(shown), next.end(),
                      [](const NextToken& a, const NextToken& b) { return a.probability > b.probability; });
    next.resize(shown);
    return next;
}

void run_prompt(App& app, const std::string& prompt) {
    try {
        const bool checkpoint = app.weights || app.streamed;
        // A checkpoint's prompt starts with BOS: tokenizer_config.json's, or the toy's <bos>.
        std::vector<int32_t> tokens = checkpoint ? app.tokenizer.encode_prompt(prompt, "") : encode_text(prompt);
        const std::string text = checkpoint && !app.tokenizer.bpe && prompt.rfind("<bos>", 0) != 0 ? "<bos>" + prompt : prompt;
        check_tokens(app.model, tokens);
        Trace trace;
        try {
            trace = run_model(app, tokens, app.attn);
        } catch (const std::exception& error) {
            if (!app.streamed) throw;
            // Read in place, a shard or tensor can still fail mid-run (truncated, unreadable):
            // the checkpoint's fault, not the prompt's.
            report_error(app, "could not run the checkpoint in " + app.model_dir + ": " + error.what());
            return;
        }
        trace.metadata["prompt"] = text;
        std::vector<NextToken> next;
        std::string completion;
        std::vector<int32_t> completion_tokens;
        if (app.weights) {
            next = likeliest_next_tokens(trace);
            try {
                GenerateOptions options;
                options.sampling.temperature = 0;  // greedy
                options.max_new_tokens = 120;
                Rng rng(0);
                const Generation generation = generate(app.model, *app.weights, tokens, options, rng);
                completion = decode_tokens(generation.tokens) + (generation.finished ? "" : " [cut off]");
                completion_tokens = generation.tokens;
            } catch (const std::exception& error) {
                completion = std::string("(no completion: ") + error.what() + ")";
            }
        }
        app.prompt = text;
        app.prompt_error.clear();
        const std::string attention = app.attn == AttnImpl::Absorb ? "absorbed" : "naive";
        const std::string layers = "all " + std::to_string(app.model.num_hidden_layers) + " layers";
        std::string source;
        if (app.streamed)
            source = "live run of the checkpoint in " + app.model_label + ", read in place under " +
                     human_bytes(static_cast<double>(app.memory_bytes)) + " (" + layers + ", " + attention +
                     " attention; traced: each MoE layer's topk_idx and topk_weight, layer 0's c_kv and k_pe" +
                     (app.stream_options.generate_missing_experts
                          ? "; routed experts it lacks generated from seed " +
                                std::to_string(app.stream_options.expert_seed)
                          : std::string()) +
                     ")";
        else if (app.weights)
            source = "live run of the checkpoint in " + app.model_label + " (" + layers + ", " + attention + " attention)";
        else
            source = "live run of the " + app.model.name + " model (generated weights, seed " + std::to_string(app.seed) +
                     ", first " + std::to_string(kGeneratedLayers) + " layers, " + attention + " attention)";
        set_trace(app, std::move(trace), app.model, std::move(tokens), source);
        app.next_tokens = std::move(next);
        app.greedy_completion = std::move(completion);
        app.completion_tokens = std::move(completion_tokens);
    } catch (const std::exception& error) {
        app.prompt_error = error.what();
    }
}

std::vector<int32_t> trace_tokens(const Trace& trace) {
    std::vector<int32_t> tokens;
    auto it = trace.metadata.find("tokens");
    if (it == trace.metadata.end()) return tokens;
    std::stringstream list(it->second);
    std::string item;
    try {
        while (std::getline(list, item, ',')) tokens.push_back(std::stoi(item));
    } catch (const std::exception&) {
        tokens.clear();
    }
    return tokens;
}

void open_trace(App& app, const std::string& path) {
    try {
        Trace trace = load_trace(path);
        std::vector<int32_t> tokens = trace_tokens(trace);
        auto prompt = trace.metadata.find("prompt");
        app.prompt = prompt != trace.metadata.end() ? prompt->second : decode_tokens(tokens);
        auto config = trace.metadata.find("config");
        const ModelConfig trace_config =
            config != trace.metadata.end() ? config_from_json(nlohmann::json::parse(config->second), path) : app.model;
        set_trace(app, std::move(trace), trace_config, std::move(tokens), "trace file " + path);
        app.next_tokens.clear();
        app.greedy_completion.clear();
        app.completion_tokens.clear();
    } catch (const std::exception& error) {
        report_error(app, std::string("could not open the trace: ") + error.what());
    }
}

void open_comparison(App& app, const std::string& path_a, const std::string& path_b) {
    app.compare_paths[0] = path_a;
    app.compare_paths[1] = path_b;
    app.comparison_loaded = false;
    ++app.comparison_version;
    try {
        app.compared[0] = load_trace(path_a);
        app.compared[1] = load_trace(path_b);
        app.diffs = compare_traces(app.compared[0], app.compared[1]);
        app.comparison_loaded = true;
    } catch (const std::exception& error) {
        report_error(app, std::string("could not compare the traces: ") + error.what());
    }
}

void open_log(App& app, const std::string& path) {
    RunLog log;
    try {
        log = load_run_log(path);
    } catch (const std::exception& error) {
        report_error(app, std::string("could not read the log: ") + error.what());
        return;
    }
    // stderr lists the first malformed lines (a binary file would give thousands); the window the
    // first few, or for a file with no usable line at all, one message.
    const size_t listed = 20, shown = log.empty() ? 0 : 3;
    for (size_t i = 0; i < log.problems.size() && i < listed; ++i) {
        if (i < shown)
            report_error(app, "skipped a malformed log line: " + log.problems[i]);
        else
            std::fprintf(stderr, "seekscope: skipped a malformed log line: %s\n", log.problems[i].c_str());
    }
    if (log.problems.size() > listed)
        std::fprintf(stderr, "seekscope: ... and %zu more malformed lines in %s\n", log.problems.size() - listed,
                     path.c_str());
    if (log.empty()) {
        std::string message = "could not read the log: " + path + ": none of its " + std::to_string(log.lines) +
                              " lines is a grpo.jsonl or train.jsonl line";
        if (!log.problems.empty()) message += " (line " + log.problems.front().substr(path.size() + 1) + ")";
        report_error(app, message);
        return;
    }
    if (log.problems.size() > shown)
        app.errors.push_back("... and " + std::to_string(log.problems.size() - shown) + " more malformed lines in " +
                             path + " (listed on stderr)");
    if (!app.logs.empty() && log.kind != app.logs.front().kind) {
        auto kind = [](const RunLog& l) { return l.kind == LogKind::Grpo ? "a GRPO log" : "a training log"; };
        report_error(app, "could not overlay the log " + path + ": it is " + kind(log) + ", and " +
                              app.logs.front().path + " is " + kind(app.logs.front()) +
                              " (overlaid logs must be of one kind)");
        return;
    }
    app.logs.push_back(std::move(log));
}

// Errors stay at the top of the window, on a red band, until dismissed.
static void draw_errors(App& app) {
    const ImGuiStyle& style = ImGui::GetStyle();
    for (size_t i = 0; i < app.errors.size(); ++i) {
        const float button_width = ImGui::CalcTextSize("Dismiss").x + 2 * style.FramePadding.x;
        const float text_width = ImGui::GetContentRegionAvail().x - button_width - 3 * style.ItemSpacing.x;
        const float text_height = ImGui::CalcTextSize(app.errors[i].c_str(), nullptr, false, text_width).y;
        ImGui::PushID(static_cast<int>(i));
        ImGui::PushStyleColor(ImGuiCol_ChildBg, IM_COL32(140, 30, 30, 255));
        ImGui::BeginChild("error",
                          ImVec2(0, std::max(text_height, ImGui::GetFrameHeight()) + 2 * style.WindowPadding.y), false,
                          ImGuiWindowFlags_NoScrollbar | ImGuiWindowFlags_AlwaysUseWindowPadding);
        ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + text_width);
        ImGui::TextUnformatted(app.errors[i].c_str());
        ImGui::PopTextWrapPos();
        ImGui::SameLine(ImGui::GetContentRegionMax().x - button_width);
        const bool dismissed = ImGui::Button("Dismiss");
        ImGui::EndChild();
        ImGui::PopStyleColor();
        ImGui::PopID();
        if (dismissed) {
            app.errors.erase(app.errors.begin() + static_cast<std::ptrdiff_t>(i));
            break;
        }
    }
}

void draw_app(App& app) {
    const ImGuiViewport* viewport = ImGui::GetMainViewport();
    ImGui::SetNextWindowPos(viewport->WorkPos);
    ImGui::SetNextWindowSize(viewport->WorkSize);
    ImGui::Begin("seekscope", nullptr,
                 ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove | ImGuiWindowFlags_NoSavedSettings |
                     ImGuiWindowFlags_NoBringToFrontOnFocus);
    draw_errors(app);
    const Panel* current = find_panel(app.panel);
    if (current && current->diagnostic) {
        current->draw(app);
    } else if (ImGui::BeginTabBar("panels", ImGuiTabBarFlags_FittingPolicyResizeDown)) {
        // The tabs' full titles when they all fit, else the short ones ("MLA"), so that no title
        // is cut; "###name" keeps each tab the same tab whichever title it shows.
        const ImGuiStyle& style = ImGui::GetStyle();
        float full_width = 0;
        for (const Panel& panel : panels())
            if (!panel.diagnostic)
                full_width += ImGui::CalcTextSize(panel.title).x + 2 * style.FramePadding.x + style.ItemInnerSpacing.x;
        const bool short_titles = full_width > ImGui::GetContentRegionAvail().x;
        // The panel asked for on the command line is selected once; after that the tabs decide.
        static bool first_frame = true;
        const std::string requested = app.panel;
        for (const Panel& panel : panels()) {
            if (panel.diagnostic) continue;
            if (begin_tab(short_titles ? panel.short_title : panel.title, panel.name,
                          first_frame && requested == panel.name)) {
                app.panel = panel.name;
                panel.draw(app);
                ImGui::EndTabItem();
            }
        }
        first_frame = false;
        ImGui::EndTabBar();
    }
    record_window_fit("window");
    ImGui::End();
}

}  // namespace seek::viewer
