// Drawing helpers every panel shares: colour scales, the heatmap (with its legend and hover
// tooltip), the histogram, the line plot and the token chips. They draw with ImGui's draw lists
// into a box of the size asked for, so a panel only decides where things go.
#pragma once

#include <imgui.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace seek::viewer {

// ---- colour --------------------------------------------------------------------------------

// Magnitude: viridis (dark purple -> yellow), perceptually uniform and readable with colour-blind
// eyes, from 0 to the largest value. Signed: blue - white - red (ColorBrewer RdBu), symmetric
// around 0 so that the sign reads at a glance and white means zero.
enum class ColorMap { Magnitude, Signed };

struct ColorScale {
    ColorMap map = ColorMap::Magnitude;
    float lo = 0, hi = 1;
};

// Magnitude over [0, max] when no value is negative (probabilities, errors), otherwise Signed over
// [-m, m] with m the largest magnitude. Non-finite values (masked -inf scores) are ignored.
ColorScale color_scale_for(const std::vector<float>& values);
ImU32 colormap_color(ColorMap map, float t);              // t in [0, 1], clamped
ImU32 scale_color(const ColorScale& scale, float value);  // kNonFiniteColor for -inf / NaN
constexpr ImU32 kNonFiniteColor = IM_COL32(96, 96, 96, 255);

ImU32 series_color(int index);           // Okabe-Ito: distinct for colour-blind readers too
std::string format_value(double value);  // "0.01235", "-1.2e+04": 4 significant digits
// Black or white, whichever reads better on `background`.
ImU32 text_color_on(ImU32 background);

// ---- building blocks of a chart ------------------------------------------------------------
// The helpers below draw with, exposed for panels that draw a chart of their own kind.

constexpr ImU32 kTextColor = IM_COL32(230, 230, 230, 255);
constexpr ImU32 kDimTextColor = IM_COL32(170, 170, 170, 255);
constexpr ImU32 kAxisColor = IM_COL32(150, 150, 150, 255);
constexpr ImU32 kGridLineColor = IM_COL32(255, 255, 255, 28);

float text_width(const std::string& text);
// Draws `text` with its centre at x (its top at y).
void text_centered(ImDrawList* draw, float x, float y, ImU32 color, const std::string& text);

// The box a widget draws in: claimed from the layout as one item (which makes it hoverable), in an
// ID scope of its own while the box lives.
struct WidgetBox {
    ImVec2 origin;
    bool hovered = false;
    ImDrawList* draw = nullptr;
    float line = ImGui::GetTextLineHeight();
    float pad = ImGui::GetStyle().ItemSpacing.x;

    WidgetBox(const char* id, ImVec2 size);
    ~WidgetBox() { ImGui::PopID(); }
    WidgetBox(const WidgetBox&) = delete;
    WidgetBox& operator=(const WidgetBox&) = delete;
};

// ---- layout --------------------------------------------------------------------------------

// One view of a panel: a bordered region of `size` with a heading. Close with ImGui::EndChild().
void begin_view(const char* id, const std::string& heading, ImVec2 size);
// Views in two rows of two, filling the region left; each draws its content with `draw`.
struct View {
    const char* id;
    std::string heading;
    std::function<void()> draw;
};
void view_quadrants(const View (&views)[4]);
// Dim text wrapped at the region's edge: what a view shows and how to read it.
void wrapped_note(const std::string& text);

// ---- heatmap -------------------------------------------------------------------------------

