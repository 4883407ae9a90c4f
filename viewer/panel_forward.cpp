// Forward pass: the model as a tree of its traced tensors in execution order (layer -> operation
// -> tensor), stepped with buttons, the arrow keys or J/K; the current tensor as a heatmap with
// its statistics, histogram and glossary sentence; the prompt as token chips, editable (Enter
// re-runs the model); for a trained checkpoint, its likeliest next tokens and greedy completion.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <cstdio>

#include "app.h"
#include "core/glossary.h"
#include "core/tokenizer.h"
#include "draw.h"
#include "layout.h"
#include "tensor_view.h"

namespace seek::viewer {

namespace {

struct ForwardUi {
    std::string prompt;               // the text box, which may hold an edit not yet run
    uint64_t prompt_version = ~0ull;  // trace_version the text box was last filled from
    int64_t first = 0;                // the slice of a 3-D tensor
    bool scroll_to_selected = false;
    // Made once per shown tensor: rescanning a [T, 7168] tensor every frame would cost the frame rate.
    uint64_t summary_version = ~0ull;
    std::string summary_name;
    TensorStats stats;
    bool categorical = false;
    ColorScale scale;
    Histogram histogram;
};
ForwardUi ui;

// "layers.0.attn.q_a" -> groups {"layers.0", "attn"} and leaf "q_a"; "embed" -> {} and "embed".
// "layers.N" stays one group, so that the tree reads layer -> operation -> tensor.
void split_name(const std::string& name, std::vector<std::string>& groups, std::string& leaf) {
    std::vector<std::string> parts;
    size_t start = 0;
    for (size_t dot; (dot = name.find('.', start)) != std::string::npos; start = dot + 1)
        parts.push_back(name.substr(start, dot - start));
    parts.push_back(name.substr(start));
    groups.clear();
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
        if (parts[i] == "layers" && i + 2 < parts.size()) {
            groups.push_back(parts[i] + "." + parts[i + 1]);
            ++i;
        } else {
            groups.push_back(parts[i]);
        }
    }
    leaf = parts.back();
}

size_t selected_position(const App& app) {
    for (size_t i = 0; i < app.trace.entries.size(); ++i)
        if (app.trace.entries[i].name == app.selected) return i;
    return 0;
}

void select(App& app, size_t position) {
    if (position >= app.trace.entries.size()) return;
    app.selected = app.trace.entries[position].name;
    ui.scroll_to_selected = true;
}

// Arrow keys and J/K (vim's down/up) step through the tensors, unless a text box has the keys.
int key_step() {
    const ImGuiIO& io = ImGui::GetIO();
    if (io.WantTextInput) return 0;
    int step = 0;
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_DownArrow)) ||
        ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_RightArrow)))
        step = 1;
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_UpArrow)) ||
        ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_LeftArrow)))
        step = -1;
    for (ImWchar c : io.InputQueueCharacters) {
        if (c == 'j' || c == 'J') step = 1;
        if (c == 'k' || c == 'K') step = -1;
    }
    return step;
}

// What a trained model makes of the prompt: its five likeliest next tokens (the last row of
// `logits`, softmax) and the completion it writes greedily.
void draw_prediction(const App& app) {
    if (app.next_tokens.empty()) return;
    ImGui::PushID("prediction");
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted("Next token:");
    const ImGuiStyle& style = ImGui::GetStyle();
    for (size_t i = 0; i < app.next_tokens.size(); ++i) {
        const NextToken& next = app.next_tokens[i];
        ImGui::SameLine(0, i == 0 ? style.ItemSpacing.x : ImGui::GetFontSize());
        char probability[32];
        std::snprintf(probability, sizeof probability, "%.1f%%", 100 * next.probability);
        // The token as a chip (the prompt's colours), its probability after it; the first is greedy's pick.
        if (ImGui::GetContentRegionAvail().x < ImGui::GetFontSize() * 5) ImGui::NewLine();
        ImGui::PushID(static_cast<int>(i));
        TokenChipOptions chip;
        chip.max_rows = 1;
        token_chips({next.token}, chip);
        ImGui::PopID();
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("token id %d: probability %.4g", next.token, next.probability);
        ImGui::SameLine(0, style.ItemSpacing.x / 2);
        if (i == 0)
            ImGui::Text("%s", probability);
        else
            ImGui::TextDisabled("%s", probability);
    }
    const char* about = "(softmax of the last row of logits)";
    same_line_if_fits(text_width(about), ImGui::GetFontSize());
    ImGui::TextDisabled("%s", about);
    if (!app.greedy_completion.empty()) {
        ImGui::TextUnformatted("Greedy completion:");
        ImGui::SameLine();
        const bool cut = completion_text(app.greedy_completion, ImGui::GetContentRegionAvail().x, 2);
        if (cut && ImGui::IsItemHovered()) {
            ImGui::BeginTooltip();
            completion_text(app.greedy_completion, ImGui::GetFontSize() * 40);
            ImGui::EndTooltip();
        }
    }
    ImGui::PopID();
}

