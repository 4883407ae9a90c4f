#include "bpe.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <optional>
#include <queue>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

namespace seek {

using nlohmann::json;

// ---------------------------------------------------------------------------------------------
// UTF-8

// Length of the valid UTF-8 sequence starting at text[i], or 0 when the bytes there are not one
// (overlong forms, surrogates and code points past U+10FFFF are invalid, as in Rust's &str).
static size_t utf8_length(const std::string& text, size_t i, char32_t* code_point = nullptr) {
    const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
    const unsigned char lead = byte(i);
    size_t length;
    char32_t cp;
    if (lead < 0x80) {
        if (code_point) *code_point = lead;
        return 1;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2, cp = lead & 0x1F;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3, cp = lead & 0x0F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4, cp = lead & 0x07;
    } else {
        return 0;
    }
    if (i + length > text.size()) return 0;
    for (size_t k = 1; k < length; ++k) {
        if ((byte(i + k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (byte(i + k) & 0x3F);
    }
    if ((length == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (length == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    if (code_point) *code_point = cp;
    return length;
}

static void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out += static_cast<char>(cp);
    } else if (cp < 0x800) {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += static_cast<char>(0xE0 | (cp >> 12));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
        out += static_cast<char>(0xF0 | (cp >> 18));
        out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
        out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out += static_cast<char>(0x80 | (cp & 0x3F));
    }
}

size_t invalid_utf8_offset(const std::string& text) {
    for (size_t i = 0; i < text.size();) {
        const size_t length = utf8_length(text, i);
        if (length == 0) return i;
        i += length;
    }
    return std::string::npos;
}

std::string printable_bytes(const std::string& bytes) {
    std::string out;
    for (size_t i = 0; i < bytes.size();) {
        const unsigned char c = static_cast<unsigned char>(bytes[i]);
        const size_t length = utf8_length(bytes, i);
        char escape[8];
        if (c == '\\') out += "\\\\";
        else if (c == '\n') out += "\\n";
        else if (c == '\r') out += "\\r";
        else if (c == '\t') out += "\\t";
        else if (length == 0 || c < 0x20 || c == 0x7F) {
            std::snprintf(escape, sizeof escape, "\\x%02X", c);
            out += escape;
        } else {
            out.append(bytes, i, length);
            i += length;
            continue;
        }
        ++i;
    }
    return out;
}

// ---------------------------------------------------------------------------------------------
// ByteLevel: GPT-2's byte-to-unicode table (openai/gpt-2 encoder.py, bytes_to_unicode). The 188
// printable bytes '!'..'~', '¡'..'¬', '®'..'ÿ' stand for themselves; the other 68 (controls,
// space, DEL, NBSP, soft hyphen, ...) take U+0100, U+0101, ... in byte order, so that every
// byte is a visible character and a space shows as 'Ġ' (U+0120).

const std::array<char32_t, 256>& byte_to_unicode() {
    static const std::array<char32_t, 256> table = [] {
        std::array<char32_t, 256> t{};
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            t[b] = printable ? static_cast<char32_t>(b) : next++;
        }
        return t;
    }();
    return table;
}

static std::string byte_level_text(const std::string& bytes) {
    std::string out;
    out.reserve(bytes.size() * 2);
    for (unsigned char b : bytes) append_utf8(out, byte_to_unicode()[b]);
    return out;
}

// The ByteLevel decoder, one token: its characters mapped back to bytes when every one of them is
// in the table; otherwise (added tokens like "<｜User｜>") the token's own UTF-8 bytes.
static std::string token_text_bytes(const std::string& token) {
    static const std::unordered_map<char32_t, unsigned char> unicode_to_byte = [] {
        std::unordered_map<char32_t, unsigned char> m;
        for (int b = 0; b < 256; ++b) m[byte_to_unicode()[b]] = static_cast<unsigned char>(b);
        return m;
    }();
    std::string bytes;
    for (size_t i = 0; i < token.size();) {
        char32_t cp;
        const size_t length = utf8_length(token, i, &cp);
        auto it = length ? unicode_to_byte.find(cp) : unicode_to_byte.end();
        if (it == unicode_to_byte.end()) return token;
        bytes += static_cast<char>(it->second);
        i += length;
    }
    return bytes;
}

// ---------------------------------------------------------------------------------------------
// Regexes: PCRE2 with UTF and Unicode properties (UCP). MATCH_INVALID_UTF makes any bytes a valid
// subject: an invalid sequence never matches. MULTILINE because HF's library compiles patterns
// with Oniguruma's default (Ruby) syntax, where ^ and $ match at line breaks.
//
// Two differences between PCRE2 and the Oniguruma inside HF's library are mended by rewriting the
// pattern before compiling it:
//  - \s: Oniguruma's is Unicode's White_Space; PCRE2's also takes U+180E MONGOLIAN VOWEL SEPARATOR
//    (white space before Unicode 6.3). \s and \S are spelled out as the White_Space list.
//  - Unicode version: Debian 12's PCRE2 (10.42) has Unicode 14.0 tables, the library's Oniguruma
//    (6.9.10) Unicode 16.0. The code points assigned in between (bpe_unicode.inc, made from the
//    Unicode data on npm) are added to each \p{X} (and \d) they belong to, in a second compiled
//    pattern that runs only on texts that have such a code point.
// Not mended, since no DeepSeek pattern uses them: \w, \b, \h (Oniguruma: a hex digit), nested
// classes, \P{X} or \S inside [...], and the one code point that moved from Mn to Mc.

struct UnicodeAddition {
    char32_t first, last;
    const char* category;  // two letters: "So", "Lo", ...
};
#include "bpe_unicode.inc"

struct CompiledRegex {
    pcre2_code* code = nullptr;         // the pattern, \s as Oniguruma's
    pcre2_code* code_recent = nullptr;  // and with the newer code points in its \p{X}; null: the same
    ~CompiledRegex() {
        pcre2_code_free(code);
        pcre2_code_free(code_recent);
    }
};

static pcre2_code* compile_pcre2(const std::string& pattern, uint32_t options, const std::string& where) {
    int error = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), options, &error,
                                     &error_offset, nullptr);
    if (!code) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        throw std::runtime_error(where + ": cannot compile the pattern at offset " + std::to_string(error_offset) +
                                 ": " + reinterpret_cast<const char*>(message));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // when JIT is unavailable, matching interprets
    return code;
}

// Whether PCRE2's tables are the Unicode version bpe_unicode.inc adds to.
static bool pcre2_needs_additions() {
    static const bool needed = [] {
        char version[32] = {};
        pcre2_config(PCRE2_CONFIG_UNICODE_VERSION, version);
        return std::string(version) == kUnicodeBaseVersion;
    }();
    return needed;
}

static bool is_recent_code_point(char32_t cp) {
    static const std::vector<bool> recent = [] {
        std::vector<bool> table(0x110000);
        for (const UnicodeAddition& a : kUnicodeAdditions)
            for (char32_t c = a.first; c <= a.last; ++c) table[c] = true;
        return table;
    }();
    return cp < recent.size() && recent[cp];
}

static bool has_recent_code_point(const std::string& text) {
    char32_t cp;
    for (size_t i = 0; i < text.size(); ++i)
        if (static_cast<unsigned char>(text[i]) >= 0xE0 && utf8_length(text, i, &cp) && is_recent_code_point(cp))
            return true;
    return false;
}

// The newer code points of general category `name` ("L", "Lo", "Letter", ...) as class ranges
// "\x{1FABF}-\x{1FAC5}..."; "" for a name this does not know.
static std::string recent_ranges(const std::string& name) {
    static const std::vector<std::pair<std::string, std::string>> long_names = {
        {"Letter", "L"}, {"Mark", "M"}, {"Number", "N"}, {"Punctuation", "P"}, {"Symbol", "S"}};
    std::string category = name;
    for (const auto& [long_name, short_name] : long_names)
        if (name == long_name) category = short_name;
    std::string ranges;
    char range[40];
    for (const UnicodeAddition& a : kUnicodeAdditions) {
        if (category.empty() || category.size() > 2 || category.compare(0, category.size(), a.category, category.size()) != 0)
            continue;
        std::snprintf(range, sizeof range, "\\x{%X}-\\x{%X}", static_cast<unsigned>(a.first), static_cast<unsigned>(a.last));
        ranges += range;
    }
    return ranges;
}

// The pattern with \s and \S spelled out as White_Space and, when with_additions, each \p{X},
// \P{X}, \d and \D taking the newer code points of X.
static std::string rewrite_pattern(const std::string& pattern, bool with_additions) {
    static const std::string white_space =
        R"(\t-\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";
    std::string out;
    bool in_class = false;
    for (size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size()) {
            const char escape = pattern[i + 1];
            if (escape == 'Q') {  // \Q...\E: literal text
                const size_t end = pattern.find("\\E", i + 2);
                const size_t stop = end == std::string::npos ? pattern.size() : end + 2;
                out.append(pattern, i, stop - i);
                i = stop - 1;
                continue;
            }
            if (escape == 's' || (escape == 'S' && !in_class)) {
                out += in_class ? white_space : (escape == 's' ? "[" : "[^") + white_space + "]";
                ++i;
                continue;
            }
            std::string name, original;  // \p{Name}, \pL, \d
            bool negated = false;
            size_t end = i + 1;
            if ((escape == 'p' || escape == 'P') && i + 2 < pattern.size()) {
                if (pattern[i + 2] == '{') {
                    const size_t close = pattern.find('}', i + 3);
                    if (close != std::string::npos) {
                        name = pattern.substr(i + 3, close - i - 3);
                        end = close;
                    }
                } else {
                    name = pattern.substr(i + 2, 1);
                    end = i + 2;
                }
                negated = escape == 'P';
                if (!name.empty() && name[0] == '^') negated = !negated, name.erase(0, 1);
                original = "\\p{" + name + "}";
            } else if (escape == 'd' || escape == 'D') {
                name = "Nd";
                negated = escape == 'D';
                original = "\\d";
            }
            const std::string ranges = with_additions && !name.empty() ? recent_ranges(name) : "";
            if (ranges.empty() || (in_class && negated)) {
                out.append(pattern, i, 2);
                ++i;
                continue;
            }
            out += in_class ? original + ranges : (negated ? "[^" : "[") + original + ranges + "]";
            i = end;
            continue;
        }
        out += c;
        if (c == '[' && !in_class) {
            in_class = true;
            if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
            if (i + 1 < pattern.size() && pattern[i + 1] == ']') out += pattern[++i];  // a literal ] first
        } else if (c == '[' && in_class && i + 1 < pattern.size() && pattern[i + 1] == ':') {
            const size_t close = pattern.find(":]", i + 2);  // [:alpha:]
            if (close != std::string::npos) {
                out.append(pattern, i + 1, close + 2 - (i + 1));
                i = close + 1;
            }
        } else if (c == ']' && in_class) {
            in_class = false;
        }
    }
    return out;
}

static std::shared_ptr<const CompiledRegex> compile_regex(const std::string& pattern, bool literal,
                                                         const std::string& where) {
    const uint32_t options = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF;
    auto regex = std::make_shared<CompiledRegex>();
    if (literal) {
        regex->code = compile_pcre2(pattern, (options & ~PCRE2_UCP) | PCRE2_LITERAL, where);  // UCP is meaningless there
        return regex;
    }
    pcre2_code_free(compile_pcre2(pattern, options | PCRE2_MULTILINE, where));  // errors at the file's offsets
    const std::string base = rewrite_pattern(pattern, false);
    regex->code = compile_pcre2(base, options | PCRE2_MULTILINE, where + " (as rewritten: " + base + ")");
    if (pcre2_needs_additions()) {
        const std::string recent = rewrite_pattern(pattern, true);
        if (recent != base)
            regex->code_recent = compile_pcre2(recent, options | PCRE2_MULTILINE, where + " (as rewritten: " + recent + ")");
    }
    return regex;
}

// One match data and JIT stack per thread, reused for every search.
struct MatchScratch {
    pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
    pcre2_jit_stack* jit_stack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, nullptr);
    pcre2_match_context* context = pcre2_match_context_create(nullptr);
    MatchScratch() {
        if (!data || !jit_stack || !context) throw std::bad_alloc();
        pcre2_jit_stack_assign(context, nullptr, jit_stack);
    }
    ~MatchScratch() {
        pcre2_match_context_free(context);
        pcre2_jit_stack_free(jit_stack);
        pcre2_match_data_free(data);
    }
};

