// GRPO and training logs (--log FILE, again to overlay more runs). The kind of log is told by its
// keys (run_log.h):
//
//   grpo.jsonl (`seek grpo`)   two sub-views (--view curves | samples) under one header: a slider
//                              over the steps that sampled completions, with Play/Pause (space)
//                              walking through them. Curves: reward and accuracy, completion length
//                              (all, correct, wrong), the reasoning behaviours (<think>, check,
//                              retry), the dead groups (all rewards equal: no signal) and the
//                              policy's entropy and drift (KL, clip fraction), each smoothed with
//                              the raw values faint behind, the shown step marked, and a note where
//                              a curve is flat by construction. Samples: the chosen prompt's
//                              completions at step 0 beside the shown step (or, with a second log,
//                              run A beside run B), with rewards, advantages and the <think> and
//                              <answer> parts in their colours.
//   train.jsonl (`seek train`) the losses (log scale: main, MTP, held-out), the learning rate, the
//                              gradient norm, MaxVio and the bias range per MoE block, throughput.
//
// With several logs every curve is drawn once per run, in the run's colour (the header's legend),
// each quantity in its own line style.
#include <imgui.h>
#include <imgui_stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "app.h"
#include "core/config.h"
#include "draw.h"

namespace seek::viewer {

namespace {

struct GrpoUi {
    std::string path;              // the Open box
    std::string shown_path;        // the log the choices below were made for
    std::string view;              // "curves" or "samples"
    int sample = 0;                // index into the first log's samples
    int prompt = 0;                // index into a samples line's prompts
    bool playing = false;
    float play_clock = 0;          // seconds since the last step of the play-through
    bool smooth = true;
    std::vector<std::string> block_names;  // train.jsonl: what each max_violation entry is
};
GrpoUi ui;

constexpr float kSecondsPerSample = 0.5f;  // the play-through's pace

const ImVec4 kCorrectColor(0.0f, 0.67f, 0.47f, 1);  // Okabe-Ito bluish green, a little lighter
const ImVec4 kWrongColor(0.88f, 0.41f, 0.08f, 1);  // Okabe-Ito vermillion, a little lighter

std::string percent_text(double fraction) {
    char text[32];
    std::snprintf(text, sizeof text, "%.0f%%", 100 * fraction);
    return text;
}

const PlotAxis kStepAxis{"step", 0, nullptr};

// The last finite value of a series, NaN when there is none.
double last_value(const std::vector<double>& values) {
    for (auto it = values.rbegin(); it != values.rend(); ++it)
        if (std::isfinite(*it)) return *it;
    return NAN;
}

// Whether every finite value of the series is the same (and there is one).
bool is_flat(const std::vector<double>& values, double* value = nullptr) {
    double first = NAN;
    for (double v : values) {
        if (!std::isfinite(v)) continue;
        if (std::isnan(first)) first = v;
        if (v != first) return false;
    }
    if (value) *value = first;
    return std::isfinite(first);
}

// The runs: a letter and a colour each, the first log's samples drive the step slider.
std::string run_letter(size_t run) { return std::string(1, static_cast<char>('A' + run % 26)); }
ImU32 run_color(size_t run) { return series_color(static_cast<int>(run == 0 ? 1 : run == 1 ? 0 : run)); }

// One quantity of every run: series named "quantity (A)", in the run's colour and the quantity's style.
struct Quantity {
    std::string name, key;
    int array_index = -1;  // >= 0: entry of an array key (one per MoE block)
};
struct Curves {
    std::vector<Series> series;
    std::vector<std::vector<double>> xs;  // each series' steps (its run's)
};
Curves curves_of(const std::vector<RunLog>& logs, const std::vector<Quantity>& quantities, bool color_by_quantity) {
    static const LineStyle styles[] = {LineStyle::Solid, LineStyle::Dashed, LineStyle::Dotted};
    Curves c;
    for (size_t run = 0; run < logs.size(); ++run)
        for (size_t q = 0; q < quantities.size(); ++q) {
            const Quantity& quantity = quantities[q];
            Series s;
            s.name = quantity.name + (logs.size() > 1 ? " (" + run_letter(run) + ")" : "");
            if (quantity.array_index < 0) {
                s.y = logs[run].scalar(quantity.key);
            } else if (auto it = logs[run].arrays.find(quantity.key); it != logs[run].arrays.end()) {
                for (const std::vector<double>& values : it->second)
                    s.y.push_back(static_cast<size_t>(quantity.array_index) < values.size() ? values[quantity.array_index]
                                                                                           : NAN);
            } else {
                s.y.assign(logs[run].steps.size(), NAN);
            }
            if (logs.size() > 1 || !color_by_quantity) {
                s.color = logs.size() > 1 ? run_color(run) : 0;
                s.style = styles[q % 3];
            }
            if (logs.size() > 1 && color_by_quantity && quantities.size() > 3) s.style = LineStyle::Solid;
            c.series.push_back(std::move(s));
            c.xs.push_back(logs[run].steps);
        }
    return c;
}

// The smoothing window: about a 25th of the run, so that a trend reads through step-to-step noise.
int smoothing_window(const RunLog& log) {
    return ui.smooth ? std::max(1, static_cast<int>(log.steps.size() / 25)) | 1 : 1;
}

// One bordered view holding one line plot of `quantities` over every log's steps, and the notes
// (flat curves) under its heading.
void plot_view(const char* id, const std::string& heading, const std::vector<RunLog>& logs,
               const std::vector<Quantity>& quantities, const PlotAxis& y_axis, double mark_x,
               const std::string& note = "") {
    const Curves c = curves_of(logs, quantities, true);
    if (!note.empty()) brief_note(note, ImGui::GetFontSize() * 10);  // the plot keeps room to read
    PlotOptions options;
    options.mark_x = mark_x;
    options.smoothing = smoothing_window(logs.front());
    options.xs = &c.xs;
    line_plot(id, logs.front().steps, c.series, kStepAxis, y_axis, ImGui::GetContentRegionAvail(), options);
    (void)heading;
}

// ---- train.jsonl ------------------------------------------------------------------------------

// What max_violation's entries are: the MoE layers of the config.json beside the log, then the
// MTP module's block; "MoE block k" when there is no config to say.
std::vector<std::string> moe_block_names(const std::string& log_path, size_t blocks) {
    std::vector<std::string> names;
    try {
        const std::filesystem::path config_path = std::filesystem::path(log_path).parent_path() / "config.json";
        if (std::filesystem::exists(config_path)) {
            const ModelConfig config = load_config(config_path.string());
            for (int64_t layer = 0; layer < config.num_hidden_layers; ++layer)
                if (config.is_moe_layer(layer)) names.push_back("layer " + std::to_string(layer));
            for (int64_t m = 0; m < config.num_nextn_predict_layers; ++m) names.push_back("MTP block");
        }
    } catch (const std::exception&) {
        names.clear();
    }
    if (names.size() != blocks) {
        names.clear();
        for (size_t b = 0; b < blocks; ++b) names.push_back("MoE block " + std::to_string(b + 1));
    }
    return names;
}

void draw_train_log(const std::vector<RunLog>& logs) {
    const RunLog& log = logs.front();
    const std::vector<double> main_loss = log.scalar("main_loss"), heldout = log.scalar("heldout_loss");
    size_t blocks = 0;
    if (auto it = log.arrays.find("max_violation"); it != log.arrays.end())
        for (const std::vector<double>& values : it->second) blocks = std::max(blocks, values.size());
    if (ui.block_names.size() != blocks) ui.block_names = moe_block_names(log.path, blocks);

    char summary[320];
    std::snprintf(summary, sizeof summary,
                  "Pretraining log (seek train): %zu steps. Last step: main loss %s, held-out loss %s, %s tokens/s.",
                  log.steps.size(), format_value(last_value(main_loss)).c_str(),
                  format_value(last_value(heldout)).c_str(), format_value(last_value(log.scalar("tokens_per_s"))).c_str());
    ImGui::TextWrapped("%s", summary);
    if (ImGui::Checkbox("smooth the curves (raw values faint behind)", &ui.smooth)) {}

    std::vector<Quantity> maxvio, bias;
    for (size_t b = 0; b < ui.block_names.size(); ++b) {
        maxvio.push_back({ui.block_names[b], "max_violation", static_cast<int>(b)});
        bias.push_back({ui.block_names[b] + " max", "bias_max", static_cast<int>(b)});
        bias.push_back({ui.block_names[b] + " min", "bias_min", static_cast<int>(b)});
    }
    auto plot = [&](const char* id, const std::vector<Quantity>& quantities, const PlotAxis& axis, const std::string& note) {
        return [&logs, id, quantities, axis, note] { plot_view(id, "", logs, quantities, axis, NAN, note); };
    };
    std::vector<View> views = {
        {"loss", "Loss (log scale): cross-entropy of the completion tokens",
         plot("loss", {{"main", "main_loss"}, {"MTP", "mtp_loss"}, {"held-out", "heldout_loss"}}, {"nats per token", 10, nullptr},
              "main: next token; MTP: the token after next; held-out: main loss on unseen problems.")},
        {"lr", "Learning rate: warmup, then cosine decay", plot("lr", {{"learning rate", "lr"}}, {"learning rate", 0, nullptr}, "")},
        {"grad", "Gradient norm (before clipping)",
         plot("grad", {{"gradient norm", "grad_norm"}}, {"L2 norm of all gradients", 0, nullptr}, "")},
        {"maxvio", "Load balance: MaxVio per MoE block",
         plot("maxvio", maxvio, {"MaxVio", 0, nullptr}, "max expert load / mean - 1 in the step's batch; the bias pulls it toward 0.")},
        {"bias", "Gate bias range per MoE block",
         plot("bias", bias, {"e_score_correction_bias", 0, nullptr},
              "The largest and smallest b_i (solid, dashed): each step moves every b_i by +-gamma toward an even load.")},
        {"speed", "Throughput", plot("speed", {{"tokens per second", "tokens_per_s"}}, {"tokens / s", 0, nullptr}, "")},
    };
    view_grid(views, columns_that_fit(ImGui::GetFontSize() * 22, 3));
}

// ---- grpo.jsonl -------------------------------------------------------------------------------

// A small filled label ("correct", "wrong") at the cursor, then on the same line.
void badge(const char* text, ImVec4 fill) {
    const ImVec2 pad(ImGui::GetStyle().FramePadding.x / 2, 1);
    const ImVec2 size = ImGui::CalcTextSize(text);
    const ImVec2 at = ImGui::GetCursorScreenPos();
    const ImU32 color = ImGui::ColorConvertFloat4ToU32(fill);
    ImGui::GetWindowDrawList()->AddRectFilled(at, ImVec2(at.x + size.x + 2 * pad.x, at.y + size.y + 2 * pad.y), color,
                                              dp(3));
    ImGui::GetWindowDrawList()->AddText(ImVec2(at.x + pad.x, at.y + pad.y), text_color_on(color), text);
    ImGui::Dummy(ImVec2(size.x + 2 * pad.x, size.y + 2 * pad.y));
    ImGui::SameLine();
}

// One prompt's group of completions at one sampled step.
void draw_group(const char* id, const std::string& heading, const LogSamples& samples, size_t prompt, ImVec2 size) {
    begin_view(id, heading, size);
    if (prompt >= samples.prompts.size()) {
        wrapped_note("This step sampled no prompt " + std::to_string(prompt + 1) + ".");
        end_view();
        return;
    }
    const LogPrompt& p = samples.prompts[prompt];
    size_t correct = 0;
    double reward = 0, length = 0;
    bool equal = true;
    for (const LogCompletion& c : p.completions) {
        correct += c.correct;
        reward += c.reward;
        length += static_cast<double>(std::max<int64_t>(c.length, 0));
        equal = equal && c.reward == p.completions.front().reward;
    }
    const double n = static_cast<double>(std::max<size_t>(p.completions.size(), 1));
    ImGui::TextWrapped("%zu of %zu correct, mean reward %.2f, mean length %.0f tokens", correct, p.completions.size(),
                       reward / n, length / n);
    if (equal && p.completions.size() > 1)
        wrapped_note("Every reward is the same: all advantages are 0, so this group teaches the policy nothing.");
    ImGui::Spacing();
    for (size_t i = 0; i < p.completions.size(); ++i) {
        const LogCompletion& c = p.completions[i];
        ImGui::PushID(static_cast<int>(i));
        ImGui::AlignTextToFramePadding();
        ImGui::TextDisabled("%zu", i + 1);
        ImGui::SameLine();
        badge(c.correct ? "correct" : "wrong", c.correct ? kCorrectColor : kWrongColor);
        if (!c.well_formed) {
            badge("malformed", ImVec4(0.35f, 0.35f, 0.38f, 1));
        }
        char reward[32], advantage[32], tokens[32];
        std::snprintf(reward, sizeof reward, "reward %.2f", c.reward);
        std::snprintf(advantage, sizeof advantage, "advantage %+.2f", c.advantage);
        std::snprintf(tokens, sizeof tokens, "%lld tokens", static_cast<long long>(c.length));
        ImGui::TextUnformatted(reward);
        same_line_if_fits(text_width(advantage));
        ImGui::TextColored(c.advantage > 0 ? kCorrectColor : c.advantage < 0 ? kWrongColor : ImVec4(0.7f, 0.7f, 0.7f, 1),
                           "%s", advantage);
        if (c.length >= 0) {
            same_line_if_fits(text_width(tokens));
            ImGui::TextDisabled("%s", tokens);
        }
        completion_text(c.text, ImGui::GetContentRegionAvail().x);
        ImGui::Spacing();
        ImGui::PopID();
    }
    end_view(true);  // a list: it scrolls
}

// Play or pause; Play at the last sampled step starts over from the first.
void toggle_play(int last) {
    if (!ui.playing && ui.sample == last) ui.sample = 0;
    ui.playing = !ui.playing;
    ui.play_clock = 0;
}

// Left/right step through the sampled steps, space plays or pauses, unless a text box has the keys.
int key_step(int last) {
    if (ImGui::GetIO().WantTextInput) return 0;
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Space))) toggle_play(last);
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_RightArrow))) return 1;
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_LeftArrow))) return -1;
    return 0;
}

