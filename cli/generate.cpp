// seek generate: complete a prompt with a trained model.
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "../core/generate.h"
#include "../core/tokenizer.h"
#include "commands.h"

namespace seek::cli {

namespace {

const CommandSpec spec = {
    "generate",
    "complete a prompt with a trained model (greedy, temperature, top-p)",
    "Loads --model (a directory with config.json and model.safetensors, e.g. one `seek train`\n"
    "wrote), runs the prompt through it in one prefill, then decodes one token at a time with the\n"
    "latent KV cache (absorbed MLA: kv_lora_rank + qk_rope_head_dim floats per token and layer)\n"
    "until <eos>, --max-new tokens or the context limit.\n"
    "Sampling: --temperature 0 is greedy; otherwise softmax(logits / T), cut to the smallest set\n"
    "of tokens whose probability reaches --top-p, drawn with --seed. The toy tokenizer reads\n"
    "printable ASCII and the specials <bos> <eos> <think> </think> <answer> </answer>; the prompt\n"
    "gets a leading <bos> unless it has one.",
    {{"model", "DIR", "checkpoint directory (config.json + model.safetensors)", "", true},
     {"prompt", "TEXT", "the text to complete, e.g. '12+34='", "", true},
     {"max-new", "N", "most tokens to generate", "96"},
     {"temperature", "T", "0 = greedy", "0"},
     {"top-p", "P", "nucleus sampling mass in (0, 1]", "1"},
     {"seed", "S", "sampling seed", "0"},
     {"samples", "N", "completions to draw (they differ when temperature > 0)", "1"},
     {"json", "", "print JSON (prompt, completions, token counts) instead of text", ""}},
    "", 0, 0,
};

}  // namespace

int run_generate(int argc, char** argv) {
    if (wants_help(spec, argc, argv)) return 0;
    const ParsedArgs args = parse_args(spec, argc, argv);
    GenerateOptions options;
    options.max_new_tokens = args.integer("max-new");
    options.sampling.temperature = static_cast<float>(args.number("temperature"));
    options.sampling.top_p = static_cast<float>(args.number("top-p"));
    const int64_t samples = args.integer("samples");
    // Checked here so that the error quotes the value as it was typed ('-1', not -1.000000).
    if (!(std::isfinite(options.sampling.temperature) && options.sampling.temperature >= 0))
        throw UsageError("--temperature must be >= 0 (0 = greedy), got '" + args.str("temperature") + "'");
    if (!(options.sampling.top_p > 0 && options.sampling.top_p <= 1))
        throw UsageError("--top-p must be in (0, 1], got '" + args.str("top-p") + "'");
    if (options.max_new_tokens < 1) throw UsageError("--max-new must be >= 1");
    if (samples < 1) throw UsageError("--samples must be >= 1");
    try {
        validate_sampling_options(options.sampling);
    } catch (const std::invalid_argument& error) {
        throw UsageError(error.what());
    }

    ModelConfig config;
    const ModelWeights weights = load_model(model_dir_from_args(args), config);
    std::string text = args.str("prompt");
    if (text.rfind("<bos>", 0) != 0) text = "<bos>" + text;
    std::vector<int32_t> prompt;
    try {
        prompt = encode_text(text);
    } catch (const std::exception& error) {
        throw UsageError(std::string("--prompt: ") + error.what());
    }

    Rng rng(static_cast<uint64_t>(args.integer("seed")));
    nlohmann::json completions = nlohmann::json::array();
    for (int64_t i = 0; i < samples; ++i) {
        const Generation generation = generate(config, weights, prompt, options, rng);
        const std::string completion = decode_tokens(generation.tokens);
        if (args.flag("json")) {
            completions.push_back({{"text", completion}, {"tokens", generation.tokens.size()}, {"finished", generation.finished}});
        } else {
            std::printf("%s%s%s\n", text.c_str(), completion.c_str(), generation.finished ? "" : "  [cut off]");
        }
    }
    if (args.flag("json")) std::printf("%s\n", nlohmann::json{{"prompt", text}, {"completions", completions}}.dump(2).c_str());
    return 0;
}

}  // namespace seek::cli
