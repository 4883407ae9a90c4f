#include "tensor_view.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <imgui.h>

#include "core/glossary.h"
#include "core/tokenizer.h"

namespace seek::viewer {

std::vector<std::string> tensor_axes(const std::string& name, size_t rank) {
    // The glossary's names (core/glossary.h, also in trace files' metadata), said in words: the
    // query and key axes of attention are tokens, and the tick labels of token axes are the text.
    std::vector<std::string> axes = seek::tensor_axes(name);
    if (axes.size() == rank) {
        for (std::string& axis : axes) {
            if (axis == "query" || axis == "key") axis += " token";
            if (axis == "k") axis = "choice (k)";
            std::replace(axis.begin(), axis.end(), '_', ' ');
        }
        return axes;
    }
    axes.clear();
    if (rank == 2) return {"token", "column"};
    for (size_t i = 0; i < rank; ++i) axes.push_back(rank == 1 ? "dim" : "axis " + std::to_string(i));
    return axes;
}

Grid tensor_grid(const std::string& name, const Shape& shape, const std::vector<float>& values, int64_t first,
                 const std::vector<int32_t>& tokens) {
    const std::vector<std::string> axes = tensor_axes(name, shape.size());
    Grid grid;
    grid.name = name;
    grid.shape = shape;
    grid.cols = shape.empty() ? 1 : shape.back();
    grid.col_axis = shape.empty() ? "value" : axes.back();
    if (shape.size() <= 2) {
        grid.rows = shape.size() == 2 ? shape[0] : 1;
        if (shape.size() == 2) grid.row_axis = axes[0];
    } else {
        // A slice of the first axis; the axes between it and the last become the rows.
        const int64_t per_first = shape[0] ? shape_numel(shape) / shape[0] : 0;
        grid.rows = grid.cols ? per_first / grid.cols : 0;
        grid.offset = std::clamp<int64_t>(first, 0, std::max<int64_t>(shape[0] - 1, 0)) * per_first;
        grid.row_axis = shape.size() == 3 ? axes[1] : "axes 1.." + std::to_string(shape.size() - 2) + " flattened";
    }
    grid.values = values.data() + grid.offset;
    auto token_labels = [&](const std::string& axis, int64_t count) {
        std::vector<std::string> labels;
        if (axis.find("token") != std::string::npos && count == static_cast<int64_t>(tokens.size()))
            for (int32_t token : tokens) labels.push_back(token_label(token));
        return labels;
    };
    grid.row_labels = token_labels(grid.row_axis, grid.rows);
    grid.col_labels = token_labels(grid.col_axis, grid.cols);
    return grid;
}

namespace {

// All slices of the first axis side by side (every head's attention at once), on the tensor's
// one colour scale, in the arrangement that gives the cells the most room.
int64_t small_multiples(const std::string& name, const Shape& shape, const std::vector<float>& values,
                        const ColorScale& scale, const std::vector<int32_t>& tokens, ImVec2 size, int64_t outline,
                        const std::function<std::string(int64_t)>& note) {
    const ImGuiStyle& style = ImGui::GetStyle();
    const int64_t count = shape[0];
    const std::string axis = tensor_axes(name, shape.size())[0];
    const Grid first = tensor_grid(name, shape, values, 0, tokens);
    const float legend_w = color_legend_width(scale), line = ImGui::GetTextLineHeightWithSpacing();
    const ImVec2 room(size.x - legend_w, size.y - line);  // a caption line below
    int64_t columns = 1;
    float best = 0;
    for (int64_t c = 1; c <= count; ++c) {
        const int64_t rows = (count + c - 1) / c;
        const float w = (room.x - style.ItemSpacing.x * (c - 1)) / c, h = (room.y - style.ItemSpacing.y * (rows - 1)) / rows;
        const float cell = std::min(w / static_cast<float>(first.cols + 2), (h - line) / static_cast<float>(first.rows + 2));
        if (cell > best) {
            best = cell;
            columns = c;
        }
    }
    const int64_t rows = (count + columns - 1) / columns;
    const ImVec2 each(std::floor((room.x - style.ItemSpacing.x * (columns - 1)) / columns),
                      std::floor((room.y - style.ItemSpacing.y * (rows - 1)) / rows));
    int64_t hovered = -1;
    const ImVec2 start = ImGui::GetCursorScreenPos();
    for (int64_t i = 0; i < count; ++i) {
        ImGui::SetCursorScreenPos(ImVec2(start.x + (i % columns) * (each.x + style.ItemSpacing.x),
                                         start.y + (i / columns) * (each.y + style.ItemSpacing.y)));
        ImGui::BeginGroup();
        ImGui::Text("%s %lld", axis.c_str(), static_cast<long long>(i));
        Grid grid = tensor_grid(name, shape, values, i, tokens);
        grid.note = note;
        grid.legend = false;
        grid.caption = false;
        ImGui::PushID(static_cast<int>(i));
        const int64_t h = heatmap("map", grid, scale, ImVec2(each.x, each.y - line), outline);
        ImGui::PopID();
        ImGui::EndGroup();
        if (h >= 0) hovered = h;
    }
    ImGui::SetCursorScreenPos(ImVec2(start.x + room.x, start.y));
    color_legend("legend", scale, ImVec2(legend_w, room.y));
    ImGui::SetCursorScreenPos(ImVec2(start.x, start.y + room.y));
    char caption[256];
    std::snprintf(caption, sizeof caption, "rows: %s (%lld), columns: %s (%lld), one colour scale", first.row_axis.c_str(),
                  static_cast<long long>(first.rows), first.col_axis.c_str(), static_cast<long long>(first.cols));
    const std::string text = text_width(caption) <= size.x ? caption : "one colour scale for all";
    ImGui::TextDisabled("%s", text.c_str());
    return hovered;
}

}  // namespace

int64_t tensor_heatmap(const char* id, const std::string& name, const Shape& shape, const std::vector<float>& values,
                       const ColorScale& scale, const std::vector<int32_t>& tokens, int64_t& first, ImVec2 size,
                       int64_t outline, std::function<std::string(int64_t)> note) {
    ImGui::PushID(id);
    float slider_height = 0;
    // Attention has a few heads: all of them at once by default (one at a time with the box off).
    const bool per_head = shape.size() == 3 && shape[0] > 1 && tensor_axes(name, 3)[0] == "head";
    bool* all = ImGui::GetStateStorage()->GetBoolRef(ImGui::GetID("all slices"), per_head && shape[0] <= 16);
    if (shape.size() >= 3 && shape[0] > 1) {  // a single slice needs no slider
        const std::string axis = tensor_axes(name, shape.size())[0];
        if (per_head) {
            ImGui::Checkbox("all heads", all);
            ImGui::SameLine();
        }
        first = std::clamp<int64_t>(first, 0, shape[0] - 1);
        std::string format = axis + " %d of 0.." + std::to_string(shape[0] - 1);
        if (axis == "token" && static_cast<int64_t>(tokens.size()) == shape[0]) {
            std::string text = token_string(tokens[first]);
            if (text == "%") text = "%%";  // the slider's label is a printf format
            format += "  ('" + text + "')";
        }
        int value = static_cast<int>(first);
        if (per_head && *all) {
            ImGui::NewLine();
        } else {
            ImGui::SetNextItemWidth(std::min(ImGui::GetContentRegionAvail().x, ImGui::GetFontSize() * 24));
            ImGui::SliderInt("##first", &value, 0, static_cast<int>(shape[0] - 1), format.c_str());
        }
        first = value;
        slider_height = ImGui::GetFrameHeightWithSpacing();
    }
    const ImVec2 room(size.x, size.y - slider_height);
    int64_t hovered;
    if (per_head && *all) {
        hovered = small_multiples(name, shape, values, scale, tokens, room, outline, note);
    } else {
        Grid grid = tensor_grid(name, shape, values, first, tokens);
        grid.note = std::move(note);
        hovered = heatmap("map", grid, scale, room, outline);
    }
    ImGui::PopID();
    return hovered;
}

std::vector<float> abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
    std::vector<float> difference(a.size());
    for (size_t i = 0; i < a.size(); ++i) difference[i] = a[i] == b[i] ? 0.0f : std::fabs(a[i] - b[i]);
    return difference;
}

}  // namespace seek::viewer