// The play-through: one sampled step every kSecondsPerSample while playing; it stops at the last
// (Play again from the last starts over).
void advance_play(int last) {
    if (!ui.playing) return;
    ui.play_clock += ImGui::GetIO().DeltaTime;
    while (ui.play_clock >= kSecondsPerSample) {
        ui.play_clock -= kSecondsPerSample;
        if (ui.sample >= last) {
            ui.playing = false;
            break;
        }
        ++ui.sample;
    }
}

// The header both sub-views share: play/pause, the sampled step, smoothing, the prompt.
void draw_step_controls(const RunLog& log) {
    const std::vector<LogSamples>& samples = log.samples;
    const int last = static_cast<int>(samples.size()) - 1;
    const int step = key_step(last);  // first: space may move ui.sample back to the start
    ui.sample = std::clamp(ui.sample + step, 0, std::max(last, 0));
    advance_play(last);
    ui.sample = std::clamp(ui.sample, 0, std::max(last, 0));
    if (samples.empty()) return;
    if (ImGui::Button(ui.playing ? "Pause" : "Play", ImVec2(ImGui::GetFontSize() * 4, 0))) toggle_play(last);
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 12);
    const std::string format = "step " + std::to_string(samples[ui.sample].step);
    ImGui::SliderInt("##sample", &ui.sample, 0, last, format.c_str(), ImGuiSliderFlags_AlwaysClamp);
    char position[96];
    std::snprintf(position, sizeof position, "sampled step %d of %d (keys: left/right, space: play)", ui.sample + 1,
                  last + 1);
    same_line_if_fits(text_width(position));
    ImGui::TextDisabled("%s", position);
    const char* smooth = "smooth the curves";
    same_line_if_fits(ImGui::GetFrameHeight() + text_width(smooth), ImGui::GetFontSize());
    ImGui::Checkbox(smooth, &ui.smooth);

    size_t prompts = 0;
    for (const LogSamples& s : samples) prompts = std::max(prompts, s.prompts.size());
    ui.prompt = std::clamp(ui.prompt, 0, std::max(static_cast<int>(prompts) - 1, 0));
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted("Prompt:");
    const LogSamples& chosen = samples[ui.sample];
    for (size_t p = 0; p < prompts; ++p) {
        const LogSamples& holder = p < chosen.prompts.size() ? chosen : samples.front();
        const std::string label = p < holder.prompts.size()
                                      ? holder.prompts[p].question + " (" + holder.prompts[p].answer + ")"
                                      : "prompt " + std::to_string(p + 1);
        same_line_if_fits(ImGui::GetFrameHeight() + ImGui::GetStyle().ItemInnerSpacing.x + text_width(label));
        ImGui::PushID(static_cast<int>(p));
        if (ImGui::RadioButton(label.c_str(), ui.prompt == static_cast<int>(p))) ui.prompt = static_cast<int>(p);
        ImGui::PopID();
    }
}

