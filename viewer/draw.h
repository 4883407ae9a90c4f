// Drawing helpers every panel shares: colour scales, the heatmap (with its legend and hover
// tooltip), the histogram, the line plot and the token chips. They draw with ImGui's draw lists
// into a box of the size asked for, so a panel only decides where things go. Every chart records
// its plotting area (layout.h), so the layout tests can check that nothing is cut or squeezed away.
#pragma once

#include <imgui.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "core/tokenizer.h"

namespace seek::viewer {

// ---- size ----------------------------------------------------------------------------------

// The font size the drawing constants below were chosen for; at another UI scale (--scale,
// Ctrl +/-) lengths in pixels scale with the font: dp(3) is a 3-pixel line at scale 1.
constexpr float kBaseFontSize = 20;
inline float dp(float pixels) { return pixels * ImGui::GetFontSize() / kBaseFontSize; }

// ---- colour --------------------------------------------------------------------------------

// Magnitude: viridis (dark purple -> yellow), perceptually uniform and readable with colour-blind
// eyes, from 0 to the largest value. Signed: blue - white - red (ColorBrewer RdBu), symmetric
// around 0 so that the sign reads at a glance and white means zero. Categorical: ids (expert
// numbers, token ids) are names, not amounts: each gets a colour of a qualitative palette
// (category_color) and, where the cell has room, its number written on it.
enum class ColorMap { Magnitude, Signed, Categorical };

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

// A colour per category: Kelly's colours of maximum contrast (1965), the first 18 (without the two
// too dark for a dark background), in his order, so that few categories get the most distinct
// colours. Beyond 18 the colours repeat: charts with more categories write the ids on them.
constexpr int kCategoryColors = 18;
ImU32 category_color(int64_t category);
ColorScale categorical_scale();

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

// One view of a panel: a bordered region of `size` with a heading. Close with end_view(), which
// records for the layout tests that the content fitted (`scrolls`: a list that scrolls by design,
// whose height is not checked).
void begin_view(const char* id, const std::string& heading, ImVec2 size);
void end_view(bool scrolls = false);
// A tab of a tab bar (ImGui::BeginTabItem; close with ImGui::EndTabItem when it returns true)
// whose title is recorded for the layout tests, which fail if the tab cuts it. `id` keeps the tab
// itself whatever its title says; `select` selects it (the sub-view --view asks for).
bool begin_tab(const std::string& title, const char* id, bool select = false);
// Views in rows of `columns`, filling the region left; each draws its content with `draw`.
struct View {
    const char* id;
    std::string heading;
    std::function<void()> draw;
    bool scrolls = false;
};
void view_grid(const std::vector<View>& views, int columns);
// Two rows of two.
inline void view_quadrants(const std::vector<View>& views) { view_grid(views, 2); }
// How many views of at least `min_width` fit side by side in the region left (1 .. count).
int columns_that_fit(float min_width, int count);
// Dim text wrapped at the region's edge: what a view shows and how to read it.
void wrapped_note(const std::string& text);
// The same while `keep_height` pixels stay below it (a chart's room to read), else its first line
// and "(more)", the whole text in a tooltip: on a small window the chart keeps its room.
void brief_note(const std::string& text, float keep_height);
// Puts the next item on this line when `width` pixels of it fit there, else on the next line:
// a row of controls that reflows on a narrow window or at a large UI scale.
void same_line_if_fits(float width, float spacing = -1);
// The same for a radio button or checkbox labelled `label`.
void radio_same_line_if_fits(const std::string& label);

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
    // Optional: cells drawn dimmed (1) under the others, e.g. the expert groups a token may not
    // use; `dimmed_meaning` says what that means in the caption.
    std::vector<uint8_t> dimmed;
    std::string dimmed_meaning;
    // Optional: a row to ring (the newest token), -1 for none.
    int64_t highlighted_row = -1;
    // Small multiples share one legend and one caption, drawn beside them: these turn them off;
    // a grid drawn beside another with the same rows can leave out its row ticks.
    bool legend = true, caption = true, row_ticks = true;
};

