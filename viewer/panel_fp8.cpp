// FP8: what E4M3 keeps of a tensor under each scaling, and what an FP8 GEMM loses as K grows.
// Four views:
//   values    |x| / s of every value on a log2 axis (s: the scale of the value's tile, so the axis
//             is what E4M3 encodes), over E4M3's grid: each representable magnitude, the
//             subnormals, the values that round to 0, and the 448 a tile's largest value lands on
//   error     the relative error of each 1x128 group of a row after quantizing, as a heatmap
//   scalings  per-tensor, 1x128 and 128x128 side by side: SNR, max and mean error, values flushed
//   GEMM      the error of C = A B^T against FP64 as K grows, for FP32 accumulation, the tensor
//             core's 14-bit accumulator, and that accumulator promoted to FP32 every 128 products
// The tensor is synthetic activations with outlier channels (quantize.h), or the tensor the Forward
// panel shows.
#include <imgui.h>

#include <algorithm>
#include <array>
#include <cmath>

#include "app.h"
#include "core/fp8.h"
#include "core/fp8_gemm.h"
#include "core/quantize.h"
#include "core/random.h"
#include "draw.h"

namespace seek::viewer {

namespace {

// The synthetic tensor: `seek fp8 quant`'s default activations, V3's hidden size wide.
constexpr int64_t kTokens = 256, kChannels = 7168, kOutlierChannels = 4;
constexpr float kOutlierScale = 1000;

// The value histogram: log2(|x| / s) in bins of a quarter binade. E4M3's smallest subnormal is
// 2^-9 and its largest value 448 = 2^8.8; below 2^-10 a value rounds to 0.
constexpr double kLog2Lo = -16, kLog2Hi = 9;
constexpr int kBinsPerBinade = 4;
constexpr double kFlushBelow = -10, kNormalFrom = -6;

struct Scaling {
    const char* name;
    const char* about;
};
const Scaling kScalings[3] = {
    {"per-tensor", "one scale for the whole tensor"},
    {"1x128", "one scale per row and 128 columns: V3's activations"},
    {"128x128", "one scale per 128 x 128 block: V3's weights"},
};

Tile tile_of(int scaling, const Mat& x) {
    return scaling == 0 ? whole_matrix_tile(x) : scaling == 1 ? kActivationTile : kWeightTile;
}

// One scaling of the shown tensor.
struct Quantized {
    Tile tile;
    Mat scales;
    ErrorStats stats;
    std::vector<float> group_error;  // [rows, ceil(cols / 128)]: |g - g'| / |g| of each 1x128 group g
    ColorScale error_scale;
    std::vector<int64_t> bins;  // counts of log2(|x| / s); below kLog2Lo in the first bin
    int64_t zeros = 0;          // exact zeros: no logarithm, not in the bins
};

struct Fp8Ui {
    bool from_trace = false;
    int scaling = 0;
    std::string shown;  // what `quantized` was made for: "synthetic", or a trace name and version
    std::string name, error;
    Shape shape;  // as a matrix: [rows, last axis]
    std::array<Quantized, 3> quantized;
    bool same_sign = false;                   // GEMM inputs |N(0, 1)| instead of N(0, 1)
    std::array<std::vector<Series>, 2> gemm;  // per input kind, made when first shown
};
Fp8Ui ui;

const std::vector<double> kGemmKs = {128, 256, 512, 1024, 2048, 4096, 8192};
constexpr int64_t kGemmM = 32, kGemmN = 32;

Quantized quantize_with(const Mat& x, int scaling) {
    Quantized result;
    result.tile = tile_of(scaling, x);
    const QuantizedMatrix q = quantize(x, result.tile);
    const Mat approx = dequantize(q);
    result.scales = q.scales;
    result.stats = error_stats(x, approx);
    // error_stats over one group at a time: its max_rel is that group's relative error.
    for (int64_t r = 0; r < x.rows(); ++r)
        for (int64_t c = 0; c < x.cols(); c += kQuantGroup) {
            const int64_t width = std::min(kQuantGroup, x.cols() - c);
            result.group_error.push_back(
                static_cast<float>(error_stats(x.block(r, c, 1, width), approx.block(r, c, 1, width)).max_rel));
        }
    result.error_scale = color_scale_for(result.group_error);
    result.bins.assign(static_cast<size_t>((kLog2Hi - kLog2Lo) * kBinsPerBinade), 0);
    for (int64_t r = 0; r < x.rows(); ++r)
        for (int64_t c = 0; c < x.cols(); ++c) {
            const double magnitude = std::fabs(x(r, c)) / q.scale_at(r, c);
            if (magnitude == 0) {
                ++result.zeros;
                continue;
            }
            const auto bin = static_cast<int64_t>(std::floor((std::log2(magnitude) - kLog2Lo) * kBinsPerBinade));
            ++result.bins[std::clamp<int64_t>(bin, 0, static_cast<int64_t>(result.bins.size()) - 1)];
        }
    return result;
}

// The tensor to show, as a matrix [rows, last axis]; the trace's when asked for and usable.
void refresh(const App& app) {
    const TraceEntry* entry = ui.from_trace ? trace_find(app.trace, app.selected) : nullptr;
    const std::string key = entry ? entry->name + "@" + std::to_string(app.trace_version) : "synthetic";
    if (key == ui.shown) return;
    ui.shown = key;
    ui.error.clear();
    Mat x;
    if (entry) {
        const int64_t cols = entry->shape.empty() ? 1 : entry->shape.back();
        x.resize(cols ? static_cast<int64_t>(entry->values.size()) / cols : 0, cols);
        std::copy(entry->values.begin(), entry->values.end(), x.data());
        ui.name = entry->name;
        if (!x.allFinite()) ui.error = entry->name + " holds -inf (the causal mask) or NaN, which FP8 does not encode.";
        if (x.size() == 0) ui.error = entry->name + " is empty.";
    } else {
        x = outlier_activations(kTokens, kChannels, kOutlierChannels, kOutlierScale, app.seed);
        ui.name = "synthetic activations: Student-t(3), " + std::to_string(kOutlierChannels) + " outlier channels x" +
                  format_value(kOutlierScale);
    }
    ui.shape = {x.rows(), x.cols()};
    if (!ui.error.empty()) return;
    for (int scaling = 0; scaling < 3; ++scaling) ui.quantized[scaling] = quantize_with(x, scaling);
}

// E4M3's positive finite values, from the codes themselves.
const std::vector<double>& e4m3_magnitudes() {
    static std::vector<double> values;
    if (values.empty())
        for (int code = 1; code <= fp8_spec(Fp8Format::E4M3).max_finite_code; ++code)
            values.push_back(fp8_decode(static_cast<uint8_t>(code), Fp8Format::E4M3));
    return values;
}

std::string power_of_two_text(double exponent) { return "2^" + format_value(exponent); }

void draw_value_histogram(const Quantized& q, ImVec2 size) {
    const WidgetBox box("values", size);
    const std::vector<int64_t>& bins = q.bins;
    const int64_t most = std::max<int64_t>(*std::max_element(bins.begin(), bins.end()), 1);
    const std::string most_text = std::to_string(most);
    const ImVec2 plot_min(box.origin.x + text_width(most_text) + box.pad, box.origin.y + 2 * box.line + 8);
    const ImVec2 plot_max(box.origin.x + size.x - box.pad, box.origin.y + size.y - 2 * box.line - 16);
    if (plot_max.x - plot_min.x < 40 || plot_max.y - plot_min.y < 20) return;
    const float plot_w = plot_max.x - plot_min.x, plot_h = plot_max.y - plot_min.y;
    auto x_of = [&](double log2_value) {
        return plot_min.x + static_cast<float>((log2_value - kLog2Lo) / (kLog2Hi - kLog2Lo)) * plot_w;
    };
    const double log2_max = std::log2(fp8_spec(Fp8Format::E4M3).max_finite);

    // The ranges, shaded, labelled above the plot, and the bars in their range's colour.
    struct Range {
        double from, to;
        const char* label;
        ImU32 bar, shade;
    };
    const Range ranges[] = {
        {kLog2Lo, kFlushBelow, "rounds to 0", IM_COL32(213, 94, 0, 255), IM_COL32(213, 94, 0, 45)},
        {kFlushBelow, kNormalFrom, "subnormal", IM_COL32(230, 159, 0, 255), IM_COL32(230, 159, 0, 35)},
        {kNormalFrom, log2_max, "normal: 3 mantissa bits", IM_COL32(86, 180, 233, 255), 0},
        {log2_max, kLog2Hi, "", 0, IM_COL32(255, 255, 255, 18)},
    };
    for (const Range& range : ranges) {
        const float x0 = x_of(range.from), x1 = x_of(range.to);
        if (range.shade) box.draw->AddRectFilled(ImVec2(x0, plot_min.y), ImVec2(x1, plot_max.y), range.shade);
        if (text_width(range.label) < x1 - x0)
            text_centered(box.draw, (x0 + x1) / 2, plot_min.y - box.line - 2, kDimTextColor, range.label);
    }
    const float bin_w = plot_w / static_cast<float>(bins.size());
    for (size_t i = 0; i < bins.size(); ++i) {
        const double centre = kLog2Lo + (static_cast<double>(i) + 0.5) / kBinsPerBinade;
        ImU32 color = ranges[2].bar;
        for (const Range& range : ranges)
            if (range.bar && centre >= range.from && centre < range.to) color = range.bar;
        const float x0 = plot_min.x + bin_w * static_cast<float>(i);
        const float y0 = plot_max.y - plot_h * static_cast<float>(bins[i]) / static_cast<float>(most);
        box.draw->AddRectFilled(ImVec2(x0 + 0.5f, y0), ImVec2(x0 + bin_w - 0.5f, plot_max.y), color);
    }

    // E4M3's grid: a tick at each representable magnitude, a strip under the axis; 448 as a line.
    const float rug = 10;
    for (double v : e4m3_magnitudes()) {
        const float x = x_of(std::log2(v));
        box.draw->AddLine(ImVec2(x, plot_max.y + 1), ImVec2(x, plot_max.y + rug), IM_COL32(255, 255, 255, 255));
    }
    const float max_x = x_of(log2_max);
    box.draw->AddLine(ImVec2(max_x, plot_min.y), ImVec2(max_x, plot_max.y), IM_COL32(240, 228, 66, 255), 2);
    box.draw->AddText(ImVec2(max_x - text_width("448") / 2, plot_min.y - box.line - 2), IM_COL32(240, 228, 66, 255),
                      "448");

    // Axes: binades every `step` powers of two, counts at 0 and the tallest bar.
    box.draw->AddLine(ImVec2(plot_min.x, plot_max.y), ImVec2(plot_max.x, plot_max.y), kAxisColor);
    box.draw->AddLine(plot_min, ImVec2(plot_min.x, plot_max.y), kAxisColor);
    const float binade_w = plot_w / static_cast<float>(kLog2Hi - kLog2Lo);
    int step = 1;
    while (binade_w * static_cast<float>(step) < text_width("2^-16") + 2 * box.pad) ++step;
    for (double e = kFlushBelow - step * std::floor((kFlushBelow - kLog2Lo) / step); e < kLog2Hi; e += step) {
        box.draw->AddLine(ImVec2(x_of(e), plot_min.y), ImVec2(x_of(e), plot_max.y), kGridLineColor);
        text_centered(box.draw, x_of(e), plot_max.y + rug + 1, kDimTextColor, power_of_two_text(e));
    }
    box.draw->AddText(ImVec2(box.origin.x, plot_min.y - box.line / 2), kDimTextColor, most_text.c_str());
    box.draw->AddText(ImVec2(plot_min.x - box.pad - text_width("0"), plot_max.y - box.line / 2), kDimTextColor, "0");
    box.draw->AddText(box.origin, kTextColor, "count");
    text_centered(box.draw, (plot_min.x + plot_max.x) / 2, plot_max.y + box.line + 14, kTextColor,
                  "|x| / s, s = its tile's scale (white ticks: the E4M3 values)");

    const ImVec2 mouse = ImGui::GetIO().MousePos;
    if (box.hovered && mouse.x >= plot_min.x && mouse.x < plot_max.x) {
        const auto i = std::min(bins.size() - 1, static_cast<size_t>((mouse.x - plot_min.x) / bin_w));
        const double lo = kLog2Lo + static_cast<double>(i) / kBinsPerBinade, hi = lo + 1.0 / kBinsPerBinade;
        const double spacing = fp8_ulp(std::exp2(lo), Fp8Format::E4M3);
        ImGui::SetTooltip("|x| / s in [2^%.2f, 2^%.2f)%s: %lld values\nE4M3 spacing there: %s (%.1f%% of the value)",
                          lo, hi, i == 0 ? " or below" : "", static_cast<long long>(bins[i]),
                          format_value(spacing).c_str(), 100 * spacing / std::exp2(lo));
    }
}

// The views of the tensor; when it cannot be quantized, the first says why and the others stay empty.
void draw_values_view() {
    if (!ui.error.empty()) {
        ImGui::PushTextWrapPos(0);
        ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.4f, 1), "%s Pick another tensor in the Forward panel.",
                           ui.error.c_str());
        ImGui::PopTextWrapPos();
        return;
    }
    const Quantized& q = ui.quantized[ui.scaling];
    brief_note(
        "Each tile's largest |x| lands on 448. E4M3 keeps 3 mantissa bits down to 2^-6; below, subnormals keep "
        "fewer, and under 2^-10 a value becomes 0. An outlier that sets its tile's scale pushes the rest left.",
        ImGui::GetFontSize() * 8);
    if (q.zeros > 0) ImGui::TextDisabled("%lld values are exactly 0 (not shown).", static_cast<long long>(q.zeros));
    draw_value_histogram(q, ImGui::GetContentRegionAvail());
}