static MatchScratch& match_scratch() {
    thread_local MatchScratch scratch;
    return scratch;
}

// The (start, end) byte ranges of regex's matches in text, as Oniguruma's find_iter reports them:
// each search starts where the last match ended; an empty match right where the last one ended is
// skipped by moving one character on.
static std::vector<std::pair<size_t, size_t>> find_all(const CompiledRegex& regex, const std::string& text,
                                                       bool recent) {
    pcre2_code* code = recent && regex.code_recent ? regex.code_recent : regex.code;
    MatchScratch& scratch = match_scratch();
    std::vector<std::pair<size_t, size_t>> matches;
    size_t search_from = 0;
    std::optional<size_t> last_match_end;
    while (search_from <= text.size()) {
        const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), search_from, 0,
                                   scratch.data, scratch.context);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR message[256];
            pcre2_get_error_message(rc, message, sizeof message);
            throw std::runtime_error(std::string("tokenizer regex: ") + reinterpret_cast<const char*>(message));
        }
        const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(scratch.data);
        const size_t start = ovector[0], end = ovector[1];
        if (start == end && last_match_end == end) {
            if (search_from >= text.size()) break;
            search_from += std::max<size_t>(1, utf8_length(text, search_from));
            continue;
        }
        matches.emplace_back(start, end);
        search_from = end;
        last_match_end = end;
    }
    return matches;
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenization. A piece is either text still to be cut or an added token already found.

