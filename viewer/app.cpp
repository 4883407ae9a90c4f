#include "app.h"

#include <imgui.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/forward.h"
#include "core/tokenizer.h"

namespace seek::viewer {

const std::vector<Panel>& panels() {
    static const std::vector<Panel> table = {
        {"forward", "Forward pass", draw_forward_panel},
        {"mla", "MLA: the latent KV cache", draw_mla_panel},
        {"moe", "MoE: routing and load balance", draw_moe_panel},
        {"fp8", "FP8: scaling and accumulation", draw_fp8_panel},
        {"compare", "Compare traces", draw_compare_panel},
        {"heatmap-test", "Heatmap test", draw_heatmap_test_panel, true},
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

void run_prompt(App& app, const std::string& prompt) {
    try {
        std::vector<int32_t> tokens = encode_text(prompt);
        ForwardOptions options;
        options.seed = app.seed;
        options.attn = app.attn;
        Trace trace = forward_trace(app.model, tokens, options);
        trace.metadata["prompt"] = prompt;
        app.prompt = prompt;
        app.prompt_error.clear();
        set_trace(app, std::move(trace), app.model, std::move(tokens),
                  "live run of the " + app.model.name + " model (generated weights, seed " + std::to_string(app.seed) +
                      ", " + attn_impl_name(app.attn) + " attention)");
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
    } else if (ImGui::BeginTabBar("panels")) {
        // The panel asked for on the command line is selected once; after that the tabs decide.
        static bool first_frame = true;
        const std::string requested = app.panel;
        for (const Panel& panel : panels()) {
            if (panel.diagnostic) continue;
            const ImGuiTabItemFlags flags = first_frame && requested == panel.name ? ImGuiTabItemFlags_SetSelected : 0;
            if (ImGui::BeginTabItem(panel.title, nullptr, flags)) {
                app.panel = panel.name;
                panel.draw(app);
                ImGui::EndTabItem();
            }
        }
        first_frame = false;
        ImGui::EndTabBar();
    }
    ImGui::End();
}

}  // namespace seek::viewer