void draw_error_view() {
    if (!ui.error.empty()) return;
    const Quantized& q = ui.quantized[ui.scaling];
    const int64_t groups = tile_count(ui.shape[1], kQuantGroup);
    wrapped_note("|g - g'| / |g| for each group g of 128 consecutive values of a row, after E4M3 with " +
                 std::string(kScalings[ui.scaling].name) + " scaling (" + kScalings[ui.scaling].about + ")." +
                 (ui.scaling == 2 && ui.shape[0] > kQuantGroup ? " The gap: where the 128-row tiles meet." : ""));
    Grid grid;
    grid.values = q.group_error.data();
    grid.rows = ui.shape[0];
    grid.cols = groups;
    grid.name = "relative error of the 1x128 group";
    grid.shape = {grid.rows, grid.cols};
    grid.row_axis = ui.from_trace ? "row" : "token";
    grid.col_axis = "group of 128 columns";
    if (ui.scaling == 2) grid.row_separator_every = kQuantGroup;
    grid.note = [&q, groups](int64_t flat) {
        const int64_t row = flat / groups, col = (flat % groups) * kQuantGroup;
        return "columns " + std::to_string(col) + ".." + std::to_string(std::min(col + kQuantGroup, ui.shape[1]) - 1) +
               "; its tile's scale s = " + format_value(q.scales(row / q.tile.rows, col / q.tile.cols));
    };
    heatmap("error", grid, q.error_scale, ImGui::GetContentRegionAvail());
}

