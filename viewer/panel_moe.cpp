// MoE: how DeepSeekMoE's gate spreads tokens over the routed experts, and how V3 keeps that even.
// Three sub-views (--view routing | path | balancing):
//   routing   one MoE layer (a layer selector): the token x expert affinities s, or s + b (what
//             selection ranks), each on its own colour scale, with each token's chosen experts
//             outlined, the groups it may not use (group-limited routing) dimmed and the groups
//             separated; for the prompt also its tokens coloured and numbered by their first
//             expert. Either the current trace's MoE layers on the prompt, or 1024 synthetic tokens
//             through a generated V2-Lite or V3 gate (256 experts, 8 groups, top-4 groups, top-8).
//             Beside it the load: tokens per expert, MaxVio.
//   path      a token's path: click a token and see its experts in every MoE layer of the current
//             trace (a layers x experts grid), and the expert load per layer for the whole prompt.
//             It reads only layers.*.moe.topk_idx (and topk_weight, group_mask when present), so
//             a full-scale trace (58 layers x 256 experts) shows the same way as the toy's.
//   balancing the routing simulator (route_sim.h) at V3 scale: MaxVio step by step without
//             balancing, with the auxiliary loss and with the bias, run on a worker thread.
#include <imgui.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>

#include "app.h"
#include "core/gate.h"
#include "core/moe.h"
#include "core/random.h"
#include "core/route_sim.h"
#include "core/tokenizer.h"
#include "draw.h"
#include "layout.h"
#include "worker.h"

namespace seek::viewer {

namespace {

constexpr int64_t kSyntheticTokens = 1024;

// One gate's decisions on a batch of tokens, and what the views derive from them once.
struct GateView {
    ModelConfig config;
    std::string name;   // trace prefix ("layers.1.moe") or what the tokens are
    std::string error;  // why there is nothing to show
    Routing routing;
    ExpertLoad load;
    double max_vio = 0;
    ColorScale scale, biased_scale;  // of s, and of s + b
    bool bias_is_zero = true;        // s + b = s: a fresh gate, whose bias has not been trained
    std::vector<uint8_t> masked;     // [token, expert]: 1 where the expert's group is not among the token's
    std::vector<int64_t> chosen;  // flat [token, expert] indices of the chosen experts
    Mat weights;                  // [token, expert]: topk_weight where chosen, else 0
    ColorScale weight_scale;
};

// What the routing heatmap colours.
enum class Shown { Scores, BiasedScores, Weights };

// Every MoE layer's choices in a trace: what the path view draws.
struct TracePaths {
    std::string error;            // why there is nothing to show
    std::vector<int64_t> layers;  // the MoE layers the trace has topk_idx for, ascending
    int64_t tokens = 0, k = 0, experts = 0;
    std::vector<IndexMat> idx;    // per layer [tokens, k]
    std::vector<Mat> weights;     // per layer [tokens, k], or empty when the trace lacks topk_weight
    std::vector<Mat> group_mask;  // per layer [tokens, n_group], or empty
    std::vector<float> load;      // [layers, experts]: tokens routed to each expert
    std::vector<double> max_vio;  // per layer
};

struct MoeUi {
    std::string scale;  // "toy": the current trace (the prompt); else a preset: synthetic tokens
    std::string view;   // "routing" or "path"
    Shown shown = Shown::Scores;
    uint64_t prompt_version = ~0ull;
    int64_t layer = -1;                         // the routing view's MoE layer; -1: the first
    std::vector<int64_t> prompt_layers;         // the MoE layers the current trace has a gate for
    std::map<int64_t, GateView> prompt;         // the current trace's, per layer, made when shown
    std::map<std::string, GateView> synthetic;  // per preset and layer ("v3@3"), made when shown
    TracePaths paths;                           // the current trace's, made once per trace
    int path_token = -1;                        // the token whose path is shown; -1: the last

