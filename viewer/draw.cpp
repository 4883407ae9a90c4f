#include "draw.h"

#include <GL/gl.h>  // the heatmap's texture: glTexImage2D and friends are OpenGL 1.1

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <unordered_map>

#include "core/tokenizer.h"
#include "core/trace.h"
#include "layout.h"

namespace seek::viewer {

// ---- colour --------------------------------------------------------------------------------

namespace {

struct Rgb {
    float r, g, b;
};

// viridis at t = 0, 1/9, ..., 1 (matplotlib's map, the 10 stops viridisLite publishes).
const Rgb kViridis[] = {{68, 1, 84},    {72, 40, 120},  {62, 73, 137},  {49, 104, 142}, {38, 130, 142},
                        {31, 158, 137}, {53, 183, 121}, {110, 206, 88}, {181, 222, 43}, {253, 231, 37}};
// ColorBrewer RdBu, reversed so that negative is blue, at t = 0, 1/4, ..., 1.
const Rgb kBlueWhiteRed[] = {{33, 102, 172}, {146, 197, 222}, {247, 247, 247}, {244, 165, 130}, {178, 24, 43}};

template <size_t N>
ImU32 interpolate(const Rgb (&stops)[N], float t) {
    const float position = std::clamp(t, 0.0f, 1.0f) * (N - 1);
    const size_t i = std::min(static_cast<size_t>(position), N - 2);
    const float f = position - static_cast<float>(i);
    const Rgb& a = stops[i];
    const Rgb& b = stops[i + 1];
    auto mix = [f](float x, float y) { return static_cast<int>(std::lround(x + (y - x) * f)); };
    return IM_COL32(mix(a.r, b.r), mix(a.g, b.g), mix(a.b, b.b), 255);
}

}  // namespace

ImU32 colormap_color(ColorMap map, float t) {
    return map == ColorMap::Signed ? interpolate(kBlueWhiteRed, t) : interpolate(kViridis, t);
}

ImU32 category_color(int64_t category) {
    // Kelly (1965), "Twenty-two colors of maximum contrast", without white, black, and his two
    // darkest (deep yellowish brown, dark olive green), which vanish on the dark background.
    static const ImU32 colors[kCategoryColors] = {
        IM_COL32(243, 195, 0, 255),   IM_COL32(135, 86, 146, 255),  IM_COL32(243, 132, 0, 255),
        IM_COL32(161, 202, 241, 255), IM_COL32(190, 0, 50, 255),    IM_COL32(194, 178, 128, 255),
        IM_COL32(132, 132, 130, 255), IM_COL32(0, 136, 86, 255),    IM_COL32(230, 143, 172, 255),
        IM_COL32(0, 103, 165, 255),   IM_COL32(249, 147, 121, 255), IM_COL32(96, 78, 151, 255),
        IM_COL32(246, 166, 0, 255),   IM_COL32(179, 68, 108, 255),  IM_COL32(220, 211, 0, 255),
        IM_COL32(136, 45, 23, 255),   IM_COL32(141, 182, 0, 255),   IM_COL32(226, 88, 34, 255)};
    const int64_t i = category % kCategoryColors;
    return colors[i < 0 ? i + kCategoryColors : i];
}

ColorScale categorical_scale() { return {ColorMap::Categorical, 0, 1}; }

ColorScale color_scale_for(const std::vector<float>& values) {
    float lo = INFINITY, hi = -INFINITY;
    for (float v : values) {
        if (!std::isfinite(v)) continue;
        lo = std::min(lo, v);
        hi = std::max(hi, v);
    }
    if (lo > hi) return {};  // nothing finite
    if (lo >= 0) return {ColorMap::Magnitude, 0.0f, hi > 0 ? hi : 1.0f};
    const float m = std::max(-lo, hi);
    return {ColorMap::Signed, -m, m};
}

ImU32 scale_color(const ColorScale& scale, float value) {
    if (!std::isfinite(value)) return kNonFiniteColor;
    if (scale.map == ColorMap::Categorical) return category_color(static_cast<int64_t>(std::lround(value)));
    return colormap_color(scale.map, (value - scale.lo) / (scale.hi - scale.lo));
}

ImU32 series_color(int index) {
    static const ImU32 colors[] = {IM_COL32(230, 159, 0, 255), IM_COL32(86, 180, 233, 255),
                                   IM_COL32(0, 158, 115, 255), IM_COL32(240, 228, 66, 255),
                                   IM_COL32(213, 94, 0, 255),  IM_COL32(204, 121, 167, 255),
                                   IM_COL32(0, 114, 178, 255)};
    return colors[index % 7];
}

std::string format_value(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.4g", value);
    return text;
}

ImU32 text_color_on(ImU32 background) {
    const ImVec4 c = ImGui::ColorConvertU32ToFloat4(background);
    const float luminance = 0.2126f * c.x + 0.7152f * c.y + 0.0722f * c.z;  // Rec. 709 weights
    return luminance > 0.5f ? IM_COL32(0, 0, 0, 255) : kTextColor;
}

// ---- building blocks of a chart ------------------------------------------------------------

float text_width(const std::string& text) { return ImGui::CalcTextSize(text.c_str()).x; }

void text_centered(ImDrawList* draw, float x, float y, ImU32 color, const std::string& text) {
    draw->AddText(ImVec2(x - text_width(text) / 2, y), color, text.c_str());
}

WidgetBox::WidgetBox(const char* id, ImVec2 size) {
    ImGui::PushID(id);
    origin = ImGui::GetCursorScreenPos();
    ImGui::InvisibleButton("box", ImVec2(std::max(size.x, 1.0f), std::max(size.y, 1.0f)));
    hovered = ImGui::IsItemHovered();
    draw = ImGui::GetWindowDrawList();
}

// ---- layout --------------------------------------------------------------------------------

void begin_view(const char* id, const std::string& heading, ImVec2 size) {
    ImGui::BeginChild(id, size, true);
    // A heading wider than the view is cut with an ellipsis, its whole text on hover.
    const float room = ImGui::GetContentRegionAvail().x;
    if (text_width(heading) <= room) {
        ImGui::TextUnformatted(heading.c_str());
    } else {
        std::string cut = heading;
        while (!cut.empty() && text_width(cut + "...") > room) cut.pop_back();
        ImGui::TextUnformatted((cut + "...").c_str());
        if (ImGui::IsItemHovered()) ImGui::SetTooltip("%s", heading.c_str());
    }
    ImGui::Separator();
}

void end_view(bool scrolls) {
    record_window_fit("content", scrolls);
    ImGui::EndChild();
}

void view_grid(const std::vector<View>& views, int columns) {
    const ImGuiStyle& style = ImGui::GetStyle();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const int count = static_cast<int>(views.size());
    columns = std::clamp(columns, 1, std::max(count, 1));
    const int rows = (count + columns - 1) / columns;
    const ImVec2 cell(std::floor((avail.x - style.ItemSpacing.x * (columns - 1)) / columns),
                      std::floor((avail.y - style.ItemSpacing.y * (rows - 1)) / rows));
    for (int i = 0; i < count; ++i) {
        if (i % columns != 0) ImGui::SameLine();
        begin_view(views[i].id, views[i].heading, cell);
        views[i].draw();
        end_view(views[i].scrolls);
    }
}

bool begin_tab(const std::string& title, const char* id, bool select) {
    const bool open =
        ImGui::BeginTabItem((title + "###" + id).c_str(), nullptr, select ? ImGuiTabItemFlags_SetSelected : 0);
    const ImVec2 tab_min = ImGui::GetItemRectMin(), tab_max = ImGui::GetItemRectMax();
    const float pad = ImGui::GetStyle().FramePadding.x;
    record_fit(std::string("tab ") + id, ImVec2(tab_min.x + pad, tab_min.y),
               ImVec2(tab_min.x + pad + text_width(title), tab_max.y), tab_min, tab_max);
    return open;
}

int columns_that_fit(float min_width, int count) {
    const float avail = ImGui::GetContentRegionAvail().x, gap = ImGui::GetStyle().ItemSpacing.x;
    int columns = std::max(count, 1);
    while (columns > 1 && columns * min_width + (columns - 1) * gap > avail) --columns;
    return columns;
}

void same_line_if_fits(float width, float spacing) {
    ImGui::SameLine(0, spacing);
    if (ImGui::GetContentRegionAvail().x < width) ImGui::NewLine();
}

void radio_same_line_if_fits(const std::string& label) {
    same_line_if_fits(ImGui::GetFrameHeight() + ImGui::GetStyle().ItemInnerSpacing.x + text_width(label));
}

namespace {

// `text` broken into lines of at most `width` pixels, at spaces only: ImGui's own wrapping also
// breaks after '.', which cuts "5.3x" in two.
std::vector<std::string> wrap_lines(const std::string& text, float width) {
    std::vector<std::string> lines;
    std::string line;
    for (size_t start = 0; start < text.size();) {
        size_t end = text.find(' ', start);
        if (end == std::string::npos) end = text.size();
        const std::string word = text.substr(start, end - start);
        const std::string joined = line.empty() ? word : line + " " + word;
        if (!line.empty() && text_width(joined) > width) {
            lines.push_back(line);
            line = word;
        } else {
            line = joined;
        }
        start = end + 1;
    }
    if (!line.empty() || text.empty()) lines.push_back(line);
    return lines;
}

}  // namespace

void wrapped_note(const std::string& text) {
    const float width = std::max(ImGui::GetContentRegionAvail().x, text_width("MMMM"));
    for (const std::string& line : wrap_lines(text, width)) ImGui::TextDisabled("%s", line.c_str());
}

void brief_note(const std::string& text, float keep_height) {
    const float width = std::max(ImGui::GetContentRegionAvail().x, text_width("MMMM"));
    const std::vector<std::string> lines = wrap_lines(text, width - text_width(" (more)"));
    const float height = static_cast<float>(lines.size()) * ImGui::GetTextLineHeightWithSpacing();
    if (lines.size() <= 1 || ImGui::GetContentRegionAvail().y - height >= keep_height) {
        wrapped_note(text);
        return;
    }
    ImGui::TextDisabled("%s (more)", lines.front().c_str());
    if (ImGui::IsItemHovered()) {
        ImGui::BeginTooltip();
        ImGui::PushTextWrapPos(ImGui::GetFontSize() * 30);
        ImGui::TextUnformatted(text.c_str());
        ImGui::PopTextWrapPos();
        ImGui::EndTooltip();
    }
}

// ---- heatmap layout ------------------------------------------------------------------------

namespace {

// Label every `step`-th item, step from 1, 2, 5, 10, 20, 50, ...: the smallest that leaves
// `label_width` (plus a gap) between labels `item_width` pixels apart.
int64_t label_step(float item_width, float label_width) {
    const float needed = label_width + 2 * ImGui::GetStyle().ItemSpacing.x;
    for (int64_t decade = 1;; decade *= 10)
        for (int64_t multiple : {1, 2, 5})
            if (item_width * static_cast<float>(decade * multiple) >= needed) return decade * multiple;
}

// How a grid maps onto pixels: blocks of `block_rows` x `block_cols` cells, at least 2 pixels
// each way and at most 512 blocks across, so that drawing costs the same for any tensor size.
struct Blocks {
    int64_t block_rows = 1, block_cols = 1;
    int64_t rows = 0, cols = 0;  // blocks drawn
};

Blocks blocks_for(const Grid& grid, float width, float height) {
    auto per_block = [](int64_t cells, float pixels) {
        const int64_t max_blocks = std::clamp<int64_t>(static_cast<int64_t>(pixels / 2), 1, 512);
        return (cells + max_blocks - 1) / max_blocks;
    };
    Blocks b;
    b.block_rows = per_block(grid.rows, height);
    b.block_cols = per_block(grid.cols, width);
    b.rows = (grid.rows + b.block_rows - 1) / b.block_rows;
    b.cols = (grid.cols + b.block_cols - 1) / b.block_cols;
    return b;
}

// The grid-local index (row * cols + col) of the value a block shows: its largest finite
// magnitude, or its first value when none is finite.
int64_t block_element(const Grid& grid, const Blocks& b, int64_t block_row, int64_t block_col) {
    const int64_t r0 = block_row * b.block_rows, c0 = block_col * b.block_cols;
    const int64_t r1 = std::min(grid.rows, r0 + b.block_rows), c1 = std::min(grid.cols, c0 + b.block_cols);
    int64_t best = r0 * grid.cols + c0;
    float best_magnitude = -1;
    for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) {
            const float v = grid.values[r * grid.cols + c];
            if (std::isfinite(v) && std::fabs(v) > best_magnitude) {
                best_magnitude = std::fabs(v);
                best = r * grid.cols + c;
            }
        }
    return best;
}

// A cell's colour pushed most of the way toward the background: still there, clearly out of play.
ImU32 dimmed_color(ImU32 color) {
    const ImVec4 c = ImGui::ColorConvertU32ToFloat4(color);
    const float keep = 0.28f, background = 0.07f * (1 - keep);
    return ImGui::ColorConvertFloat4ToU32(
        ImVec4(c.x * keep + background, c.y * keep + background, c.z * keep + background, 1));
}

}  // namespace

