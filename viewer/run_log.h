// The JSON-lines logs that long runs write, read for the GRPO panel:
//
//   train.jsonl (`seek train`)  one object per step: "step", "loss", "main_loss", "mtp_loss", "lr",
//                               "grad_norm", "max_violation" / "bias_min" / "bias_max" (one number
//                               per MoE block), "heldout_loss" on the steps that evaluated, ...
//   grpo.jsonl (`seek grpo`)    {"kind": "step", "step": N, "reward_mean": ..., "accuracy": ..., ...}
//                               per step and, every few steps, {"kind": "samples", "step": N,
//                               "prompts": [{"question", "answer", "completions": [{"text",
//                               "reward", "advantage", "correct", "well_formed", "length"}]}]}
//
// The kind is told by the keys (a "kind" key: GRPO). A line that is not what its kind expects is
// skipped and listed with its line number; the rest of the file still loads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace seek::viewer {

enum class LogKind { Train, Grpo };

struct LogCompletion {
    std::string text;
    double reward = 0, advantage = 0;
    bool correct = false, well_formed = false;
    int64_t length = -1;  // tokens; -1 when the line does not say
};
struct LogPrompt {
    std::string question;
    std::string answer;  // as written in the log (a number)
    std::vector<LogCompletion> completions;
};
struct LogSamples {
    int64_t step = 0;
    std::vector<LogPrompt> prompts;
};

struct RunLog {
    std::string path;
    LogKind kind = LogKind::Train;
    // The step lines, ascending by step. Every number a step line holds is a scalar series (NaN on
    // the lines without it, or with null); every array of numbers an array series (one value per
    // MoE block), each line's array as written.
    std::vector<double> steps;
    std::map<std::string, std::vector<double>> scalars;
    std::map<std::string, std::vector<std::vector<double>>> arrays;
    std::vector<LogSamples> samples;    // GRPO: ascending by step
    std::vector<std::string> problems;  // "FILE:LINE: why" for each line skipped
    int64_t lines = 0;                  // non-empty lines read

    // The scalar series `key`, NaN for every step when no line has it.
    std::vector<double> scalar(const std::string& key) const;
    bool empty() const { return steps.empty() && samples.empty(); }
};

// Reads the whole file. Throws std::runtime_error naming the file when it cannot be opened; bad
// lines land in `problems`.
RunLog load_run_log(const std::string& path);

}  // namespace seek::viewer
