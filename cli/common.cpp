#include "commands.h"

#include <malloc.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <cstdio>

#include "../core/embedding.h"
#include "../core/run_folder.h"
#include "../core/tokenizer.h"
#include "progress.h"

namespace seek::cli {

std::string number_text(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return text;
}

Option preset_option(const std::string& default_preset) {
    return {"preset", "NAME", "model shape: toy, v2-lite or v3", default_preset};
}

Option config_option() { return {"config", "FILE", "an HF config.json instead of a preset", ""}; }

ModelConfig config_from_args(const ParsedArgs& args) {
    if (args.flag("config")) {
        if (args.flag("preset")) throw UsageError("give --preset or --config, not both");
        return load_config(args.str("config"));
    }
    try {
        return preset_config(args.str("preset"));
    } catch (const std::runtime_error& error) {
        throw UsageError(error.what());
    }
}

int64_t context_from_args(const ParsedArgs& args) {
    const int64_t max_context = int64_t{1} << 30;
    const int64_t context = args.integer("context");
    if (context < 1 || context > max_context)
        throw UsageError("--context must be between 1 and " + std::to_string(max_context) + ", got " + args.str("context"));
    return context;
}

std::string model_dir_from_args(const ParsedArgs& args) {
    namespace fs = std::filesystem;
    const std::string dir = args.str("model");
    std::error_code error;
    if (!fs::is_directory(dir, error) || fs::exists(fs::path(dir) / "config.json", error))
        return dir;  // a checkpoint, or a path load_model reports as missing
    std::vector<std::string> models;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir, error))
        if (entry.is_directory(error) && fs::exists(entry.path() / "config.json", error))
            models.push_back(entry.path().string());
    std::sort(models.begin(), models.end());
    std::string message = "--model " + dir + ": no config.json there, so no model";
    if (models.empty()) throw UsageError(message + " (a checkpoint folder holds config.json and model.safetensors)");
    message += "; these subfolders hold one:";
    for (const std::string& model : models) message += " " + model;
    throw UsageError(message);
}

std::vector<int32_t> tokens_of_prompt(const std::string& text, const std::string& option) {
    try {
        return encode_text(text);
    } catch (const std::runtime_error& error) {
        throw UsageError(option + ": " + error.what());
    }
}

std::vector<int32_t> prompt_from_args(const ParsedArgs& args, const ModelConfig& config) {
    const std::vector<int32_t> tokens = tokens_of_prompt(args.str("prompt"), "--prompt");
    try {
        check_tokens(config, tokens);
    } catch (const std::runtime_error& error) {
        throw UsageError(std::string("--prompt: ") + error.what());
    }
    return tokens;
}

std::vector<int32_t> encode_checkpoint_prompt(const CheckpointTokenizer& tokenizer, const std::string& prompt,
                                              const std::string& option) {
    try {
        return tokenizer.encode_prompt(prompt, option);
    } catch (const std::runtime_error& error) {
        throw UsageError(error.what());
    }
}

int64_t memory_from_args(const ParsedArgs& args, const std::string& option) {
    return parse_bytes(args.str(option), "--" + option);
}

StreamedModel open_streamed_from_args(const ParsedArgs& args, bool head, int64_t layer_calls) {
    StreamOptions options;
    if (args.flag("memory")) options.memory_bytes = memory_from_args(args);
    options.head = head;
    options.generate_missing_experts = args.flag("expert-seed");
    if (options.generate_missing_experts) options.expert_seed = static_cast<uint64_t>(args.integer("expert-seed"));
    StreamedModel model;
    try {
        model = open_streamed(args.str("model"), options);
    } catch (const std::runtime_error& error) {
        if (std::string(error.what()).rfind("--memory", 0) == 0) throw UsageError(error.what());
        throw;
    }
    auto progress = std::make_shared<Progress>(start_progress("layers", "layers", layer_calls));
    auto done = std::make_shared<int64_t>(0);
    model.source.layer = [read = model.source.layer, progress, done](int64_t layer) {
        auto block = read(layer);
        show_progress(*progress, ++*done);
        return block;
    };
    return model;
}

void keep_freed_memory() {
    mallopt(M_MMAP_THRESHOLD, 1 << 30);  // blocks up to 1 GB come from the heap, not fresh mappings
    mallopt(M_TRIM_THRESHOLD, 1 << 30);  // and the heap is not trimmed until 1 GB sits free at its top
}

bool resuming_run(const CommandSpec& spec, const ParsedArgs& args, const std::string& out) {
    FolderContents contents;
    try {
        contents = inspect_run_folder(out);
    } catch (const std::runtime_error& error) {
        throw UsageError(std::string("--out: ") + error.what());
    }
    std::string model_files;
    for (const std::string& name : contents.model_files) model_files += (model_files.empty() ? "" : ", ") + name;
    if (!args.flag("resume")) {
        if (contents.committed)
            throw UsageError(out + " already holds a run: pass --resume to continue it, or choose another --out");
        if (!model_files.empty())
            throw UsageError(out + " already holds a model (" + model_files +
                             "): seek never overwrites one; choose another --out");
        return false;
    }
    for (const Option& option : spec.options)
        if (option.name != "out" && option.name != "resume" && args.flag(option.name))
            throw UsageError("--resume continues the run saved in " + out + " with its own options; --" + option.name +
                             " cannot change them");
    if (!contents.committed)
        throw UsageError("--resume: " + out + " holds no saved run (no " + out + "/checkpoint link" +
                         (model_files.empty() ? ": nothing saved yet" : "; it holds " + model_files) + ")");
    return true;
}

static std::atomic<bool> interrupted{false};
extern "C" void seek_on_interrupt(int) { interrupted = true; }

const std::atomic<bool>& catch_interrupts() {
    interrupted = false;
    std::signal(SIGINT, seek_on_interrupt);
    std::signal(SIGTERM, seek_on_interrupt);
    return interrupted;
}

void release_interrupts() {
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
}

}  // namespace seek::cli
