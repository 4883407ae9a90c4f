#include "tensor_view.h"

#include <algorithm>
#include <cmath>

#include "core/tokenizer.h"

namespace seek::viewer {

static bool ends_with(const std::string& name, const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::vector<std::string> tensor_axes(const std::string& name, size_t rank) {
    if (rank == 3 && (ends_with(name, "attn.scores") || ends_with(name, "attn.probs")))
        return {"head", "query token", "key token"};
    if (rank == 3) return {"token", "head", "dim"};
    if (rank == 2) {
        // What the columns of a [tokens, columns] trace tensor are (design.md's names).
        static const std::pair<const char*, const char*> columns[] = {
            {"attn.c_kv", "latent dim"},      {"attn.kv_a", "latent + rope dim"},   {"attn.k_pe", "rope dim"},
            {"attn.q_a", "query latent dim"}, {"attn.q_norm", "query latent dim"},  {"moe.scores", "expert"},
            {"moe.biased_scores", "expert"},  {"moe.group_scores", "expert group"}, {"moe.group_mask", "expert group"},
            {"moe.topk_idx", "choice"},       {"moe.topk_weight", "choice"},        {"logits", "vocabulary id"},
        };
        for (const auto& [suffix, column] : columns)
            if (ends_with(name, suffix)) return {"token", column};
        return {"token", "hidden dim"};
    }
    std::vector<std::string> axes;
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

int64_t tensor_heatmap(const char* id, const std::string& name, const Shape& shape, const std::vector<float>& values,
                       const ColorScale& scale, const std::vector<int32_t>& tokens, int64_t& first, ImVec2 size,
                       int64_t outline, std::function<std::string(int64_t)> note) {
    ImGui::PushID(id);
    float slider_height = 0;
    if (shape.size() >= 3 && shape[0] > 1) {  // a single slice needs no slider
        const std::string axis = tensor_axes(name, shape.size())[0];
        first = std::clamp<int64_t>(first, 0, shape[0] - 1);
        std::string format = axis + " %d of 0.." + std::to_string(shape[0] - 1);
        if (axis == "token" && static_cast<int64_t>(tokens.size()) == shape[0]) {
            std::string text = token_text(tokens[first]);
            if (text == "%") text = "%%";  // the slider's label is a printf format
            format += "  ('" + text + "')";
        }
        int value = static_cast<int>(first);
        ImGui::SetNextItemWidth(std::min(size.x, ImGui::GetFontSize() * 24));
        ImGui::SliderInt("##first", &value, 0, static_cast<int>(shape[0] - 1), format.c_str());
        first = value;
        slider_height = ImGui::GetFrameHeightWithSpacing();
    }
    Grid grid = tensor_grid(name, shape, values, first, tokens);
    grid.note = std::move(note);
    const int64_t hovered = heatmap("map", grid, scale, ImVec2(size.x, size.y - slider_height), outline);
    ImGui::PopID();
    return hovered;
}

std::vector<float> abs_difference(const std::vector<float>& a, const std::vector<float>& b) {
    std::vector<float> difference(a.size());
    for (size_t i = 0; i < a.size(); ++i) difference[i] = a[i] == b[i] ? 0.0f : std::fabs(a[i] - b[i]);
    return difference;
}

}  // namespace seek::viewer