// The sampled step of a log nearest to `step` (a second run may sample at other steps).
const LogSamples* samples_near(const RunLog& log, int64_t step) {
    const LogSamples* best = nullptr;
    for (const LogSamples& s : log.samples)
        if (!best || std::llabs(s.step - step) < std::llabs(best->step - step)) best = &s;
    return best;
}

void draw_samples_view(const std::vector<RunLog>& logs, double mark) {
    const RunLog& log = logs.front();
    if (log.samples.empty()) {
        wrapped_note("This log has no \"samples\" lines (seek grpo writes them at step 0 and every few steps).");
        return;
    }
    const LogSamples& chosen = log.samples[ui.sample];
    // How to read the text.
    ImGui::TextDisabled("Completion text:");
    same_line_if_fits(text_width("reasoning inside <think>"));
    ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(kThinkColor), "reasoning inside <think>");
    same_line_if_fits(text_width("the answer inside <answer>"), ImGui::GetFontSize());
    ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(kAnswerColor), "the answer inside <answer>");
    wrapped_note("Reward = 1 if the answer is correct, + 0.1 if well formed with a <think> block. Advantage = "
                 "(reward - the group's mean) / the group's std: what the update pushes up (+) or down (-).");

    // Where the shown step sits on the run: accuracy, the marker moving as it plays.
    const ImGuiStyle& style = ImGui::GetStyle();
    const float strip = std::floor(std::max(ImGui::GetContentRegionAvail().y * 0.24f, ImGui::GetFontSize() * 6));
    const Curves c = curves_of(logs, {{"accuracy", "accuracy"}, {"mean reward", "reward_mean"}}, true);
    PlotOptions options;
    options.mark_x = mark;
    options.smoothing = smoothing_window(log);
    options.xs = &c.xs;
    line_plot("strip", log.steps, c.series, kStepAxis, {"accuracy; reward", 0, nullptr},
              ImVec2(ImGui::GetContentRegionAvail().x, strip), options);

    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const ImVec2 half(std::floor((avail.x - style.ItemSpacing.x) / 2), avail.y);
    const size_t prompt = static_cast<size_t>(ui.prompt);
    if (logs.size() > 1) {  // run A beside run B at the same step
        const LogSamples* other = samples_near(logs[1], chosen.step);
        draw_group("first", "A, step " + std::to_string(chosen.step), chosen, prompt, half);
        ImGui::SameLine();
        if (other)
            draw_group("chosen", "B, step " + std::to_string(other->step), *other, prompt, half);
        return;
    }
    const LogSamples& first = log.samples.front();
    const std::string first_heading =
        first.step == 0 ? "Step 0, before any update" : "Step " + std::to_string(first.step) + ", the first sampled";
    draw_group("first", first_heading, first, prompt, half);
    ImGui::SameLine();
    const std::string chosen_heading = ui.sample == 0 ? "Step " + std::to_string(chosen.step) + " again: press Play"
                                                      : "Step " + std::to_string(chosen.step) + ": the trace that emerged";
    draw_group("chosen", chosen_heading, chosen, prompt, half);
}

