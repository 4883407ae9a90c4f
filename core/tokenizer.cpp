#include "tokenizer.h"

#include <cstdio>
#include <stdexcept>

namespace seek {

const std::vector<std::string>& special_tokens() {
    static const std::vector<std::string> tokens = {"<pad>",   "<bos>",    "<eos>",    "<think>",
                                                    "</think>", "<answer>", "</answer>"};
    return tokens;
}

static bool is_plain_char(unsigned char c) { return c == '\n' || (c >= 32 && c <= 126); }

std::vector<int32_t> encode_text(const std::string& text) {
    std::vector<int32_t> tokens;
    size_t i = 0;
    while (i < text.size()) {
        bool matched = false;
        if (text[i] == '<') {
            const auto& specials = special_tokens();
            for (size_t id = 0; id < specials.size() && !matched; ++id) {
                if (text.compare(i, specials[id].size(), specials[id]) == 0) {
                    tokens.push_back(static_cast<int32_t>(id));
                    i += specials[id].size();
                    matched = true;
                }
            }
        }
        if (matched) continue;
        const unsigned char c = static_cast<unsigned char>(text[i]);
        if (!is_plain_char(c)) {
            char shown[8];
            std::snprintf(shown, sizeof shown, "\\x%02x", c);
            throw std::runtime_error("unknown character '" + std::string(shown) + "' at byte " + std::to_string(i) +
                                     " of the text (the toy tokenizer knows printable ASCII, newline and "
                                     "<bos> <eos> <think> </think> <answer> </answer>)");
        }
        tokens.push_back(c);
        ++i;
    }
    return tokens;
}

std::string token_text(int32_t token) {
    const auto& specials = special_tokens();
    if (token >= 0 && token < static_cast<int32_t>(specials.size())) return specials[token];
    if (token == '\n') return "\\n";
    if (token >= 32 && token <= 126) return std::string(1, static_cast<char>(token));
    return "<" + std::to_string(token) + ">";
}

std::string decode_tokens(const std::vector<int32_t>& tokens) {
    std::string text;
    for (int32_t token : tokens) text += token == '\n' ? "\n" : token_text(token);
    return text;
}

}  // namespace seek
