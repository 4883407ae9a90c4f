// MLA: why DeepSeek's attention cache is small, on real numbers. Four views:
//   KV-cache bytes against context length for MHA, GQA, MQA and MLA (toy, V2-Lite or V3; log-log),
//   the latent c_kv the current prompt caches, the attention probabilities of each head, and
//   naive against absorbed attention run on the prompt, with the difference of their outputs.
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "app.h"
#include "core/analytics.h"
#include "draw.h"
#include "tensor_view.h"

namespace seek::viewer {

namespace {

struct MlaUi {
    std::string preset;  // the KV plot's model shape; starts as --preset
    int64_t groups = 0;  // GQA key-value groups; 0 = pick a default for the preset
    int64_t head = 0;
    uint64_t runs_version = ~0ull;  // the trace_version the naive and absorbed runs (and the scales) were made for
    std::string runs_error;
    TensorDiff out_diff;  // layers.0.attn.out, naive against absorbed
    std::vector<float> out_difference;
    ColorScale c_kv_scale, probs_scale, difference_scale;
};
MlaUi ui;

const char* const kOut = "layers.0.attn.out";

std::string context_text(double tokens) { return with_commas(std::llround(tokens)); }
// "64 KiB", "1.5 MiB": the tick labels of a log axis in powers of two need no ".00".
std::string bytes_text(double bytes) {
    static const char* const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    int unit = 0;
    for (; unit < 5 && bytes >= 1024; ++unit) bytes /= 1024;
    char text[32];
    std::snprintf(text, sizeof text, "%.4g %s", bytes, units[unit]);
    return text;
}

std::vector<int64_t> divisors(int64_t n) {
    std::vector<int64_t> result;
    for (int64_t d = 1; d <= n; ++d)
        if (n % d == 0) result.push_back(d);
    return result;
}

void draw_kv_view() {
    ImGui::TextUnformatted("Model:");
    for (const std::string& name : preset_names()) {
        ImGui::SameLine();
        if (ImGui::RadioButton(name.c_str(), ui.preset == name)) {
            ui.preset = name;
            ui.groups = 0;
        }
    }
    const ModelConfig config = preset_config(ui.preset);
    // GQA groups must divide the heads; the default is a real GQA (fewer groups than heads), at most 8.
    const std::vector<int64_t> choices = divisors(config.num_attention_heads);
    if (ui.groups == 0)
        for (int64_t d : choices)
            if (d <= 8 && (d < config.num_attention_heads || choices.size() == 1)) ui.groups = d;
    int choice = static_cast<int>(std::find(choices.begin(), choices.end(), ui.groups) - choices.begin());
    ImGui::SameLine(0, ImGui::GetFontSize() * 2);
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 10);
    const std::string format = "GQA groups: " + std::to_string(ui.groups);
    if (ImGui::SliderInt("##groups", &choice, 0, static_cast<int>(choices.size()) - 1, format.c_str()))
        ui.groups = choices[choice];

    std::vector<KvCacheMethod> methods = kv_cache_methods(config, ui.groups);
    methods.erase(
        std::remove_if(methods.begin(), methods.end(), [](const KvCacheMethod& m) { return m.name == "MLA naive"; }),
        methods.end());
    const KvCacheMethod& mla =
        *std::find_if(methods.begin(), methods.end(), [](const KvCacheMethod& m) { return m.name == "MLA"; });
    ImGui::PushTextWrapPos(0);
    ImGui::TextDisabled(
        "Per token and layer MLA caches kv_lora_rank %lld + rope %lld = %s numbers, %.1fx fewer than "
        "MHA's; %lld layers, 2 bytes each (BF16).",
        static_cast<long long>(config.kv_lora_rank), static_cast<long long>(config.qk_rope_head_dim),
        with_commas(mla.elements_per_token_per_layer).c_str(),
        static_cast<double>(methods.front().elements_per_token) / static_cast<double>(mla.elements_per_token),
        static_cast<long long>(config.num_hidden_layers));
    ImGui::PopTextWrapPos();

