// MoE: how DeepSeekMoE's gate spreads tokens over the routed experts, and how V3 keeps that even.
// Three views:
//   routing    the token x expert affinities s (or s + b, what selection ranks) with each token's
//              chosen experts outlined and the expert groups separated; for the toy model also the
//              prompt's tokens coloured by the expert each goes to first. Either the toy model's
//              first MoE layer on the prompt (the current trace), or 1024 synthetic tokens through a
//              generated V2-Lite or V3 gate (256 experts, 8 groups, top-4 groups, top-8)
//   load       tokens per expert, with the mean and MaxVio = max / mean - 1
//   balancing  the routing simulator (route_sim.h) at V3 scale: MaxVio step by step without
//              balancing, with the auxiliary loss and with the bias, run on a worker thread
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
    ColorScale scale;             // over s and s + b together, so that the toggle compares like with like
    bool bias_is_zero = true;     // s + b = s: a fresh gate, whose bias has not been trained
    std::vector<int64_t> chosen;  // flat [token, expert] indices of the chosen experts
    Mat weights;                  // [token, expert]: topk_weight where chosen, else 0
    ColorScale weight_scale;
};

// What the routing heatmap colours.
enum class Shown { Scores, BiasedScores, Weights };

struct MoeUi {
    std::string scale;  // "toy": the current trace (the prompt); else a preset: synthetic tokens
    Shown shown = Shown::Scores;
    uint64_t prompt_version = ~0ull;
    GateView prompt;                            // the current trace's first MoE layer
    std::map<std::string, GateView> synthetic;  // per preset, made once

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
    const float lo = std::min(r.scores.minCoeff(), r.biased_scores.minCoeff());
    const float hi = std::max(r.scores.maxCoeff(), r.biased_scores.maxCoeff());
    v.scale = color_scale_for({lo, hi});
    v.bias_is_zero = r.scores == r.biased_scores;
    v.weights = Mat::Zero(r.scores.rows(), r.scores.cols());
    for (int64_t t = 0; t < r.topk_idx.rows(); ++t)
        for (int64_t k = 0; k < r.topk_idx.cols(); ++k) {
            v.chosen.push_back(t * r.scores.cols() + r.topk_idx(t, k));
            v.weights(t, r.topk_idx(t, k)) = r.topk_weight(t, k);
        }
    v.weight_scale = {ColorMap::Magnitude, 0, std::max(v.weights.maxCoeff(), 1e-6f)};
    return v;
}

GateView prompt_gate_view(const App& app) {
    const ModelConfig& config = app.trace_config;
    const int64_t layer = first_moe_layer(config);
    GateView v;
    v.config = config;
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
GateView synthetic_gate_view(const std::string& preset, uint64_t seed) {
    const ModelConfig config = preset_config(preset);
    const int64_t layer = first_moe_layer(config);
    const Mat x = generated_matrix(seed, "viewer.moe.hidden", kSyntheticTokens, config.hidden_size, 1.0f);
    const Routing routing = gate_forward(config, generated_gate_weights(config, layer, seed), x, {});
    return make_gate_view(config, preset + " gate (layer " + std::to_string(layer) + "), synthetic tokens", routing);
}

int64_t experts_per_group(const ModelConfig& config) {
    return config.n_routed_experts / std::max<int64_t>(config.n_group, 1);
}
int64_t group_of(const ModelConfig& config, int64_t expert) { return expert / experts_per_group(config); }

// Hue by group, lighter to darker within a group, so that the groups read at a glance.
ImU32 expert_color(const ModelConfig& config, int64_t expert) {
    const int64_t per_group = experts_per_group(config);
    const int64_t group = group_of(config, expert), within = expert % per_group;
    const float shade = per_group > 1 ? static_cast<float>(within) / static_cast<float>(per_group - 1) : 0;
    const float hue = config.n_group > 1 ? static_cast<float>(group) / static_cast<float>(config.n_group)
                                         : 0.8f * static_cast<float>(within) / static_cast<float>(per_group);
    float r, g, b;
    ImGui::ColorConvertHSVtoRGB(hue, config.n_group > 1 ? 0.35f + 0.45f * shade : 0.6f,
                                config.n_group > 1 ? 0.95f - 0.4f * shade : 0.9f, r, g, b);
    return ImGui::ColorConvertFloat4ToU32(ImVec4(r, g, b, 1));
}

// The prompt's tokens coloured by their first (highest-ranked) expert, and the legend of those experts.
void draw_first_experts(const App& app, const GateView& v) {
    const IndexMat& idx = v.routing.topk_idx;
    if (static_cast<int64_t>(app.tokens.size()) != idx.rows()) return;
    std::vector<ImU32> fills;
    std::vector<int32_t> firsts;
    for (int64_t t = 0; t < idx.rows(); ++t) {
        fills.push_back(expert_color(v.config, idx(t, 0)));
        if (std::find(firsts.begin(), firsts.end(), idx(t, 0)) == firsts.end()) firsts.push_back(idx(t, 0));
    }
    std::sort(firsts.begin(), firsts.end());
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted("Tokens, coloured by their first expert:");
    ImGui::SameLine();
    token_chips(app.tokens, 2, fills);
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
    if (static_cast<int64_t>(tokens.size()) == r.scores.rows()) text += " '" + token_text(tokens[t]) + "'";
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
                      " groups (split by the gaps) stay eligible, and the " + k + " best experts in them are chosen."
                : "the " + k + " best experts are chosen.";
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
    if (c.n_group > 1) grid.col_separator_every = experts_per_group(c);
    const std::vector<int32_t>& tokens = app.tokens;
    grid.note = [&v, prompt, &tokens](int64_t flat) {
        return cell_note(v, prompt ? tokens : std::vector<int32_t>{}, flat);
    };
    heatmap("affinities", grid, ui.shown == Shown::Weights ? v.weight_scale : v.scale, ImGui::GetContentRegionAvail());
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
    ImGui::Text("MaxVio = max load / mean load - 1 = %.2f", v.max_vio);
    char text[256];
    std::snprintf(text, sizeof text,
                  "The busiest expert gets %.1fx its share. %lld tokens x %lld experts over %lld experts: %.1f each "
                  "on average, give or take %.1f by chance alone (Poisson), so no batch is perfectly even.",
                  v.max_vio + 1, static_cast<long long>(v.load.tokens),
                  static_cast<long long>(v.config.num_experts_per_tok),
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
    wrapped_note(
        "256 experts in 8 groups, top-4 groups, top-8, on synthetic tokens whose experts have drifting "
        "favourites (route_sim.h). none: the gate as it is; aux_loss: a balance-loss gradient step per step "
        "(alpha 1e-4); bias: b_i +- gamma (0.001) per step toward the mean load, V3's auxiliary-loss-free way; "
        "bias+aux: both, as V3 trains.");
    ImGui::BeginDisabled(running);
    if (ImGui::Button("Run simulator")) start_simulation();
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 6);
    ImGui::InputInt("steps", &ui.steps, 100, 1000);
    ui.steps = std::clamp(ui.steps, 10, 20000);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 6);
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
    ImGui::SameLine(0, ImGui::GetFontSize() * 2);
    if (ImGui::RadioButton("per step", !ui.accumulated)) ui.accumulated = false;
    ImGui::SameLine();
    if (ImGui::RadioButton("cumulative", ui.accumulated)) ui.accumulated = true;
    line_plot("maxvio", x, series, {"training step", 0, nullptr},
              {ui.accumulated ? "MaxVio of the load summed over all steps so far" : "MaxVio of each step's batch", 0,
               nullptr},
              ImGui::GetContentRegionAvail());
}

}  // namespace