    // The simulator: its inputs, and the steps finished so far (written by the worker, under its mutex).
    int steps = 300, tokens = 4096;
    bool accumulated = false;
    SimulationOptions ran;  // what the current or last run was asked for
    std::chrono::steady_clock::time_point started;
    std::vector<SimulationStep> history;
    Worker worker;  // last: destroyed first, so the thread stops before what it writes goes
};
MoeUi ui;

Mat matrix_of(const TraceEntry& entry) {
    Mat m(entry.shape[0], entry.shape[1]);
    std::copy(entry.values.begin(), entry.values.end(), m.data());
    return m;
}

// The Routing that the trace recorded under `prefix` (gate_forward's names).
Routing routing_from_trace(const Trace& trace, const std::string& prefix, const ModelConfig& config) {
    auto entry = [&](const char* name, int64_t cols) -> const TraceEntry& {
        const TraceEntry* e = trace_find(trace, prefix + "." + name);
        if (!e) throw std::runtime_error("this trace has no " + prefix + "." + name);
        if (e->shape.size() != 2 || e->shape[1] != cols)
            throw std::runtime_error(prefix + "." + name + " is " + format_shape(e->shape) + ", expected [tokens, " +
                                     std::to_string(cols) + "] for the trace's config");
        return *e;
    };
    const int64_t experts = config.n_routed_experts, k = config.num_experts_per_tok;
    Routing r;
    r.scores = matrix_of(entry("scores", experts));
    r.biased_scores = matrix_of(entry("biased_scores", experts));
    r.group_scores = matrix_of(entry("group_scores", config.n_group));
    r.group_mask = matrix_of(entry("group_mask", config.n_group));
    r.topk_idx = matrix_of(entry("topk_idx", k)).cast<int32_t>();
    r.topk_weight = matrix_of(entry("topk_weight", k));
    if (r.topk_idx.size() > 0 && (r.topk_idx.minCoeff() < 0 || r.topk_idx.maxCoeff() >= experts))
        throw std::runtime_error(prefix + ".topk_idx names an expert outside 0.." + std::to_string(experts - 1));
    return r;
}

GateView make_gate_view(const ModelConfig& config, const std::string& name, Routing routing) {
    GateView v;
    v.config = config;
    v.name = name;
    v.routing = std::move(routing);
    const Routing& r = v.routing;
    v.load = count_load(config, r.topk_idx, config.topk_group);
    v.max_vio = max_violation(v.load.per_expert);
    // s and s + b each on their own scale: s is a sigmoid in [0, 1], and s + b may pass 1.
    v.scale = color_scale_for({r.scores.minCoeff(), r.scores.maxCoeff()});
    v.biased_scale = color_scale_for({r.biased_scores.minCoeff(), r.biased_scores.maxCoeff()});
    v.bias_is_zero = r.scores == r.biased_scores;
    // The cells of the groups each token may not use: group-limited routing keeps topk_group groups.
    const int64_t per_group = r.scores.cols() / std::max<int64_t>(r.group_mask.cols(), 1);
    v.masked.assign(static_cast<size_t>(r.scores.size()), 0);
    for (int64_t t = 0; t < r.scores.rows(); ++t)
        for (int64_t e = 0; e < r.scores.cols(); ++e)
            v.masked[t * r.scores.cols() + e] = r.group_mask.cols() > 1 && r.group_mask(t, e / per_group) == 0;
    v.weights = Mat::Zero(r.scores.rows(), r.scores.cols());
    for (int64_t t = 0; t < r.topk_idx.rows(); ++t)
        for (int64_t k = 0; k < r.topk_idx.cols(); ++k) {
            v.chosen.push_back(t * r.scores.cols() + r.topk_idx(t, k));
            v.weights(t, r.topk_idx(t, k)) = r.topk_weight(t, k);
        }
    v.weight_scale = {ColorMap::Magnitude, 0, std::max(v.weights.maxCoeff(), 1e-6f)};
    return v;
}

// The MoE layers whose gate the trace recorded (layers.N.moe.scores), ascending.
std::vector<int64_t> traced_moe_layers(const Trace& trace, const char* leaf) {
    std::vector<int64_t> layers;
    for (const TraceEntry& entry : trace.entries) {
        long long layer = 0;
        char rest[64] = {};
        if (std::sscanf(entry.name.c_str(), "layers.%lld.moe.%63s", &layer, rest) == 2 && std::string(rest) == leaf)
            layers.push_back(layer);
    }
    std::sort(layers.begin(), layers.end());
    layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
    return layers;
}

GateView prompt_gate_view(const App& app, int64_t layer) {
    const ModelConfig& config = app.trace_config;
    GateView v;
    v.config = config;
    if (layer < 0) layer = first_moe_layer(config);
    if (layer < 0) {
        v.error = "The trace's model (" + config.name + ") has no MoE layer.";
        return v;
    }
    const std::string prefix = "layers." + std::to_string(layer) + ".moe";
    try {
        return make_gate_view(config, prefix, routing_from_trace(app.trace, prefix, config));
    } catch (const std::exception& error) {
        v.error = std::string(error.what()) + " (a trace of at least " + std::to_string(layer + 1) +
                  " layers has it: seek step --layers " + std::to_string(layer + 1) + ")";
        return v;
    }
}

// kSyntheticTokens tokens through a generated gate at a preset's full scale. The hidden states
// are N(0, 1): after RMSNorm every token has unit RMS, and an untrained gate has no favourites,
// so what imbalance shows is chance alone.
GateView synthetic_gate_view(const std::string& preset, int64_t layer, uint64_t seed) {
    const ModelConfig config = preset_config(preset);
    if (!config.is_moe_layer(layer)) layer = first_moe_layer(config);
    const Mat x = generated_matrix(seed, "viewer.moe.hidden", kSyntheticTokens, config.hidden_size, 1.0f);
    const Routing routing = gate_forward(config, generated_gate_weights(config, layer, seed), x, {});
    return make_gate_view(config, preset + " gate (layer " + std::to_string(layer) + "), synthetic tokens", routing);
}

int64_t experts_per_group(const ModelConfig& config) {
    return config.n_routed_experts / std::max<int64_t>(config.n_group, 1);
}
int64_t group_of(const ModelConfig& config, int64_t expert) { return expert / experts_per_group(config); }

// Experts are categories: each its own colour while the palette has enough (the toy's 16), else
// the colour of its group (V3's 8) and its number written beside.
ImU32 expert_color(const ModelConfig& config, int64_t expert) {
    return config.n_routed_experts <= kCategoryColors ? category_color(expert) : category_color(group_of(config, expert));
}

// The prompt's tokens coloured by their first (highest-ranked) expert, and the legend of those experts.
void draw_first_experts(const App& app, const GateView& v) {
    const IndexMat& idx = v.routing.topk_idx;
    if (static_cast<int64_t>(app.tokens.size()) != idx.rows()) return;
    TokenChipOptions chips;
    chips.max_rows = 2;
    std::vector<int32_t> firsts;
    for (int64_t t = 0; t < idx.rows(); ++t) {
        chips.fills.push_back(expert_color(v.config, idx(t, 0)));
        chips.labels.push_back("e" + std::to_string(idx(t, 0)));  // more experts than clearly different colours
        if (std::find(firsts.begin(), firsts.end(), idx(t, 0)) == firsts.end()) firsts.push_back(idx(t, 0));
    }
    std::sort(firsts.begin(), firsts.end());
    ImGui::TextUnformatted("Tokens, coloured and numbered by their first expert:");
    token_chips(app.tokens, chips);
    ImGui::AlignTextToFramePadding();
    ImGui::TextDisabled("first expert:");
    const ImGuiStyle& style = ImGui::GetStyle();
    for (int32_t expert : firsts) {
        const std::string label =
            std::to_string(expert) + " (group " + std::to_string(group_of(v.config, expert)) + ")";
        ImGui::SameLine();
        if (ImGui::GetContentRegionAvail().x <
            ImGui::GetFrameHeight() + style.ItemInnerSpacing.x + ImGui::CalcTextSize(label.c_str()).x) {
            ImGui::NewLine();
            ImGui::AlignTextToFramePadding();
        }
        const ImVec4 color = ImGui::ColorConvertU32ToFloat4(expert_color(v.config, expert));
        ImGui::ColorButton(
            ("##expert" + std::to_string(expert)).c_str(), color,
            ImGuiColorEditFlags_NoTooltip | ImGuiColorEditFlags_NoPicker | ImGuiColorEditFlags_NoDragDrop);
        ImGui::SameLine(0, style.ItemInnerSpacing.x);
        ImGui::TextUnformatted(label.c_str());
    }
}

// What a cell of the affinity heatmap means for routing.
std::string cell_note(const GateView& v, const std::vector<int32_t>& tokens, int64_t flat) {
    const Routing& r = v.routing;
    const int64_t t = flat / r.scores.cols(), e = flat % r.scores.cols(), g = group_of(v.config, e);
    std::string text = "token " + std::to_string(t);
    if (static_cast<int64_t>(tokens.size()) == r.scores.rows()) text += " '" + token_string(tokens[t]) + "'";
    text += ", expert " + std::to_string(e) + " (group " + std::to_string(g) +
            ")\ns = " + format_value(r.scores(t, e)) + ", s + b = " + format_value(r.biased_scores(t, e)) + "\n";
    for (int64_t k = 0; k < r.topk_idx.cols(); ++k)
        if (r.topk_idx(t, k) == e)
            return text + "chosen, rank " + std::to_string(k + 1) + " of " + std::to_string(r.topk_idx.cols()) +
                   ", weight " + format_value(r.topk_weight(t, k));
    if (r.group_mask(t, g) == 0)
        return text + "not chosen: group " + std::to_string(g) + " is not among this token's top " +
               std::to_string(v.config.topk_group) + " groups";
    return text + "not chosen: " + std::to_string(r.topk_idx.cols()) + " experts of its groups ranked higher";
}

void draw_routing_view(const App& app, const GateView& v) {
    const ModelConfig& c = v.config;
    const bool prompt = ui.scale == "toy";
    if (prompt) draw_first_experts(app, v);
    const std::string k = std::to_string(c.num_experts_per_tok);
    std::string note = "s = " + c.scoring_func + "(x W_gate^T) per token and expert. Selection ranks s + b: ";
    note += c.n_group > 1
                ? "the " + std::to_string(c.topk_group) + " best of " + std::to_string(c.n_group) +
                      " groups (split by the gaps) stay eligible, the others are dimmed, and the " + k +
                      " best experts in them are chosen."
                : "the " + k + " best experts are chosen.";
    if (ui.shown == Shown::BiasedScores && !v.bias_is_zero)
        note += " s + b has a colour scale of its own: the bias moves it past s's range.";
    if (!gate_has_bias(c))
        note += " This gate has no bias (V2): s + b = s.";
    else if (v.bias_is_zero)
        note += " This gate's bias b is 0 (untrained), so s + b = s.";
    if (ui.shown == Shown::Weights)
        note += " Weights: the chosen experts' s" + std::string(c.norm_topk_prob ? ", normalized to sum to 1" : "") +
                ", times " + format_value(c.routed_scaling_factor) + ".";
    wrapped_note(note);
    const Mat& values = ui.shown == Shown::Scores         ? v.routing.scores
                        : ui.shown == Shown::BiasedScores ? v.routing.biased_scores
                                                          : v.weights;

    Grid grid;
    grid.values = values.data();
    grid.rows = values.rows();
    grid.cols = values.cols();
    // The trace's names where the values are a trace tensor; the weights are topk_weight spread out.
    grid.name = ui.shown == Shown::Weights ? "routing weight"
                                           : (prompt ? v.name + "." : std::string()) +
                                                 (ui.shown == Shown::Scores ? "scores" : "biased_scores");
    grid.shape = {grid.rows, grid.cols};
    grid.row_axis = prompt ? "token" : "synthetic token";
    grid.col_axis = "expert";
    if (prompt && static_cast<int64_t>(app.tokens.size()) == grid.rows)
        for (int32_t token : app.tokens) grid.row_labels.push_back(token_label(token));
    grid.marked = v.chosen;
    grid.marked_meaning = "chosen experts";
    if (c.n_group > 1) {
        grid.col_separator_every = experts_per_group(c);
        grid.dimmed = v.masked;
        grid.dimmed_meaning = "groups the token may not use";
    }
    const std::vector<int32_t>& tokens = app.tokens;
    grid.note = [&v, prompt, &tokens](int64_t flat) {
        return cell_note(v, prompt ? tokens : std::vector<int32_t>{}, flat);
    };
    heatmap("affinities", grid,
            ui.shown == Shown::Weights        ? v.weight_scale
            : ui.shown == Shown::BiasedScores ? v.biased_scale
                                              : v.scale,
            ImGui::GetContentRegionAvail());
}

// Tokens per expert as bars in the experts' colours, the mean as a dashed line.
void draw_load_chart(const GateView& v, ImVec2 size) {
    const WidgetBox box("load", size);
    const std::vector<int64_t>& load = v.load.per_expert;
    const int64_t experts = static_cast<int64_t>(load.size());
    if (experts == 0) return;
    int64_t total = 0;
    for (int64_t n : load) total += n;
    const double mean = static_cast<double>(total) / static_cast<double>(experts);
    const int64_t most = *std::max_element(load.begin(), load.end());
    const double top = std::max<double>(most, 1) * 1.08;

    const std::string most_text = std::to_string(most);
    const ImVec2 plot_min(box.origin.x + text_width(most_text) + box.pad, box.origin.y + box.line + 6);
    const ImVec2 plot_max(box.origin.x + size.x - box.pad, box.origin.y + size.y - 2 * box.line - 8);
    record_plot("load", plot_min, ImVec2(std::max(plot_max.x, plot_min.x), std::max(plot_max.y, plot_min.y)));
    if (plot_max.x - plot_min.x < 20 || plot_max.y - plot_min.y < 20) return;
    const float bar_w = (plot_max.x - plot_min.x) / static_cast<float>(experts);
    auto y_of = [&](double n) { return plot_max.y - static_cast<float>(n / top) * (plot_max.y - plot_min.y); };

    box.draw->AddText(box.origin, kTextColor, "tokens routed to the expert");
    for (int64_t e = 0; e < experts; ++e) {
        const float x0 = plot_min.x + bar_w * e;
        box.draw->AddRectFilled(ImVec2(x0 + (bar_w > 4 ? 0.5f : 0), y_of(static_cast<double>(load[e]))),
                                ImVec2(x0 + bar_w - (bar_w > 4 ? 0.5f : 0), plot_max.y), expert_color(v.config, e));
    }
    // Group boundaries as lines; x ticks at groups' first experts (or every few experts without
    // groups), doubling the spacing until the labels fit.
    const int64_t per_group = experts_per_group(v.config);
    int64_t tick_every = v.config.n_group > 1 ? per_group : 1;
    while (bar_w * static_cast<float>(tick_every) < 2 * text_width("000")) tick_every *= 2;
    for (int64_t e = per_group; v.config.n_group > 1 && e < experts; e += per_group) {
        const float x = plot_min.x + bar_w * e;
        box.draw->AddLine(ImVec2(x, plot_min.y), ImVec2(x, plot_max.y), kGridLineColor, 1.0f);
    }
    for (int64_t e = 0; e < experts; e += tick_every) {
        const float x = plot_min.x + bar_w * e;
        box.draw->AddLine(ImVec2(x, plot_max.y), ImVec2(x, plot_max.y + 4), kAxisColor);
        text_centered(box.draw, x + bar_w / 2, plot_max.y + 4, kDimTextColor, std::to_string(e));
    }
    box.draw->AddLine(ImVec2(plot_min.x, plot_max.y), ImVec2(plot_max.x, plot_max.y), kAxisColor);
    box.draw->AddLine(plot_min, ImVec2(plot_min.x, plot_max.y), kAxisColor);
    box.draw->AddText(ImVec2(box.origin.x, y_of(static_cast<double>(most)) - box.line / 2), kDimTextColor,
                      most_text.c_str());
    box.draw->AddText(ImVec2(plot_min.x - box.pad - text_width("0"), plot_max.y - box.line / 2), kDimTextColor, "0");
    const std::string x_label =
        v.config.n_group > 1 ? "expert (groups of " + std::to_string(per_group) + " between the lines)" : "expert";
    text_centered(box.draw, (plot_min.x + plot_max.x) / 2, plot_max.y + box.line + 8, kTextColor, x_label);

    // The mean, dashed, labelled at its right end.
    const float mean_y = y_of(mean);
    for (float x = plot_min.x; x < plot_max.x; x += 12)
        box.draw->AddLine(ImVec2(x, mean_y), ImVec2(std::min(x + 7, plot_max.x), mean_y), IM_COL32(255, 255, 255, 230),
                          2);
    const std::string mean_text = "mean " + format_value(mean);
    box.draw->AddRectFilled(ImVec2(plot_max.x - text_width(mean_text) - 6, mean_y - box.line - 4),
                            ImVec2(plot_max.x, mean_y - 2), IM_COL32(20, 20, 24, 200));
    box.draw->AddText(ImVec2(plot_max.x - text_width(mean_text) - 3, mean_y - box.line - 3), kTextColor,
                      mean_text.c_str());

    const ImVec2 mouse = ImGui::GetIO().MousePos;
    if (box.hovered && mouse.x >= plot_min.x && mouse.x < plot_max.x) {
        const int64_t e = std::min<int64_t>(experts - 1, static_cast<int64_t>((mouse.x - plot_min.x) / bar_w));
        ImGui::SetTooltip("expert %lld (group %lld): %lld tokens, %.2fx the mean", static_cast<long long>(e),
                          static_cast<long long>(group_of(v.config, e)), static_cast<long long>(load[e]),
                          mean > 0 ? static_cast<double>(load[e]) / mean : 0.0);
    }
}

void draw_load_view(const GateView& v) {
    const double mean = static_cast<double>(v.load.tokens * v.config.num_experts_per_tok) /
                        static_cast<double>(v.config.n_routed_experts);
    ImGui::Text("MaxVio = max / mean - 1 = %.2f", v.max_vio);
    char text[256];
    std::snprintf(text, sizeof text,
                  "%lld tokens x %lld experts over %lld: %.1f each on average, give or take %.1f by chance alone.",
                  static_cast<long long>(v.load.tokens), static_cast<long long>(v.config.num_experts_per_tok),
                  static_cast<long long>(v.config.n_routed_experts), mean, std::sqrt(mean));
    wrapped_note(text);
    draw_load_chart(v, ImGui::GetContentRegionAvail());
}

void start_simulation() {
    SimulationOptions& o = ui.ran;
    o = SimulationOptions();
    const ModelConfig config = preset_config("v3");
    o.steps = ui.steps;
    o.tokens = ui.tokens;
    o.alpha = config.aux_loss_alpha;
    o.node_limit = config.topk_group;
    ui.history.clear();
    ui.started = std::chrono::steady_clock::now();
    start_worker(ui.worker, [config, o] {
        simulate_routing(config, o, [&o](const SimulationStep& step) {
            if (ui.worker.stop) throw WorkerStopped{};
            const std::lock_guard<std::mutex> lock(ui.worker.mutex);
            ui.history.push_back(step);
            ui.worker.progress = static_cast<double>(step.step) / static_cast<double>(o.steps);
        });
    });
}

void draw_balancing_view(const App& app) {
    const bool running = ui.worker.running;
    // Headless screenshots run a short simulation to the end first, so that the picture has curves.
    if (app.headless && !running && ui.history.empty() && ui.worker.error.empty()) {
        ui.steps = 100;
        ui.tokens = 2048;
        start_simulation();
        wait_worker(ui.worker);
    }
    wrapped_note("V3's 256 experts on synthetic tokens with drifting favourites (route_sim.h). aux_loss: a "
                 "balance-loss step per step (alpha 1e-4); bias: b_i +- 0.001 per step toward the mean load, V3's "
                 "auxiliary-loss-free way; bias+aux: both, as V3 trains.");
    ImGui::BeginDisabled(running);
    if (ImGui::Button("Run simulator")) start_simulation();
    const float input_width = ImGui::GetFontSize() * 6;
    same_line_if_fits(input_width + text_width("steps") + ImGui::GetStyle().ItemInnerSpacing.x);
    ImGui::SetNextItemWidth(input_width);
    ImGui::InputInt("steps", &ui.steps, 100, 1000);
    ui.steps = std::clamp(ui.steps, 10, 20000);
    same_line_if_fits(input_width + text_width("tokens per step") + ImGui::GetStyle().ItemInnerSpacing.x);
    ImGui::SetNextItemWidth(input_width);
    ImGui::InputInt("tokens per step", &ui.tokens, 1024, 4096);
    ui.tokens = std::clamp(ui.tokens, 256, 65536);
    ImGui::EndDisabled();

    std::vector<double> x;
    std::vector<Series> series;
    for (Balancing method : kBalancingMethods) series.push_back({balancing_name(method), {}});
    {
        const std::lock_guard<std::mutex> lock(ui.worker.mutex);
        for (const SimulationStep& step : ui.history) {
            x.push_back(static_cast<double>(step.step));
            for (size_t m = 0; m < series.size(); ++m)
                series[m].y.push_back(ui.accumulated ? step.methods[m].max_vio_accumulated : step.methods[m].max_vio);
        }
    }
    if (running) {
        const double done = ui.worker.progress;
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - ui.started).count();
        char text[96];
        std::snprintf(text, sizeof text, "step %lld of %lld, %.0f s left", static_cast<long long>(x.size()),
                      static_cast<long long>(ui.ran.steps), done > 0 ? seconds * (1 - done) / done : 0.0);
        ImGui::ProgressBar(static_cast<float>(done),
                           ImVec2(ImGui::GetContentRegionAvail().x - ImGui::GetFontSize() * 5, 0), text);
        ImGui::SameLine();
        if (ImGui::Button("Stop")) stop_worker(ui.worker);
    } else if (!ui.worker.error.empty()) {
        ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.4f, 1), "%s", ui.worker.error.c_str());
    } else if (x.empty()) {
        ImGui::TextDisabled("Run it to see MaxVio step by step (about %.0f s for %d steps of %d tokens on 2 cores).",
                            ui.steps * ui.tokens * 17e-6, ui.steps, ui.tokens);
    } else {
        ImGui::Text("%lld steps of %lld tokens.", static_cast<long long>(x.size()),
                    static_cast<long long>(ui.ran.tokens));
    }
    if (x.empty()) return;
    same_line_if_fits(2 * ImGui::GetFrameHeight() + text_width("per step cumulative") + ImGui::GetFontSize() * 2,
                      ImGui::GetFontSize() * 2);
    if (ImGui::RadioButton("per step", !ui.accumulated)) ui.accumulated = false;
    ImGui::SameLine();
    if (ImGui::RadioButton("cumulative", ui.accumulated)) ui.accumulated = true;
    line_plot("maxvio", x, series, {"training step", 0, nullptr},
              {ui.accumulated ? "MaxVio of the load summed over all steps so far" : "MaxVio of each step's batch", 0,
               nullptr},
              ImGui::GetContentRegionAvail());
}

