// DeepSeek's tokenizer: byte-level BPE as Hugging Face's tokenizers library runs it, read from a
// `tokenizer.json` (and `tokenizer_config.json` for the BOS token). The toy model's character
// tokenizer is core/tokenizer; this one is for real checkpoints.
//
// encode(text), step by step, the way the HF library does it:
//   1. added tokens: the file's `added_tokens` are cut out of the text first (leftmost-longest;
//      tokens with normalized=false in a first pass, the others in a second), each one id;
//   2. pre-tokenizer: every `Split` of the file's `Sequence`, in order, cuts each remaining piece
//      with its regex (PCRE2, Unicode properties on) and keeps, drops or merges the matches as its
//      `behavior` says; then `ByteLevel` maps every byte of a piece to one character (GPT-2's
//      byte-to-unicode table: printable bytes stand for themselves, the others move to U+0100..);
//   3. model: each piece becomes one symbol per byte, and BPE merges adjacent pairs, always the
//      pair of lowest rank in `model.merges` first (leftmost among equals), until none applies.
// decode(ids) maps each token's characters back to bytes (the ByteLevel decoder).
//
// Input that is not valid UTF-8 (HF's library cannot be given it: it takes a Rust &str) is still
// encoded, never a crash: the regexes never match an invalid byte, so each such byte falls
// between matches and is byte-level encoded like any other. decode(encode(bytes)) == bytes for
// any bytes. `seek tokenize` refuses such text with an error instead, since it is rarely meant.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace seek {

// An entry of tokenizer.json's `added_tokens`: matched in the text before anything else.
struct AddedToken {
    int32_t id = 0;
    std::string content;
    bool special = false;      // skipped by decode(..., skip_special = true)
    bool normalized = true;    // matched after normalization (second pass) rather than before
    bool lstrip = false;       // the match takes the whitespace on its left
    bool rstrip = false;       // ... and on its right
    bool single_word = false;  // only where no word character touches it
};

// How a `Split` pre-tokenizer treats the pieces its pattern matches (HF's SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct CompiledRegex;   // PCRE2, compiled once at load (bpe.cpp)
struct AddedTokenTrie;  // the added tokens' contents, for leftmost-longest matching (bpe.cpp)

// One step of the pre-tokenizer: a `Split` (regex or literal string) or the final `ByteLevel`.
struct PreTokenizerStep {
    enum Kind { Split, ByteLevel } kind = Split;
    std::string pattern;  // the regex as the file gives it (a literal "String" pattern, escaped)
    SplitBehavior behavior = SplitBehavior::Isolated;
    bool invert = false;
    bool add_prefix_space = false;  // ByteLevel: prepend ' ' to every piece not starting with one
    std::shared_ptr<const CompiledRegex> regex;  // Split, or ByteLevel with use_regex (GPT-2's)
};

struct BpeMerge {
    int32_t rank;    // position in model.merges: lower merges first
    int32_t merged;  // id of the concatenated token
};

struct BpeWordCache;  // words already encoded, shared by copies of a tokenizer (bpe.cpp)

struct BpeTokenizer {
    std::string source;  // the tokenizer.json it was read from, for error messages

    std::unordered_map<std::string, int32_t> vocab;  // model.vocab: byte-level text -> id
    std::unordered_map<uint64_t, BpeMerge> merges;   // (left id << 32 | right id) -> merge
    std::vector<AddedToken> added_tokens;
    std::vector<PreTokenizerStep> pre_tokenizer;
    bool ignore_merges = false;  // a piece that is itself a vocab entry is that one token
    int32_t unk_id = -1;         // model.unk_token, for bytes whose character is not in the vocab
    bool fuse_unk = false;

    std::array<int32_t, 256> byte_token{};                  // id of each byte's character, or -1
    std::unordered_map<int32_t, std::string> token_bytes;   // id -> the bytes it decodes to
    std::unordered_map<int32_t, size_t> added_index;        // id -> index in added_tokens

    // From tokenizer_config.json, when there is one.
    std::string config_source;
    std::string bos_token;   // "" = none named
    int32_t bos_id = -1;
    bool add_bos_token = false;

    // The added tokens to match before normalization ([0]: normalized=false) and after ([1]).
    std::shared_ptr<const AddedTokenTrie> added_tries[2];
    std::shared_ptr<BpeWordCache> cache;
};

// Reads tokenizer.json; config_path ("" = none) is tokenizer_config.json. Throws
// std::runtime_error naming the file and field: "tokenizer.json: pre_tokenizer.pretokenizers[3]:
// unsupported pre-tokenizer type 'Metaspace'", "model.merges[17]: 'ab' is not in model.vocab".
BpeTokenizer load_bpe_tokenizer(const std::string& tokenizer_path, const std::string& config_path = "");

// The ids of text, without BOS (as HF's library gives them; prepend tokenizer.bos_id for BOS).
std::vector<int32_t> bpe_encode(const BpeTokenizer& tokenizer, const std::string& text);

// The bytes the ids stand for. Throws std::out_of_range naming an id that is no token.
std::string bpe_decode(const BpeTokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip_special = false);

// The pieces the pre-tokenizer cuts text into (added tokens among them), as raw bytes, before
// the byte-level map and BPE: what the merges then work on.
std::vector<std::string> bpe_pre_tokenize(const BpeTokenizer& tokenizer, const std::string& text);

// GPT-2's byte-to-unicode table, which the ByteLevel pre-tokenizer and decoder use.
const std::array<char32_t, 256>& byte_to_unicode();

// Bytes shown readably: valid UTF-8 as it is, '\\' as "\\\\", "\n" "\r" "\t" as escapes, and any
// other control byte or byte that is not part of valid UTF-8 as "\xNN".
std::string printable_bytes(const std::string& bytes);

// The byte offset of the first invalid UTF-8 sequence, or std::string::npos when there is none.
size_t invalid_utf8_offset(const std::string& text);

}  // namespace seek
