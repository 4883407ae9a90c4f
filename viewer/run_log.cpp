#include "run_log.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/fileio.h"

namespace seek::viewer {

namespace {

using nlohmann::json;

// What is wrong with one line; load_run_log adds the file and line number.
struct LineError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

const json& field(const json& object, const char* key, const std::string& where) {
    auto it = object.find(key);
    if (it == object.end()) throw LineError(where + "no \"" + key + "\"");
    return *it;
}
double number(const json& object, const char* key, const std::string& where) {
    const json& value = field(object, key, where);
    if (!value.is_number()) throw LineError(where + "\"" + key + "\" is " + value.type_name() + ", not a number");
    return value.get<double>();
}
bool boolean(const json& object, const char* key, const std::string& where, bool fallback) {
    auto it = object.find(key);
    if (it == object.end()) return fallback;
    if (!it->is_boolean()) throw LineError(where + "\"" + key + "\" is " + it->type_name() + ", not true or false");
    return it->get<bool>();
}
std::string text(const json& object, const char* key, const std::string& where) {
    const json& value = field(object, key, where);
    if (!value.is_string()) throw LineError(where + "\"" + key + "\" is " + value.type_name() + ", not a string");
    return value.get<std::string>();
}
const json& array(const json& object, const char* key, const std::string& where) {
    const json& value = field(object, key, where);
    if (!value.is_array()) throw LineError(where + "\"" + key + "\" is " + value.type_name() + ", not an array");
    return value;
}
int64_t step_of(const json& line) {
    const double step = number(line, "step", "");
    if (step < 0 || step != std::floor(step) || step > 1e15)
        throw LineError("\"step\" is " + line["step"].dump() + ", not a whole number >= 0");
    return static_cast<int64_t>(step);
}

struct StepLine {
    int64_t step;
    std::map<std::string, double> scalars;
    std::map<std::string, std::vector<double>> arrays;
};

// Every number (null: missing) and every array of numbers of a step line.
StepLine read_step(const json& line) {
    StepLine s{step_of(line), {}, {}};
    for (auto it = line.begin(); it != line.end(); ++it) {
        if (it.key() == "step" || it.key() == "kind") continue;
        if (it->is_number())
            s.scalars[it.key()] = it->get<double>();
        else if (it->is_null())
            s.scalars[it.key()] = NAN;
        else if (it->is_array() && std::all_of(it->begin(), it->end(), [](const json& v) { return v.is_number(); }))
            s.arrays[it.key()] = it->get<std::vector<double>>();
    }
    return s;
}

LogSamples read_samples(const json& line) {
    LogSamples samples;
    samples.step = step_of(line);
    const json& prompts = array(line, "prompts", "");
    for (size_t p = 0; p < prompts.size(); ++p) {
        const std::string where = "prompts[" + std::to_string(p) + "]: ";
        if (!prompts[p].is_object()) throw LineError(where + "not an object");
        LogPrompt prompt;
        prompt.question = text(prompts[p], "question", where);
        const json& answer = field(prompts[p], "answer", where);
        prompt.answer = answer.is_string() ? answer.get<std::string>() : answer.dump();
        const json& completions = array(prompts[p], "completions", where);
        for (size_t c = 0; c < completions.size(); ++c) {
            const std::string at = "prompts[" + std::to_string(p) + "].completions[" + std::to_string(c) + "]: ";
            const json& item = completions[c];
            if (!item.is_object()) throw LineError(at + "not an object");
            LogCompletion completion;
            completion.text = text(item, "text", at);
            completion.reward = number(item, "reward", at);
            completion.advantage = number(item, "advantage", at);
            completion.correct = boolean(item, "correct", at, false);
            completion.well_formed = boolean(item, "well_formed", at, false);
            if (item.contains("length")) {
                // Range-checked before the cast: a double beyond int64 (1e300) has no integer value.
                const double length = number(item, "length", at);
                if (!(length >= 0 && length <= 1e15))
                    throw LineError(at + "\"length\" is " + item["length"].dump() + ", not a token count");
                completion.length = static_cast<int64_t>(length);
            }
            prompt.completions.push_back(std::move(completion));
        }
        samples.prompts.push_back(std::move(prompt));
    }
    return samples;
}

// nlohmann's messages start with "[json.exception.parse_error.101] ": the reader needs the rest.
std::string without_prefix(const std::string& message) {
    const size_t end = message.rfind("] ", 40);
    return message.rfind("[json.exception", 0) == 0 && end != std::string::npos ? message.substr(end + 2) : message;
}

}  // namespace

std::vector<double> RunLog::scalar(const std::string& key) const {
    auto it = scalars.find(key);
    return it != scalars.end() ? it->second : std::vector<double>(steps.size(), NAN);
}

RunLog load_run_log(const std::string& path) {
    // A regular file of a sane size: a FIFO or a directory is refused before it is opened.
    std::istringstream in(seek::read_regular_file(path, uint64_t{1} << 32));
    RunLog log;
    log.path = path;
    bool kind_known = false;
    std::vector<StepLine> step_lines;
    std::string line;
    for (int64_t number = 1; std::getline(in, line); ++number) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.find_first_not_of(" \t") == std::string::npos) continue;
        ++log.lines;
        try {
            json value;
            try {
                value = json::parse(line);
            } catch (const json::exception& error) {
                throw LineError("not JSON: " + without_prefix(error.what()));
            }
            if (!value.is_object()) throw LineError("not a JSON object");
            LogKind kind;
            if (value.contains("kind"))
                kind = LogKind::Grpo;
            else if (value.contains("loss") || value.contains("main_loss"))
                kind = LogKind::Train;
            else
                throw LineError("neither a grpo.jsonl line (no \"kind\") nor a train.jsonl line (no \"loss\")");
            if (kind_known && kind != log.kind)
                throw LineError(std::string("a ") + (kind == LogKind::Grpo ? "grpo.jsonl" : "train.jsonl") +
                                " line in a " + (log.kind == LogKind::Grpo ? "grpo.jsonl" : "train.jsonl") + " log");
            if (kind == LogKind::Train) {
                step_lines.push_back(read_step(value));
            } else {
                const std::string what = text(value, "kind", "");
                if (what == "step")
                    step_lines.push_back(read_step(value));
                else if (what == "samples")
                    log.samples.push_back(read_samples(value));
                else
                    throw LineError("\"kind\" is \"" + what + "\": expected \"step\" or \"samples\"");
            }
            log.kind = kind;
            kind_known = true;
        } catch (const LineError& error) {
            // A binary file's bytes end up in the parser's message: keep it printable and short.
            std::string why = error.what();
            for (char& c : why)
                if (static_cast<unsigned char>(c) < 32 || static_cast<unsigned char>(c) > 126) c = '?';
            if (why.size() > 200) why = why.substr(0, 200) + "...";
            log.problems.push_back(path + ":" + std::to_string(number) + ": " + why);
        }
    }

    std::stable_sort(step_lines.begin(), step_lines.end(),
                     [](const StepLine& a, const StepLine& b) { return a.step < b.step; });
    std::stable_sort(log.samples.begin(), log.samples.end(),
                     [](const LogSamples& a, const LogSamples& b) { return a.step < b.step; });
    const size_t n = step_lines.size();
    for (size_t i = 0; i < n; ++i) {
        const StepLine& s = step_lines[i];
        log.steps.push_back(static_cast<double>(s.step));
        for (const auto& [key, value] : s.scalars) {
            std::vector<double>& series = log.scalars[key];
            series.resize(n, NAN);
            series[i] = value;
        }
        for (const auto& [key, values] : s.arrays) {
            std::vector<std::vector<double>>& series = log.arrays[key];
            series.resize(n);
            series[i] = values;
        }
    }
    return log;
}

}  // namespace seek::viewer
