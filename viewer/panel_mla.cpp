// MLA: why DeepSeek's attention cache is small, on real numbers, and what decoding does with it.
// Three views:
//   decoding   a stepper: each press (right arrow or space) runs layer 0 on one more token over the
//              latent cache (core's block_forward, as decoding does): the cache gains a row, c_kv
//              and k_pe side by side, and the new token's query attends over every row, per head
//   bytes      the KV cache of MHA, GQA, MQA, naive MLA and MLA at the context decoded so far, as
//              linear bars, for the toy's, V2-Lite's or V3's dimensions (the choice above)
//   absorb     naive against absorbed attention run on the prompt, with the difference of their outputs
#include <imgui.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "app.h"
#include "core/analytics.h"
#include "core/block.h"
#include "core/embedding.h"
#include "draw.h"
#include "layout.h"
#include "tensor_view.h"

namespace seek::viewer {

namespace {

// Layer 0 over a latent cache, one token per call: the checkpoint's weights, or the generated
// ones run_model uses.
struct LayerDecoder {
    ModelConfig config;
    std::shared_ptr<const ModelWeights> weights;  // null: generated from `seed`
    uint64_t seed = 0;
    BlockWeights generated;  // layer 0's generated weights, when there is no checkpoint
    RopeTable rope;
    MlaCache cache;
};

// The decoding stepper's state: the tokens it walks through (the prompt, then the checkpoint's
// greedy completion), how many have entered the cache, and what each step's query attended to.
struct Stepper {
    uint64_t version = ~0ull;  // app.trace_version the sequence was taken from
    std::vector<int32_t> sequence;
    size_t prompt_length = 0;
    size_t decoded = 0;
    LayerDecoder decoder;
    std::vector<std::vector<float>> attention;  // per step: probs [heads, tokens so far], head-major
    std::string error;
};

struct MlaUi {
    std::string preset;  // the byte counts' model shape; starts as --preset
    int64_t groups = 0;  // GQA key-value groups; 0 = pick a default for the preset
    uint64_t runs_version = ~0ull;  // the trace_version the naive and absorbed runs (and the scales) were made for
    std::string runs_error;
    TensorDiff out_diff;  // layers.0.attn.out, naive against absorbed
    std::vector<float> out_difference;
    ColorScale difference_scale;
    Stepper stepper;
};
MlaUi ui;

const char* const kOut = "layers.0.attn.out";
const char* const kProbs = "layers.0.attn.probs";

std::string bytes_text(double bytes) { return human_bytes(bytes); }

std::vector<int64_t> divisors(int64_t n) {
    std::vector<int64_t> result;
    for (int64_t d = 1; d <= n; ++d)
        if (n % d == 0) result.push_back(d);
    return result;
}

// ---- the decoder -----------------------------------------------------------------------------

LayerDecoder make_layer_decoder(const App& app, size_t capacity) {
    if (app.streamed)
        throw std::runtime_error("the decode stepper holds layer 0 in memory; not for a checkpoint read in place "
                                 "(full scale)");
    LayerDecoder d;
    d.config = app.model;
    d.weights = app.weights;
    d.seed = app.seed;
    if (!d.weights) d.generated = generated_block_weights(d.config, 0, d.seed);
    d.rope = rope_table(d.config);
    d.cache = make_mla_cache(d.config, AttnImpl::Absorb, static_cast<int64_t>(capacity));
    return d;
}

// Runs layer 0 on one token after everything the cache holds (appending its c_kv and k_pe) and
// returns what its query attended to: probs [heads, 1, tokens so far].
std::vector<float> decode_step(LayerDecoder& d, int32_t token) {
    const Mat x = d.weights ? embedding_forward(d.weights->embed_tokens, {token})
                            : generated_embedding(d.config, {token}, d.seed);
    Trace trace;
    trace.filters = {kProbs};
    ForwardContext context;
    context.trace = &trace;
    block_forward(d.config, 0, d.weights ? d.weights->layers.at(0) : d.generated, d.rope, x, {0, 1}, &d.cache, context,
                  "layers.0");
    const TraceEntry* probs = trace_find(trace, kProbs);
    if (!probs) throw std::runtime_error("layer 0 recorded no " + std::string(kProbs));
    return probs->values;
}

// Decodes until `count` tokens are in the cache, from scratch when going back.
void decode_to(const App& app, Stepper& s, size_t count) {
    count = std::clamp<size_t>(count, 1, s.sequence.size());
    if (count < s.decoded) {
        s.decoded = 0;
        s.attention.clear();
    }
    try {
        if (s.decoded == 0) s.decoder = make_layer_decoder(app, s.sequence.size());
        while (s.decoded < count) {
            s.attention.push_back(decode_step(s.decoder, s.sequence[s.decoded]));
            ++s.decoded;
        }
        s.error.clear();
    } catch (const std::exception& error) {
        s.error = error.what();
    }
}

void refresh_stepper(const App& app) {
    Stepper& s = ui.stepper;
    if (s.version == app.trace_version) return;
    s.version = app.trace_version;
    s.sequence = app.tokens;
    s.prompt_length = app.tokens.size();
    s.sequence.insert(s.sequence.end(), app.completion_tokens.begin(), app.completion_tokens.end());
    const size_t longest = static_cast<size_t>(app.model.max_position_embeddings);
    if (s.sequence.size() > longest) s.sequence.resize(longest);
    s.decoded = 0;
    s.attention.clear();
    s.error.clear();
    if (s.sequence.empty()) return;
    decode_to(app, s, s.prompt_length);  // the prompt is in the cache; each press adds a token
}

// ---- views -----------------------------------------------------------------------------------

void draw_latent_cache(const std::vector<float>& cache, int64_t t, int64_t r, int64_t dr,
                       const std::vector<std::string>& labels, const std::vector<float>* attention, int64_t heads);
void draw_streamed_cache_view(const App& app);

// Right arrow or space: one more token; left: one fewer; unless a text box has the keys.
int key_step() {
    if (ImGui::GetIO().WantTextInput) return 0;
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_RightArrow)) ||
        ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_Space)))
        return 1;
    if (ImGui::IsKeyPressed(ImGui::GetKeyIndex(ImGuiKey_LeftArrow))) return -1;
    return 0;
}