// ---- a token's path --------------------------------------------------------------------------

// Every MoE layer's choices the trace holds (layers.N.moe.topk_idx, with topk_weight and
// group_mask when there), checked against the trace's config.
TracePaths trace_paths(const Trace& trace, const ModelConfig& config) {
    TracePaths p;
    p.experts = config.n_routed_experts;
    for (int64_t layer : traced_moe_layers(trace, "topk_idx")) {
        const std::string prefix = "layers." + std::to_string(layer) + ".moe.";
        const TraceEntry& idx = *trace_find(trace, prefix + "topk_idx");
        if (idx.shape.size() != 2 || (!p.layers.empty() && (idx.shape[0] != p.tokens || idx.shape[1] != p.k))) {
            p.error = prefix + "topk_idx is " + format_shape(idx.shape) + ", not [tokens, k] like the layers before it";
            return p;
        }
        p.tokens = idx.shape[0];
        p.k = idx.shape[1];
        IndexMat m(p.tokens, p.k);
        for (int64_t i = 0; i < m.size(); ++i) {
            const float id = idx.values[static_cast<size_t>(i)];
            if (!(id >= 0 && id < static_cast<float>(p.experts))) {
                p.error = prefix + "topk_idx holds " + format_value(id) + ", not an expert of the trace's " +
                          std::to_string(p.experts) + " (its config's n_routed_experts)";
                return p;
            }
            m(i / p.k, i % p.k) = static_cast<int32_t>(id);
        }
        p.layers.push_back(layer);
        p.idx.push_back(m);
        const TraceEntry* weight = trace_find(trace, prefix + "topk_weight");
        p.weights.push_back(weight && weight->shape == idx.shape ? matrix_of(*weight) : Mat());
        const TraceEntry* mask = trace_find(trace, prefix + "group_mask");
        p.group_mask.push_back(mask && mask->shape.size() == 2 && mask->shape[0] == p.tokens &&
                                       mask->shape[1] == std::max<int64_t>(config.n_group, 1)
                                   ? matrix_of(*mask)
                                   : Mat());
        const ExpertLoad load = count_load(config, m, config.topk_group);
        for (int64_t n : load.per_expert) p.load.push_back(static_cast<float>(n));
        p.max_vio.push_back(max_violation(load.per_expert));
    }
    if (p.layers.empty())
        p.error = "The current trace has no layers.N.moe.topk_idx: no MoE layer ran. A live run of a checkpoint has "
                  "every layer; for generated weights, or a full-scale trace: seek step --layers N --filter "
                  "'layers.*.moe.*' --trace FILE, then seekscope --trace FILE.";
    return p;
}

