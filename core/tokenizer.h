// The toy model's character tokenizer: printable ASCII and newline map to their own byte values
// (so ids are readable: 'A' is 65), special tokens take the low ids that ASCII control characters
// would have used. Anything else is an error, never a silent <unk>.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace seek {

constexpr int32_t kPadToken = 0;
constexpr int32_t kBosToken = 1;
constexpr int32_t kEosToken = 2;
constexpr int32_t kToyVocabSize = 128;

// <pad> <bos> <eos> <think> </think> <answer> </answer> are ids 0..6; written literally in a
// text, each encodes as one token.
const std::vector<std::string>& special_tokens();

// Throws "unknown character '\xc3' at byte 4 of the prompt (the toy tokenizer knows printable ASCII,
// newline and <bos> <eos> <think> </think> <answer> </answer>)".
std::vector<int32_t> encode_text(const std::string& text);
std::string decode_tokens(const std::vector<int32_t>& tokens);
std::string token_text(int32_t token);  // one token, printable: "a", "\\n", "<think>"

struct BpeTokenizer;  // bpe.h

// A checkpoint folder's tokenizer: DeepSeek's BPE from DIR/tokenizer.json (with the BOS that
// tokenizer_config.json names) when the folder has one, the toy's character tokenizer otherwise.
// `seek step`, `seek route` and the viewer all read a checkpoint's prompt through it.
struct CheckpointTokenizer {
    std::shared_ptr<const BpeTokenizer> bpe;  // null: the toy's tokenizer
    // The prompt's ids with BOS in front (the toy's <bos> unless the prompt starts with it); an
    // unknown character or invalid UTF-8 throws a runtime_error starting with "`option`: " (nothing when empty).
    std::vector<int32_t> encode_prompt(const std::string& prompt, const std::string& option) const;
    std::string piece(int32_t id) const;  // one token, printable
};
// Errors (a malformed tokenizer.json) name the file and field.
CheckpointTokenizer checkpoint_tokenizer(const std::string& directory);

}  // namespace seek