void draw_scalings_view() {
    if (!ui.error.empty()) return;
    ImGui::TextWrapped("%s %s", ui.name.c_str(), format_shape(ui.shape).c_str());
    if (ImGui::BeginTable("scalings", 6, ImGuiTableFlags_SizingFixedFit | ImGuiTableFlags_RowBg)) {
        for (const char* heading : {"scaling", "scales", "SNR", "max rel", "mean rel", "flushed to 0"})
            ImGui::TableSetupColumn(heading);
        ImGui::TableHeadersRow();
        for (int s = 0; s < 3; ++s) {
            const Quantized& q = ui.quantized[s];
            ImGui::TableNextRow();
            if (s == ui.scaling) ImGui::TableSetBgColor(ImGuiTableBgTarget_RowBg0, IM_COL32(60, 80, 120, 255));
            ImGui::TableNextColumn();
            if (ImGui::Selectable(kScalings[s].name, false, ImGuiSelectableFlags_SpanAllColumns)) ui.scaling = s;
            ImGui::TableNextColumn();
            ImGui::TextUnformatted(format_shape({q.scales.rows(), q.scales.cols()}).c_str());
            ImGui::TableNextColumn();
            ImGui::Text("%.1f dB", q.stats.snr_db);
            ImGui::TableNextColumn();
            ImGui::Text("%.2e", q.stats.max_rel);
            ImGui::TableNextColumn();
            ImGui::Text("%.2e", q.stats.mean_rel);
            ImGui::TableNextColumn();
            ImGui::Text("%lld", static_cast<long long>(q.stats.flushed));
        }
        ImGui::EndTable();
    }
    brief_note(
        "Per tile: s = amax / 448, code = E4M3(x / s), x' = code * s. SNR = 10 log10(sum x^2 / sum (x - x')^2); "
        "max and mean rel: over the 1x128 groups; flushed: nonzero values that became 0. One outlier sets the "
        "scale of its whole tile: per tensor that is every value; 1x128 confines it to one row's 128 columns.",
        0);
}