void draw_path_grid(const App& app, const TracePaths& p, int64_t token, ImVec2 size) {
    const ModelConfig& c = app.trace_config;
    const int64_t layers = static_cast<int64_t>(p.layers.size());
    // Chosen cells carry the expert's weight (1 when the trace has no weights), the rest 0.
    static std::vector<float> values;
    static std::vector<uint8_t> dimmed;
    values.assign(static_cast<size_t>(layers * p.experts), 0.0f);
    dimmed.assign(values.size(), 0);
    std::vector<int64_t> chosen;
    bool weighted = true;
    for (int64_t l = 0; l < layers; ++l) {
        weighted = weighted && p.weights[l].size() > 0;
        for (int64_t k = 0; k < p.k; ++k) {
            const int64_t e = p.idx[l](token, k);
            values[l * p.experts + e] = p.weights[l].size() > 0 ? p.weights[l](token, k) : 1.0f;
            chosen.push_back(l * p.experts + e);
        }
        if (p.group_mask[l].size() > 0)
            for (int64_t e = 0; e < p.experts; ++e)
                dimmed[l * p.experts + e] = p.group_mask[l](token, group_of(c, e)) == 0;
    }
    Grid grid;
    grid.values = values.data();
    grid.rows = layers;
    grid.cols = p.experts;
    grid.name = weighted ? "topk_weight" : "chosen";
    grid.shape = {layers, p.experts};
    grid.row_axis = "MoE layer";
    grid.col_axis = "expert";
    for (int64_t layer : p.layers) grid.row_labels.push_back(std::to_string(layer));
    grid.marked = chosen;
    grid.marked_meaning = "its experts";
    if (c.n_group > 1) {
        grid.col_separator_every = experts_per_group(c);
        if (std::any_of(dimmed.begin(), dimmed.end(), [](uint8_t d) { return d != 0; })) {
            grid.dimmed = dimmed;
            grid.dimmed_meaning = "groups it may not use";
        }
    }
    const std::vector<int64_t>& trace_layers = p.layers;
    const int64_t experts = p.experts;
    const TracePaths* paths = &p;
    grid.note = [&trace_layers, experts, paths, token, &c](int64_t flat) {
        const int64_t l = flat / experts, e = flat % experts;
        std::string text = "layer " + std::to_string(trace_layers[l]) + ", expert " + std::to_string(e) + " (group " +
                           std::to_string(group_of(c, e)) + "): ";
        for (int64_t k = 0; k < paths->k; ++k)
            if (paths->idx[l](token, k) == e)
                return text + "chosen, rank " + std::to_string(k + 1) + " of " + std::to_string(paths->k);
        return text + "not chosen";
    };
    float most = 0;
    for (float v : values) most = std::max(most, v);
    heatmap("path", grid, {ColorMap::Magnitude, 0, std::max(most, 1e-6f)}, size);
}