void draw_decode_view(const App& app) {
    if (app.streamed) return draw_streamed_cache_view(app);
    Stepper& s = ui.stepper;
    if (s.sequence.empty()) {
        wrapped_note("No tokens to decode.");
        return;
    }
    const int step = key_step();
    if (step != 0) decode_to(app, s, s.decoded + step);
    if (ImGui::Button("<<")) decode_to(app, s, 1);
    ImGui::SameLine();
    if (ImGui::Button("<")) decode_to(app, s, s.decoded - 1);
    ImGui::SameLine();
    if (ImGui::Button("Next token >")) decode_to(app, s, s.decoded + 1);
    ImGui::SameLine();
    const bool generated = s.decoded > s.prompt_length;
    ImGui::Text("%zu of %zu tokens in the cache", s.decoded, s.sequence.size());
    const std::string keys = "(right arrow or space: next)";
    same_line_if_fits(text_width(keys));
    ImGui::TextDisabled("%s", keys.c_str());

    // The sequence, the newest token ringed; the prompt blue, the completion purple.
    TokenChipOptions chips;
    chips.max_rows = 2;
    chips.selected = static_cast<int>(s.decoded) - 1;
    const std::vector<int32_t> entered(s.sequence.begin(), s.sequence.begin() + static_cast<std::ptrdiff_t>(s.decoded));
    for (size_t i = 0; i < entered.size(); ++i)
        chips.fills.push_back(i < s.prompt_length ? IM_COL32(52, 66, 92, 255) : IM_COL32(96, 58, 120, 255));
    token_chips(entered, chips);
    if (!s.error.empty()) {
        ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.4f, 1), "%s", s.error.c_str());
        return;
    }
    const ModelConfig& c = s.decoder.config;
    const int64_t t = static_cast<int64_t>(s.decoded), heads = c.num_attention_heads;
    wrapped_note(std::string(generated ? "Generated token (greedy, the model's own choice)" : "Prompt token") +
                 " '" + token_label(s.sequence[s.decoded - 1]) + "' entered: layer 0 appended its c_kv (" +
                 std::to_string(c.kv_lora_rank) + ") and k_pe (" + std::to_string(c.qk_rope_head_dim) +
                 ") to the cache, and its query, one per head, attended over all " + std::to_string(t) + " rows.");

    // Check: decoding gives what the prefill gave for the same position.
    const TraceEntry* prefill = trace_find(app.trace, kProbs);
    if (prefill && prefill->shape.size() == 3 && prefill->shape[0] == heads && t <= prefill->shape[1] &&
        std::equal(entered.begin(), entered.end(), app.tokens.begin(), app.tokens.begin() + t)) {
        double worst = 0;
        const int64_t T = prefill->shape[1];
        for (int64_t h = 0; h < heads; ++h)
            for (int64_t j = 0; j < t; ++j)
                worst = std::max(worst, std::fabs(static_cast<double>(s.attention.back()[h * t + j]) -
                                                  prefill->values[(h * T + (t - 1)) * T + j]));
        char text[160];
        std::snprintf(text, sizeof text,
                      "The same as row %lld of the prompt's prefill (the Forward panel's probs): max |difference| %.2g.",
                      static_cast<long long>(t - 1), worst);
        wrapped_note(text);
    }

    // The cache [t, c_kv | k_pe] and, row for row beside it, the new query's attention [t, heads].
    const int64_t r = c.kv_lora_rank, dr = c.qk_rope_head_dim;
    std::vector<float> cache(static_cast<size_t>(t * (r + dr)));
    for (int64_t i = 0; i < t; ++i)
        for (int64_t j = 0; j < r + dr; ++j)
            cache[i * (r + dr) + j] = j < r ? s.decoder.cache.c_kv(i, j) : s.decoder.cache.k_pe(i, j - r);
    std::vector<float> attention(static_cast<size_t>(t * heads));
    for (int64_t h = 0; h < heads; ++h)
        for (int64_t j = 0; j < t; ++j) attention[j * heads + h] = s.attention.back()[h * t + j];
    std::vector<std::string> labels;
    for (int64_t i = 0; i < t; ++i) labels.push_back(token_label(s.sequence[i]));
    draw_latent_cache(cache, t, r, dr, labels, &attention, heads);
}

