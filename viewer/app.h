// The viewer's shared state and its panels.
//
// App holds the data every panel draws from: the model (the toy preset with generated weights, or
// a checkpoint that `seek train` wrote), the forward trace of the prompt (a live run of that model,
// or a trace file), the two traces being compared, the run log, and the errors to show.
// A panel is one function over App in a file of its own, panel_NAME.cpp for `--panel NAME` (dashes
// for underscores; tests/viewer_tests.cmake screenshots every such file); what it only needs for
// drawing (a slider position, a sort order) stays in that file. Adding a panel = its file + its
// line in the table in app.cpp + its declaration below.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/mla.h"
#include "core/model.h"
#include "core/stream.h"
#include "core/tokenizer.h"
#include "core/trace.h"
#include "run_log.h"

namespace seek::viewer {

// One of the model's likeliest next tokens after the prompt.
struct NextToken {
    int32_t token = 0;
    double probability = 0;
};

struct App {
    // What the live forward pass runs: a checkpoint's config and weights (--model, or the bundled
    // data/toy), or the toy preset with weights generated from `seed` when `weights` is null.
    ModelConfig model;
    std::shared_ptr<const ModelWeights> weights;
    std::string model_dir;    // where `weights` came from
    std::string model_label;  // how the window names it: the path as the user gave it, or data/toy/grpo
    // A checkpoint too large to hold (full scale): read in place, layer by layer, under
    // memory_bytes (core/stream.h), as `seek step --model` does; `weights` is then null.
    std::shared_ptr<const StreamedModel> streamed;
    int64_t memory_bytes = int64_t{16} << 30;  // --memory
    StreamOptions stream_options;              // --expert-seed: routed experts the checkpoint lacks are generated
    CheckpointTokenizer tokenizer;             // the checkpoint's tokenizer.json, else the toy's characters
    uint64_t seed = 0;
    AttnImpl attn = AttnImpl::Absorb;
    std::string analytics_preset;  // the model shape the MLA and MoE panels start on (--preset)

    // The forward pass the Forward and MLA panels show.
    std::string prompt;
    std::vector<int32_t> tokens;
    Trace trace;
    ModelConfig trace_config;    // the shape `trace` was made with (its metadata's config, else `model`)
    std::string trace_source;    // "live run of the toy model (generated weights, seed 0, ...)", the checkpoint, or the file
    std::string prompt_error;    // why the prompt being edited does not run (tokenizer, length)
    std::string selected;        // trace name shown in the Forward panel
    uint64_t trace_version = 0;  // bumped whenever `trace` changes, so panels can refresh derived data
    // A checkpoint's live run only (a trained model makes them meaningful): the likeliest next
    // tokens after the prompt (the last row of `logits`, softmax), and its greedy completion.
    std::vector<NextToken> next_tokens;
    std::string greedy_completion;
    std::vector<int32_t> completion_tokens;  // the greedy completion's tokens (the MLA decode stepper's)

    // The Compare panel's two trace files.
    std::string compare_paths[2];
    Trace compared[2];
    bool comparison_loaded = false;  // both files read; `diffs` is their comparison
    std::vector<TensorDiff> diffs;
    uint64_t comparison_version = 0;  // bumped whenever the files are (re)read

    // The GRPO panel's logs (--log, given once or more): each a `seek grpo` grpo.jsonl or a
    // `seek train` train.jsonl, all of one kind; the first is the one whose samples are shown,
    // the others are overlaid on its curves.
    std::vector<RunLog> logs;

    std::vector<std::string> errors;  // problems with files, shown at the top of the window until dismissed
    std::string panel;                // the panel on screen (--panel NAME)
    std::string view;                 // --view NAME: the sub-view the panel opens on ("" = its first)
    int path_token = -1;              // --token N: the token whose path the MoE panel shows first (-1: the last)
    bool headless = false;            // --screenshot: work a panel would run on a button press runs at once
    float ui_scale = 1;               // the size of everything: fonts and spacing (--scale, Ctrl +/-)
    // What the panels want printed with a screenshot ("mla decode" -> "9 of 51 tokens"), for tests;
    // set while drawing.
    std::map<std::string, std::string> report;
};

// Prints "seekscope: <message>" on stderr and shows it in the window.
void report_error(App& app, const std::string& message);

// Loads a checkpoint directory (config.json + model.safetensors) as the model the live forward
// pass runs; an unreadable one is reported, leaves the model as it was and returns false.
// A sharded checkpoint (model.safetensors.index.json), one over kMaxLoadedParameters, or any
// checkpoint when `streamed` is asked for is not loaded but opened to be read in place under
// app.memory_bytes: the live pass then traces only each MoE layer's choices (full_scale_filter()).
bool load_checkpoint(App& app, const std::string& directory, bool streamed = false);
constexpr int64_t kMaxLoadedParameters = 2'000'000'000;
// What a streamed checkpoint's live pass traces: each MoE layer's choices, what `seek step`
// traces at full scale and the MoE panel's token path reads.
const std::vector<std::string>& full_scale_filter();
// The checkpoint to use when --model is not given: the bundled GRPO-trained toy model,
// data/toy/grpo (config.json + model.safetensors), in the working directory or in the source
// tree, if it is there; else "".
std::string bundled_checkpoint();
// Generated weights run their first blocks (the toy's dense layer 0 and MoE layer 1).
constexpr int64_t kGeneratedLayers = 2;
// The model on these tokens, traced (names matching `filters` only, all when empty): trace_model
// with `attn` caches for a checkpoint, trace_generated of the first blocks for generated weights.
Trace run_model(const App& app, const std::vector<int32_t>& tokens, AttnImpl attn,
                const std::vector<std::string>& filters = {});
// Runs the model on `prompt` and makes it the current trace; a prompt the tokenizer or the
// model rejects leaves the trace as it was and sets prompt_error instead. A checkpoint's prompt
// starts with <bos>, as it was trained (added when missing, as `seek generate` does).
void run_prompt(App& app, const std::string& prompt);
// Makes a trace file the current trace; an unreadable file is reported and changes nothing.
void open_trace(App& app, const std::string& path);
// Reads both files and compares them; errors are reported and leave comparison_loaded false.
void open_comparison(App& app, const std::string& path_a, const std::string& path_b);
// Reads a run log for the GRPO panel and adds it to app.logs; an unreadable file, or one of
// another kind than the logs already open, is reported (and changes nothing), each malformed line
// is reported with its line number and skipped.
void open_log(App& app, const std::string& path);
// The token ids a trace file's metadata lists ("49,50,43"); empty when absent or malformed.
std::vector<int32_t> trace_tokens(const Trace& trace);

// One tab of the window. Diagnostic panels have no tab: only --panel reaches them (tests).
struct Panel {
    const char* name;         // --panel NAME
    const char* title;        // the tab's label
    const char* short_title;  // the label when the full ones do not all fit
    void (*draw)(App& app);
    bool diagnostic = false;
};
const std::vector<Panel>& panels();
const Panel* find_panel(const std::string& name);  // nullptr when unknown

// The whole window for one frame: the error banner, the tab bar and the current panel.
void draw_app(App& app);

void draw_forward_panel(App& app);       // panel_forward.cpp
void draw_mla_panel(App& app);           // panel_mla.cpp
void draw_moe_panel(App& app);           // panel_moe.cpp
void draw_fp8_panel(App& app);           // panel_fp8.cpp
void draw_compare_panel(App& app);       // panel_compare.cpp
void draw_grpo_panel(App& app);          // panel_grpo.cpp
void draw_heatmap_test_panel(App& app);  // panel_heatmap_test.cpp

}  // namespace seek::viewer