struct Piece {
    std::string text;
    int32_t added_id = -1;
};

// HF's NormalizedString::split: the pattern's matches and the gaps between them, then merged or
// dropped as `behavior` says; empty pieces are dropped.
static void split_piece(const PreTokenizerStep& step, const std::string& text, bool recent, std::vector<Piece>& out) {
    struct Span {
        size_t start, end;
        bool is_match;
    };
    std::vector<Span> spans;
    size_t previous = 0;
    for (const auto& [start, end] : find_all(*step.regex, text, recent)) {
        if (previous != start) spans.push_back({previous, start, step.invert});
        spans.push_back({start, end, !step.invert});
        previous = end;
    }
    if (previous != text.size()) spans.push_back({previous, text.size(), step.invert});

    std::vector<Span> kept;  // is_match now means "remove"
    bool previous_match = false;
    switch (step.behavior) {
        case SplitBehavior::Isolated:
            for (Span s : spans) kept.push_back({s.start, s.end, false});
            break;
        case SplitBehavior::Removed:
            kept = spans;
            break;
        case SplitBehavior::Contiguous:
            for (const Span& s : spans) {
                if (s.is_match == previous_match && !kept.empty()) kept.back().end = s.end;
                else kept.push_back({s.start, s.end, false});
                previous_match = s.is_match;
            }
            break;
        case SplitBehavior::MergedWithPrevious:
            for (const Span& s : spans) {
                if (s.is_match && !previous_match && !kept.empty()) kept.back().end = s.end;
                else kept.push_back({s.start, s.end, false});
                previous_match = s.is_match;
            }
            break;
        case SplitBehavior::MergedWithNext:
            for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
                if (it->is_match && !previous_match && !kept.empty()) kept.back().start = it->start;
                else kept.push_back({it->start, it->end, false});
                previous_match = it->is_match;
            }
            std::reverse(kept.begin(), kept.end());
            break;
    }
    for (const Span& s : kept)
        if (!s.is_match && s.end > s.start) out.push_back({text.substr(s.start, s.end - s.start)});
}