void draw_prompt(App& app) {
    if (ui.prompt_version != app.trace_version) {
        ui.prompt = app.prompt;
        ui.prompt_version = app.trace_version;
    }
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted("Prompt");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::GetContentRegionAvail().x * 0.45f);
    if (ImGui::InputText("##prompt", &ui.prompt, ImGuiInputTextFlags_EnterReturnsTrue)) run_prompt(app, ui.prompt);
    ImGui::SameLine();
    int attn = app.attn == AttnImpl::Absorb ? 0 : 1;
    ImGui::TextUnformatted("  attention:");
    ImGui::SameLine();
    bool changed = ImGui::RadioButton("absorbed", &attn, 0);
    ImGui::SameLine();
    changed |= ImGui::RadioButton("naive", &attn, 1);
    if (changed) {
        app.attn = attn == 0 ? AttnImpl::Absorb : AttnImpl::Naive;
        run_prompt(app, app.prompt);
    }

    // An edit is tokenized as it is typed, so that a bad character shows before Enter; what the
    // model itself rejected on Enter (an empty or too long prompt) shows until a run succeeds.
    if (ui.prompt != app.prompt) {
        std::string error;
        try {
            if (app.weights || app.streamed)
                app.tokenizer.encode_prompt(ui.prompt, "");
            else
                encode_text(ui.prompt);
        } catch (const std::exception& e) {
            error = e.what();
        }
        if (error.empty()) error = app.prompt_error;
        ImGui::PushTextWrapPos(0);
        if (error.empty())
            ImGui::TextColored(ImVec4(0.9f, 0.8f, 0.4f, 1), "edited: press Enter to run the model on it");
        else
            ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.4f, 1), "%s", error.c_str());
        ImGui::PopTextWrapPos();
    }

    ImGui::AlignTextToFramePadding();
    ImGui::Text("Tokens (%zu)", app.tokens.size());
    ImGui::SameLine();
    token_chips(app.tokens);
    wrapped_note("Showing: " + app.trace_source);
    if (app.streamed)
        wrapped_note("Read in place (the full-scale path): no next tokens and no greedy completion here. The head (model.norm, lm_head) "
                     "is not read, and each generated token would read every layer again; the MoE panel's "
                     "token path shows where each token went.");
    draw_prediction(app);
}

void draw_tree(App& app) {
    std::vector<std::string> open;  // groups entered so far (the path to the current entry)
    size_t expanded = 0;            // how many of them are expanded: entries show only under expanded ones
    std::vector<std::string> groups;
    std::string leaf;
    for (const TraceEntry& entry : app.trace.entries) {
        split_name(entry.name, groups, leaf);
        size_t common = 0;
        while (common < open.size() && common < groups.size() && open[common] == groups[common]) ++common;
        while (open.size() > common) {
            if (expanded == open.size()) {
                ImGui::TreePop();
                --expanded;
            }
            open.pop_back();
        }
        const bool holds_selection = app.selected.compare(0, entry.name.size() - leaf.size(), entry.name, 0,
                                                          entry.name.size() - leaf.size()) == 0;
        while (open.size() < groups.size()) {
            if (expanded == open.size()) {
                ImGui::SetNextItemOpen(true, ImGuiCond_Once);
                if (ui.scroll_to_selected && holds_selection) ImGui::SetNextItemOpen(true);
                if (ImGui::TreeNodeEx(groups[open.size()].c_str(), ImGuiTreeNodeFlags_SpanAvailWidth)) ++expanded;
            }
            open.push_back(groups[open.size()]);
        }
        if (expanded != open.size()) continue;
        const bool is_selected = entry.name == app.selected;
        // The shape after the name while the tree is wide enough for it (always in the tooltip).
        const std::string with_shape = leaf + "  " + format_shape(entry.shape);
        const std::string label = text_width(with_shape) <= ImGui::GetContentRegionAvail().x ? with_shape : leaf;
        if (ImGui::Selectable(label.c_str(), is_selected)) app.selected = entry.name;
        if (is_selected && ui.scroll_to_selected) ImGui::SetScrollHereY(0.5f);
        if (ImGui::IsItemHovered()) {
            const std::string about = describe_tensor(entry.name);
            ImGui::SetTooltip("%s  %s\n%s", entry.name.c_str(), format_shape(entry.shape).c_str(),
                              about.empty() ? "(no description)" : about.c_str());
        }
    }
    while (expanded > 0) {
        ImGui::TreePop();
        --expanded;
    }
    ui.scroll_to_selected = false;
}

