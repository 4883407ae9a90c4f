#include "args.h"

#include <cstdio>
#include <cstdlib>
#include <cctype>
#include <cmath>
#include <cstring>
#include <algorithm>
#include <sstream>

namespace seek {

int64_t parse_bytes(const std::string& text, const std::string& what) {
    size_t used = 0;
    double value = 0;
    try {
        value = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    const std::string suffix = text.substr(used);
    const char* const units = "KMGT";
    double scale = 1;
    if (suffix.size() == 1 || (suffix.size() == 2 && (suffix[1] == 'B' || suffix[1] == 'b'))) {
        const char* unit = std::strchr(units, std::toupper(static_cast<unsigned char>(suffix[0])));
        if (!unit) used = 0;
        else scale = std::pow(1024.0, static_cast<double>(unit - units + 1));
    } else if (!suffix.empty()) {
        used = 0;
    }
    if (used == 0 || !(value > 0) || value * scale > 1e18)
        throw UsageError(what + ": '" + text + "' is not a size such as 16G, 512M or 4096");
    return static_cast<int64_t>(value * scale);
}

std::vector<std::string> comma_items(const std::string& text) {
    std::vector<std::string> items;
    size_t start = 0;
    while (true) {
        const size_t comma = text.find(',', start);
        items.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
        if (comma == std::string::npos) return items;
        start = comma + 1;
    }
}

int64_t parse_count(const std::string& text, const std::string& what) {
    if (text.empty()) throw UsageError(what + ": expected a number, got nothing");
    int64_t multiplier = 1;
    std::string digits = text;
    char last = digits.back();
    if (last == 'k' || last == 'K') multiplier = 1024;
    if (last == 'm' || last == 'M') multiplier = 1024 * 1024;
    if (multiplier != 1) digits.pop_back();
    char* end = nullptr;
    errno = 0;
    long long value = std::strtoll(digits.c_str(), &end, 10);
    if (digits.empty() || *end != '\0' || errno != 0)
        throw UsageError(what + ": expected an integer (optionally with k or m), got '" + text + "'");
    return static_cast<int64_t>(value) * multiplier;
}

UsageError missing_option(const std::string& name, const std::string& value_name, const std::string& why) {
    return UsageError("missing required option --" + name + (value_name.empty() ? "" : " " + value_name) +
                      (why.empty() ? "" : ": " + why) + " (see --help)");
}

std::string ParsedArgs::str(const std::string& name) const {
    auto it = values.find(name);
    if (it == values.end()) throw missing_option(name);
    return it->second;
}

int64_t ParsedArgs::integer(const std::string& name) const { return parse_count(str(name), "--" + name); }

double ParsedArgs::number(const std::string& name) const {
    const std::string text = str(name);
    char* end = nullptr;
    double value = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0') throw UsageError("--" + name + ": expected a number, got '" + text + "'");
    return value;
}

// "seek info", or "seekscope" for a program without subcommands.
static std::string command_line(const CommandSpec& spec) {
    return spec.name.empty() ? spec.program : spec.program + " " + spec.name;
}

std::string help_text(const CommandSpec& spec) {
    std::ostringstream out;
    out << "usage: " << command_line(spec);
    if (!spec.options.empty()) out << " [options]";
    if (!spec.positional.empty()) out << " " << spec.positional;
    out << "\n\n" << spec.summary << "\n";
    if (!spec.description.empty()) out << "\n" << spec.description << "\n";
    out << "\noptions:\n";
    std::vector<std::pair<std::string, std::string>> rows;
    for (const Option& option : spec.options) {
        std::string left = "--" + option.name + (option.value_name.empty() ? "" : " " + option.value_name);
        std::string right = option.help;
        if (option.required) right += " (required)";
        if (!option.default_value.empty()) right += " (default: " + option.default_value + ")";
        rows.emplace_back(left, right);
    }
    rows.emplace_back("--help", "show this help and exit");
    size_t width = 0;
    for (auto& row : rows) width = std::max(width, row.first.size());
    for (auto& row : rows) out << "  " << row.first << std::string(width - row.first.size() + 2, ' ') << row.second << "\n";
    return out.str();
}

bool wants_help(const CommandSpec& spec, int argc, char** argv) {
    for (int i = 0; i < argc; ++i) {
        if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
            std::fputs(help_text(spec).c_str(), stdout);
            return true;
        }
    }
    return false;
}

static const Option* find_option(const CommandSpec& spec, const std::string& name) {
    for (const Option& option : spec.options)
        if (option.name == name) return &option;
    return nullptr;
}

void require_option(const CommandSpec& spec, const ParsedArgs& args, const std::string& name, const std::string& why) {
    if (args.flag(name)) return;
    const Option* option = find_option(spec, name);
    throw missing_option(name, option ? option->value_name : "", why);
}

// Levenshtein distance, one row at a time.
static size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            const size_t above = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string closest_name(const std::string& name, const std::vector<std::string>& candidates) {
    std::string best;
    size_t best_distance = std::max<size_t>(2, name.size() / 3) + 1;
    for (const std::string& candidate : candidates) {
        if (name.size() >= 3 && candidate.compare(0, name.size(), name) == 0) return candidate;  // --pre -> --preset
        const size_t distance = edit_distance(name, candidate);
        if (distance < best_distance) {
            best = candidate;
            best_distance = distance;
        }
    }
    return best;
}

ParsedArgs parse_args(const CommandSpec& spec, int argc, char** argv) {
    ParsedArgs parsed;
    for (const Option& option : spec.options)
        if (!option.default_value.empty()) parsed.values[option.name] = option.default_value;

    for (int i = 0; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
            std::string name = arg.substr(2), value;
            bool inline_value = false;
            if (size_t eq = name.find('='); eq != std::string::npos) {
                value = name.substr(eq + 1);
                name = name.substr(0, eq);
                inline_value = true;
            }
            const Option* option = find_option(spec, name);
            if (!option) {
                std::vector<std::string> names;
                for (const Option& known : spec.options) names.push_back(known.name);
                const std::string suggestion = closest_name(name, names);
                throw UsageError("unknown option --" + name +
                                 (suggestion.empty() ? " (see --help)" : "; did you mean --" + suggestion + "?"));
            }
            if (option->value_name.empty()) {
                if (inline_value) throw UsageError("--" + name + " takes no value");
                parsed.values[name] = "1";
            } else if (!inline_value) {
                if (i + 1 >= argc) throw UsageError("--" + name + " needs a value (" + option->value_name + ")");
                value = argv[++i];
            }
            if (!option->value_name.empty()) parsed.values[name] = value;
            parsed.given.insert(name);
        } else {
            parsed.positional.push_back(arg);
        }
    }
    if (parsed.positional.size() < spec.min_positional || parsed.positional.size() > spec.max_positional) {
        if (spec.max_positional == 0)
            throw UsageError("unexpected argument '" + parsed.positional.front() + "' (see --help)");
        throw UsageError("expected " + spec.positional + " (see --help)");
    }
    for (const Option& option : spec.options)
        if (option.required) require_option(spec, parsed, option.name);
    return parsed;
}

}  // namespace seek