void draw_layer_load(const App& app, const TracePaths& p, ImVec2 size) {
    const ModelConfig& c = app.trace_config;
    const int64_t layers = static_cast<int64_t>(p.layers.size());
    Grid grid;
    grid.values = p.load.data();
    grid.rows = layers;
    grid.cols = p.experts;
    grid.name = "tokens routed";
    grid.shape = {layers, p.experts};
    grid.row_axis = "MoE layer";
    grid.col_axis = "expert";
    for (int64_t layer : p.layers) grid.row_labels.push_back(std::to_string(layer));
    if (c.n_group > 1) grid.col_separator_every = experts_per_group(c);
    const TracePaths* paths = &p;
    grid.note = [paths](int64_t flat) {
        const int64_t l = flat / paths->experts;
        return "this layer's MaxVio: " + format_value(paths->max_vio[static_cast<size_t>(l)]);
    };
    float most = 0;
    for (float v : p.load) most = std::max(most, v);
    heatmap("load per layer", grid, {ColorMap::Magnitude, 0, std::max(most, 1.0f)}, size);
}

// At full scale a chosen cell is a few pixels wide (256 experts): the experts as numbers too,
// one paragraph per layer, best first (weights in brackets), scrolling beyond four lines.
void draw_path_list(const TracePaths& p, int64_t token) {
    const ImGuiStyle& style = ImGui::GetStyle();
    const float width = ImGui::GetContentRegionAvail().x - style.ScrollbarSize;
    std::vector<std::string> lines;  // broken between experts, never inside "72 (0.33)"
    for (size_t l = 0; l < p.layers.size(); ++l) {
        std::string line = "layer " + std::to_string(p.layers[l]) + ":";
        for (int64_t k = 0; k < p.k; ++k) {
            std::string item = std::to_string(p.idx[l](token, k));
            if (p.weights[l].size() > 0) {
                char weight[16];
                std::snprintf(weight, sizeof weight, " (%.2f)", p.weights[l](token, k));
                item += weight;
            }
            if (text_width(line + " " + item) > width) {
                lines.push_back(line);
                line = "   ";
            }
            line += " " + item;
        }
        lines.push_back(line);
    }
    const float line_height = ImGui::GetTextLineHeightWithSpacing();
    ImGui::BeginChild("expert list", ImVec2(0, std::min<size_t>(lines.size(), 4) * line_height));
    for (const std::string& line : lines) ImGui::TextUnformatted(line.c_str());
    ImGui::EndChild();
}

