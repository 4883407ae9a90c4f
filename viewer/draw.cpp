#include "draw.h"

#include <GL/gl.h>  // the heatmap's texture: glTexImage2D and friends are OpenGL 1.1

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <unordered_map>

#include "core/tokenizer.h"
#include "core/trace.h"

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
    return map == ColorMap::Magnitude ? interpolate(kViridis, t) : interpolate(kBlueWhiteRed, t);
}

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
    ImGui::TextUnformatted(heading.c_str());
    ImGui::Separator();
}

void view_quadrants(const View (&views)[4]) {
    const ImGuiStyle& style = ImGui::GetStyle();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const ImVec2 half((avail.x - style.ItemSpacing.x) / 2, (avail.y - style.ItemSpacing.y) / 2);
    for (int i = 0; i < 4; ++i) {
        if (i % 2 == 1) ImGui::SameLine();
        begin_view(views[i].id, views[i].heading, half);
        views[i].draw();
        ImGui::EndChild();
    }
}

void wrapped_note(const std::string& text) {
    ImGui::PushTextWrapPos(0);
    ImGui::TextDisabled("%s", text.c_str());
    ImGui::PopTextWrapPos();
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
            const float value = grid.values[block_element(grid, b, br, bc)];
            non_finite |= !std::isfinite(value);
            texels[br * b.cols + bc] = scale_color(scale, value);
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

void draw_legend(ImDrawList* draw, ImVec2 min, ImVec2 max, const ColorScale& scale) {
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
    const float line = ImGui::GetTextLineHeight();
    for (int i = 0; i <= 4; ++i) {
        const float t = i / 4.0f;
        const float y = std::clamp(max.y - height * t - line / 2, min.y - line / 2, max.y - line / 2);
        draw->AddLine(ImVec2(max.x, max.y - height * t), ImVec2(max.x + 4, max.y - height * t), kAxisColor);
        draw->AddText(ImVec2(max.x + 6, y), kTextColor, legend_label(scale, i).c_str());
    }
}

}  // namespace