// Max relative error of C = A B^T against FP64, per accumulation, for each K.
std::vector<Series> gemm_errors(bool same_sign, uint64_t seed) {
    AccumulationModel exact, no_promotion, promoted;
    no_promotion.mode = promoted.mode = AccumulationMode::TensorCore;
    no_promotion.promote_every = 0;
    std::vector<Series> series = {{"exact", {}}, {"no promotion", {}}, {"FP32 every 128", {}}};
    for (double k : kGemmKs) {
        Mat a = generated_matrix(seed, "viewer.fp8.gemm.a", kGemmM, static_cast<int64_t>(k), 1.0f);
        Mat b = generated_matrix(seed, "viewer.fp8.gemm.b", kGemmN, static_cast<int64_t>(k), 1.0f);
        if (same_sign) {
            a = a.cwiseAbs();
            b = b.cwiseAbs();
        }
        const QuantizedMatrix qa = quantize(a, kActivationTile), qb = quantize(b, kWeightTile);
        const MatD reference = reference_gemm(qa, qb);
        const AccumulationModel* models[] = {&exact, &no_promotion, &promoted};
        for (size_t m = 0; m < series.size(); ++m)
            // A log axis has no place for 0: an exact result shows at 1e-12.
            series[m].y.push_back(std::max(gemm_error(fp8_gemm(qa, qb, *models[m]), reference).max_rel, 1e-12));
    }
    return series;
}