void draw_path_view(App& app) {
    TracePaths& p = ui.paths;
    if (!p.error.empty()) {
        wrapped_note(p.error);
        return;
    }
    const int tokens = static_cast<int>(p.tokens);
    if (ui.path_token < 0 || ui.path_token >= tokens) ui.path_token = tokens - 1;
    ImGui::TextUnformatted("Click a token to follow it through the layers:");
    TokenChipOptions chips;
    chips.max_rows = 2;
    chips.selected = ui.path_token;
    chips.clicked = &ui.path_token;
    if (static_cast<int>(app.tokens.size()) == tokens) {
        token_chips(app.tokens, chips);
    } else {  // a trace without its tokens: positions
        ImGui::SetNextItemWidth(ImGui::GetFontSize() * 12);
        ImGui::SliderInt("token position", &ui.path_token, 0, tokens - 1);
    }
    const int64_t token = ui.path_token;
    const ModelConfig& c = app.trace_config;
    std::string first_layer;
    for (int64_t k = 0; k < p.k; ++k) first_layer += (k ? " " : "") + std::to_string(p.idx.front()(token, k));
    const std::string piece =
        token < static_cast<int64_t>(app.tokens.size()) ? " '" + token_string(app.tokens[static_cast<size_t>(token)]) + "'" : "";
    app.report["moe path"] = "token " + std::to_string(token) + piece + ": " + std::to_string(p.layers.size()) + " MoE layers x " +
                             std::to_string(p.experts) + " experts; in layer " + std::to_string(p.layers.front()) +
                             " experts " + first_layer;

    const ImGuiStyle& style = ImGui::GetStyle();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float left = std::floor((avail.x - style.ItemSpacing.x) * 0.5f);
    const std::string who = token < static_cast<int64_t>(app.tokens.size())
                                ? "'" + token_label(app.tokens[static_cast<size_t>(token)]) + "'"
                                : "token " + std::to_string(token);
    begin_view("path", "The path of " + who + " (position " + std::to_string(token) + ")", ImVec2(left, avail.y));
    wrapped_note("Its " + std::to_string(p.k) + " experts in each MoE layer, coloured by their weight in the "
                 "layer's output. Each layer's gate decides on its own, so the experts change from layer to layer.");
    if (p.experts > 64) draw_path_list(p, token);
    draw_path_grid(app, p, token, ImGui::GetContentRegionAvail());
    end_view();
    ImGui::SameLine();
    begin_view("layer load", "Expert load per layer for the whole prompt (" + std::to_string(p.tokens) + " tokens)",
               ImVec2(avail.x - left - style.ItemSpacing.x, avail.y));
    double worst = 0;
    size_t worst_layer = 0;
    for (size_t l = 0; l < p.max_vio.size(); ++l)
        if (p.max_vio[l] > worst) {
            worst = p.max_vio[l];
            worst_layer = l;
        }
    char text[256];
    std::snprintf(text, sizeof text,
                  "Tokens routed to each expert, layer by layer (%lld x %lld assignments per layer). MaxVio is worst "
                  "in layer %lld: %.2f. Hover a row for its MaxVio.",
                  static_cast<long long>(p.tokens), static_cast<long long>(p.k),
                  static_cast<long long>(p.layers[worst_layer]), worst);
    wrapped_note(text);
    (void)c;
    draw_layer_load(app, p, ImGui::GetContentRegionAvail());
    end_view();
}