// A 2-D window onto a tensor: `rows` x `cols` values, row-major, starting at flat index `offset`
// of a tensor of shape `shape` (a slice of a 3-D tensor, or the whole of a 2-D one). The full
// shape lets the tooltip name the exact element.
struct Grid {
    const float* values = nullptr;
    int64_t rows = 0, cols = 0;
    std::string name;  // the tensor, for the tooltip
    Shape shape;
    int64_t offset = 0;
    std::string row_axis, col_axis;       // "query token", "latent dim"
    std::vector<std::string> row_labels;  // optional tick labels (the tokens' text), else indices
    std::vector<std::string> col_labels;
    std::function<std::string(int64_t flat_index)> note;  // optional extra tooltip line
    // Optional marks on top of the cells: grid-local flat indices to outline (the experts each token
    // chose; drawn while a cell is at least 6 pixels each way), what the outline means for the
    // caption, and a separator line every so many columns (expert groups) or rows (128-row tiles).
    std::vector<int64_t> marked;
    std::string marked_meaning;
    int64_t col_separator_every = 0, row_separator_every = 0;
};

// The cells alone, filling [min, max], as one texture whatever the tensor's size. Grids larger
// than the pixels available are drawn in blocks, each showing its largest-magnitude value, so
// that an outlier is never averaged away. Each call needs its own ImGui ID scope (the texture is
// kept per ID). Returns whether a non-finite value (a masked -inf) was drawn.
bool draw_heatmap_cells(ImDrawList* draw, ImVec2 min, ImVec2 max, const Grid& grid, const ColorScale& scale);

// Cells with tick labels, axis names, a colour legend and a tooltip (tensor name, index, value)
// in a box of `size`. `outline` (a flat index, -1 for none) is ringed, e.g. the worst error.
// Returns the flat index under the mouse, or -1.
int64_t heatmap(const char* id, const Grid& grid, const ColorScale& scale, ImVec2 size, int64_t outline = -1);

// ---- histogram, line plot, tokens ------------------------------------------------------------

// Counts of the finite values in equal-width bins over [lo, hi] (about sqrt(n) bins, 5 to 40).
// Made once per tensor, drawn every frame.
struct Histogram {
    double lo = 0, hi = 0;
    std::vector<int64_t> counts;  // empty when no value is finite
    int64_t finite = 0;
};
Histogram make_histogram(const std::vector<float>& values);
// Bars with the value axis labelled `x_label` and a count axis; hovering a bar gives its range and count.
void draw_histogram(const char* id, const Histogram& histogram, ImVec2 size, const char* x_label);

struct Series {
    std::string name;
    std::vector<double> y;  // one value per x; NaN where the series has no value (a held-out loss
                            // measured every few steps): the line joins the values on either side
};
struct PlotAxis {
    std::string label;
    double log_base = 0;                      // 0: linear; else log scale, ticks at powers of log_base
    std::string (*format)(double) = nullptr;  // tick and tooltip text; format_value when null
};
// Several series over shared x values (ascending), with a legend, axis labels and a hover readout.
// `mark_x`, when finite, is drawn as a vertical line (the step a panel is showing in detail).
void line_plot(const char* id, const std::vector<double>& x, const std::vector<Series>& series, const PlotAxis& x_axis,
               const PlotAxis& y_axis, ImVec2 size, double mark_x = NAN);

// A token as an axis tick label: its text, a space as ' ' (a blank label reads as a missing one).
std::string token_label(int32_t token);

// The tokens as a row of chips (wrapping; beyond `max_rows` rows they scroll), each showing its
// text; hovering one shows its position and id. `fills`, when given, colours chip i (e.g. by the
// expert it went to); otherwise special tokens are purple, the rest blue. Returns the hovered
// position, or -1.
int token_chips(const std::vector<int32_t>& tokens, int max_rows = 3, const std::vector<ImU32>& fills = {});

// A completion in the R1 format as wrapped text, `width` pixels wide: the <think> part in
// kThinkColor, the <answer> part in kAnswerColor, the tags themselves (and <eos>) dim, anything
// else in the text colour. With max_lines > 0, text beyond that many lines is cut with "...";
// returns whether it was.
constexpr ImU32 kThinkColor = IM_COL32(86, 180, 233, 255);   // Okabe-Ito sky blue
constexpr ImU32 kAnswerColor = IM_COL32(240, 228, 66, 255);  // Okabe-Ito yellow
bool completion_text(const std::string& text, float width, int max_lines = 0);

}  // namespace seek::viewer