void draw_curves_view(const std::vector<RunLog>& logs, double mark) {
    const RunLog& log = logs.front();
    // Flat by construction: with one policy update per batch the ratio pi/pi_old is exactly 1.
    std::string clip_note;
    bool clip_flat = true;
    for (const RunLog& l : logs) {
        double value = NAN;
        clip_flat = clip_flat && is_flat(l.scalar("clip_fraction"), &value) && value == 0;
    }
    if (clip_flat)
        clip_note = "The clip fraction is 0 at every step, by construction: with one policy update per batch "
                    "(mu = 1) the ratio pi/pi_old is exactly 1, so the clip never binds.";
    auto plot = [&](const char* id, std::vector<Quantity> quantities, PlotAxis axis, std::string note) {
        return [&logs, id, quantities, axis, note, mark] { plot_view(id, "", logs, quantities, axis, mark, note); };
    };
    std::vector<View> views = {
        {"reward", "Reward and accuracy",
         plot("reward", {{"mean reward", "reward_mean"}, {"accuracy", "accuracy"}, {"well formed", "format_rate"}},
              {"reward; share of completions", 0, nullptr}, "")},
        {"length", "Completion length",
         plot("length", {{"all", "mean_length"}, {"correct", "length_correct"}, {"wrong", "length_wrong"}},
              {"tokens per completion", 0, nullptr}, "")},
        {"behaviour", "Reasoning behaviours",
         plot("behaviour", {{"<think> block", "think_rate"}, {"checks its work", "check_rate"}, {"retries", "retry_rate"}},
              {"share of completions", 0, percent_text}, "")},
        {"dead", "Dead groups: every reward equal",
         plot("dead", {{"dead groups", "equal_reward_groups"}}, {"share of groups", 0, percent_text},
              "All G rewards of a prompt equal: every advantage is 0, the group teaches nothing.")},
        {"entropy", "Policy entropy",
         plot("entropy", {{"entropy", "entropy"}}, {"nats per completion token", 0, nullptr},
              "Falls as the policy grows sure of itself; a collapse to 0 ends exploration.")},
        {"drift", "Policy drift: KL and clipping",
         plot("drift", {{"KL to the reference", "kl"}, {"clip fraction", "clip_fraction"}},
              {"KL (nats per token); share clipped", 0, nullptr}, clip_note)},
    };
    (void)log;
    view_grid(views, columns_that_fit(ImGui::GetFontSize() * 20, 3));
}

