// GRPO and training logs (--log FILE). The kind of log is told by its keys (run_log.h):
//
//   grpo.jsonl (`seek grpo`)   curves over the steps: reward and accuracy, completion length (all,
//                              correct, wrong), the reasoning behaviours (<think>, check, retry) and
//                              the policy's drift (KL, clip fraction); then the sampled groups: a
//                              slider over the steps that sampled, the chosen prompt's completions
//                              at step 0 beside the chosen step, each with its reward and advantage,
//                              the <think> and <answer> parts in their colours, correct ones marked.
//   train.jsonl (`seek train`) the losses (main, MTP, held-out), the learning rate, the gradient
//                              norm and MaxVio per MoE block.
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
    std::string path;             // the Open box
    std::string shown_path;       // the log the choices below were made for
    int sample = 0;               // index into log.samples
    int prompt = 0;               // index into a samples line's prompts
    std::vector<std::string> block_names;  // train.jsonl: what each max_violation entry is
};
GrpoUi ui;

const ImVec4 kCorrectColor(0.0f, 0.67f, 0.47f, 1);  // Okabe-Ito bluish green, a little lighter
const ImVec4 kWrongColor(0.88f, 0.41f, 0.08f, 1);  // Okabe-Ito vermillion, a little lighter

std::string percent_text(double fraction) {
    char text[32];
    std::snprintf(text, sizeof text, "%.0f%%", 100 * fraction);
    return text;
}

const PlotAxis kStepAxis{"step", 0, nullptr};

// One bordered view holding one line plot over the log's steps.
void plot_view(const char* id, const std::string& heading, const RunLog& log, const std::vector<Series>& series,
               const PlotAxis& y_axis, ImVec2 size, double mark_x = NAN) {
    begin_view(id, heading, size);
    line_plot(id, log.steps, series, kStepAxis, y_axis, ImGui::GetContentRegionAvail(), mark_x);
    ImGui::EndChild();
}

// The last finite value of a series, NaN when there is none.
double last_value(const std::vector<double>& values) {
    for (auto it = values.rbegin(); it != values.rend(); ++it)
        if (std::isfinite(*it)) return *it;
    return NAN;
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

// One series per entry of an array key (max_violation: one per MoE block).
std::vector<Series> array_series(const RunLog& log, const std::string& key, const std::vector<std::string>& names) {
    std::vector<Series> series;
    auto it = log.arrays.find(key);
    if (it == log.arrays.end()) return series;
    for (size_t b = 0; b < names.size(); ++b) {
        Series s{names[b], {}};
        for (const std::vector<double>& values : it->second) s.y.push_back(b < values.size() ? values[b] : NAN);
        series.push_back(std::move(s));
    }
    return series;
}

void draw_train_log(const RunLog& log) {
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
    ImGui::TextUnformatted(summary);

    view_quadrants({
        {"loss", "Loss: cross-entropy of the completion tokens",
         [&] {
             wrapped_note("main: next token; MTP: the token after next (V3's multi-token prediction); held-out: "
                          "main loss on problems never trained on, every few steps.");
             line_plot("loss", log.steps,
                       {{"main (next token)", main_loss},
                        {"MTP (token after next)", log.scalar("mtp_loss")},
                        {"held-out (main)", heldout}},
                       kStepAxis, {"nats per token", 0, nullptr}, ImGui::GetContentRegionAvail());
         }},
        {"lr", "Learning rate: linear warmup, then cosine decay",
         [&] {
             line_plot("lr", log.steps, {{"learning rate", log.scalar("lr")}}, kStepAxis,
                       {"learning rate", 0, nullptr}, ImGui::GetContentRegionAvail());
         }},
        {"grad", "Gradient norm (before clipping)",
         [&] {
             line_plot("grad", log.steps, {{"global gradient norm", log.scalar("grad_norm")}}, kStepAxis,
                       {"L2 norm of all gradients", 0, nullptr}, ImGui::GetContentRegionAvail());
         }},
        {"maxvio", "Load balance: MaxVio per MoE block",
         [&] {
             wrapped_note(std::string("MaxVio = max expert load / mean load - 1 in the step's batch; the bias update "
                                      "pulls it toward 0 without an auxiliary loss.") +
                          (ui.block_names.empty() || ui.block_names[0].rfind("MoE block", 0) != 0
                               ? ""
                               : " Blocks in layer order; with MTP on, the last is the MTP module's (a config.json "
                                 "beside the log names them)."));
             line_plot("maxvio", log.steps, array_series(log, "max_violation", ui.block_names), kStepAxis,
                       {"MaxVio", 0, nullptr}, ImGui::GetContentRegionAvail());
         }},
    });
}

// ---- grpo.jsonl -------------------------------------------------------------------------------

// A small filled label ("correct", "wrong") at the cursor, then on the same line.
void badge(const char* text, ImVec4 fill) {
    const ImVec2 pad(ImGui::GetStyle().FramePadding.x / 2, 1);
    const ImVec2 size = ImGui::CalcTextSize(text);
    const ImVec2 at = ImGui::GetCursorScreenPos();
    const ImU32 color = ImGui::ColorConvertFloat4ToU32(fill);
    ImGui::GetWindowDrawList()->AddRectFilled(at, ImVec2(at.x + size.x + 2 * pad.x, at.y + size.y + 2 * pad.y), color,
                                              3.0f);
    ImGui::GetWindowDrawList()->AddText(ImVec2(at.x + pad.x, at.y + pad.y), text_color_on(color), text);
    ImGui::Dummy(ImVec2(size.x + 2 * pad.x, size.y + 2 * pad.y));
    ImGui::SameLine();
}

// One prompt's group of completions at one sampled step.
void draw_group(const char* id, const std::string& heading, const LogSamples& samples, size_t prompt, ImVec2 size) {
    begin_view(id, heading, size);
    if (prompt >= samples.prompts.size()) {
        wrapped_note("This step sampled no prompt " + std::to_string(prompt + 1) + ".");
        ImGui::EndChild();
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
    ImGui::Text("%zu of %zu correct, mean reward %.2f, mean length %.0f tokens", correct, p.completions.size(),
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
        ImGui::Text("reward %.2f", c.reward);
        ImGui::SameLine();
        ImGui::TextColored(c.advantage > 0 ? kCorrectColor : c.advantage < 0 ? kWrongColor : ImVec4(0.7f, 0.7f, 0.7f, 1),
                           "advantage %+.2f", c.advantage);
        if (c.length >= 0) {
            ImGui::SameLine();
            ImGui::TextDisabled("%lld tokens", static_cast<long long>(c.length));
        }
        completion_text(c.text, ImGui::GetContentRegionAvail().x);
        ImGui::Spacing();
        ImGui::PopID();
    }
    ImGui::EndChild();
}

// Left/right step through the sampled steps, unless a text box has the keys.
int key_step() {
    if (ImGui::GetIO().WantTextInput) return 0;
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_RightArrow))) return 1;
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_LeftArrow))) return -1;
    return 0;
}

