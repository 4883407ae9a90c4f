// Command-line parsing shared by `seek` and `seekscope`: declared options, generated --help,
// and UsageError (exit status 2) for anything the command does not understand.
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
    std::string str(const std::string& name) const;  // throws UsageError when absent
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

// "128k" -> 131072, "4096" -> 4096, "1m" -> 1048576; throws UsageError naming `what`.
int64_t parse_count(const std::string& text, const std::string& what);

}  // namespace seek