// The latent cache [t, c_kv | k_pe] of layer 0 as a heatmap, the newest row marked; beside it, row for
// row, the newest query's attention [t, heads] when given.
void draw_latent_cache(const std::vector<float>& cache, int64_t t, int64_t r, int64_t dr,
                       const std::vector<std::string>& labels, const std::vector<float>* attention, int64_t heads) {
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float attention_width = attention ? std::max(avail.x * 0.28f, ImGui::GetFontSize() * 8) : 0.0f;
    Grid cache_grid;
    cache_grid.values = cache.data();
    cache_grid.rows = t;
    cache_grid.cols = r + dr;
    cache_grid.name = "latent cache [c_kv | k_pe] of layer 0";
    cache_grid.shape = {t, r + dr};
    cache_grid.row_axis = "cached token";
    cache_grid.col_axis = "c_kv " + std::to_string(r) + " | k_pe " + std::to_string(dr);
    cache_grid.row_labels = labels;
    cache_grid.col_separator_every = r;
    cache_grid.highlighted_row = t - 1;
    heatmap("cache", cache_grid, color_scale_for(cache),
            ImVec2(attention ? avail.x - attention_width - ImGui::GetStyle().ItemSpacing.x : avail.x, avail.y));
    if (!attention) return;
    ImGui::SameLine();
    Grid attention_grid;
    attention_grid.values = attention->data();
    attention_grid.rows = t;
    attention_grid.cols = heads;
    attention_grid.name = "the new query's attention";
    attention_grid.shape = {t, heads};
    attention_grid.col_axis = "head";
    attention_grid.row_ticks = false;  // the cache's rows, beside it
    attention_grid.highlighted_row = t - 1;
    heatmap("attention", attention_grid, {ColorMap::Magnitude, 0, 1}, ImVec2(attention_width, avail.y));
}

