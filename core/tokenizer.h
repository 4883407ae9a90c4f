// The toy model's character tokenizer: printable ASCII and newline map to their own byte values
// (so ids are readable: 'A' is 65), special tokens take the low ids that ASCII control characters
// would have used. Anything else is an error, never a silent <unk>.
#pragma once

#include <cstdint>
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

}  // namespace seek