    std::vector<double> contexts;
    for (int64_t context = 1; context < config.max_position_embeddings; context *= 2)
        contexts.push_back(static_cast<double>(context));
    contexts.push_back(static_cast<double>(config.max_position_embeddings));
    std::vector<Series> series;
    for (const KvCacheMethod& method : methods) {
        const std::string name = method.name == "GQA" ? "GQA, " + std::to_string(ui.groups) + " groups" : method.name;
        Series s{name + " (" + bytes_text(static_cast<double>(method.bytes_per_token(kBf16Bytes))) + "/token)", {}};
        for (double context : contexts)
            s.y.push_back(static_cast<double>(method.bytes_for_context(static_cast<int64_t>(context), kBf16Bytes)));
        series.push_back(std::move(s));
    }
    line_plot("kv", contexts, series, {"context length (tokens)", 2, context_text},
              {"KV cache of one sequence (bytes)", 2, bytes_text}, ImGui::GetContentRegionAvail());
}

void draw_latent_view(const App& app) {
    const TraceEntry* c_kv = trace_find(app.trace, "layers.0.attn.c_kv");
    if (!c_kv) {
        ImGui::TextDisabled("This trace has no layers.0.attn.c_kv.");
        return;
    }
    const ModelConfig& c = app.trace_config;
    const int64_t tokens = c_kv->shape.empty() ? 0 : c_kv->shape[0];
    ImGui::PushTextWrapPos(0);
    ImGui::Text(
        "%lld tokens x (c_kv %lld + k_pe %lld) = %s floats per layer. Caching expanded K and V instead "
        "(naive) would take %lld x %lld heads x (%lld + %lld) = %s.",
        static_cast<long long>(tokens), static_cast<long long>(c.kv_lora_rank),
        static_cast<long long>(c.qk_rope_head_dim), with_commas(tokens * (c.kv_lora_rank + c.qk_rope_head_dim)).c_str(),
        static_cast<long long>(tokens), static_cast<long long>(c.num_attention_heads),
        static_cast<long long>(c.qk_head_dim()), static_cast<long long>(c.v_head_dim),
        with_commas(tokens * c.num_attention_heads * (c.qk_head_dim() + c.v_head_dim)).c_str());
    ImGui::PopTextWrapPos();
    int64_t unused = 0;
    tensor_heatmap("c_kv", c_kv->name, c_kv->shape, c_kv->values, ui.c_kv_scale, app.tokens, unused,
                   ImGui::GetContentRegionAvail());
}

void draw_probs_view(const App& app) {
    const TraceEntry* probs = trace_find(app.trace, "layers.0.attn.probs");
    if (!probs) {
        ImGui::TextDisabled("This trace has no layers.0.attn.probs.");
        return;
    }
    ImGui::PushTextWrapPos(0);
    ImGui::TextDisabled("Each row is a query token and sums to 1; above the diagonal is the causal mask (0).");
    ImGui::PopTextWrapPos();
    tensor_heatmap("probs", probs->name, probs->shape, probs->values, ui.probs_scale, app.tokens, ui.head,
                   ImGui::GetContentRegionAvail());
}

// Once per trace change: the colour scales of its tensors, and the model (generated or loaded)
// run both ways on the prompt's tokens.
void refresh(const App& app) {
    if (ui.runs_version == app.trace_version) return;
    ui.runs_version = app.trace_version;
    const TraceEntry* c_kv = trace_find(app.trace, "layers.0.attn.c_kv");
    const TraceEntry* probs = trace_find(app.trace, "layers.0.attn.probs");
    if (c_kv) ui.c_kv_scale = color_scale_for(c_kv->values);
    if (probs) ui.probs_scale = color_scale_for(probs->values);
    ui.runs_error.clear();
    ui.out_difference.clear();
    try {
        const Trace naive = run_model(app, app.tokens, AttnImpl::Naive, {kOut});
        const Trace absorbed = run_model(app, app.tokens, AttnImpl::Absorb, {kOut});
        ui.out_diff = compare_traces(naive, absorbed).at(0);
        ui.out_difference = abs_difference(naive.entries.at(0).values, absorbed.entries.at(0).values);
        ui.difference_scale = color_scale_for(ui.out_difference);
    } catch (const std::exception& error) {
        ui.runs_error = error.what();
    }
}

void draw_absorb_view(const App& app) {
    if (!ui.runs_error.empty()) {
        ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.4f, 1), "%s", ui.runs_error.c_str());
        return;
    }
    const TensorDiff& d = ui.out_diff;
    ImGui::PushTextWrapPos(0);
    ImGui::TextDisabled(
        "Naive expands K and V per head from c_kv; absorbed folds W_UK into the query and W_UV after "
        "attention, and attends to c_kv itself. Same maths, different order of sums:");
    ImGui::PopTextWrapPos();
    ImGui::Text("max |naive - absorbed| = %.3g at %s   (%.3g of max |out|)", d.max_abs_error,
                format_index(d.worst_index, d.shape_a).c_str(), d.max_rel_error);
    int64_t unused = 0;
    tensor_heatmap("difference", "|naive - absorbed| of " + std::string(kOut), d.shape_a, ui.out_difference,
                   ui.difference_scale, app.tokens, unused, ImGui::GetContentRegionAvail(),
                   d.max_abs_error > 0 ? d.worst_index : -1);
}

}  // namespace

void draw_mla_panel(App& app) {
    if (ui.preset.empty()) ui.preset = app.analytics_preset;
    refresh(app);
    view_quadrants({
        {"kv", "KV cache against context length", draw_kv_view},
        {"latent", "The latent c_kv the model caches for this prompt (layer 0)", [&] { draw_latent_view(app); }},
        {"probs", "Attention probabilities per head (layer 0)", [&] { draw_probs_view(app); }},
        {"absorb", "Naive against absorbed attention (layer 0 output)", [&] { draw_absorb_view(app); }},
    });
}

}  // namespace seek::viewer