void draw_statistics(const TensorStats& stats, size_t count, bool categorical) {
    if (categorical) {  // a mean of ids means nothing: their range, and the bars beside count each id
        ImGui::Text("%zu ids, from %.0f to %.0f", count, stats.min, stats.max);
        ImGui::TextDisabled("ids are names, not amounts:");
        ImGui::TextDisabled("one colour each, a bar each");
        return;
    }
    ImGui::Text("Statistics over all %zu values", count);
    if (ImGui::BeginTable("stats", 2, ImGuiTableFlags_SizingFixedFit)) {
        const std::pair<const char*, float> rows[] = {
            {"min", stats.min}, {"max", stats.max}, {"mean", stats.mean}, {"std", stats.std}};
        for (const auto& [label, value] : rows) {
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ImGui::TextDisabled("%s", label);
            ImGui::TableNextColumn();
            ImGui::Text("%+.5g", value);
        }
        if (stats.non_finite) {
            ImGui::TableNextRow();
            ImGui::TableNextColumn();
            ImGui::TextDisabled("-inf");
            ImGui::TableNextColumn();
            ImGui::Text("%lld (masked: the causal mask)", static_cast<long long>(stats.non_finite));
        }
        ImGui::EndTable();
    }
}

void draw_selected(App& app) {
    const size_t position = selected_position(app);
    const size_t count = app.trace.entries.size();
    if (ImGui::Button("< Previous") && position > 0) select(app, position - 1);
    ImGui::SameLine();
    if (ImGui::Button("Next >")) select(app, position + 1);
    ImGui::SameLine();
    ImGui::Text("tensor %zu of %zu", position + 1, count);
    const char* keys = "(keys: arrows or J/K)";
    same_line_if_fits(text_width(keys));
    ImGui::TextDisabled("%s", keys);
    if (count == 0) {
        ImGui::TextUnformatted("This trace has no tensors.");
        return;
    }
    const TraceEntry& entry = app.trace.entries[position];
    ImGui::TextWrapped("%s  %s", entry.name.c_str(), format_shape(entry.shape).c_str());
    const std::string about = describe_tensor(entry.name);
    ImGui::PushTextWrapPos(0);
    ImGui::TextDisabled("%s", about.empty() ? "(no description for this name)" : about.c_str());
    ImGui::PopTextWrapPos();
    ImGui::Spacing();

    if (ui.summary_version != app.trace_version || ui.summary_name != entry.name) {
        ui.summary_version = app.trace_version;
        ui.summary_name = entry.name;
        ui.stats = tensor_stats(entry.values);
        // Integer tensors (expert ids) are categories: colours that tell ids apart, not a scale of amounts.
        ui.categorical = entry.dtype == DType::I32;
        ui.scale = ui.categorical ? categorical_scale() : color_scale_for(entry.values);
        ui.histogram = make_histogram(entry.values);
    }
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float bottom = std::max(ImGui::GetTextLineHeightWithSpacing() * 8, avail.y * 0.3f);
    tensor_heatmap("tensor", entry.name, entry.shape, entry.values, ui.scale, app.tokens, ui.first,
                   ImVec2(avail.x, avail.y - bottom));

    ImGui::Spacing();
    ImGui::BeginGroup();
    draw_statistics(ui.stats, entry.values.size(), ui.categorical);
    ImGui::EndGroup();
    ImGui::SameLine(0, ImGui::GetFontSize() * 3);
    const ImVec2 rest = ImGui::GetContentRegionAvail();
    const ImVec2 chart(std::min(rest.x, ImGui::GetFontSize() * 40), rest.y);
    const std::string leaf = entry.name.substr(entry.name.rfind('.') + 1);
    if (ui.categorical)
        draw_category_counts("counts", entry.values, chart, ("id in " + leaf).c_str());
    else
        draw_histogram("histogram", ui.histogram, chart, ("value of " + leaf).c_str());
}

}  // namespace

void draw_forward_panel(App& app) {
    const int step = key_step();
    if (step != 0 && !app.trace.entries.empty()) {
        const size_t position = selected_position(app);
        if (step < 0 && position > 0) select(app, position - 1);
        if (step > 0) select(app, position + 1);
    }
    draw_prompt(app);
    ImGui::Separator();
    const float tree_width = std::min(ImGui::GetFontSize() * 19, ImGui::GetContentRegionAvail().x * 0.3f);
    ImGui::BeginChild("tree", ImVec2(tree_width, 0), true);
    ImGui::TextDisabled("Execution order");
    draw_tree(app);
    record_window_fit("tree", true);
    ImGui::EndChild();
    ImGui::SameLine();
    ImGui::BeginChild("tensor", ImVec2(0, 0), false);
    draw_selected(app);
    record_window_fit("tensor");
    ImGui::EndChild();
}

}  // namespace seek::viewer