// ---- one layer ---------------------------------------------------------------------------------

// The MoE layer to show: a combo over the trace's (or the preset's) MoE layers.
void draw_layer_choice(const std::vector<int64_t>& layers) {
    if (layers.empty()) return;
    if (std::find(layers.begin(), layers.end(), ui.layer) == layers.end()) ui.layer = layers.front();
    const std::string label = "layer " + std::to_string(ui.layer);
    same_line_if_fits(ImGui::GetFontSize() * 9 + text_width("MoE layer"), ImGui::GetFontSize() * 2);
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 7);
    if (ImGui::BeginCombo("MoE layer", label.c_str())) {
        for (int64_t layer : layers)
            if (ImGui::Selectable(("layer " + std::to_string(layer)).c_str(), layer == ui.layer)) ui.layer = layer;
        ImGui::EndCombo();
    }
}

void draw_routing_views(App& app) {
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted("Gate:");
    for (const std::string& name : preset_names()) {
        const std::string label = name == "toy" ? "the prompt (current trace)" : name;
        radio_same_line_if_fits(label);
        if (ImGui::RadioButton(label.c_str(), ui.scale == name)) ui.scale = name;
    }
    std::vector<int64_t> layers;
    if (ui.scale == "toy") {
        layers = ui.prompt_layers;
    } else {
        const ModelConfig config = preset_config(ui.scale);
        for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer)
            if (config.is_moe_layer(layer)) layers.push_back(layer);
    }
    draw_layer_choice(layers);
    const std::pair<Shown, const char*> choices[] = {
        {Shown::Scores, "scores s"}, {Shown::BiasedScores, "s + b"}, {Shown::Weights, "weights (0: not chosen)"}};
    same_line_if_fits(text_width("Colour:"), ImGui::GetFontSize() * 2);
    ImGui::TextUnformatted("Colour:");
    for (const auto& [shown, label] : choices) {
        radio_same_line_if_fits(label);
        if (ImGui::RadioButton(label, ui.shown == shown)) ui.shown = shown;
    }

    const GateView* shown = nullptr;
    if (ui.scale == "toy") {
        if (!ui.prompt.count(ui.layer)) ui.prompt[ui.layer] = prompt_gate_view(app, ui.layer);
        shown = &ui.prompt[ui.layer];
    } else {
        const std::string key = ui.scale + "@" + std::to_string(ui.layer);
        if (!ui.synthetic.count(key)) ui.synthetic[key] = synthetic_gate_view(ui.scale, ui.layer, app.seed);
        shown = &ui.synthetic[key];
    }
    const GateView& v = *shown;
    app.report["moe routing"] = v.name.empty() ? v.error : v.name;

    const ImGuiStyle& style = ImGui::GetStyle();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float left = std::floor(avail.x * 0.56f), right = avail.x - left - style.ItemSpacing.x;
    const std::string where = ui.scale == "toy" ? (v.name.empty() ? "" : v.name + ", ") + "this prompt" : v.name;
    begin_view("routing", "Routing: token x expert scores (" + where + ")", ImVec2(left, avail.y));
    if (v.error.empty())
        draw_routing_view(app, v);
    else
        wrapped_note(v.error);
    end_view();
    ImGui::SameLine();
    begin_view("load", "Expert load: tokens per routed expert", ImVec2(right, avail.y));
    if (v.error.empty()) draw_load_view(v);
    end_view();
}

}  // namespace