// The added tokens' contents in a byte trie: at each position, the longest one that starts there.
struct AddedTokenTrie {
    struct Node {
        std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
        int32_t token = -1;                                      // index into added_tokens
    };
    std::vector<Node> nodes = std::vector<Node>(1);

    void insert(const std::string& content, int32_t token) {
        int32_t node = 0;
        for (unsigned char c : content) {
            auto& children = nodes[node].children;
            auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(c, int32_t{-1}));
            if (it != children.end() && it->first == c) {
                node = it->second;
                continue;
            }
            const int32_t child = static_cast<int32_t>(nodes.size());
            children.insert(it, {c, child});
            nodes.emplace_back();  // may move `children`: use only the index from here on
            node = child;
        }
        nodes[node].token = token;
    }

    // {token index, end} of the longest content starting at text[start], or {-1, start}.
    std::pair<int32_t, size_t> longest_at(const std::string& text, size_t start) const {
        std::pair<int32_t, size_t> best{-1, start};
        int32_t node = 0;
        for (size_t i = start; i < text.size(); ++i) {
            const auto& children = nodes[node].children;
            const unsigned char c = static_cast<unsigned char>(text[i]);
            auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(c, int32_t{-1}));
            if (it == children.end() || it->first != c) break;
            node = it->second;
            if (nodes[node].token >= 0) best = {nodes[node].token, i + 1};
        }
        return best;
    }
};

// Unicode White_Space (Rust regex's \s, which HF's lstrip/rstrip use).
static bool is_white_space(char32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// Rust regex's Unicode \w, which HF's single_word uses: does a word character start at text[i]?
static bool word_char_at(const std::string& text, size_t i) {
    static const std::shared_ptr<const CompiledRegex> word =
        compile_regex(R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}])", false, "word-character class");
    MatchScratch& scratch = match_scratch();
    return pcre2_match(word->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), i, PCRE2_ANCHORED,
                       scratch.data, scratch.context) >= 0;
}

// Where the character that ends at text[end] starts, or end when the bytes before end are no
// valid character.
static size_t previous_char_start(const std::string& text, size_t end) {
    size_t start = end;
    while (start > 0 && end - start < 4) {
        --start;
        if ((static_cast<unsigned char>(text[start]) & 0xC0) != 0x80) break;
    }
    return start < end && utf8_length(text, start) == end - start ? start : end;
}

static bool word_char_before(const std::string& text, size_t end) {
    const size_t start = previous_char_start(text, end);
    return start < end && word_char_at(text, start);
}

// HF's AddedVocabulary::find_matches: the added tokens in text and the text between them.
static void split_added(const BpeTokenizer& tokenizer, const AddedTokenTrie& trie, const std::string& text,
                        std::vector<Piece>& out) {
    size_t start_offset = 0;
    for (size_t search = 0; search < text.size();) {
        auto [token, stop] = trie.longest_at(text, search);
        if (token < 0) {
            ++search;
            continue;
        }
        size_t start = search;
        search = stop;
        const AddedToken& added = tokenizer.added_tokens[token];
        if (added.single_word) {
            const bool start_space = start == 0 || !word_char_before(text, start);
            const bool stop_space = stop == text.size() || !word_char_at(text, stop);
            if (!start_space || !stop_space) continue;
        }
        if (added.lstrip) {  // the whitespace on the left, not what an earlier match already took
            size_t new_start = start;
            char32_t cp;
            for (size_t k; (k = previous_char_start(text, new_start)) < new_start &&
                           utf8_length(text, k, &cp) && is_white_space(cp);)
                new_start = k;
            start = std::max(new_start, start_offset);
        }
        if (added.rstrip) {
            char32_t cp;
            for (size_t length; stop < text.size() && (length = utf8_length(text, stop, &cp)) && is_white_space(cp);)
                stop += length;
        }
        if (start_offset < start) out.push_back({text.substr(start_offset, start - start_offset)});
        out.push_back({text.substr(start, stop - start), added.id});
        start_offset = stop;
    }
    if (start_offset < text.size()) out.push_back({text.substr(start_offset)});
}

static std::vector<Piece> pre_tokenize(const BpeTokenizer& tokenizer, const std::string& text) {
    const bool recent = pcre2_needs_additions() && has_recent_code_point(text);  // see compile_regex
    std::vector<Piece> pieces{{text}}, next;
    for (const auto& trie : tokenizer.added_tries) {
        if (!trie) continue;
        next.clear();
        for (Piece& piece : pieces) {
            if (piece.added_id >= 0) next.push_back(std::move(piece));
            else split_added(tokenizer, *trie, piece.text, next);
        }
        std::swap(pieces, next);
    }
    for (const PreTokenizerStep& step : tokenizer.pre_tokenizer) {
        next.clear();
        for (Piece& piece : pieces) {
            if (piece.added_id >= 0) {
                next.push_back(std::move(piece));
                continue;
            }
            if (step.kind == PreTokenizerStep::ByteLevel && step.add_prefix_space && piece.text[0] != ' ')
                piece.text.insert(0, 1, ' ');
            if (step.regex) split_piece(step, piece.text, recent, next);
            else next.push_back(std::move(piece));
        }
        std::swap(pieces, next);
    }
    return pieces;
}