// ---- heatmap -------------------------------------------------------------------------------

bool draw_heatmap_cells(ImDrawList* draw, ImVec2 min, ImVec2 max, const Grid& grid, const ColorScale& scale) {
    const float width = max.x - min.x, height = max.y - min.y;
    if (width < 1 || height < 1 || grid.rows == 0 || grid.cols == 0) return false;
    const Blocks b = blocks_for(grid, width, height);
    std::vector<ImU32> texels(static_cast<size_t>(b.rows * b.cols));  // IM_COL32 is R, G, B, A in memory
    bool non_finite = false;
    for (int64_t br = 0; br < b.rows; ++br)
        for (int64_t bc = 0; bc < b.cols; ++bc) {
            const int64_t element = block_element(grid, b, br, bc);
            const float value = grid.values[element];
            non_finite |= !std::isfinite(value);
            ImU32 color = scale_color(scale, value);
            if (!grid.dimmed.empty() && grid.dimmed[static_cast<size_t>(element)]) color = dimmed_color(color);
            texels[br * b.cols + bc] = color;
        }
    // One texture per call site, refilled every frame; nearest filtering keeps the cells' edges sharp.
    static std::unordered_map<ImGuiID, GLuint> textures;
    GLuint& texture = textures[ImGui::GetID("heatmap cells")];
    if (texture == 0) {
        glGenTextures(1, &texture);
        glBindTexture(GL_TEXTURE_2D, texture);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_NEAREST);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_NEAREST);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);
    }
    glBindTexture(GL_TEXTURE_2D, texture);
    glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA, static_cast<GLsizei>(b.cols), static_cast<GLsizei>(b.rows), 0, GL_RGBA,
                 GL_UNSIGNED_BYTE, texels.data());
    draw->AddImage(reinterpret_cast<ImTextureID>(static_cast<intptr_t>(texture)), min, max);
    return non_finite;
}