// The cells alone, filling [min, max], as one texture whatever the tensor's size. Grids larger
// than the pixels available are drawn in blocks, each showing its largest-magnitude value, so
// that an outlier is never averaged away. Each call needs its own ImGui ID scope (the texture is
// kept per ID). Returns whether a non-finite value (a masked -inf) was drawn.
bool draw_heatmap_cells(ImDrawList* draw, ImVec2 min, ImVec2 max, const Grid& grid, const ColorScale& scale);

// A colour scale's bar with five labels, alone (beside small multiples), and the width it takes.
void color_legend(const char* id, const ColorScale& scale, ImVec2 size);
float color_legend_width(const ColorScale& scale);

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
// Categorical data (ids): one bar per id that occurs, in the id's colour, labelled with the id.
void draw_category_counts(const char* id, const std::vector<float>& ids, ImVec2 size, const char* x_label);

enum class LineStyle { Solid, Dashed, Dotted };
struct Series {
    std::string name;
    std::vector<double> y;  // one value per x; NaN where the series has no value (a held-out loss
                            // measured every few steps): the line joins the values on either side
    ImU32 color = 0;        // 0: series_color of its position
    LineStyle style = LineStyle::Solid;
};
struct PlotAxis {
    std::string label;
    double log_base = 0;                      // 0: linear; else log scale, ticks at powers of log_base
    std::string (*format)(double) = nullptr;  // tick and tooltip text; format_value when null
};
struct PlotOptions {
    double mark_x = NAN;  // when finite, a vertical line there (the step a panel shows in detail)
    // Moving average over this many points (centred; fewer at the ends): the smoothed line is
    // drawn over the raw one, which stays faint behind it. 0 or 1: raw only.
    int smoothing = 0;
    // Several series over differing x (a second run): series i uses xs[i] when given.
    const std::vector<std::vector<double>>* xs = nullptr;
};
// Several series over shared x values (ascending), with a legend, axis labels and a hover readout.
void line_plot(const char* id, const std::vector<double>& x, const std::vector<Series>& series, const PlotAxis& x_axis,
               const PlotAxis& y_axis, ImVec2 size, const PlotOptions& options = {});
// The centred moving average line_plot draws: NaNs are skipped, each point averages the finite
// values within window/2 on either side.
std::vector<double> moving_average(const std::vector<double>& values, int window);

// A token as text: the toy's character (core/tokenizer.h's token_text), or its piece in the loaded
// checkpoint's tokenizer.json once set_token_pieces has been given that tokenizer.
std::string token_string(int32_t token);
void set_token_pieces(const CheckpointTokenizer& tokenizer);
// A token as an axis tick label: its text, a space as ' ' (a blank label reads as a missing one).
std::string token_label(int32_t token);

// The tokens as a row of chips (wrapping; beyond `max_rows` rows they scroll), each showing its
// text; hovering one shows its position and id. Optional, per chip: `fills` colours it (e.g. by the
// expert it went to; otherwise special tokens are purple, the rest blue), `labels` writes a second
// line under the text (the expert's number). `selected` is ringed. Returns the hovered position,
// or -1; `clicked`, when given, receives the clicked position (else is left as it was).
struct TokenChipOptions {
    int max_rows = 3;
    std::vector<ImU32> fills;
    std::vector<std::string> labels;
    int selected = -1;
    int* clicked = nullptr;
};
int token_chips(const std::vector<int32_t>& tokens, const TokenChipOptions& options = {});

// A completion in the R1 format as wrapped text, `width` pixels wide: the <think> part in
// kThinkColor, the <answer> part in kAnswerColor, the tags themselves (and <eos>) dim, anything
// else in the text colour. With max_lines > 0, text beyond that many lines is cut with "...";
// returns whether it was.
constexpr ImU32 kThinkColor = IM_COL32(86, 180, 233, 255);   // Okabe-Ito sky blue
constexpr ImU32 kAnswerColor = IM_COL32(240, 228, 66, 255);  // Okabe-Ito yellow
bool completion_text(const std::string& text, float width, int max_lines = 0);

}  // namespace seek::viewer
