#include "tokenizer.h"

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "bpe.h"

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

std::vector<int32_t> CheckpointTokenizer::encode_prompt(const std::string& prompt, const std::string& option) const {
    const std::string where = option.empty() ? "" : option + ": ";
    try {
        if (!bpe) return encode_text(prompt.rfind("<bos>", 0) == 0 ? prompt : "<bos>" + prompt);
    } catch (const std::runtime_error& error) {
        throw std::runtime_error(where + error.what());
    }
    if (invalid_utf8_offset(prompt) != std::string::npos)
        throw std::runtime_error(where + "not valid UTF-8 at byte " + std::to_string(invalid_utf8_offset(prompt)));
    std::vector<int32_t> ids;
    if (bpe->bos_id >= 0) ids.push_back(bpe->bos_id);
    for (int32_t id : bpe_encode(*bpe, prompt)) ids.push_back(id);
    return ids;
}

std::string CheckpointTokenizer::piece(int32_t id) const {
    if (!bpe) return token_text(id);
    // A model's vocab_size can exceed its tokenizer's ids (V3: 129,280 rows, the last ones padding
    // no text maps to); the model may still rank such an id among its next tokens.
    if (!bpe->token_bytes.count(id)) return "<id " + std::to_string(id) + ": no token in tokenizer.json>";
    return printable_bytes(bpe_decode(*bpe, {id}));
}

CheckpointTokenizer checkpoint_tokenizer(const std::string& directory) {
    namespace fs = std::filesystem;
    CheckpointTokenizer tokenizer;
    const fs::path folder(directory);
    if (fs::exists(folder / "tokenizer.json")) {
        const fs::path config = folder / "tokenizer_config.json";
        tokenizer.bpe = std::make_shared<const BpeTokenizer>(
            load_bpe_tokenizer((folder / "tokenizer.json").string(), fs::exists(config) ? config.string() : ""));
    }
    return tokenizer;
}

}  // namespace seek