void draw_grpo_log(App& app) {
    const std::vector<RunLog>& logs = app.logs;
    const RunLog& log = logs.front();
    const std::vector<double> accuracy = log.scalar("accuracy"), length = log.scalar("mean_length");
    char summary[400];
    std::snprintf(summary, sizeof summary,
                  "GRPO log (seek grpo): %zu steps, completions sampled at %zu of them. Last step: accuracy %s, mean "
                  "length %.1f tokens.",
                  log.steps.size(), log.samples.size(),
                  std::isfinite(last_value(accuracy)) ? percent_text(last_value(accuracy)).c_str() : "n/a",
                  last_value(length));
    ImGui::TextWrapped("%s", summary);
    draw_step_controls(log);
    const double mark = log.samples.empty() ? NAN : static_cast<double>(log.samples[ui.sample].step);
    if (!log.samples.empty())
        app.report["grpo step"] = std::to_string(log.samples[ui.sample].step) + (ui.playing ? " (playing)" : " (paused)");

    static bool first_frame = true;
    if (ImGui::BeginTabBar("grpo views")) {
        const std::pair<const char*, const char*> views[] = {{"curves", "Curves over the steps"},
                                                             {"samples", "Sampled completions"}};
        const std::string requested = ui.view;
        for (const auto& [name, title] : views) {
            if (begin_tab(title, name, first_frame && requested == name)) {
                ui.view = name;
                if (ui.view == std::string("samples"))
                    draw_samples_view(logs, mark);
                else
                    draw_curves_view(logs, mark);
                ImGui::EndTabItem();
            }
        }
        ImGui::EndTabBar();
    }
    first_frame = false;
}