void draw_samples(const RunLog& log, ImVec2 size) {
    const std::vector<LogSamples>& samples = log.samples;
    if (samples.empty()) {
        begin_view("samples", "Sampled completions", size);
        wrapped_note("This log has no \"samples\" lines (seek grpo writes them at step 0 and every few steps).");
        ImGui::EndChild();
        return;
    }
    const int last = static_cast<int>(samples.size()) - 1;
    ui.sample = std::clamp(ui.sample + key_step(), 0, last);
    size_t prompts = 0;
    for (const LogSamples& s : samples) prompts = std::max(prompts, s.prompts.size());
    ui.prompt = std::clamp(ui.prompt, 0, std::max(static_cast<int>(prompts) - 1, 0));

    const ImGuiStyle& style = ImGui::GetStyle();
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted("Sampled step");
    ImGui::SameLine();
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 14);
    const std::string format = "step " + std::to_string(samples[ui.sample].step);
    ImGui::SliderInt("##sample", &ui.sample, 0, last, format.c_str(), ImGuiSliderFlags_AlwaysClamp);
    ImGui::SameLine();
    ImGui::TextDisabled("(%d of %d; keys: left/right)", ui.sample + 1, last + 1);
    ImGui::SameLine(0, ImGui::GetFontSize() * 2);
    ImGui::TextUnformatted("Prompt:");
    const LogSamples& chosen = samples[ui.sample];
    for (size_t p = 0; p < prompts; ++p) {
        ImGui::SameLine();
        const LogSamples& holder = p < chosen.prompts.size() ? chosen : samples.front();
        const std::string label = p < holder.prompts.size()
                                      ? holder.prompts[p].question + " (" + holder.prompts[p].answer + ")"
                                      : "prompt " + std::to_string(p + 1);
        // Wrap when the button would not fit on this line.
        if (ImGui::GetContentRegionAvail().x <
            ImGui::GetFrameHeight() + style.ItemInnerSpacing.x + ImGui::CalcTextSize(label.c_str()).x)
            ImGui::NewLine();
        ImGui::PushID(static_cast<int>(p));
        if (ImGui::RadioButton(label.c_str(), ui.prompt == static_cast<int>(p))) ui.prompt = static_cast<int>(p);
        ImGui::PopID();
    }
    // How to read the text.
    ImGui::TextDisabled("Completion text:");
    ImGui::SameLine();
    ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(kThinkColor), "reasoning inside <think>");
    ImGui::SameLine(0, ImGui::GetFontSize());
    ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(kAnswerColor), "the answer inside <answer>");
    ImGui::SameLine(0, 0);
    ImGui::TextDisabled(", tags dim.");
    wrapped_note("Reward = 1 if the answer is correct, + 0.1 if well formed with a <think> block. Advantage = "
                 "(reward - the group's mean) / the group's std: what the update pushes up (+) or down (-).");

    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const ImVec2 half((avail.x - style.ItemSpacing.x) / 2, avail.y);
    const LogSamples& first = samples.front();
    const std::string first_heading =
        first.step == 0 ? "Step 0, before any update" : "Step " + std::to_string(first.step) + ", the first sampled";
    draw_group("first", first_heading, first, static_cast<size_t>(ui.prompt), half);
    ImGui::SameLine();
    const std::string chosen_heading =
        ui.sample == 0 ? "Step " + std::to_string(chosen.step) + " again: move the slider to a later step"
                       : "Step " + std::to_string(chosen.step) + ": the trace that emerged";
    draw_group("chosen", chosen_heading, chosen, static_cast<size_t>(ui.prompt), half);
}