// A checkpoint read in place: no stepping (layer 0 is not held), but the prompt's latent cache as the
// prefill left it, from the live trace (layers.0.attn.c_kv and k_pe).
void draw_streamed_cache_view(const App& app) {
    const TraceEntry* c_kv = trace_find(app.trace, "layers.0.attn.c_kv");
    const TraceEntry* k_pe = trace_find(app.trace, "layers.0.attn.k_pe");
    if (!c_kv || !k_pe || c_kv->shape.size() != 2 || k_pe->shape.size() != 2 || c_kv->shape[0] != k_pe->shape[0]) {
        wrapped_note("The live trace holds no layers.0.attn.c_kv and k_pe to show.");
        return;
    }
    const int64_t t = c_kv->shape[0], r = c_kv->shape[1], dr = k_pe->shape[1];
    wrapped_note("Read in place (full scale): layer 0 is not held, so there is no stepping; this is the latent cache "
                 "the prompt's prefill left in layer 0, " + std::to_string(r) + " + " + std::to_string(dr) +
                 " numbers per token for all " + std::to_string(app.model.num_attention_heads) + " heads.");
    std::vector<float> cache(static_cast<size_t>(t * (r + dr)));
    for (int64_t i = 0; i < t; ++i)
        for (int64_t j = 0; j < r + dr; ++j) cache[i * (r + dr) + j] = j < r ? c_kv->values[i * r + j] : k_pe->values[i * dr + j - r];
    std::vector<std::string> labels;
    for (int64_t i = 0; i < t && i < static_cast<int64_t>(app.tokens.size()); ++i) labels.push_back(token_label(app.tokens[i]));
    draw_latent_cache(cache, t, r, dr, labels, nullptr, 0);
}