// No log yet: what the panel reads, and a box to open one.
void draw_open_box(App& app) {
    wrapped_note(
        "No log loaded. This panel reads the JSON-lines log of a run: DIR/grpo.jsonl from `seek grpo --out DIR` "
        "(reward, accuracy, length and behaviour curves, and the sampled completions at step 0 against later "
        "steps), or DIR/train.jsonl from `seek train --out DIR` (losses, learning rate, gradient norm, MaxVio). "
        "Start the viewer with --log FILE (again to overlay another run), or open one here:");
    ImGui::SetNextItemWidth(std::min(ImGui::GetFontSize() * 30, ImGui::GetContentRegionAvail().x * 0.7f));
    const bool entered = ImGui::InputTextWithHint("##log", "path/to/grpo.jsonl", &ui.path,
                                                  ImGuiInputTextFlags_EnterReturnsTrue);
    ImGui::SameLine();
    if ((ImGui::Button("Open") || entered) && !ui.path.empty()) open_log(app, ui.path);
}

}  // namespace

void draw_grpo_panel(App& app) {
    if (app.logs.empty()) {
        draw_open_box(app);
        return;
    }
    const RunLog& log = app.logs.front();
    if (ui.shown_path != log.path) {  // a new log: start on its last sampled step
        ui.shown_path = log.path;
        ui.sample = std::max(static_cast<int>(log.samples.size()) - 1, 0);
        ui.prompt = 0;
        ui.block_names.clear();
        ui.playing = false;
        ui.view = app.view == "samples" ? "samples" : "curves";
    }
    // Which file each run is: its letter in its colour when there are several.
    for (size_t run = 0; run < app.logs.size(); ++run) {
        const std::string text = (app.logs.size() > 1 ? run_letter(run) + ": " : "Log: ") + app.logs[run].path;
        if (run > 0) same_line_if_fits(text_width(text), ImGui::GetFontSize() * 2);
        if (app.logs.size() > 1)
            ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(run_color(run)), "%s", text.c_str());
        else
            ImGui::TextDisabled("%s", text.c_str());
    }
    if (!log.problems.empty()) {
        char text[64];
        std::snprintf(text, sizeof text, "(%zu malformed lines skipped)", log.problems.size());
        same_line_if_fits(text_width(text));
        ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.4f, 1), "%s", text);
    }
    if (log.kind == LogKind::Train)
        draw_train_log(app.logs);
    else
        draw_grpo_log(app);
}

}  // namespace seek::viewer