void draw_grpo_log(const RunLog& log) {
    const std::vector<double> accuracy = log.scalar("accuracy"), length = log.scalar("mean_length");
    std::string sampled;
    for (const LogSamples& s : log.samples) sampled += (sampled.empty() ? "" : ", ") + std::to_string(s.step);
    char summary[400];
    std::snprintf(summary, sizeof summary,
                  "GRPO log (seek grpo): %zu steps, completions sampled at steps %s. Last step: accuracy %s, mean "
                  "length %.1f tokens.",
                  log.steps.size(), sampled.empty() ? "(none)" : sampled.c_str(),
                  std::isfinite(last_value(accuracy)) ? percent_text(last_value(accuracy)).c_str() : "n/a",
                  last_value(length));
    ImGui::TextUnformatted(summary);

    const double mark =
        log.samples.empty() ? NAN : static_cast<double>(log.samples[std::clamp<size_t>(ui.sample, 0, log.samples.size() - 1)].step);
    const ImGuiStyle& style = ImGui::GetStyle();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const ImVec2 plot((avail.x - 3 * style.ItemSpacing.x) / 4, std::floor(avail.y * 0.42f));
    plot_view("reward", "Reward and accuracy", log,
              {{"mean reward", log.scalar("reward_mean")}, {"accuracy", accuracy}, {"well formed", log.scalar("format_rate")}},
              {"reward; share of completions", 0, nullptr}, plot, mark);
    ImGui::SameLine();
    plot_view("length", "Completion length", log,
              {{"all", length}, {"correct", log.scalar("length_correct")}, {"wrong", log.scalar("length_wrong")}},
              {"tokens per completion", 0, nullptr}, plot, mark);
    ImGui::SameLine();
    plot_view("behaviour", "Reasoning behaviours", log,
              {{"<think> block", log.scalar("think_rate")},
               {"checks its work", log.scalar("check_rate")},
               {"retries", log.scalar("retry_rate")}},
              {"share of completions", 0, percent_text}, plot, mark);
    ImGui::SameLine();
    plot_view("drift", "Policy drift", log,
              {{"KL to the reference", log.scalar("kl")}, {"clip fraction", log.scalar("clip_fraction")}},
              {"KL (nats per token); share clipped", 0, nullptr}, plot, mark);
    draw_samples(log, ImGui::GetContentRegionAvail());
}

// No log yet: what the panel reads, and a box to open one.
void draw_open_box(App& app) {
    wrapped_note(
        "No log loaded. This panel reads the JSON-lines log of a run: DIR/grpo.jsonl from `seek grpo --out DIR` "
        "(reward, accuracy, length and behaviour curves, and the sampled completions at step 0 against later "
        "steps), or DIR/train.jsonl from `seek train --out DIR` (losses, learning rate, gradient norm, MaxVio). "
        "Start the viewer with --log FILE, or open one here:");
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 30);
    const bool entered = ImGui::InputTextWithHint("##log", "path/to/grpo.jsonl", &ui.path,
                                                  ImGuiInputTextFlags_EnterReturnsTrue);
    ImGui::SameLine();
    if ((ImGui::Button("Open") || entered) && !ui.path.empty()) open_log(app, ui.path);
}

}  // namespace

void draw_grpo_panel(App& app) {
    if (!app.log_loaded) {
        draw_open_box(app);
        return;
    }
    const RunLog& log = app.log;
    if (ui.shown_path != log.path) {  // a new log: start on its last sampled step
        ui.shown_path = log.path;
        ui.sample = std::max(static_cast<int>(log.samples.size()) - 1, 0);
        ui.prompt = 0;
        ui.block_names.clear();
    }
    ImGui::TextDisabled("Log: %s", log.path.c_str());
    if (!log.problems.empty()) {
        ImGui::SameLine();
        ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.4f, 1), "(%zu malformed lines skipped)", log.problems.size());
    }
    if (log.kind == LogKind::Train)
        draw_train_log(log);
    else
        draw_grpo_log(log);
}

}  // namespace seek::viewer