int64_t heatmap(const char* id, const Grid& grid, const ColorScale& scale, ImVec2 size, int64_t outline) {
    const WidgetBox box(id, size);

    // Margins: row ticks left, column ticks above, the axis caption below, the legend right.
    float row_label_width = text_width(std::to_string(std::max<int64_t>(grid.rows - 1, 0)));
    for (const std::string& label : grid.row_labels) row_label_width = std::max(row_label_width, text_width(label));
    float legend_width = 0;
    for (int i = 0; i <= 4; ++i) legend_width = std::max(legend_width, text_width(legend_label(scale, i)));
    legend_width += 16 + 8;
    const ImVec2 cells_min(box.origin.x + row_label_width + box.pad, box.origin.y + box.line + 4);
    ImVec2 cells_max(box.origin.x + size.x - legend_width - 2 * box.pad, box.origin.y + size.y - box.line - 6);

    // The caption: what the axes are, and how the cells are drawn, in as many lines as it needs
    // (how many it takes at one line's height decides the height of the cells).
    // Outlines need cells of a few pixels; smaller, they would hide the colours they mark.
    auto marks_fit = [&](const Blocks& b, float cell_w, float cell_h) {
        return b.block_rows == 1 && b.block_cols == 1 && cell_w >= 6 && cell_h >= 6;
    };
    auto caption_lines = [&](const Blocks& b, bool marks_drawn, bool non_finite) {
        std::vector<std::string> parts;
        if (!grid.row_axis.empty()) parts.push_back("rows: " + grid.row_axis + " (" + std::to_string(grid.rows) + ")");
        parts.push_back("columns: " + grid.col_axis + " (" + std::to_string(grid.cols) + ")");
        if (b.block_rows > 1 || b.block_cols > 1)
            parts.push_back("blocks of " + std::to_string(b.block_rows) + " x " + std::to_string(b.block_cols) +
                            " (largest |value|)");
        if (non_finite) parts.push_back("grey: -inf (masked)");
        if (!grid.marked.empty())
            parts.push_back(marks_drawn ? "outlined: " + grid.marked_meaning
                                        : grid.marked_meaning + ": too small to outline here, hover a cell");
        std::vector<std::string> lines = {parts.front()};
        for (size_t i = 1; i < parts.size(); ++i) {
            const std::string joined = lines.back() + "    " + parts[i];
            if (text_width(joined) <= box.origin.x + size.x - cells_min.x)
                lines.back() = joined;
            else
                lines.push_back(parts[i]);
        }
        return lines;
    };
    if (cells_max.x - cells_min.x < 4 || cells_max.y - cells_min.y < 4 || grid.rows == 0 || grid.cols == 0) return -1;
    {
        const Blocks b = blocks_for(grid, cells_max.x - cells_min.x, cells_max.y - cells_min.y);
        const float cell_w = (cells_max.x - cells_min.x) / grid.cols, cell_h = (cells_max.y - cells_min.y) / grid.rows;
        const size_t lines = caption_lines(b, marks_fit(b, cell_w, cell_h), false).size();
        cells_max.y -= static_cast<float>(lines - 1) * box.line;
    }
    if (cells_max.y - cells_min.y < 4) return -1;
    const float cell_w = (cells_max.x - cells_min.x) / grid.cols, cell_h = (cells_max.y - cells_min.y) / grid.rows;
    const bool drew_non_finite = draw_heatmap_cells(box.draw, cells_min, cells_max, grid, scale);
    box.draw->AddRect(ImVec2(cells_min.x - 1, cells_min.y - 1), ImVec2(cells_max.x + 1, cells_max.y + 1), kAxisColor);

    const AxisTicks col_ticks = grid_ticks(grid.cols, grid.col_labels, cell_w, true);
    for (int64_t c = 0; c < grid.cols; c += col_ticks.step)
        text_centered(box.draw, cells_min.x + (c + 0.5f) * cell_w, box.origin.y, kDimTextColor,
                      tick_text(col_ticks, grid.col_labels, c));
    const AxisTicks row_ticks = grid_ticks(grid.rows, grid.row_labels, cell_h, false);
    for (int64_t r = 0; r < grid.rows; r += row_ticks.step) {
        const std::string text = tick_text(row_ticks, grid.row_labels, r);
        box.draw->AddText(
            ImVec2(cells_min.x - box.pad - text_width(text), cells_min.y + (r + 0.5f) * cell_h - box.line / 2),
            kDimTextColor, text.c_str());
    }

    const Blocks b = blocks_for(grid, cells_max.x - cells_min.x, cells_max.y - cells_min.y);
    const bool draw_marks = !grid.marked.empty() && marks_fit(b, cell_w, cell_h);
    const std::vector<std::string> caption = caption_lines(b, draw_marks, drew_non_finite);
    for (size_t i = 0; i < caption.size(); ++i)
        box.draw->AddText(ImVec2(cells_min.x, cells_max.y + 4 + static_cast<float>(i) * box.line), kDimTextColor,
                          caption[i].c_str());
    const int64_t cells = grid.rows * grid.cols;

    draw_legend(box.draw, ImVec2(cells_max.x + 2 * box.pad, cells_min.y),
                ImVec2(cells_max.x + 2 * box.pad + 16, cells_max.y), scale);

    // Separators as gaps of the background, which no cell colour resembles; outlines black under
    // white, so that they show on any colour.
    auto separator = [&](ImVec2 from, ImVec2 to) { box.draw->AddLine(from, to, IM_COL32(16, 16, 18, 255), 5.0f); };
    for (int64_t c = grid.col_separator_every; grid.col_separator_every > 0 && c < grid.cols;
         c += grid.col_separator_every)
        separator(ImVec2(cells_min.x + c * cell_w, cells_min.y), ImVec2(cells_min.x + c * cell_w, cells_max.y));
    for (int64_t r = grid.row_separator_every; grid.row_separator_every > 0 && r < grid.rows;
         r += grid.row_separator_every)
        separator(ImVec2(cells_min.x, cells_min.y + r * cell_h), ImVec2(cells_max.x, cells_min.y + r * cell_h));
    for (int64_t local : draw_marks ? grid.marked : std::vector<int64_t>{}) {
        const ImVec2 lo(cells_min.x + (local % grid.cols) * cell_w, cells_min.y + (local / grid.cols) * cell_h);
        const ImVec2 hi(lo.x + cell_w, lo.y + cell_h);
        box.draw->AddRect(ImVec2(lo.x + 1, lo.y + 1), ImVec2(hi.x - 1, hi.y - 1), IM_COL32(0, 0, 0, 255), 0, 0, 3.0f);
        box.draw->AddRect(ImVec2(lo.x + 2, lo.y + 2), ImVec2(hi.x - 2, hi.y - 2), IM_COL32(255, 255, 255, 255), 0, 0,
                          2.0f);
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
        const float half_w = std::max((hi.x - lo.x) / 2, 5.0f), half_h = std::max((hi.y - lo.y) / 2, 5.0f);
        lo = ImVec2(centre.x - half_w, centre.y - half_h);
        hi = ImVec2(centre.x + half_w, centre.y + half_h);
        box.draw->AddRect(lo, hi, IM_COL32(0, 0, 0, 255), 0, 0, 4.0f);
        box.draw->AddRect(lo, hi, IM_COL32(255, 255, 255, 255), 0, 0, 2.0f);
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
        box.draw->AddRect(lo, hi, IM_COL32(255, 255, 255, 255), 0, 0, 1.5f);
        ImGui::BeginTooltip();
        ImGui::Text("%s%s", grid.name.c_str(), format_index(hovered_index, grid.shape).c_str());
        ImGui::Text("value %.7g", grid.values[local]);
        if (b.block_rows > 1 || b.block_cols > 1)
            ImGui::TextDisabled("largest magnitude of a %lld x %lld block", static_cast<long long>(b.block_rows),
                                static_cast<long long>(b.block_cols));
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

// Ticks: powers of the base on a log axis (every k-th when crowded), else round steps.
std::vector<double> plot_ticks(const PlotAxis& axis, double lo, double hi, int max_ticks) {
    std::vector<double> ticks;
    if (axis.log_base > 0) {
        const int powers = static_cast<int>(std::lround(log_in(axis, hi / lo)));
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

}  // namespace

void line_plot(const char* id, const std::vector<double>& x, const std::vector<Series>& series, const PlotAxis& x_axis,
               const PlotAxis& y_axis, ImVec2 size, double mark_x) {
    const WidgetBox box(id, size);
    if (x.empty() || series.empty()) {
        return;
    }

    double x_lo = *std::min_element(x.begin(), x.end()), x_hi = *std::max_element(x.begin(), x.end());
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
    std::vector<ImVec2> legend_at;
    ImVec2 cursor(box.origin.x + y_label_width + box.pad + 4, box.origin.y + box.line + 6);
    for (const Series& s : series) {
        const float width = 34 + text_width(s.name) + 2 * box.pad;
        if (!legend_at.empty() && cursor.x + width > box.origin.x + size.x)
            cursor = ImVec2(box.origin.x + y_label_width + box.pad + 4, cursor.y + box.line + 2);
        legend_at.push_back(cursor);
        cursor.x += width;
    }
    const ImVec2 plot_min(box.origin.x + y_label_width + box.pad + 4, cursor.y + box.line + 8);
    const ImVec2 plot_max(box.origin.x + size.x - 2 * box.line, box.origin.y + size.y - 2 * box.line - 8);
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
        box.draw->AddText(ImVec2(plot_min.x - box.pad - 4 - text_width(text), y - box.line / 2), kDimTextColor,
                          text.c_str());
    }
    const int x_tick_room = std::max(2, static_cast<int>(plot_w / (text_width(axis_text(x_axis, x_hi)) + 3 * box.pad)));
    for (double tick : plot_ticks(x_axis, x_lo, x_hi, x_tick_room)) {
        const float xs = to_screen(tick, y_lo).x;
        box.draw->AddLine(ImVec2(xs, plot_min.y), ImVec2(xs, plot_max.y), kGridLineColor);
        text_centered(box.draw, xs, plot_max.y + 4, kDimTextColor, axis_text(x_axis, tick));
    }
    box.draw->AddRect(plot_min, plot_max, kAxisColor);
    box.draw->AddText(ImVec2(box.origin.x, box.origin.y), kTextColor, y_axis.label.c_str());
    text_centered(box.draw, (plot_min.x + plot_max.x) / 2, plot_max.y + box.line + 8, kTextColor, x_axis.label);

    for (size_t s = 0; s < series.size(); ++s) {
        const ImU32 color = series_color(static_cast<int>(s));
        std::vector<ImVec2> points;
        for (size_t i = 0; i < x.size() && i < series[s].y.size(); ++i)
            if (shown(series[s].y[i])) points.push_back(to_screen(x[i], series[s].y[i]));
        box.draw->PushClipRect(plot_min, plot_max, true);
        box.draw->AddPolyline(points.data(), static_cast<int>(points.size()), color, 0, 2.5f);
        // Dots on the points only where they stay apart; dense series (a step per pixel) are lines.
        if (points.size() < 2 || (points.back().x - points.front().x) / static_cast<float>(points.size() - 1) >= 8)
            for (const ImVec2& p : points) box.draw->AddCircleFilled(p, 3.0f, color);
        box.draw->PopClipRect();
        const ImVec2 at = legend_at[s];
        box.draw->AddLine(ImVec2(at.x, at.y + box.line / 2), ImVec2(at.x + 26, at.y + box.line / 2), color, 3.0f);
        box.draw->AddText(ImVec2(at.x + 32, at.y), kTextColor, series[s].name.c_str());
    }

    if (std::isfinite(mark_x) && mark_x >= x_lo && mark_x <= x_hi) {
        const float xs = to_screen(mark_x, y_lo).x;
        for (float y = plot_min.y; y < plot_max.y; y += 10)
            box.draw->AddLine(ImVec2(xs, y), ImVec2(xs, std::min(y + 6, plot_max.y)), IM_COL32(255, 255, 255, 200),
                              1.5f);
    }

    // Hover: the x nearest the mouse, with every series' value there.
    const ImVec2 mouse = ImGui::GetIO().MousePos;
    if (box.hovered && mouse.x >= plot_min.x && mouse.x <= plot_max.x) {
        size_t nearest = 0;
        for (size_t i = 1; i < x.size(); ++i)
            if (std::fabs(to_screen(x[i], y_lo).x - mouse.x) < std::fabs(to_screen(x[nearest], y_lo).x - mouse.x))
                nearest = i;
        const float xs = to_screen(x[nearest], y_lo).x;
        box.draw->AddLine(ImVec2(xs, plot_min.y), ImVec2(xs, plot_max.y), IM_COL32(255, 255, 255, 120));
        ImGui::BeginTooltip();
        ImGui::Text("%s: %s", x_axis.label.c_str(), axis_text(x_axis, x[nearest]).c_str());
        for (size_t s = 0; s < series.size(); ++s)
            if (nearest < series[s].y.size() && shown(series[s].y[nearest]))
                ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(series_color(static_cast<int>(s))), "%s: %s",
                                   series[s].name.c_str(), axis_text(y_axis, series[s].y[nearest]).c_str());
        ImGui::EndTooltip();
    }
}

// ---- tokens --------------------------------------------------------------------------------

std::string token_label(int32_t token) {
    const std::string text = token_text(token);
    return text == " " ? "' '" : text;
}

int token_chips(const std::vector<int32_t>& tokens, int max_rows, const std::vector<ImU32>& fills) {
    const ImGuiStyle& style = ImGui::GetStyle();
    const float gap = style.ItemSpacing.x / 2;
    auto chip_size = [&](const std::string& text) {
        return ImVec2(std::max(text_width(text), text_width("M")) + 2 * style.FramePadding.x,
                      ImGui::GetTextLineHeight() + 2 * style.FramePadding.y);
    };
    // Lay the chips out once to count the rows; beyond max_rows they scroll in a box that high.
    const float width = ImGui::GetContentRegionAvail().x;
    int rows = 1;
    float x = 0;
    for (int32_t token : tokens) {
        const float w = chip_size(token_text(token)).x;
        if (x > 0 && x + gap + w > width) {
            ++rows;
            x = 0;
        }
        x += (x > 0 ? gap : 0) + w;
    }
    const bool scrolls = rows > max_rows;
    if (scrolls)
        ImGui::BeginChild("tokens",
                          ImVec2(0, max_rows * (chip_size("M").y + style.ItemSpacing.y) + style.ItemSpacing.y));

    int hovered = -1;
    const float right_edge = ImGui::GetCursorScreenPos().x + ImGui::GetContentRegionAvail().x;
    for (size_t i = 0; i < tokens.size(); ++i) {
        const std::string text = token_text(tokens[i]);
        const ImVec2 chip = chip_size(text);
        if (i > 0 && ImGui::GetItemRectMax().x + gap + chip.x <= right_edge) ImGui::SameLine(0, gap);
        ImGui::PushID(static_cast<int>(i));
        ImGui::InvisibleButton("chip", chip);
        ImGui::PopID();
        const ImVec2 lo = ImGui::GetItemRectMin(), hi = ImGui::GetItemRectMax();
        const bool special = tokens[i] >= 0 && tokens[i] < static_cast<int32_t>(special_tokens().size());
        const ImU32 fill = i < fills.size() ? fills[i]
                           : special        ? IM_COL32(90, 60, 110, 255)
                                            : IM_COL32(52, 66, 92, 255);
        const ImU32 ink = text_color_on(fill);
        ImDrawList* draw = ImGui::GetWindowDrawList();
        draw->AddRectFilled(lo, hi, fill, 4.0f);
        draw->AddRect(lo, hi, IM_COL32(130, 150, 190, 255), 4.0f);
        if (text == " ") {  // a space gets the visible-space mark, a bracket open at the top
            const float x0 = lo.x + style.FramePadding.x, x1 = hi.x - style.FramePadding.x;
            const float y1 = hi.y - style.FramePadding.y - 2, y0 = y1 - ImGui::GetTextLineHeight() / 4;
            const ImVec2 mark[] = {ImVec2(x0, y0), ImVec2(x0, y1), ImVec2(x1, y1), ImVec2(x1, y0)};
            draw->AddPolyline(mark, 4, i < fills.size() ? ink : kDimTextColor, 0, 1.5f);
        } else {
            text_centered(draw, (lo.x + hi.x) / 2, lo.y + style.FramePadding.y, ink, text);
        }
        if (ImGui::IsItemHovered()) {
            hovered = static_cast<int>(i);
            ImGui::SetTooltip("position %zu: '%s', token id %d", i, text.c_str(), tokens[i]);
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