namespace {

// Tick labels along one axis of the grid: the given labels when each fits its cell, else every
// step-th index.
struct AxisTicks {
    int64_t step = 1;
    bool use_labels = false;
};

AxisTicks grid_ticks(int64_t count, const std::vector<std::string>& labels, float cell_extent, bool horizontal) {
    AxisTicks ticks;
    if (static_cast<int64_t>(labels.size()) == count) {
        float widest = 0;
        for (const std::string& label : labels) widest = std::max(widest, text_width(label));
        const float needed = horizontal ? widest : ImGui::GetTextLineHeight();
        if (needed + 4 <= cell_extent) {
            ticks.use_labels = true;
            return ticks;
        }
    }
    const float label_extent = horizontal ? text_width(std::to_string(count - 1)) : ImGui::GetTextLineHeight();
    ticks.step = label_step(cell_extent, label_extent);
    return ticks;
}

std::string tick_text(const AxisTicks& ticks, const std::vector<std::string>& labels, int64_t i) {
    return ticks.use_labels ? labels[i] : std::to_string(i);
}

// The legend's five labels, i = 0 (lo) .. 4 (hi).
std::string legend_label(const ColorScale& scale, int i) {
    return format_value(scale.lo + (scale.hi - scale.lo) * i / 4.0f);
}

// The distinct ids of a categorical grid, ascending.
std::vector<int64_t> categories_of(const Grid& grid) {
    std::vector<int64_t> ids;
    for (int64_t i = 0; i < grid.rows * grid.cols; ++i)
        if (std::isfinite(grid.values[i])) ids.push_back(std::lround(grid.values[i]));
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

// The legend's width: a colour bar and its labels, or a swatch and an id per category.
float legend_width(const ColorScale& scale, const std::vector<int64_t>& categories) {
    float widest = 0;
    if (scale.map == ColorMap::Categorical) {
        for (int64_t id : categories) widest = std::max(widest, text_width(std::to_string(id)));
        return widest + dp(16 + 8);
    }
    for (int i = 0; i <= 4; ++i) widest = std::max(widest, text_width(legend_label(scale, i)));
    return widest + dp(16 + 8);
}

void draw_legend(ImDrawList* draw, ImVec2 min, ImVec2 max, const ColorScale& scale,
                 const std::vector<int64_t>& categories) {
    const float line = ImGui::GetTextLineHeight();
    if (scale.map == ColorMap::Categorical) {
        // A swatch per id while they fit, one line each; the rest are read off the cells.
        const size_t fit = static_cast<size_t>(std::max(0.0f, (max.y - min.y) / (line + 2)));
        const size_t shown = categories.size() <= fit ? categories.size() : fit > 0 ? fit - 1 : 0;
        for (size_t i = 0; i < shown; ++i) {
            const float y = min.y + static_cast<float>(i) * (line + 2);
            draw->AddRectFilled(ImVec2(min.x, y + 2), ImVec2(max.x, y + line - 2), category_color(categories[i]));
            draw->AddText(ImVec2(max.x + dp(6), y), kTextColor, std::to_string(categories[i]).c_str());
        }
        if (shown < categories.size())
            draw->AddText(ImVec2(min.x, min.y + static_cast<float>(shown) * (line + 2)), kDimTextColor, "...");
        return;
    }
    const int segments = 48;
    const float height = max.y - min.y;
    for (int i = 0; i < segments; ++i) {
        // Top is hi: segment i spans t from 1 - i/n down to 1 - (i+1)/n.
        const float t_top = 1.0f - static_cast<float>(i) / segments,
                    t_bottom = 1.0f - static_cast<float>(i + 1) / segments;
        const ImU32 top = colormap_color(scale.map, t_top), bottom = colormap_color(scale.map, t_bottom);
        draw->AddRectFilledMultiColor(ImVec2(min.x, min.y + height * i / segments),
                                      ImVec2(max.x, min.y + height * (i + 1) / segments), top, top, bottom, bottom);
    }
    draw->AddRect(min, max, kAxisColor);
    // Five labels (lo, quarters, hi) where they have room, else lo, middle and hi, else the ends.
    const int step = height >= 4 * line * 1.2f ? 1 : height >= 2 * line * 1.2f ? 2 : 4;
    for (int i = 0; i <= 4; i += step) {
        const float t = i / 4.0f;
        const float y = std::clamp(max.y - height * t - line / 2, min.y - line / 2, max.y - line / 2);
        draw->AddLine(ImVec2(max.x, max.y - height * t), ImVec2(max.x + dp(4), max.y - height * t), kAxisColor);
        draw->AddText(ImVec2(max.x + dp(6), y), kTextColor, legend_label(scale, i).c_str());
    }
}

}  // namespace

float color_legend_width(const ColorScale& scale) { return legend_width(scale, {}) + ImGui::GetStyle().ItemSpacing.x; }

void color_legend(const char* id, const ColorScale& scale, ImVec2 size) {
    const WidgetBox box(id, size);
    draw_legend(box.draw, ImVec2(box.origin.x + box.pad, box.origin.y + box.line + 4),
                ImVec2(box.origin.x + box.pad + dp(16), box.origin.y + size.y - 2), scale, {});
}

int64_t heatmap(const char* id, const Grid& grid, const ColorScale& scale, ImVec2 size, int64_t outline) {
    const WidgetBox box(id, size);
    const bool categorical = scale.map == ColorMap::Categorical;
    const std::vector<int64_t> categories = categorical ? categories_of(grid) : std::vector<int64_t>{};

    // Margins: row ticks left, column ticks above, the axis caption below, the legend right.
    float row_label_width = text_width(std::to_string(std::max<int64_t>(grid.rows - 1, 0)));
    for (const std::string& label : grid.row_labels) row_label_width = std::max(row_label_width, text_width(label));
    if (!grid.row_ticks) row_label_width = 0;
    const float legend_w = grid.legend ? legend_width(scale, categories) : 0;
    const ImVec2 cells_min(box.origin.x + row_label_width + box.pad, box.origin.y + box.line + 4);
    ImVec2 cells_max(box.origin.x + size.x - legend_w - 2 * box.pad,
                     box.origin.y + size.y - (grid.caption ? box.line + 6 : 2));

    // The caption: what the axes are, and how the cells are drawn, in as many lines as it needs
    // (how many it takes at one line's height decides the height of the cells).
    // Outlines need cells of a few pixels; smaller, they would hide the colours they mark.
    auto marks_fit = [&](const Blocks& b, float cell_w, float cell_h) {
        return b.block_rows == 1 && b.block_cols == 1 && cell_w >= dp(6) && cell_h >= dp(6);
    };
    auto caption_lines = [&](const Blocks& b, bool marks_drawn, bool non_finite) {
        std::vector<std::string> parts;
        if (!grid.row_axis.empty()) parts.push_back("rows: " + grid.row_axis + " (" + std::to_string(grid.rows) + ")");
        if (!grid.col_axis.empty()) parts.push_back("columns: " + grid.col_axis + " (" + std::to_string(grid.cols) + ")");
        if (parts.empty()) parts.push_back("");
        if (b.block_rows > 1 || b.block_cols > 1)
            parts.push_back("blocks of " + std::to_string(b.block_rows) + " x " + std::to_string(b.block_cols) +
                            (categorical ? " (hover for each)" : " (largest |value|)"));
        if (categorical) parts.push_back("colour and number: the id");
        if (non_finite) parts.push_back("grey: -inf (masked)");
        if (!grid.marked.empty())
            parts.push_back(marks_drawn ? "outlined: " + grid.marked_meaning
                                        : grid.marked_meaning + ": too small to outline here, hover a cell");
        if (!grid.dimmed.empty() && !grid.dimmed_meaning.empty()) parts.push_back("dimmed: " + grid.dimmed_meaning);
        // A part too wide for a line of its own loses its "rows: " / "columns: ", then its end.
        const float room = box.origin.x + size.x - cells_min.x;
        for (std::string& part : parts) {
            if (text_width(part) > room && part.find(": ") != std::string::npos) part = part.substr(part.find(": ") + 2);
            while (text_width(part) > room && part.size() > 4) part = part.substr(0, part.size() - 4) + "...";
        }
        std::vector<std::string> lines = {parts.front()};
        for (size_t i = 1; i < parts.size(); ++i) {
            const std::string joined = lines.back() + "    " + parts[i];
            if (text_width(joined) <= room)
                lines.back() = joined;
            else
                lines.push_back(parts[i]);
        }
        return lines;
    };
    if (cells_max.x - cells_min.x < 4 || cells_max.y - cells_min.y < 4 || grid.rows == 0 || grid.cols == 0) {
        record_plot(id, cells_min, ImVec2(std::max(cells_max.x, cells_min.x), std::max(cells_max.y, cells_min.y)));
        return -1;
    }
    {
        const Blocks b = blocks_for(grid, cells_max.x - cells_min.x, cells_max.y - cells_min.y);
        const float cell_w = (cells_max.x - cells_min.x) / grid.cols, cell_h = (cells_max.y - cells_min.y) / grid.rows;
        const size_t lines = grid.caption ? caption_lines(b, marks_fit(b, cell_w, cell_h), false).size() : 1;
        cells_max.y -= static_cast<float>(lines - 1) * box.line;
    }
    record_plot(id, cells_min, ImVec2(cells_max.x, std::max(cells_max.y, cells_min.y)));
    if (cells_max.y - cells_min.y < 4) return -1;
    const float cell_w = (cells_max.x - cells_min.x) / grid.cols, cell_h = (cells_max.y - cells_min.y) / grid.rows;
    const bool drew_non_finite = draw_heatmap_cells(box.draw, cells_min, cells_max, grid, scale);
    box.draw->AddRect(ImVec2(cells_min.x - 1, cells_min.y - 1), ImVec2(cells_max.x + 1, cells_max.y + 1), kAxisColor);

    const AxisTicks col_ticks = grid_ticks(grid.cols, grid.col_labels, cell_w, true);
    for (int64_t c = 0; c < grid.cols; c += col_ticks.step)
        text_centered(box.draw, cells_min.x + (c + 0.5f) * cell_w, box.origin.y, kDimTextColor,
                      tick_text(col_ticks, grid.col_labels, c));
    const AxisTicks row_ticks = grid_ticks(grid.rows, grid.row_labels, cell_h, false);
    for (int64_t r = 0; r < grid.rows && grid.row_ticks; r += row_ticks.step) {
        const std::string text = tick_text(row_ticks, grid.row_labels, r);
        box.draw->AddText(
            ImVec2(cells_min.x - box.pad - text_width(text), cells_min.y + (r + 0.5f) * cell_h - box.line / 2),
            kDimTextColor, text.c_str());
    }

    const Blocks b = blocks_for(grid, cells_max.x - cells_min.x, cells_max.y - cells_min.y);
    // Ids written on their cells, where every cell has room for the widest.
    if (categorical && b.block_rows == 1 && b.block_cols == 1 && !categories.empty()) {
        const float widest = std::max(text_width(std::to_string(categories.front())),
                                      text_width(std::to_string(categories.back())));
        if (widest + dp(4) <= cell_w && box.line <= cell_h)
            for (int64_t i = 0; i < grid.rows * grid.cols; ++i) {
                const float v = grid.values[i];
                if (!std::isfinite(v)) continue;
                const int64_t r = i / grid.cols, c = i % grid.cols;
                const ImU32 fill = scale_color(scale, v);
                text_centered(box.draw, cells_min.x + (c + 0.5f) * cell_w, cells_min.y + (r + 0.5f) * cell_h - box.line / 2,
                              text_color_on(grid.dimmed.empty() || !grid.dimmed[i] ? fill : dimmed_color(fill)),
                              std::to_string(std::lround(v)));
            }
    }
    const bool draw_marks = !grid.marked.empty() && marks_fit(b, cell_w, cell_h);
    const std::vector<std::string> caption =
        grid.caption ? caption_lines(b, draw_marks, drew_non_finite) : std::vector<std::string>{};
    const ImVec2 box_max(box.origin.x + size.x, box.origin.y + size.y);
    for (size_t i = 0; i < caption.size(); ++i) {
        const ImVec2 at(cells_min.x, cells_max.y + 4 + static_cast<float>(i) * box.line);
        box.draw->AddText(at, kDimTextColor, caption[i].c_str());
        record_fit(std::string(id) + "/caption", at, ImVec2(at.x + text_width(caption[i]), at.y + box.line), box.origin,
                   box_max);
    }
    const int64_t cells = grid.rows * grid.cols;

    if (grid.legend) {
        const ImVec2 legend_min(cells_max.x + 2 * box.pad, cells_min.y);
        draw_legend(box.draw, legend_min, ImVec2(legend_min.x + dp(16), cells_max.y), scale, categories);
        record_fit(std::string(id) + "/legend", legend_min, ImVec2(legend_min.x + legend_w, cells_max.y), box.origin,
                   box_max);
    }

    // Separators as gaps of the background, which no cell colour resembles; outlines black under
    // white, so that they show on any colour.
    auto separator = [&](ImVec2 from, ImVec2 to) {
        box.draw->AddLine(from, to, IM_COL32(16, 16, 18, 255), std::min(dp(5), std::max(cell_w, cell_h) / 2));
    };
    for (int64_t c = grid.col_separator_every; grid.col_separator_every > 0 && c < grid.cols;
         c += grid.col_separator_every)
        separator(ImVec2(cells_min.x + c * cell_w, cells_min.y), ImVec2(cells_min.x + c * cell_w, cells_max.y));
    for (int64_t r = grid.row_separator_every; grid.row_separator_every > 0 && r < grid.rows;
         r += grid.row_separator_every)
        separator(ImVec2(cells_min.x, cells_min.y + r * cell_h), ImVec2(cells_max.x, cells_min.y + r * cell_h));
    for (int64_t local : draw_marks ? grid.marked : std::vector<int64_t>{}) {
        const ImVec2 lo(cells_min.x + (local % grid.cols) * cell_w, cells_min.y + (local / grid.cols) * cell_h);
        const ImVec2 hi(lo.x + cell_w, lo.y + cell_h);
        box.draw->AddRect(ImVec2(lo.x + 1, lo.y + 1), ImVec2(hi.x - 1, hi.y - 1), IM_COL32(0, 0, 0, 255), 0, 0, dp(3));
        box.draw->AddRect(ImVec2(lo.x + dp(2), lo.y + dp(2)), ImVec2(hi.x - dp(2), hi.y - dp(2)),
                          IM_COL32(255, 255, 255, 255), 0, 0, dp(2));
    }
    if (grid.highlighted_row >= 0 && grid.highlighted_row < grid.rows) {
        const float y0 = cells_min.y + grid.highlighted_row * cell_h, y1 = y0 + cell_h;
        box.draw->AddRect(ImVec2(cells_min.x - dp(3), y0 - dp(1)), ImVec2(cells_max.x + dp(3), y1 + dp(1)),
                          IM_COL32(0, 0, 0, 255), 0, 0, dp(4));
        box.draw->AddRect(ImVec2(cells_min.x - dp(3), y0 - dp(1)), ImVec2(cells_max.x + dp(3), y1 + dp(1)),
                          IM_COL32(255, 255, 255, 255), 0, 0, dp(2));
    }

    // The block holding `outline`, ringed black then white so that it shows on any colour.
    auto block_rect = [&](int64_t local, ImVec2& lo, ImVec2& hi) {
        const int64_t br = (local / grid.cols) / b.block_rows, bc = (local % grid.cols) / b.block_cols;
        const float width = cells_max.x - cells_min.x, height = cells_max.y - cells_min.y;
        lo = ImVec2(cells_min.x + width * bc / b.cols, cells_min.y + height * br / b.rows);
        hi = ImVec2(cells_min.x + width * (bc + 1) / b.cols, cells_min.y + height * (br + 1) / b.rows);
    };
    if (outline >= grid.offset && outline < grid.offset + cells) {
        ImVec2 lo, hi;
        block_rect(outline - grid.offset, lo, hi);
        const ImVec2 centre((lo.x + hi.x) / 2, (lo.y + hi.y) / 2);
        const float half_w = std::max((hi.x - lo.x) / 2, dp(5)), half_h = std::max((hi.y - lo.y) / 2, dp(5));
        lo = ImVec2(centre.x - half_w, centre.y - half_h);
        hi = ImVec2(centre.x + half_w, centre.y + half_h);
        box.draw->AddRect(lo, hi, IM_COL32(0, 0, 0, 255), 0, 0, dp(4));
        box.draw->AddRect(lo, hi, IM_COL32(255, 255, 255, 255), 0, 0, dp(2));
    }

    const ImVec2 mouse = ImGui::GetIO().MousePos;
    int64_t hovered_index = -1;
    if (box.hovered && mouse.x >= cells_min.x && mouse.x < cells_max.x && mouse.y >= cells_min.y &&
        mouse.y < cells_max.y) {
        const int64_t br = std::min<int64_t>(
            static_cast<int64_t>((mouse.y - cells_min.y) / (cells_max.y - cells_min.y) * b.rows), b.rows - 1);
        const int64_t bc = std::min<int64_t>(
            static_cast<int64_t>((mouse.x - cells_min.x) / (cells_max.x - cells_min.x) * b.cols), b.cols - 1);
        const int64_t local = block_element(grid, b, br, bc);
        hovered_index = grid.offset + local;
        ImVec2 lo, hi;
        block_rect(local, lo, hi);
        box.draw->AddRect(lo, hi, IM_COL32(255, 255, 255, 255), 0, 0, dp(1.5f));
        ImGui::BeginTooltip();
        ImGui::Text("%s%s", grid.name.c_str(), format_index(hovered_index, grid.shape).c_str());
        if (categorical)
            ImGui::Text("id %ld", std::lround(grid.values[local]));
        else
            ImGui::Text("value %.7g", grid.values[local]);
        if (b.block_rows > 1 || b.block_cols > 1)
            ImGui::TextDisabled(categorical ? "one of a %lld x %lld block" : "largest magnitude of a %lld x %lld block",
                                static_cast<long long>(b.block_rows), static_cast<long long>(b.block_cols));
        if (grid.note) ImGui::TextUnformatted(grid.note(hovered_index).c_str());
        ImGui::EndTooltip();
    }
    return hovered_index;
}

// ---- histogram -----------------------------------------------------------------------------

Histogram make_histogram(const std::vector<float>& values) {
    Histogram h;
    float lo = INFINITY, hi = -INFINITY;
    for (float v : values)
        if (std::isfinite(v)) {
            lo = std::min(lo, v);
            hi = std::max(hi, v);
            ++h.finite;
        }
    if (h.finite == 0) return h;
    if (lo == hi) {  // one value: a single bar around it
        lo -= 0.5f;
        hi += 0.5f;
    }
    h.lo = lo;
    h.hi = hi;
    const int bins = static_cast<int>(std::clamp<double>(std::sqrt(static_cast<double>(h.finite)), 5, 40));
    h.counts.assign(bins, 0);
    for (float v : values)
        if (std::isfinite(v)) h.counts[std::min(bins - 1, static_cast<int>((v - h.lo) / (h.hi - h.lo) * bins))] += 1;
    return h;
}

void draw_histogram(const char* id, const Histogram& histogram, ImVec2 size, const char* x_label) {
    const WidgetBox box(id, size);
    if (histogram.counts.empty()) {
        box.draw->AddText(box.origin, kDimTextColor, "no finite values");
        return;
    }
    const std::vector<int64_t>& counts = histogram.counts;
    const int bins = static_cast<int>(counts.size());
    const double lo = histogram.lo, hi = histogram.hi;
    const int64_t finite = histogram.finite;
    const int64_t most = *std::max_element(counts.begin(), counts.end());

    const std::string most_text = std::to_string(most);
    const ImVec2 plot_min(box.origin.x + text_width(most_text) + box.pad, box.origin.y + box.line + 4);
    const ImVec2 plot_max(box.origin.x + size.x - box.pad, box.origin.y + size.y - 2 * box.line - 6);
    record_plot(id, plot_min, ImVec2(std::max(plot_max.x, plot_min.x), std::max(plot_max.y, plot_min.y)));
    if (plot_max.x - plot_min.x < 10 || plot_max.y - plot_min.y < 10) {
        return;
    }
    const float plot_w = plot_max.x - plot_min.x, plot_h = plot_max.y - plot_min.y;
    auto x_of = [&](double v) { return plot_min.x + static_cast<float>((v - lo) / (hi - lo)) * plot_w; };
    for (int i = 0; i < bins; ++i) {
        const float x0 = plot_min.x + plot_w * i / bins, x1 = plot_min.x + plot_w * (i + 1) / bins;
        const float y0 = plot_max.y - plot_h * static_cast<float>(counts[i]) / static_cast<float>(most);
        box.draw->AddRectFilled(ImVec2(x0 + 0.5f, y0), ImVec2(x1 - 0.5f, plot_max.y), IM_COL32(86, 150, 210, 255));
    }
    box.draw->AddLine(ImVec2(plot_min.x, plot_max.y), ImVec2(plot_max.x, plot_max.y), kAxisColor);
    box.draw->AddLine(plot_min, ImVec2(plot_min.x, plot_max.y), kAxisColor);
    box.draw->AddText(ImVec2(box.origin.x, plot_min.y - box.line / 2), kDimTextColor, most_text.c_str());
    box.draw->AddText(ImVec2(box.origin.x + text_width(most_text) - text_width("0"), plot_max.y - box.line / 2),
                      kDimTextColor, "0");
    box.draw->AddText(ImVec2(box.origin.x, box.origin.y), kDimTextColor, "count");

    // Value ticks: both ends, and 0 when it lies inside and clear of them.
    std::vector<double> ticks = {lo, hi};
    const float zero_x = x_of(0.0);
    if (lo < 0 && hi > 0 && zero_x - plot_min.x > 3 * box.line && plot_max.x - zero_x > 3 * box.line)
        ticks.push_back(0.0);
    for (double tick : ticks) {
        const float x = x_of(tick);
        const std::string text = format_value(tick);
        const float left = std::clamp(x - text_width(text) / 2, plot_min.x, plot_max.x - text_width(text));
        box.draw->AddLine(ImVec2(x, plot_max.y), ImVec2(x, plot_max.y + 4), kAxisColor);
        box.draw->AddText(ImVec2(left, plot_max.y + 4), kDimTextColor, text.c_str());
    }
    text_centered(box.draw, (plot_min.x + plot_max.x) / 2, plot_max.y + box.line + 6, kTextColor, x_label);

    const ImVec2 mouse = ImGui::GetIO().MousePos;
    if (box.hovered && mouse.x >= plot_min.x && mouse.x < plot_max.x) {
        const int i = std::min(bins - 1, static_cast<int>((mouse.x - plot_min.x) / plot_w * bins));
        const double bin_lo = lo + (hi - lo) * i / bins, bin_hi = lo + (hi - lo) * (i + 1) / bins;
        ImGui::SetTooltip("%s in [%s, %s): %lld of %lld values", x_label, format_value(bin_lo).c_str(),
                          format_value(bin_hi).c_str(), static_cast<long long>(counts[i]),
                          static_cast<long long>(finite));
    }
}

void draw_category_counts(const char* id, const std::vector<float>& ids, ImVec2 size, const char* x_label) {
    const WidgetBox box(id, size);
    std::map<int64_t, int64_t> counts;
    for (float v : ids)
        if (std::isfinite(v)) ++counts[std::lround(v)];
    if (counts.empty()) {
        box.draw->AddText(box.origin, kDimTextColor, "no ids");
        return;
    }
    int64_t most = 0;
    for (const auto& [category, count] : counts) most = std::max(most, count);
    const std::string most_text = std::to_string(most);
    const ImVec2 plot_min(box.origin.x + text_width(most_text) + box.pad, box.origin.y + box.line + 4);
    const ImVec2 plot_max(box.origin.x + size.x - box.pad, box.origin.y + size.y - 2 * box.line - 6);
    record_plot(id, plot_min, ImVec2(std::max(plot_max.x, plot_min.x), std::max(plot_max.y, plot_min.y)));
    if (plot_max.x - plot_min.x < 10 || plot_max.y - plot_min.y < 10) return;
    const float bar_w = (plot_max.x - plot_min.x) / static_cast<float>(counts.size());
    const float plot_h = plot_max.y - plot_min.y;
    // Every id under its bar while they fit, else every few.
    float widest = 0;
    for (const auto& [category, count] : counts) widest = std::max(widest, text_width(std::to_string(category)));
    const int64_t label_every = label_step(bar_w, widest);
    int64_t i = 0, hovered = -1;
    const ImVec2 mouse = ImGui::GetIO().MousePos;
    for (const auto& [category, count] : counts) {
        const float x0 = plot_min.x + bar_w * static_cast<float>(i);
        const float y0 = plot_max.y - plot_h * static_cast<float>(count) / static_cast<float>(most);
        box.draw->AddRectFilled(ImVec2(x0 + (bar_w > 4 ? 0.5f : 0), y0), ImVec2(x0 + bar_w - (bar_w > 4 ? 0.5f : 0), plot_max.y),
                                category_color(category));
        if (i % label_every == 0)
            text_centered(box.draw, x0 + bar_w / 2, plot_max.y + 4, kDimTextColor, std::to_string(category));
        if (box.hovered && mouse.x >= x0 && mouse.x < x0 + bar_w) hovered = category;
        ++i;
    }
    box.draw->AddLine(ImVec2(plot_min.x, plot_max.y), ImVec2(plot_max.x, plot_max.y), kAxisColor);
    box.draw->AddLine(plot_min, ImVec2(plot_min.x, plot_max.y), kAxisColor);
    box.draw->AddText(ImVec2(box.origin.x, plot_min.y - box.line / 2), kDimTextColor, most_text.c_str());
    box.draw->AddText(ImVec2(box.origin.x + text_width(most_text) - text_width("0"), plot_max.y - box.line / 2),
                      kDimTextColor, "0");
    box.draw->AddText(box.origin, kDimTextColor, "count");
    text_centered(box.draw, (plot_min.x + plot_max.x) / 2, plot_max.y + box.line + 6, kTextColor, x_label);
    if (hovered >= 0)
        ImGui::SetTooltip("%s %lld: %lld of %zu", x_label, static_cast<long long>(hovered),
                          static_cast<long long>(counts[hovered]), ids.size());
}

// ---- line plot -------------------------------------------------------------------------------

namespace {

// Where a value sits along an axis, 0 at `lo` and 1 at `hi` (by logarithm on a log axis).
double axis_fraction(const PlotAxis& axis, double lo, double hi, double v) {
    if (axis.log_base > 0) return std::log(v / lo) / std::log(hi / lo);
    return (v - lo) / (hi - lo);
}

// The logarithm of v in the axis's base.
double log_in(const PlotAxis& axis, double v) { return std::log(v) / std::log(axis.log_base); }

// Log axes snap to whole powers of their base; linear ones get a little headroom.
void axis_range(const PlotAxis& axis, double& lo, double& hi) {
    if (axis.log_base > 0) {
        lo = std::pow(axis.log_base, std::floor(log_in(axis, lo) + 1e-9));
        hi = std::pow(axis.log_base, std::ceil(log_in(axis, hi) - 1e-9));
        if (hi <= lo) hi = lo * axis.log_base;
    } else {
        const double margin = hi > lo ? 0.05 * (hi - lo) : 1.0;
        lo -= margin;
        hi += margin;
    }
}

// Ticks: powers of the base on a log axis (every k-th when crowded; with 1, 2 and 5 times each
// power of ten when there are few decades, so that a loss falling from 6 to 0.3 has ticks to
// read), else round steps.
std::vector<double> plot_ticks(const PlotAxis& axis, double lo, double hi, int max_ticks) {
    std::vector<double> ticks;
    if (axis.log_base > 0) {
        const int powers = static_cast<int>(std::lround(log_in(axis, hi / lo)));
        if (axis.log_base == 10 && 3 * powers <= max_ticks) {
            for (int p = 0; p <= powers; ++p)
                for (double multiple : {1.0, 2.0, 5.0}) {
                    const double tick = lo * std::pow(10.0, p) * multiple;
                    if (tick <= hi * (1 + 1e-9)) ticks.push_back(tick);
                }
            return ticks;
        }
        const int every = std::max(1, (powers + max_ticks - 1) / max_ticks);
        for (int p = 0; p <= powers; p += every) ticks.push_back(lo * std::pow(axis.log_base, p));
    } else {
        // Round steps (1, 2 or 5 times a power of ten), at most `max_ticks` of them: ticks a reader can read.
        const double rough = (hi - lo) / std::clamp(max_ticks, 2, 6);
        const double decade = std::pow(10, std::floor(std::log10(rough)));
        double step = 10 * decade;
        for (double multiple : {1.0, 2.0, 5.0})
            if (multiple * decade >= rough) {
                step = multiple * decade;
                break;
            }
        for (double tick = std::ceil(lo / step) * step; tick <= hi + 1e-9 * step; tick += step)
            ticks.push_back(std::fabs(tick) < 1e-9 * step ? 0.0 : tick);
    }
    return ticks;
}

std::string axis_text(const PlotAxis& axis, double v) { return axis.format ? axis.format(v) : format_value(v); }

// A polyline drawn solid, dashed or dotted, the pattern running on across its vertices.
void styled_polyline(ImDrawList* draw, const std::vector<ImVec2>& points, ImU32 color, float thickness,
                     LineStyle style) {
    if (style == LineStyle::Solid) {
        draw->AddPolyline(points.data(), static_cast<int>(points.size()), color, 0, thickness);
        return;
    }
    const float on = style == LineStyle::Dashed ? dp(9) : dp(2.5f), off = style == LineStyle::Dashed ? dp(5) : dp(4);
    float phase = 0;  // distance into the current on+off period
    for (size_t i = 1; i < points.size(); ++i) {
        const ImVec2 a = points[i - 1], b = points[i];
        const float length = std::hypot(b.x - a.x, b.y - a.y);
        float at = 0;
        while (at < length) {
            const bool drawing = phase < on;
            const float step = std::min(length - at, drawing ? on - phase : on + off - phase);
            if (drawing) {
                const float t0 = at / length, t1 = (at + step) / length;
                draw->AddLine(ImVec2(a.x + (b.x - a.x) * t0, a.y + (b.y - a.y) * t0),
                              ImVec2(a.x + (b.x - a.x) * t1, a.y + (b.y - a.y) * t1), color, thickness);
            }
            at += step;
            phase = std::fmod(phase + step, on + off);
        }
    }
}

// The colour with its alpha scaled: the raw line behind a smoothed one.
ImU32 faded(ImU32 color, float alpha) {
    const int a = static_cast<int>(((color >> IM_COL32_A_SHIFT) & 0xFF) * alpha);
    return (color & ~IM_COL32_A_MASK) | (static_cast<ImU32>(a) << IM_COL32_A_SHIFT);
}

}  // namespace

std::vector<double> moving_average(const std::vector<double>& values, int window) {
    if (window <= 1) return values;
    const int64_t n = static_cast<int64_t>(values.size()), half = window / 2;
    std::vector<double> smoothed(values.size(), NAN);
    for (int64_t i = 0; i < n; ++i) {
        if (!std::isfinite(values[i])) continue;  // a point with no value stays without one
        double sum = 0;
        int64_t count = 0;
        for (int64_t j = std::max<int64_t>(0, i - half); j <= std::min(n - 1, i + half); ++j)
            if (std::isfinite(values[j])) {
                sum += values[j];
                ++count;
            }
        smoothed[i] = sum / static_cast<double>(count);
    }
    return smoothed;
}

void line_plot(const char* id, const std::vector<double>& x, const std::vector<Series>& series, const PlotAxis& x_axis,
               const PlotAxis& y_axis, ImVec2 size, const PlotOptions& options) {
    const WidgetBox box(id, size);
    auto x_of = [&](size_t s) -> const std::vector<double>& {
        return options.xs && s < options.xs->size() ? (*options.xs)[s] : x;
    };
    double x_lo = INFINITY, x_hi = -INFINITY;
    for (size_t s = 0; s < series.size(); ++s)
        for (double v : x_of(s)) {
            x_lo = std::min(x_lo, v);
            x_hi = std::max(x_hi, v);
        }
    if (series.empty() || x_lo > x_hi) {
        record_plot(id, box.origin, box.origin);  // nothing to plot: the layout test says so
        return;
    }
    double y_lo = INFINITY, y_hi = -INFINITY;
    // Missing values (NaN) and, on a log axis, values it cannot show are left out.
    auto shown = [&y_axis](double v) { return std::isfinite(v) && (y_axis.log_base <= 0 || v > 0); };
    for (const Series& s : series)
        for (double v : s.y)
            if (shown(v)) {
                y_lo = std::min(y_lo, v);
                y_hi = std::max(y_hi, v);
            }
    if (y_lo > y_hi) y_lo = y_hi = y_axis.log_base > 0 ? 1.0 : 0.0;  // nothing to show: an empty frame
    axis_range(x_axis, x_lo, x_hi);
    axis_range(y_axis, y_lo, y_hi);
    const std::vector<double> y_ticks =
        plot_ticks(y_axis, y_lo, y_hi, std::max(2, static_cast<int>(size.y / (2.5f * box.line))));
    float y_label_width = 0;
    for (double tick : y_ticks) y_label_width = std::max(y_label_width, text_width(axis_text(y_axis, tick)));

    // The legend: a row of entries (wrapping) between the y axis title and the plot, where it
    // never hides a line.
    const float swatch = dp(26), legend_left = box.origin.x + y_label_width + box.pad + dp(4);
    std::vector<ImVec2> legend_at;
    ImVec2 cursor(legend_left, box.origin.y + box.line + dp(6));
    for (const Series& s : series) {
        const float width = swatch + dp(8) + text_width(s.name) + 2 * box.pad;
        if (!legend_at.empty() && cursor.x + width > box.origin.x + size.x) cursor = ImVec2(legend_left, cursor.y + box.line + 2);
        legend_at.push_back(cursor);
        record_fit(std::string(id) + "/legend", cursor, ImVec2(cursor.x + width - 2 * box.pad, cursor.y + box.line),
                   box.origin, ImVec2(box.origin.x + size.x, box.origin.y + size.y));
        cursor.x += width;
    }
    const ImVec2 plot_min(legend_left, cursor.y + box.line + dp(8));
    const ImVec2 plot_max(box.origin.x + size.x - 2 * box.line, box.origin.y + size.y - 2 * box.line - dp(8));
    record_plot(id, plot_min, ImVec2(std::max(plot_max.x, plot_min.x), std::max(plot_max.y, plot_min.y)));
    if (plot_max.x - plot_min.x < 20 || plot_max.y - plot_min.y < 20) {
        return;
    }
    const float plot_w = plot_max.x - plot_min.x, plot_h = plot_max.y - plot_min.y;
    auto to_screen = [&](double xv, double yv) {
        return ImVec2(plot_min.x + static_cast<float>(axis_fraction(x_axis, x_lo, x_hi, xv)) * plot_w,
                      plot_max.y - static_cast<float>(axis_fraction(y_axis, y_lo, y_hi, yv)) * plot_h);
    };

    // Grid lines and tick labels, then the axis titles: y above the axis, x below the ticks.
    for (double tick : y_ticks) {
        const float y = to_screen(x_lo, tick).y;
        const std::string text = axis_text(y_axis, tick);
        box.draw->AddLine(ImVec2(plot_min.x, y), ImVec2(plot_max.x, y), kGridLineColor);
        box.draw->AddText(ImVec2(plot_min.x - box.pad - dp(4) - text_width(text), y - box.line / 2), kDimTextColor,
                          text.c_str());
    }
    const int x_tick_room = std::max(2, static_cast<int>(plot_w / (text_width(axis_text(x_axis, x_hi)) + 3 * box.pad)));
    for (double tick : plot_ticks(x_axis, x_lo, x_hi, x_tick_room)) {
        const float xs = to_screen(tick, y_lo).x;
        box.draw->AddLine(ImVec2(xs, plot_min.y), ImVec2(xs, plot_max.y), kGridLineColor);
        text_centered(box.draw, xs, plot_max.y + dp(4), kDimTextColor, axis_text(x_axis, tick));
    }
    box.draw->AddRect(plot_min, plot_max, kAxisColor);
    box.draw->AddText(ImVec2(box.origin.x, box.origin.y), kTextColor, y_axis.label.c_str());
    text_centered(box.draw, (plot_min.x + plot_max.x) / 2, plot_max.y + box.line + dp(8), kTextColor, x_axis.label);

    const bool smoothed = options.smoothing > 1;
    for (size_t s = 0; s < series.size(); ++s) {
        const ImU32 color = series[s].color ? series[s].color : series_color(static_cast<int>(s));
        const std::vector<double>& xv = x_of(s);
        auto points_of = [&](const std::vector<double>& y) {
            std::vector<ImVec2> points;
            for (size_t i = 0; i < xv.size() && i < y.size(); ++i)
                if (shown(y[i])) points.push_back(to_screen(xv[i], y[i]));
            return points;
        };
        const std::vector<ImVec2> points = points_of(series[s].y);
        box.draw->PushClipRect(plot_min, plot_max, true);
        if (smoothed) {
            // The raw values faint, so that the noise stays visible; the average over them.
            box.draw->AddPolyline(points.data(), static_cast<int>(points.size()), faded(color, 0.3f), 0, dp(1.2f));
            styled_polyline(box.draw, points_of(moving_average(series[s].y, options.smoothing)), color, dp(2.5f),
                            series[s].style);
        } else {
            styled_polyline(box.draw, points, color, dp(2.5f), series[s].style);
            // Dots on the points only where they stay apart; dense series (a step per pixel) are lines.
            if (points.size() < 2 || (points.back().x - points.front().x) / static_cast<float>(points.size() - 1) >= dp(8))
                for (const ImVec2& p : points) box.draw->AddCircleFilled(p, dp(3), color);
        }
        box.draw->PopClipRect();
        const ImVec2 at = legend_at[s];
        styled_polyline(box.draw, {ImVec2(at.x, at.y + box.line / 2), ImVec2(at.x + swatch, at.y + box.line / 2)}, color,
                        dp(3), series[s].style);
        box.draw->AddText(ImVec2(at.x + swatch + dp(6), at.y), kTextColor, series[s].name.c_str());
    }

    if (std::isfinite(options.mark_x) && options.mark_x >= x_lo && options.mark_x <= x_hi) {
        const float xs = to_screen(options.mark_x, y_lo).x;
        for (float y = plot_min.y; y < plot_max.y; y += dp(10))
            box.draw->AddLine(ImVec2(xs, y), ImVec2(xs, std::min(y + dp(6), plot_max.y)), IM_COL32(255, 255, 255, 200),
                              dp(1.5f));
    }

    // Hover: the x nearest the mouse, with every series' value there (raw, and smoothed when shown).
    const ImVec2 mouse = ImGui::GetIO().MousePos;
    if (box.hovered && mouse.x >= plot_min.x && mouse.x <= plot_max.x) {
        auto nearest_in = [&](const std::vector<double>& xv) {
            size_t nearest = 0;
            for (size_t i = 1; i < xv.size(); ++i)
                if (std::fabs(to_screen(xv[i], y_lo).x - mouse.x) < std::fabs(to_screen(xv[nearest], y_lo).x - mouse.x))
                    nearest = i;
            return nearest;
        };
        const size_t nearest = nearest_in(x_of(0));
        if (nearest < x_of(0).size()) {
            const float xs = to_screen(x_of(0)[nearest], y_lo).x;
            box.draw->AddLine(ImVec2(xs, plot_min.y), ImVec2(xs, plot_max.y), IM_COL32(255, 255, 255, 120));
            ImGui::BeginTooltip();
            ImGui::Text("%s: %s", x_axis.label.c_str(), axis_text(x_axis, x_of(0)[nearest]).c_str());
            for (size_t s = 0; s < series.size(); ++s) {
                const size_t i = nearest_in(x_of(s));
                if (i >= series[s].y.size() || !shown(series[s].y[i])) continue;
                const ImU32 color = series[s].color ? series[s].color : series_color(static_cast<int>(s));
                std::string text = series[s].name + ": " + axis_text(y_axis, series[s].y[i]);
                if (smoothed) text += " (smoothed " + axis_text(y_axis, moving_average(series[s].y, options.smoothing)[i]) + ")";
                ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(color), "%s", text.c_str());
            }
            ImGui::EndTooltip();
        }
    }
}