void draw_moe_panel(App& app) {
    if (ui.scale.empty()) ui.scale = app.analytics_preset;
    if (ui.prompt_version != app.trace_version) {
        ui.prompt_version = app.trace_version;
        ui.prompt = prompt_gate_view(app);
    }
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted("Gate:");
    for (const std::string& name : preset_names()) {
        ImGui::SameLine();
        const std::string label = name == "toy" ? "the prompt (current trace)" : name;
        if (ImGui::RadioButton(label.c_str(), ui.scale == name)) ui.scale = name;
    }
    ImGui::SameLine(0, ImGui::GetFontSize() * 3);
    ImGui::TextUnformatted("Colour:");
    const std::pair<Shown, const char*> choices[] = {
        {Shown::Scores, "scores s"}, {Shown::BiasedScores, "s + b"}, {Shown::Weights, "weights (0: not chosen)"}};
    for (const auto& [shown, label] : choices) {
        ImGui::SameLine();
        if (ImGui::RadioButton(label, ui.shown == shown)) ui.shown = shown;
    }

    if (ui.scale != "toy" && !ui.synthetic.count(ui.scale))
        ui.synthetic[ui.scale] = synthetic_gate_view(ui.scale, app.seed);
    const GateView& v = ui.scale == "toy" ? ui.prompt : ui.synthetic[ui.scale];

    const ImGuiStyle& style = ImGui::GetStyle();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float left = std::floor(avail.x * 0.56f), right = avail.x - left - style.ItemSpacing.x;
    const std::string where = ui.scale == "toy" ? (v.name.empty() ? "" : v.name + ", ") + "this prompt" : v.name;
    begin_view("routing", "Routing: token x expert scores (" + where + ")", ImVec2(left, avail.y));
    if (v.error.empty())
        draw_routing_view(app, v);
    else
        wrapped_note(v.error);
    ImGui::EndChild();
    ImGui::SameLine();
    ImGui::BeginGroup();
    const float load_height = std::floor((avail.y - style.ItemSpacing.y) * 0.45f);
    begin_view("load", "Expert load: tokens per routed expert", ImVec2(right, load_height));
    if (v.error.empty()) draw_load_view(v);
    ImGui::EndChild();
    begin_view("balancing", "Balancing at V3 scale: the routing simulator",
               ImVec2(right, avail.y - load_height - style.ItemSpacing.y));
    draw_balancing_view(app);
    ImGui::EndChild();
    ImGui::EndGroup();
}

}  // namespace seek::viewer