// The model shape the byte counts are for, and GQA's number of key-value groups.
void draw_shape_choice() {
    ImGui::AlignTextToFramePadding();
    ImGui::TextUnformatted("Byte counts for the dimensions of:");
    for (const std::string& name : preset_names()) {
        radio_same_line_if_fits(name);
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
    same_line_if_fits(ImGui::GetFontSize() * 10, ImGui::GetFontSize() * 2);
    ImGui::SetNextItemWidth(ImGui::GetFontSize() * 10);
    const std::string format = "GQA groups: " + std::to_string(ui.groups);
    if (ImGui::SliderInt("##groups", &choice, 0, static_cast<int>(choices.size()) - 1, format.c_str()))
        ui.groups = choices[choice];
}

// Bytes of each scheme's cache at `context` tokens as horizontal bars on one linear axis, each
// labelled with its size and how many times MLA's it is.
void draw_kv_bars(const std::vector<KvCacheMethod>& methods, int64_t context, int64_t layers, ImVec2 size) {
    const WidgetBox box("kv bars", size);
    const KvCacheMethod& mla =
        *std::find_if(methods.begin(), methods.end(), [](const KvCacheMethod& m) { return m.name == "MLA"; });
    double most = 0;
    float name_width = 0;
    std::vector<std::string> names;
    for (const KvCacheMethod& m : methods) {
        most = std::max(most, static_cast<double>(m.bytes_for_context(context, kBf16Bytes)));
        names.push_back(m.name == "GQA" ? "GQA, " + std::to_string(ui.groups) + " groups" : m.name);
        name_width = std::max(name_width, text_width(names.back()));
    }
    const std::string widest_value = bytes_text(most) + " (999x MLA)";
    const ImVec2 plot_min(box.origin.x + name_width + box.pad, box.origin.y);
    const ImVec2 plot_max(box.origin.x + size.x - text_width(widest_value) - box.pad, box.origin.y + size.y - box.line - dp(8));
    record_plot("kv bars", plot_min, ImVec2(std::max(plot_max.x, plot_min.x), std::max(plot_max.y, plot_min.y)));
    if (plot_max.x - plot_min.x < 20 || plot_max.y - plot_min.y < 20 || most <= 0) return;
    const float row = (plot_max.y - plot_min.y) / static_cast<float>(methods.size());
    const float bar = std::min(row * 0.7f, box.line * 1.6f);
    const ImVec2 mouse = ImGui::GetIO().MousePos;
    for (size_t i = 0; i < methods.size(); ++i) {
        const double bytes = static_cast<double>(methods[i].bytes_for_context(context, kBf16Bytes));
        const float y = plot_min.y + row * (static_cast<float>(i) + 0.5f);
        const float x1 = plot_min.x + static_cast<float>(bytes / most) * (plot_max.x - plot_min.x);
        const ImU32 color = methods[i].name == "MLA"         ? series_color(3)
                            : methods[i].name == "MLA naive" ? series_color(4)
                                                             : series_color(static_cast<int>(i));
        box.draw->AddText(ImVec2(plot_min.x - box.pad - text_width(names[i]), y - box.line / 2), kTextColor,
                          names[i].c_str());
        // Each bar's labels need a row of their own: rows thinner than a line would overlap.
        record_fit("kv bars/row", ImVec2(box.origin.x, y - box.line / 2), ImVec2(box.origin.x + 1, y + box.line / 2),
                   ImVec2(box.origin.x, y - row / 2), ImVec2(box.origin.x + size.x, y + row / 2));
        box.draw->AddRectFilled(ImVec2(plot_min.x, y - bar / 2), ImVec2(std::max(x1, plot_min.x + 1), y + bar / 2), color);
        char ratio[48];
        std::snprintf(ratio, sizeof ratio, " (%.3gx MLA)", bytes / static_cast<double>(mla.bytes_for_context(context, kBf16Bytes)));
        const std::string label = bytes_text(bytes) + (methods[i].name == "MLA" ? "" : ratio);
        box.draw->AddText(ImVec2(std::max(x1, plot_min.x + 1) + dp(6), y - box.line / 2), kTextColor, label.c_str());
        if (box.hovered && mouse.y >= y - row / 2 && mouse.y < y + row / 2)
            ImGui::SetTooltip("%s: %s\n%s per token and layer: %s\nx %lld tokens x %lld layers x 2 bytes (BF16)",
                              names[i].c_str(), methods[i].what.c_str(), methods[i].formula.c_str(),
                              with_commas(methods[i].elements_per_token_per_layer).c_str(), static_cast<long long>(context),
                              static_cast<long long>(layers));
    }
    box.draw->AddLine(ImVec2(plot_min.x, plot_min.y), ImVec2(plot_min.x, plot_max.y), kAxisColor);
    box.draw->AddText(ImVec2(plot_min.x, plot_max.y + dp(4)), kDimTextColor, "bar length: bytes, from 0 (linear)");
}

void draw_bytes_view(const App& app) {
    const ModelConfig config = preset_config(ui.preset);
    // In the order of the text: MHA, GQA, MQA, then MLA naive (what absorbing avoids) and MLA.
    std::vector<KvCacheMethod> methods = kv_cache_methods(config, ui.groups);
    std::stable_partition(methods.begin(), methods.end(), [](const KvCacheMethod& m) { return m.name != "MLA"; });
    const KvCacheMethod& mla = methods.back();
    // Read in place, the prompt is the cache (no stepping); otherwise what the stepper has decoded.
    const int64_t context =
        std::max<int64_t>(1, static_cast<int64_t>(app.streamed ? app.tokens.size() : ui.stepper.decoded));
    const bool own_model = ui.preset == app.model.name;
    char text[512];
    std::snprintf(text, sizeof text,
                  "%s: %lld layers. MLA caches %lld + %lld = %s numbers per token and layer, %.1fx fewer than MHA; "
                  "each token adds that much to every bar. At %s tokens: MHA %s, MLA %s.",
                  own_model ? "The model's dimensions" : (ui.preset + " dimensions").c_str(),
                  static_cast<long long>(config.num_hidden_layers), static_cast<long long>(config.kv_lora_rank),
                  static_cast<long long>(config.qk_rope_head_dim), with_commas(mla.elements_per_token_per_layer).c_str(),
                  static_cast<double>(methods[0].elements_per_token) / static_cast<double>(mla.elements_per_token),
                  with_commas(config.max_position_embeddings).c_str(),
                  bytes_text(static_cast<double>(methods[0].bytes_for_context(config.max_position_embeddings, kBf16Bytes))).c_str(),
                  bytes_text(static_cast<double>(mla.bytes_for_context(config.max_position_embeddings, kBf16Bytes))).c_str());
    wrapped_note(text);
    ImGui::Text(app.streamed ? "At the prompt's %lld tokens:" : "At the %lld tokens decoded so far:", static_cast<long long>(context));
    draw_kv_bars(methods, context, config.num_hidden_layers, ImGui::GetContentRegionAvail());
}

// Once per trace change: the colour scales of its tensors, and the model (generated or loaded)
// run both ways on the prompt's tokens.
void refresh(const App& app) {
    if (ui.runs_version == app.trace_version) return;
    ui.runs_version = app.trace_version;
    ui.runs_error.clear();
    ui.out_difference.clear();
    if (app.streamed) {  // two more passes over every layer of a checkpoint read in place: not on a redraw
        ui.runs_error = "not run for a checkpoint read in place (full scale): seek step --model DIR --attn naive "
                        "and --attn absorb, each with --filter layers.0.attn.out --trace FILE, then Compare";
        return;
    }
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
        ImGui::PushTextWrapPos(0);
        ImGui::TextColored(ImVec4(1.0f, 0.45f, 0.4f, 1), "%s", ui.runs_error.c_str());
        ImGui::PopTextWrapPos();
        return;
    }
    const TensorDiff& d = ui.out_diff;
    wrapped_note("Absorbed folds W_UK into the query and W_UV after attention, so it attends to c_kv itself: "
                 "naive's sums in another order.");
    ImGui::Text("max |naive - absorbed| = %.3g at %s", d.max_abs_error, format_index(d.worst_index, d.shape_a).c_str());
    char relative[64];
    std::snprintf(relative, sizeof relative, "(%.3g of max |out|)", d.max_rel_error);
    same_line_if_fits(text_width(relative));
    ImGui::TextUnformatted(relative);
    int64_t unused = 0;
    tensor_heatmap("difference", "|naive - absorbed| of " + std::string(kOut), d.shape_a, ui.out_difference,
                   ui.difference_scale, app.tokens, unused, ImGui::GetContentRegionAvail(),
                   d.max_abs_error > 0 ? d.worst_index : -1);
}

}  // namespace