std::vector<std::string> bpe_pre_tokenize(const BpeTokenizer& tokenizer, const std::string& text) {
    std::vector<std::string> out;
    if (text.empty()) return out;
    for (Piece& piece : pre_tokenize(tokenizer, text)) out.push_back(std::move(piece.text));
    return out;
}

// ---------------------------------------------------------------------------------------------
// BPE on one piece (HF's Word::merge_all): one symbol per byte in a linked list; a priority queue
// holds every adjacent pair that has a merge, lowest rank first, then leftmost. A popped pair is
// merged unless one of its symbols has changed since it was queued; each merge queues the new
// pairs with its left and right neighbours.

struct BpeWordCache {
    static constexpr size_t kCapacity = 100000;  // words; longer pieces are not kept
    static constexpr size_t kMaxLength = 256;    // bytes
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>> words;
};

static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

static void merge_word(const BpeTokenizer& tokenizer, const std::string& word, std::vector<int32_t>& out) {
    struct Symbol {
        int32_t id;
        int32_t prev, next;
        bool removed;
    };
    std::vector<Symbol> symbols;
    symbols.reserve(word.size());
    // Bytes whose character is not in the vocab: model.unk_token (fused when fuse_unk), or dropped
    // when there is none, as HF's library does.
    bool pending_unk = false;
    const auto push = [&](int32_t id) {
        const int32_t index = static_cast<int32_t>(symbols.size());
        symbols.push_back({id, index - 1, index + 1, false});
    };
    for (unsigned char b : word) {
        const int32_t id = tokenizer.byte_token[b];
        if (id >= 0) {
            if (pending_unk) push(tokenizer.unk_id), pending_unk = false;
            push(id);
        } else if (tokenizer.unk_id >= 0) {
            if (pending_unk && !tokenizer.fuse_unk) push(tokenizer.unk_id);
            pending_unk = true;
        }
    }
    if (pending_unk) push(tokenizer.unk_id);
    if (symbols.empty()) return;
    symbols.back().next = -1;

    struct Candidate {
        int32_t rank, pos, merged;
        bool operator<(const Candidate& other) const {  // std::priority_queue pops the largest
            return rank != other.rank ? rank > other.rank : pos > other.pos;
        }
    };
    std::priority_queue<Candidate> queue;
    const auto find_merge = [&](int32_t left, int32_t right) -> const BpeMerge* {
        auto it = tokenizer.merges.find(pair_key(symbols[left].id, symbols[right].id));
        return it == tokenizer.merges.end() ? nullptr : &it->second;
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(symbols.size()); ++i)
        if (const BpeMerge* m = find_merge(i, i + 1)) queue.push({m->rank, i, m->merged});

    while (!queue.empty()) {
        const Candidate top = queue.top();
        queue.pop();
        Symbol& left = symbols[top.pos];
        if (left.removed || left.next < 0) continue;
        const BpeMerge* current = find_merge(top.pos, left.next);
        if (!current || current->merged != top.merged) continue;  // a stale entry
        Symbol& right = symbols[left.next];
        left.id = top.merged;
        right.removed = true;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = top.pos;
        if (left.prev >= 0)
            if (const BpeMerge* m = find_merge(left.prev, top.pos)) queue.push({m->rank, left.prev, m->merged});
        if (left.next >= 0)
            if (const BpeMerge* m = find_merge(top.pos, left.next)) queue.push({m->rank, top.pos, m->merged});
    }
    for (int32_t i = 0; i >= 0; i = symbols[i].next) out.push_back(symbols[i].id);
}

static void encode_word(const BpeTokenizer& tokenizer, const std::string& word, std::vector<int32_t>& out) {
    if (tokenizer.ignore_merges) {
        auto it = tokenizer.vocab.find(byte_level_text(word));
        if (it != tokenizer.vocab.end()) {
            out.push_back(it->second);
            return;
        }
    }
    BpeWordCache& cache = *tokenizer.cache;
    const bool cacheable = word.size() < BpeWordCache::kMaxLength;
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache.mutex);
        auto it = cache.words.find(word);
        if (it != cache.words.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    const size_t first = out.size();
    merge_word(tokenizer, word, out);
    if (cacheable) {
        std::lock_guard<std::mutex> lock(cache.mutex);
        if (cache.words.size() < BpeWordCache::kCapacity) cache.words.emplace(word, std::vector<int32_t>(out.begin() + first, out.end()));
    }
}

std::vector<int32_t> bpe_encode(const BpeTokenizer& tokenizer, const std::string& text) {
    std::vector<int32_t> ids;
    if (text.empty()) return ids;
    for (const Piece& piece : pre_tokenize(tokenizer, text)) {
        if (piece.added_id >= 0) ids.push_back(piece.added_id);
        else encode_word(tokenizer, piece.text, ids);
    }
    return ids;
}

