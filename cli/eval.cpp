// seek eval: held-out accuracy of a model on a task, greedy and sampled.
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "../core/grpo.h"
#include "commands.h"
#include "progress.h"

namespace seek::cli {

namespace {

const CommandSpec spec = {
    "eval",
    "held-out accuracy, format, think and check/retry rates and length of a model on a task",
    "Draws --n held-out problems of --task (never seen in training: the split is a hash of the\n"
    "operands), lets --model complete each prompt ('<bos>478+56=') once per temperature in --temperatures\n"
    "(0 = greedy), and verifies every completion with the same rules GRPO's reward uses.\n"
    "Reports per temperature: accuracy (the <answer> is right), format rate (well-formed\n"
    "[<think>...</think>]<answer>N</answer>), think rate, check rate and retry rate (the trace\n"
    "contains 'check' / 'retry'), and mean completion length in tokens. With --problems FILE the\n"
    "file's problems are evaluated instead (and the output says how many of them are held out).",
    {{"model", "DIR", "checkpoint directory (config.json + model.safetensors)", "", true},
     {"task", "NAME", "add:MIN-MAX or mul:N (digits per operand)", "add:4-5"},
     {"n", "N", "held-out problems", "500"},
     {"problems", "FILE", "evaluate these problems instead (one per line: 478+56 or 47*86; # comments)", ""},
     {"temperatures", "T,T", "comma-separated sampling temperatures; 0 = greedy", "0,1"},
     {"max-new", "N", "most tokens per completion", "192"},
     {"seed", "S", "seed of the problems and the sampling", "0"},
     {"json", "", "print JSON", ""}},
    "", 0, 0,
};

std::vector<float> temperatures_from_text(const std::string& text) {
    std::vector<float> values;
    for (const std::string& item : comma_items(text)) {
        char* end = nullptr;
        const float value = std::strtof(item.c_str(), &end);
        if (item.empty() || *end != '\0' || !(value >= 0)) throw UsageError("--temperatures: '" + item + "' is not a temperature >= 0");
        values.push_back(value);
    }
    return values;
}

}  // namespace

int run_eval(int argc, char** argv) {
    if (wants_help(spec, argc, argv)) return 0;
    const ParsedArgs args = parse_args(spec, argc, argv);
    const int64_t n = args.integer("n");
    if (n < 1 || n > 10000000) throw UsageError("--n must be between 1 and 10^7, got " + args.str("n"));
    const int64_t max_new = args.integer("max-new");
    if (max_new < 1) throw UsageError("--max-new must be >= 1");
    const TaskSpec task = args.choice("task", task_from_name);
    const std::vector<float> temperatures = temperatures_from_text(args.str("temperatures"));
    const uint64_t seed = static_cast<uint64_t>(args.integer("seed"));
    const std::vector<Problem> problems =
        args.flag("problems") ? load_problems(args.str("problems")) : heldout_problems(task, n, seed);
    const int64_t heldout = std::count_if(problems.begin(), problems.end(), is_heldout);
    const std::string source = args.flag("problems") ? args.str("problems") : task_name(task);
    ModelConfig config;
    const ModelWeights weights = load_model(model_dir_from_args(args), config);

    nlohmann::json results = nlohmann::json::array();
    if (!args.flag("json"))
        std::printf("%s on %zu problems of %s (%lld held out from training)\n\n%-12s %9s %8s %7s %7s %7s %8s\n",
                    args.str("model").c_str(), problems.size(), source.c_str(), static_cast<long long>(heldout),
                    "temperature", "accuracy", "format", "think", "check", "retry", "length");
    for (float temperature : temperatures) {
        Progress progress = start_progress("eval", "problems", static_cast<int64_t>(problems.size()));
        const EvalReport r = evaluate(config, weights, problems, temperature, seed, max_new,
                                      [&](int64_t done) { show_progress(progress, done); });
        if (args.flag("json")) {
            results.push_back({{"temperature", temperature}, {"problems", r.problems}, {"accuracy", r.accuracy},
                               {"format_rate", r.format_rate}, {"think_rate", r.think_rate}, {"check_rate", r.check_rate},
                               {"retry_rate", r.retry_rate}, {"mean_length", r.mean_length}});
        } else {
            std::printf("%-12s %8.1f%% %7.1f%% %6.1f%% %6.1f%% %6.1f%% %8.1f\n",
                        temperature == 0 ? "0 (greedy)" : std::to_string(temperature).substr(0, 4).c_str(),
                        100 * r.accuracy, 100 * r.format_rate, 100 * r.think_rate, 100 * r.check_rate,
                        100 * r.retry_rate, r.mean_length);
        }
    }
    if (args.flag("json"))
        std::printf("%s\n", nlohmann::json{{"model", args.str("model")}, {"source", source}, {"heldout", heldout}, {"results", results}}.dump(2).c_str());
    return 0;
}

}  // namespace seek::cli