void draw_mla_panel(App& app) {
    if (ui.preset.empty()) ui.preset = app.analytics_preset;
    refresh(app);
    refresh_stepper(app);
    draw_shape_choice();
    // Decoding on the left, the full height; the bytes and the absorb check on the right.
    const ImGuiStyle& style = ImGui::GetStyle();
    const ImVec2 avail = ImGui::GetContentRegionAvail();
    const float left = std::floor(avail.x * 0.56f), right = avail.x - left - style.ItemSpacing.x;
    begin_view("decode", app.streamed ? "The prompt's latent cache (layer 0)" : "Decoding, one token per press (layer 0)",
               ImVec2(left, avail.y));
    draw_decode_view(app);
    end_view();
    ImGui::SameLine();
    ImGui::BeginGroup();
    const float top = std::floor((avail.y - style.ItemSpacing.y) * 0.52f);
    begin_view("bytes", "KV cache so far, in bytes", ImVec2(right, top));
    draw_bytes_view(app);
    end_view();
    begin_view("absorb", "Naive against absorbed attention (layer 0)", ImVec2(right, avail.y - top - style.ItemSpacing.y));
    draw_absorb_view(app);
    end_view();
    ImGui::EndGroup();
    const TraceEntry* c_kv = trace_find(app.trace, "layers.0.attn.c_kv");
    app.report["mla decode"] =
        app.streamed ? "read in place, the prompt's latent cache: " +
                           (c_kv && c_kv->shape.size() == 2 ? std::to_string(c_kv->shape[0]) + " tokens x c_kv " +
                                                                  std::to_string(c_kv->shape[1])
                                                            : std::string("not in the trace"))
                     : std::to_string(ui.stepper.decoded) + " of " + std::to_string(ui.stepper.sequence.size()) +
                           " tokens in the cache";
}

}  // namespace seek::viewer