// ---- tokens --------------------------------------------------------------------------------

static CheckpointTokenizer token_pieces;

void set_token_pieces(const CheckpointTokenizer& tokenizer) { token_pieces = tokenizer; }

std::string token_string(int32_t token) {
    std::string text = token_pieces.piece(token);
    // DeepSeek's special tokens are written with U+FF5C and U+2581 ("<｜begin▁of▁sentence｜>"),
    // which the viewer's font lacks: drawn as | and _ they stay readable.
    for (const auto& [wide, narrow] : {std::pair<std::string, std::string>{"\xEF\xBD\x9C", "|"}, {"\xE2\x96\x81", "_"}})
        for (size_t at = text.find(wide); at != std::string::npos; at = text.find(wide, at + narrow.size()))
            text.replace(at, wide.size(), narrow);
    return text;
}

std::string token_label(int32_t token) {
    const std::string text = token_string(token);
    return text == " " ? "' '" : text;
}

int token_chips(const std::vector<int32_t>& tokens, const TokenChipOptions& options) {
    const ImGuiStyle& style = ImGui::GetStyle();
    const float gap = style.ItemSpacing.x / 2;
    const bool two_lines = !options.labels.empty();
    auto chip_size = [&](size_t i) {
        float width = std::max(text_width(token_string(tokens[i])), text_width("M"));
        if (i < options.labels.size()) width = std::max(width, text_width(options.labels[i]));
        return ImVec2(width + 2 * style.FramePadding.x,
                      (two_lines ? 2 : 1) * ImGui::GetTextLineHeight() + 2 * style.FramePadding.y);
    };
    // Lay the chips out once to count the rows; beyond max_rows they scroll in a box that high.
    const float width = ImGui::GetContentRegionAvail().x;
    int rows = 1;
    float x = 0;
    for (size_t i = 0; i < tokens.size(); ++i) {
        const float w = chip_size(i).x;
        if (x > 0 && x + gap + w > width) {
            ++rows;
            x = 0;
        }
        x += (x > 0 ? gap : 0) + w;
    }
    const float chip_height = ImGui::GetTextLineHeight() * (two_lines ? 2 : 1) + 2 * style.FramePadding.y;
    const bool scrolls = rows > options.max_rows;
    if (scrolls)
        ImGui::BeginChild("tokens", ImVec2(0, options.max_rows * (chip_height + style.ItemSpacing.y) + style.ItemSpacing.y));

    int hovered = -1;
    const float right_edge = ImGui::GetCursorScreenPos().x + ImGui::GetContentRegionAvail().x;
    for (size_t i = 0; i < tokens.size(); ++i) {
        const std::string text = token_string(tokens[i]);
        const ImVec2 chip = chip_size(i);
        if (i > 0 && ImGui::GetItemRectMax().x + gap + chip.x <= right_edge) ImGui::SameLine(0, gap);
        ImGui::PushID(static_cast<int>(i));
        if (ImGui::InvisibleButton("chip", chip) && options.clicked) *options.clicked = static_cast<int>(i);
        ImGui::PopID();
        const ImVec2 lo = ImGui::GetItemRectMin(), hi = ImGui::GetItemRectMax();
        const bool special = tokens[i] >= 0 && tokens[i] < static_cast<int32_t>(special_tokens().size());
        const bool filled = i < options.fills.size();
        const ImU32 fill = filled ? options.fills[i] : special ? IM_COL32(90, 60, 110, 255) : IM_COL32(52, 66, 92, 255);
        const ImU32 ink = text_color_on(fill);
        ImDrawList* draw = ImGui::GetWindowDrawList();
        draw->AddRectFilled(lo, hi, fill, dp(4));
        draw->AddRect(lo, hi, IM_COL32(130, 150, 190, 255), dp(4));
        if (static_cast<int>(i) == options.selected) {
            draw->AddRect(ImVec2(lo.x - dp(2), lo.y - dp(2)), ImVec2(hi.x + dp(2), hi.y + dp(2)), IM_COL32(0, 0, 0, 255),
                          dp(5), 0, dp(4));
            draw->AddRect(ImVec2(lo.x - dp(2), lo.y - dp(2)), ImVec2(hi.x + dp(2), hi.y + dp(2)),
                          IM_COL32(255, 255, 255, 255), dp(5), 0, dp(2));
        }
        if (text == " ") {  // a space gets the visible-space mark, a bracket open at the top
            const float x0 = lo.x + style.FramePadding.x, x1 = hi.x - style.FramePadding.x;
            const float y1 = lo.y + style.FramePadding.y + ImGui::GetTextLineHeight() - 2,
                        y0 = y1 - ImGui::GetTextLineHeight() / 4;
            const ImVec2 mark[] = {ImVec2(x0, y0), ImVec2(x0, y1), ImVec2(x1, y1), ImVec2(x1, y0)};
            draw->AddPolyline(mark, 4, filled ? ink : kDimTextColor, 0, dp(1.5f));
        } else {
            text_centered(draw, (lo.x + hi.x) / 2, lo.y + style.FramePadding.y, ink, text);
        }
        if (i < options.labels.size())
            text_centered(draw, (lo.x + hi.x) / 2, lo.y + style.FramePadding.y + ImGui::GetTextLineHeight(), ink,
                          options.labels[i]);
        if (ImGui::IsItemHovered()) {
            hovered = static_cast<int>(i);
            ImGui::SetTooltip("position %zu: '%s', token id %d%s", i, text.c_str(), tokens[i],
                              options.clicked ? "\n(click: follow this token)" : "");
        }
    }
    if (scrolls) ImGui::EndChild();
    return hovered;
}

