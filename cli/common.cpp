#include "commands.h"

namespace seek::cli {

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

}  // namespace seek::cli