void draw_moe_panel(App& app) {
    if (ui.scale.empty()) ui.scale = app.analytics_preset;
    if (ui.view.empty()) {
        ui.view = app.view == "path" || app.view == "balancing" ? app.view : "routing";
        ui.path_token = app.path_token;  // --token: first frame only, then clicks decide
    }
    if (ui.prompt_version != app.trace_version) {
        ui.prompt_version = app.trace_version;
        ui.prompt.clear();
        ui.prompt_layers = traced_moe_layers(app.trace, "scores");
        ui.paths = trace_paths(app.trace, app.trace_config);
    }
    // The two sub-views as tabs; --view picks the first one shown.
    static bool first_frame = true;
    if (ImGui::BeginTabBar("moe views")) {
        const std::pair<const char*, const char*> views[] = {{"routing", "One layer: routing and load"},
                                                             {"path", "A token's path through the layers"},
                                                             {"balancing", "Balancing at V3 scale"}};
        const std::string requested = ui.view;
        for (const auto& [name, title] : views) {
            if (begin_tab(title, name, first_frame && requested == name)) {
                ui.view = name;
                if (ui.view == std::string("path")) {
                    draw_path_view(app);
                } else if (ui.view == std::string("balancing")) {
                    begin_view("balancing", "The routing simulator: MaxVio step by step, three ways to balance",
                               ImGui::GetContentRegionAvail());
                    draw_balancing_view(app);
                    end_view();
                } else {
                    draw_routing_views(app);
                }
                ImGui::EndTabItem();
            }
        }
        ImGui::EndTabBar();
    }
    first_frame = false;
}

}  // namespace seek::viewer