// ---- completions ---------------------------------------------------------------------------

namespace {

struct Span {
    std::string text;
    ImU32 color;
};

// The completion cut at its special tokens: each tag dim, what lies inside <think> or <answer>
// in that part's colour.
std::vector<Span> completion_spans(const std::string& text) {
    std::vector<Span> spans;
    ImU32 inside = kTextColor;
    std::string run;
    auto flush = [&] {
        if (!run.empty()) spans.push_back({run, inside});
        run.clear();
    };
    for (size_t i = 0; i < text.size();) {
        const std::string* tag = nullptr;
        for (const std::string& special : special_tokens())
            if (text.compare(i, special.size(), special) == 0) tag = &special;
        if (text[i] == '\n') {  // a newline shows as the tokenizer writes it, not as a line break
            flush();
            spans.push_back({"\\n", kDimTextColor});
            ++i;
            continue;
        }
        if (!tag) {
            run += text[i++];
            continue;
        }
        flush();
        spans.push_back({*tag, kDimTextColor});
        if (*tag == "<think>") inside = kThinkColor;
        if (*tag == "<answer>") inside = kAnswerColor;
        if (*tag == "</think>" || *tag == "</answer>") inside = kTextColor;
        i += tag->size();
    }
    flush();
    return spans;
}

}  // namespace

