// Command-line parsing shared by `seek` and `seekscope`: declared options, generated --help,
// and UsageError (exit status 2) for anything the command does not understand. The programs print
// a UsageError after their own name ("seek info: ..."), so its message never starts with one.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace seek {

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Option {
    std::string name;           // without the leading dashes: "preset"
    std::string value_name;     // "NAME"; empty for a flag that takes no value
    std::string help;
    std::string default_value;  // shown in --help; empty = no default
    bool required = false;      // parse_args refuses a command line without it; --help says "required"
};

struct CommandSpec {
    std::string name;         // "info", "fp8 quant", ...
    std::string summary;      // one line, shown in `seek --help`
    std::string description;  // paragraphs shown in `seek NAME --help`
    std::vector<Option> options;
    std::string positional;   // e.g. "A B" for compare; empty = none allowed
    size_t min_positional = 0;
    size_t max_positional = 0;
    std::string program = "seek";  // the executable: "seek", or "seekscope" (whose spec name is "")
};

struct ParsedArgs {
    std::map<std::string, std::string> values;  // options given or defaulted
    std::set<std::string> given;                // options that appeared on the command line
    std::vector<std::string> positional;

    bool has(const std::string& name) const { return values.count(name) != 0; }
    bool flag(const std::string& name) const { return given.count(name) != 0; }
    std::string str(const std::string& name) const;  // throws UsageError (missing_option) when absent
    int64_t integer(const std::string& name) const;  // accepts k/m suffixes: 128k = 131072
    double number(const std::string& name) const;
    // The value of --name through a parser of names (precision_from_name, task_from_name, ...):
    // whatever the parser throws becomes a UsageError naming the option, so a bad value always
    // exits 2, whichever parser refused it.
    template <typename Parse>
    auto choice(const std::string& name, Parse parse) const -> decltype(parse(std::string())) {
        const std::string text = str(name);
        try {
            return parse(text);
        } catch (const std::exception& error) {
            throw UsageError("--" + name + ": " + error.what());
        }
    }
};

// Returns true when --help was asked for (the help text was printed and the caller exits 0).
bool wants_help(const CommandSpec& spec, int argc, char** argv);
// argv[0] is the first argument after the subcommand name(s).
ParsedArgs parse_args(const CommandSpec& spec, int argc, char** argv);
std::string help_text(const CommandSpec& spec);

// The one wording for an option a command cannot run without:
// "missing required option --model DIR: the model to start from (see --help)".
UsageError missing_option(const std::string& name, const std::string& value_name = "", const std::string& why = "");
// Throws missing_option unless --name was given (for options required only in some modes, e.g.
// `seek grpo --model` unless --resume); `why` is appended in parentheses when not empty.
void require_option(const CommandSpec& spec, const ParsedArgs& args, const std::string& name, const std::string& why = "");

// The candidate closest to a mistyped `name` (edit distance at most 2, or at most a third of its
// length for long names, or a candidate it is a prefix of); empty when none is close.
std::string closest_name(const std::string& name, const std::vector<std::string>& candidates);

// "a,b,,c" -> {"a", "b", "", "c"}: every item of a comma-separated list, empty ones included so
// that the caller can refuse them; "" -> {""}.
std::vector<std::string> comma_items(const std::string& text);

// "128k" -> 131072, "4096" -> 4096, "1m" -> 1048576; throws UsageError naming `what`.
int64_t parse_count(const std::string& text, const std::string& what);
// "16G" -> 17179869184, "512M", "4096": bytes with an optional K, M, G or T suffix (powers of
// 1024, a B after it allowed); throws UsageError "`what`: 'lots' is not a size such as 16G, ...".
int64_t parse_bytes(const std::string& text, const std::string& what);

}  // namespace seek