std::string k_text(double k) { return std::to_string(std::llround(k)); }

void draw_gemm_view(const App& app) {
    ImGui::TextUnformatted("Inputs N(0, 1):");
    radio_same_line_if_fits("random signs");
    if (ImGui::RadioButton("random signs", !ui.same_sign)) ui.same_sign = false;
    radio_same_line_if_fits("|x|: all positive");
    if (ImGui::RadioButton("|x|: all positive", ui.same_sign)) ui.same_sign = true;
    std::vector<Series>& series = ui.gemm[ui.same_sign];
    if (series.empty()) series = gemm_errors(ui.same_sign, app.seed);
    brief_note("A [" + std::to_string(kGemmM) + ", K] (1x128 scales) times B [" + std::to_string(kGemmN) +
                   ", K] (128x128), summed exactly (FP32 per 128-product block) or as the tensor core does: it keeps "
                   "the top 14 bits of its running sum, so each product loses its low bits; with random signs the "
                   "losses partly cancel, with one sign they add up. Promoting the sum to FP32 every 128 products "
                   "bounds the loss. The V3 report measured ~2% at K = 4096 without promotion.",
               ImGui::GetFontSize() * 10);
    line_plot("gemm", kGemmKs, series, {"K (inner dimension)", 2, k_text}, {"max |C - C64| / max |C64|", 10, nullptr},
              ImGui::GetContentRegionAvail());
}

}  // namespace

void draw_fp8_panel(App& app) {
    const TraceEntry* selected = trace_find(app.trace, app.selected);
    if (!selected) ui.from_trace = false;
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted("Tensor:");
    radio_same_line_if_fits("synthetic activations");
    if (ImGui::RadioButton("synthetic activations", !ui.from_trace)) ui.from_trace = false;
    ImGui::BeginDisabled(!selected);
    const std::string trace_label = "the Forward panel's tensor" + (selected ? ": " + selected->name : "");
    radio_same_line_if_fits(trace_label);
    if (ImGui::RadioButton(trace_label.c_str(), ui.from_trace)) ui.from_trace = true;
    ImGui::EndDisabled();
    same_line_if_fits(text_width("Scaling:"), ImGui::GetFontSize() * 3);
    ImGui::TextUnformatted("Scaling:");
    for (int s = 0; s < 3; ++s) {
        radio_same_line_if_fits(kScalings[s].name);
        ImGui::RadioButton(kScalings[s].name, &ui.scaling, s);
    }
    refresh(app);

    const std::string scaling = kScalings[ui.scaling].name;
    view_quadrants({
        {"values", "Values against the E4M3 grid, " + scaling + " scaling", draw_values_view},
        {"error", "Quantization error per 1x128 group, " + scaling + " scaling", draw_error_view},
        {"scalings", "The three scalings (click a row to show it)", draw_scalings_view},
        {"gemm", "FP8 GEMM error against K: why V3 promotes to FP32", [&] { draw_gemm_view(app); }},
    });
}

}  // namespace seek::viewer