std::string bpe_decode(const BpeTokenizer& tokenizer, const std::vector<int32_t>& ids, bool skip_special) {
    std::string text;
    for (int32_t id : ids) {
        auto it = tokenizer.token_bytes.find(id);
        if (it == tokenizer.token_bytes.end())
            throw std::out_of_range("token id " + std::to_string(id) + " is not in " + tokenizer.source);
        if (skip_special) {
            auto added = tokenizer.added_index.find(id);
            if (added != tokenizer.added_index.end() && tokenizer.added_tokens[added->second].special) continue;
        }
        text += it->second;
    }
    return text;
}

// ---------------------------------------------------------------------------------------------
// Reading tokenizer.json and tokenizer_config.json

[[noreturn]] static void fail(const std::string& source, const std::string& field, const std::string& message) {
    throw std::runtime_error(source + ": " + (field.empty() ? "" : field + ": ") + message);
}

// "model" + "vocab" -> "model.vocab"; "" + "bos_token" -> "bos_token".
static std::string join(const std::string& path, const char* key) { return path.empty() ? key : path + "." + key; }

static json read_json(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open");
    try {
        return json::parse(in);
    } catch (const json::parse_error& error) {
        throw std::runtime_error(path + ": not valid JSON: " + error.what());
    }
}

// A field of a JSON object: nullptr when absent or null.
static const json* field(const json& object, const char* key) {
    auto it = object.find(key);
    return it == object.end() || it->is_null() ? nullptr : &*it;
}

static bool boolean(const json& object, const char* key, bool fallback, const std::string& source,
                    const std::string& path) {
    const json* value = field(object, key);
    if (!value) return fallback;
    if (!value->is_boolean()) fail(source, join(path, key), std::string("must be true or false, got ") + value->type_name());
    return value->get<bool>();
}

static std::string string_field(const json& object, const char* key, const std::string& source,
                                const std::string& path) {
    const json* value = field(object, key);
    if (!value || !value->is_string()) fail(source, join(path, key), "must be a string");
    return value->get<std::string>();
}

static SplitBehavior split_behavior(const std::string& name, const std::string& source, const std::string& path) {
    if (name == "Removed") return SplitBehavior::Removed;
    if (name == "Isolated") return SplitBehavior::Isolated;
    if (name == "MergedWithPrevious") return SplitBehavior::MergedWithPrevious;
    if (name == "MergedWithNext") return SplitBehavior::MergedWithNext;
    if (name == "Contiguous") return SplitBehavior::Contiguous;
    fail(source, path, "unknown behavior '" + name +
                           "' (Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)");
}

// The pre-tokenizer as a flat list of steps (nested Sequences unrolled, in order).
static void read_pre_tokenizer(const json& node, const std::string& source, const std::string& path,
                               std::vector<PreTokenizerStep>& steps) {
    if (!node.is_object()) fail(source, path, "must be an object");
    const std::string type = string_field(node, "type", source, path);
    if (type == "Sequence") {
        const json* list = field(node, "pretokenizers");
        if (!list || !list->is_array()) fail(source, path + ".pretokenizers", "must be an array");
        for (size_t i = 0; i < list->size(); ++i)
            read_pre_tokenizer((*list)[i], source, path + ".pretokenizers[" + std::to_string(i) + "]", steps);
    } else if (type == "Split") {
        PreTokenizerStep step;
        const json* pattern = field(node, "pattern");
        const bool is_regex = pattern && pattern->is_object() && pattern->contains("Regex");
        const bool is_string = pattern && pattern->is_object() && pattern->contains("String");
        if (!is_regex && !is_string) fail(source, path + ".pattern", "must be {\"Regex\": ...} or {\"String\": ...}");
        step.pattern = string_field(*pattern, is_regex ? "Regex" : "String", source, path + ".pattern");
        step.behavior = split_behavior(string_field(node, "behavior", source, path), source, path + ".behavior");
        step.invert = boolean(node, "invert", false, source, path);
        step.regex = compile_regex(step.pattern, !is_regex, source + ": " + path + ".pattern");
        steps.push_back(std::move(step));
    } else if (type == "ByteLevel") {
        PreTokenizerStep step;
        step.kind = PreTokenizerStep::ByteLevel;
        step.add_prefix_space = boolean(node, "add_prefix_space", true, source, path);
        if (boolean(node, "use_regex", true, source, path)) {
            step.pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";  // GPT-2's
            step.regex = compile_regex(step.pattern, false, source + ": " + path);
        }
        steps.push_back(std::move(step));
    } else {
        fail(source, path + ".type", "unsupported pre-tokenizer type '" + type +
                                         "' (seekscope reads Sequence, Split and ByteLevel, as byte-level BPE uses)");
    }
}

// Normalizers change the text before pre-tokenization; DeepSeek's is an empty Sequence.
static void check_normalizer(const json& node, const std::string& source, const std::string& path) {
    if (node.is_null()) return;
    if (!node.is_object()) fail(source, path, "must be an object or null");
    const std::string type = string_field(node, "type", source, path);
    if (type == "Sequence") {
        const json* list = field(node, "normalizers");
        if (!list || !list->is_array()) fail(source, path + ".normalizers", "must be an array");
        for (size_t i = 0; i < list->size(); ++i)
            check_normalizer((*list)[i], source, path + ".normalizers[" + std::to_string(i) + "]");
        return;
    }
    fail(source, path + ".type", "unsupported normalizer type '" + type +
                                     "' (seekscope reads tokenizers without normalization, as DeepSeek's)");
}

