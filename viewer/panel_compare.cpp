// Compare: two trace files tensor by tensor (naive against absorbed, CPU against GPU, FP32 against
// FP8). A table of every name with its errors, worst first; the selected tensor's |a - b| as a
// heatmap with the worst element ringed. The numbers are those of `seek compare`.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cstdio>

#include "app.h"
#include "draw.h"
#include "tensor_view.h"

namespace seek::viewer {

namespace {

struct CompareUi {
    std::string paths[2];       // the text boxes
    uint64_t version = ~0ull;   // app.comparison_version the rows below were made for
    std::vector<size_t> order;  // rows of app.diffs in display order
    std::string selected;
    std::vector<float> difference;  // |a - b| of the selected tensor
    ColorScale scale;               // and its colour scale
    int64_t first = 0;              // its slice, for 3-D tensors
};
CompareUi ui;

// Relative error bands: float rounding, something to look at, a bug.
ImVec4 error_color(double relative) {
    if (relative <= 1e-6) return ImVec4(0.45f, 0.85f, 0.45f, 1);
    if (relative <= 1e-3) return ImVec4(0.95f, 0.8f, 0.3f, 1);
    return ImVec4(1.0f, 0.45f, 0.4f, 1);
}

std::string status_text(const TensorDiff& diff) {
    switch (diff.status) {
        case TensorDiff::OnlyInA:
            return "only in A";
        case TensorDiff::OnlyInB:
            return "only in B";
        case TensorDiff::ShapeMismatch:
            return "shapes differ: B is " + format_shape(diff.shape_b);
        case TensorDiff::Compared:
            break;
    }
    return "";
}

// Compared tensors first, ordered by the clicked column; the rest after them, as listed.
void sort_rows(const App& app, const ImGuiTableColumnSortSpecs& spec) {
    const bool descending = spec.SortDirection == ImGuiSortDirection_Descending;
    std::stable_sort(ui.order.begin(), ui.order.end(), [&](size_t i, size_t j) {
        const TensorDiff& a = app.diffs[i];
        const TensorDiff& b = app.diffs[j];
        const bool a_compared = a.status == TensorDiff::Compared, b_compared = b.status == TensorDiff::Compared;
        if (a_compared != b_compared) return a_compared;
        if (!a_compared) return false;
        if (spec.ColumnIndex == 0) return descending ? a.name > b.name : a.name < b.name;
        const double x = spec.ColumnIndex == 2 ? a.max_abs_error : a.max_rel_error;
        const double y = spec.ColumnIndex == 2 ? b.max_abs_error : b.max_rel_error;
        return descending ? x > y : x < y;
    });
}

const TensorDiff* selected_diff(const App& app) {
    for (const TensorDiff& diff : app.diffs)
        if (diff.name == ui.selected) return &diff;
    return nullptr;
}

void select(const App& app, const TensorDiff& diff) {
    ui.selected = diff.name;
    ui.difference.clear();
    ui.first = 0;
    if (diff.status != TensorDiff::Compared) return;
    ui.difference =
        abs_difference(trace_find(app.compared[0], diff.name)->values, trace_find(app.compared[1], diff.name)->values);
    ui.scale = color_scale_for(ui.difference);
    // Open 3-D tensors on the slice that holds the worst element.
    const int64_t count = shape_numel(diff.shape_a);
    if (diff.shape_a.size() >= 3 && diff.shape_a[0] > 0 && count > 0)
        ui.first = diff.worst_index / (count / diff.shape_a[0]);
}

void draw_file_boxes(App& app) {
    bool load = false;
    const float box_width = (ImGui::GetContentRegionAvail().x - ImGui::GetFontSize() * 10) / 2;
    for (int i = 0; i < 2; ++i) {
        if (i) ImGui::SameLine();
        ImGui::AlignTextToFramePadding();
        ImGui::TextUnformatted(i == 0 ? "A" : "B");
        ImGui::SameLine();
        ImGui::SetNextItemWidth(box_width);
        load |= ImGui::InputTextWithHint(i == 0 ? "##a" : "##b", "trace file (.safetensors)", &ui.paths[i],
                                         ImGuiInputTextFlags_EnterReturnsTrue);
    }
    ImGui::SameLine();
    load |= ImGui::Button("Load");
    if (load) open_comparison(app, ui.paths[0], ui.paths[1]);
}

void draw_table(const App& app) {
    const ImGuiTableFlags flags = ImGuiTableFlags_Sortable | ImGuiTableFlags_RowBg | ImGuiTableFlags_BordersOuter |
                                  ImGuiTableFlags_BordersV | ImGuiTableFlags_ScrollY | ImGuiTableFlags_Resizable;
    if (!ImGui::BeginTable("diffs", 5, flags,
                           ImVec2(0, ImGui::GetContentRegionAvail().y - 2 * ImGui::GetTextLineHeightWithSpacing())))
        return;
    ImGui::TableSetupScrollFreeze(0, 1);
    ImGui::TableSetupColumn("tensor", ImGuiTableColumnFlags_WidthStretch);
    ImGui::TableSetupColumn("shape", ImGuiTableColumnFlags_NoSort | ImGuiTableColumnFlags_WidthFixed);
    ImGui::TableSetupColumn("max |a-b|", ImGuiTableColumnFlags_PreferSortDescending | ImGuiTableColumnFlags_WidthFixed);
    ImGui::TableSetupColumn("max rel", ImGuiTableColumnFlags_DefaultSort | ImGuiTableColumnFlags_PreferSortDescending |
                                           ImGuiTableColumnFlags_WidthFixed);
    ImGui::TableSetupColumn("worst at", ImGuiTableColumnFlags_NoSort | ImGuiTableColumnFlags_WidthFixed);
    ImGui::TableHeadersRow();
    if (ImGuiTableSortSpecs* specs = ImGui::TableGetSortSpecs()) {
        if (specs->SpecsDirty && specs->SpecsCount > 0) {
            sort_rows(app, specs->Specs[0]);
            specs->SpecsDirty = false;
        }
    }
    for (size_t row : ui.order) {
        const TensorDiff& diff = app.diffs[row];
        ImGui::TableNextRow();
        ImGui::TableNextColumn();
        // A column too narrow for the whole name shows its end: "..moe.shared_out" tells tensors
        // apart where "layers.1.moe.sh" does not; the tooltip has it all.
        std::string label = diff.name;
        const float column = ImGui::GetContentRegionAvail().x;
        size_t cut = 0;
        while (cut < diff.name.size() && text_width(cut ? ".." + diff.name.substr(cut) : diff.name) > column) ++cut;
        if (cut > 0) label = ".." + diff.name.substr(cut);
        if (ImGui::Selectable((label + "##" + diff.name).c_str(), diff.name == ui.selected,
                              ImGuiSelectableFlags_SpanAllColumns))
            select(app, diff);
        if (cut > 0 && ImGui::IsItemHovered()) ImGui::SetTooltip("%s", diff.name.c_str());
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(format_shape(diff.shape_a.empty() ? diff.shape_b : diff.shape_a).c_str());
        if (diff.status != TensorDiff::Compared) {
            ImGui::TableNextColumn();
            ImGui::TextDisabled("%s", status_text(diff).c_str());
            continue;
        }
        ImGui::TableNextColumn();
        ImGui::Text("%.3g", diff.max_abs_error);
        ImGui::TableNextColumn();
        ImGui::TextColored(error_color(diff.max_rel_error), "%.3g", diff.max_rel_error);
        ImGui::TableNextColumn();
        ImGui::TextUnformatted(diff.max_abs_error > 0 ? format_index(diff.worst_index, diff.shape_a).c_str() : "-");
    }
    ImGui::EndTable();
    ImGui::PushTextWrapPos(0);
    ImGui::TextDisabled(
        "max rel = max |a-b| / max |a|. Green: up to 1e-6 (float rounding), yellow: up to 1e-3, red: above.");
    ImGui::PopTextWrapPos();
}

void draw_difference(const App& app) {
    const TensorDiff* diff = selected_diff(app);
    if (!diff) return;
    ImGui::Text("%s  %s", diff->name.c_str(), format_shape(diff->shape_a).c_str());
    if (diff->status != TensorDiff::Compared) {
        ImGui::TextDisabled("%s: nothing to compare.", status_text(*diff).c_str());
        return;
    }
    if (diff->max_abs_error > 0) {
        ImGui::Text("worst element %s (ringed):", format_index(diff->worst_index, diff->shape_a).c_str());
        char values[96];
        std::snprintf(values, sizeof values, "a = %.7g   b = %.7g", diff->worst_a, diff->worst_b);
        same_line_if_fits(text_width(values));  // below on a narrow window, not cut at its edge
        ImGui::TextUnformatted(values);
    } else
        ImGui::TextUnformatted("identical: a = b everywhere");
    const std::vector<float>& a = trace_find(app.compared[0], diff->name)->values;
    const std::vector<float>& b = trace_find(app.compared[1], diff->name)->values;
    auto note = [&a, &b](int64_t i) {
        char text[64];
        std::snprintf(text, sizeof text, "a = %.7g   b = %.7g", a[i], b[i]);  // enough digits to tell them apart
        return std::string(text);
    };
    tensor_heatmap("difference", "|a - b| of " + diff->name, diff->shape_a, ui.difference, ui.scale,
                   trace_tokens(app.compared[0]), ui.first, ImGui::GetContentRegionAvail(),
                   diff->max_abs_error > 0 ? diff->worst_index : -1, note);
}

}  // namespace

void draw_compare_panel(App& app) {
    if (ui.version != app.comparison_version) {
        ui.version = app.comparison_version;
        ui.paths[0] = app.compare_paths[0];
        ui.paths[1] = app.compare_paths[1];
        ui.order.clear();
        for (size_t i = 0; i < app.diffs.size() && app.comparison_loaded; ++i) ui.order.push_back(i);
        ui.selected.clear();
    }
    draw_file_boxes(app);
    if (!app.comparison_loaded) {
        ImGui::Spacing();
        ImGui::PushTextWrapPos(0);
        ImGui::TextUnformatted(
            "Open two trace files to see where they differ, tensor by tensor. Trace files are what "
            "`seek step --trace FILE` writes, for example naive against absorbed attention:");
        ImGui::PopTextWrapPos();
        ImGui::TextDisabled("  ./build/seek step --attn naive  --trace naive.safetensors  --quiet");
        ImGui::TextDisabled("  ./build/seek step --attn absorb --trace absorb.safetensors --quiet");
        ImGui::TextDisabled("  ./build/seekscope --panel compare --compare naive.safetensors absorb.safetensors");
        return;
    }
    ImGui::TextDisabled("A: %s   (%zu tensors)      B: %s   (%zu tensors)", app.compare_paths[0].c_str(),
                        app.compared[0].entries.size(), app.compare_paths[1].c_str(), app.compared[1].entries.size());

    const float table_width = ImGui::GetContentRegionAvail().x * 0.55f;
    ImGui::BeginChild("table", ImVec2(table_width, 0), false);
    draw_table(app);
    ImGui::EndChild();
    // The table sorts on its first frame; then the worst tensor is shown until another is picked.
    if (!selected_diff(app) && !ui.order.empty()) select(app, app.diffs[ui.order.front()]);
    ImGui::SameLine();
    ImGui::BeginChild("difference", ImVec2(0, 0), true);
    draw_difference(app);
    ImGui::EndChild();
}

}  // namespace seek::viewer