bool completion_text(const std::string& text, float width, int max_lines) {
    const ImVec2 origin = ImGui::GetCursorScreenPos();
    const float line = ImGui::GetTextLineHeight();
    const std::string ellipsis = " ...";
    ImDrawList* draw = ImGui::GetWindowDrawList();
    width = std::max(width, 4 * text_width("M") + text_width(ellipsis));
    float x = 0;
    int lines = 1;
    bool cut = false;
    for (const Span& span : completion_spans(text)) {
        // Words (each with the spaces after it) wrap as a whole; a word wider than the line is cut.
        for (size_t start = 0; start < span.text.size() && !cut;) {
            size_t end = span.text.find(' ', start);
            end = end == std::string::npos ? span.text.size() : span.text.find_first_not_of(' ', end);
            if (end == std::string::npos) end = span.text.size();
            std::string word = span.text.substr(start, end - start);
            start = end;
            while (!word.empty()) {
                // The last line allowed keeps room for the ellipsis.
                const float room = max_lines > 0 && lines == max_lines ? width - text_width(ellipsis) : width;
                if (x > 0 && x + text_width(word) > room) {
                    if (max_lines > 0 && lines == max_lines) {
                        cut = true;
                        break;
                    }
                    x = 0;
                    ++lines;
                    continue;
                }
                size_t fits = word.size();
                while (fits > 1 && text_width(word.substr(0, fits)) > room) --fits;
                const std::string piece = word.substr(0, fits);
                draw->AddText(ImVec2(origin.x + x, origin.y + (lines - 1) * line), span.color, piece.c_str());
                x += text_width(piece);
                word.erase(0, fits);
            }
        }
        if (cut) break;
    }
    if (cut) draw->AddText(ImVec2(origin.x + x, origin.y + (lines - 1) * line), kDimTextColor, ellipsis.c_str());
    ImGui::Dummy(ImVec2(width, lines * line));
    return cut;
}

}  // namespace seek::viewer