static void read_model(const json& root, BpeTokenizer& t) {
    const std::string& source = t.source;
    const json* model = field(root, "model");
    if (!model || !model->is_object()) fail(source, "model", "missing or not an object");
    const json* type = field(*model, "type");
    if (type && *type != "BPE") fail(source, "model.type", "unsupported model type " + type->dump() + " (seekscope reads BPE)");

    const json* vocab = field(*model, "vocab");
    if (!vocab || !vocab->is_object()) fail(source, "model.vocab", "missing or not an object");
    t.vocab.reserve(vocab->size());
    for (auto it = vocab->begin(); it != vocab->end(); ++it) {
        if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > INT32_MAX)
            fail(source, "model.vocab[" + json(it.key()).dump() + "]", "must be an id from 0 to 2^31-1, got " + it->dump());
        const int32_t id = it->get<int32_t>();
        t.vocab[it.key()] = id;
        if (!t.token_bytes.emplace(id, token_text_bytes(it.key())).second)
            fail(source, "model.vocab[" + json(it.key()).dump() + "]", "id " + std::to_string(id) + " is given to two tokens");
    }

    for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
        const json* value = field(*model, key);
        if (value && *value != "") fail(source, std::string("model.") + key, "not supported by a byte-level BPE reader (must be null)");
    }
    if (boolean(*model, "byte_fallback", false, source, "model"))
        fail(source, "model.byte_fallback", "not supported by a byte-level BPE reader (must be false)");
    if (const json* dropout = field(*model, "dropout")) {
        if (!dropout->is_number() || dropout->get<double>() != 0.0)
            fail(source, "model.dropout", "must be null or 0: seekscope encodes deterministically, got " + dropout->dump());
    }
    t.ignore_merges = boolean(*model, "ignore_merges", false, source, "model");
    t.fuse_unk = boolean(*model, "fuse_unk", false, source, "model");
    if (const json* unk = field(*model, "unk_token")) {
        if (!unk->is_string()) fail(source, "model.unk_token", "must be a string or null");
        auto it = t.vocab.find(unk->get<std::string>());
        if (it == t.vocab.end()) fail(source, "model.unk_token", unk->dump() + " is not in model.vocab");
        t.unk_id = it->second;
    }

    // merges: "a b" strings (lines starting with "#version" skipped, as HF does) or [a, b] pairs.
    const json* merges = field(*model, "merges");
    if (!merges || !merges->is_array()) fail(source, "model.merges", "missing or not an array");
    const bool pairs = !merges->empty() && (*merges)[0].is_array();
    t.merges.reserve(merges->size());
    int32_t rank = 0;
    for (size_t i = 0; i < merges->size(); ++i) {
        const json& merge = (*merges)[i];
        const std::string where = "model.merges[" + std::to_string(i) + "]";
        std::string left, right;
        if (pairs) {
            if (!merge.is_array() || merge.size() != 2 || !merge[0].is_string() || !merge[1].is_string())
                fail(source, where, "must be a pair of strings like the first merge, got " + merge.dump());
            left = merge[0].get<std::string>();
            right = merge[1].get<std::string>();
        } else {
            if (!merge.is_string()) fail(source, where, "must be a string \"a b\" like the first merge, got " + merge.dump());
            const std::string line = merge.get<std::string>();
            if (line.rfind("#version", 0) == 0) continue;
            const size_t space = line.find(' ');
            if (space == std::string::npos || line.find(' ', space + 1) != std::string::npos)
                fail(source, where, "must be two tokens separated by one space, got " + merge.dump());
            left = line.substr(0, space);
            right = line.substr(space + 1);
        }
        const auto id_of = [&](const std::string& token) {
            auto it = t.vocab.find(token);
            if (it == t.vocab.end()) fail(source, where, json(token).dump() + " is not in model.vocab");
            return it->second;
        };
        // Looked up one after another, so the first token missing is the one named (the order of
        // a call's arguments is the compiler's choice).
        const int32_t left_id = id_of(left), right_id = id_of(right), merged_id = id_of(left + right);
        // A pair listed twice keeps its later rank, as in HF's merge map.
        t.merges[pair_key(left_id, right_id)] = {rank++, merged_id};
    }

    for (int b = 0; b < 256; ++b) {
        std::string character;
        append_utf8(character, byte_to_unicode()[b]);
        auto it = t.vocab.find(character);
        t.byte_token[b] = it == t.vocab.end() ? -1 : it->second;
    }
}

// HF's AddedVocabulary::add_tokens: a content already in the model's vocab keeps that id, a new
// one takes the next id after the vocab. The file's `id` must agree: a file whose ids differ from
// those HF's library would give is refused rather than read differently.
static void read_added_tokens(const json& root, BpeTokenizer& t) {
    const json* list = field(root, "added_tokens");
    if (!list) return;
    if (!list->is_array()) fail(t.source, "added_tokens", "must be an array");
    std::unordered_map<std::string, int32_t> added_ids;
    int64_t next_id = static_cast<int64_t>(t.vocab.size());
    for (size_t i = 0; i < list->size(); ++i) {
        const json& item = (*list)[i];
        const std::string where = "added_tokens[" + std::to_string(i) + "]";
        if (!item.is_object()) fail(t.source, where, "must be an object");
        AddedToken token;
        token.content = string_field(item, "content", t.source, where);
        const json* id = field(item, "id");
        if (!id || !id->is_number_integer()) fail(t.source, where + ".id", "must be an integer");
        token.special = boolean(item, "special", false, t.source, where);
        token.normalized = boolean(item, "normalized", !token.special, t.source, where);
        token.lstrip = boolean(item, "lstrip", false, t.source, where);
        token.rstrip = boolean(item, "rstrip", false, t.source, where);
        token.single_word = boolean(item, "single_word", false, t.source, where);
        if (token.content.empty()) continue;  // HF ignores empty added tokens

        int64_t assigned;
        if (auto it = added_ids.find(token.content); it != added_ids.end()) assigned = it->second;
        else if (auto it = t.vocab.find(token.content); it != t.vocab.end()) assigned = it->second;
        else assigned = next_id++;
        if (assigned > INT32_MAX) fail(t.source, where + ".id", "too many added tokens");
        if (id->get<int64_t>() != assigned)
            fail(t.source, where + ".id", id->dump() + ", but Hugging Face's library gives " + json(token.content).dump() +
                                              " id " + std::to_string(assigned) + " (its id in model.vocab, or the next after it)");
        token.id = static_cast<int32_t>(assigned);
        added_ids[token.content] = token.id;
        t.token_bytes[token.id] = token_text_bytes(token.content);
        auto [slot, inserted] = t.added_index.emplace(token.id, t.added_tokens.size());
        if (inserted) t.added_tokens.push_back(token);
        else t.added_tokens[slot->second] = token;
    }
    AddedTokenTrie tries[2];
    for (size_t i = 0; i < t.added_tokens.size(); ++i)
        tries[t.added_tokens[i].normalized].insert(t.added_tokens[i].content, static_cast<int32_t>(i));
    for (int pass = 0; pass < 2; ++pass)
        if (tries[pass].nodes.size() > 1) t.added_tries[pass] = std::make_shared<AddedTokenTrie>(std::move(tries[pass]));
}

static void read_config(const std::string& path, BpeTokenizer& t) {
    t.config_source = path;
    const json config = read_json(path);
    if (!config.is_object()) fail(path, "", "must be a JSON object");
    t.add_bos_token = boolean(config, "add_bos_token", false, path, "");
    const json* bos = field(config, "bos_token");
    if (!bos) return;
    if (bos->is_object()) t.bos_token = string_field(*bos, "content", path, "bos_token");
    else if (bos->is_string()) t.bos_token = bos->get<std::string>();
    else fail(path, "bos_token", "must be a string, an object with \"content\", or null");
    int32_t id = -1;
    for (const AddedToken& token : t.added_tokens)
        if (token.content == t.bos_token) id = token.id;
    if (id < 0) {
        auto it = t.vocab.find(t.bos_token);
        if (it == t.vocab.end()) fail(path, "bos_token", json(t.bos_token).dump() + " is not a token of " + t.source);
        id = it->second;
    }
    t.bos_id = id;
}

BpeTokenizer load_bpe_tokenizer(const std::string& tokenizer_path, const std::string& config_path) {
    BpeTokenizer t;
    t.source = tokenizer_path;
    const json root = read_json(tokenizer_path);
    if (!root.is_object()) fail(t.source, "", "must be a JSON object");
    if (const json* version = field(root, "version"); version && *version != "1.0")
        fail(t.source, "version", "unknown tokenizer.json version " + version->dump() + " (expected \"1.0\")");

    check_normalizer(root.value("normalizer", json()), t.source, "normalizer");

    const json* pre = field(root, "pre_tokenizer");
    if (!pre) fail(t.source, "pre_tokenizer", "missing: byte-level BPE needs a ByteLevel pre-tokenizer");
    read_pre_tokenizer(*pre, t.source, "pre_tokenizer", t.pre_tokenizer);
    const auto byte_level = [](const PreTokenizerStep& s) { return s.kind == PreTokenizerStep::ByteLevel; };
    if (std::count_if(t.pre_tokenizer.begin(), t.pre_tokenizer.end(), byte_level) != 1 ||
        !byte_level(t.pre_tokenizer.back()))
        fail(t.source, "pre_tokenizer", "must end with one ByteLevel step, and have no other (seekscope reads byte-level BPE)");

    const json* decoder = field(root, "decoder");
    if (!decoder || !decoder->is_object() || decoder->value("type", json()) != "ByteLevel")
        fail(t.source, "decoder", "must be {\"type\": \"ByteLevel\", ...} (seekscope reads byte-level BPE), got " +
                                      (decoder ? decoder->dump().substr(0, 80) : std::string("null")));

    read_model(root, t);
    read_added_tokens(root, t);
    t.cache = std::make_shared<BpeWordCache>();
    if (!config_path.empty()) read_config(config_path, t);
    return t;
}

}  // namespace seek
