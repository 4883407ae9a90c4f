// core/bpe: DeepSeek's byte-level BPE tokenizer, on a tiny hand-written tokenizer.json
// (tests/data/tokenizer: the 256 byte characters as ids 0..255, then 12 merges and 3 added tokens)
// so that these run without npm. The expected ids are worked by hand below; the oracle test
// (tests/tokenizer/oracle.js) checks the same file and DeepSeek-V3's against Hugging Face's library.
#include <catch2/catch.hpp>

#include "temp_dir.h"

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/bpe.h"

using namespace seek;
using Catch::Matchers::Contains;
using nlohmann::json;
using Ids = std::vector<int32_t>;
using Pieces = std::vector<std::string>;

namespace {

const std::string kTiny = std::string(SEEK_TEST_DATA_DIR) + "/tokenizer/tokenizer.json";
const std::string kTinyConfig = std::string(SEEK_TEST_DATA_DIR) + "/tokenizer/tokenizer_config.json";

// The tiny tokenizer's ids: a byte's character has the byte's value, then the merged tokens (the
// whole table, although not every test names every id).
constexpr int32_t kSpace = 32;  // "Ġ"
[[maybe_unused]] constexpr int32_t ab = 256, abc = 257, bc = 258, cd = 259, Ga = 260, Gab = 261, aa = 262, he = 263, ll = 264,
                  hell = 265, hello = 266, Ghello = 267;
constexpr int32_t kBos = 268, kBosLong = 269, kMask = 270;  // "<s>", "<s>long", "[MASK]"

json tiny_json() {
    std::ifstream in(kTiny);
    return json::parse(in);
}

// The tiny tokenizer with `edit` applied, written to a temporary file and loaded.
template <typename Edit>
BpeTokenizer load_edited(const TempDir& dir, Edit edit) {
    json tokenizer = tiny_json();
    edit(tokenizer);
    std::ofstream(dir.file("tokenizer.json")) << tokenizer.dump();
    return load_bpe_tokenizer(dir.file("tokenizer.json"));
}

// The message load_edited throws.
template <typename Edit>
std::string load_error(Edit edit) {
    TempDir dir("seek_bpe");
    try {
        load_edited(dir, edit);
    } catch (const std::runtime_error& error) {
        return error.what();
    }
    return "(no error)";
}

}  // namespace

TEST_CASE("bpe: the byte-to-unicode map is GPT-2's", "[bpe]") {
    // openai/gpt-2 encoder.py bytes_to_unicode: bytes '!'..'~', 0xA1..0xAC and 0xAE..0xFF keep
    // their code point; the other 68 take 256, 257, ... in byte order.
    const auto& table = byte_to_unicode();
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        INFO("byte " << b);
        CHECK(table[b] == (printable ? static_cast<char32_t>(b) : next++));
    }
    CHECK(next == 256 + 68);
    // The characters everyone meets in GPT-2-style vocabularies.
    CHECK(table[' '] == U'Ġ');    // U+0120
    CHECK(table['\n'] == U'Ċ');   // U+010A
    CHECK(table['\t'] == U'ĉ');   // U+0109
    CHECK(table[0x00] == U'Ā');   // U+0100
    CHECK(table[0x7F] == U'ġ');   // U+0121
    CHECK(table[0xA0] == U'ł');   // U+0142, NBSP
    CHECK(table[0xAD] == U'Ń');   // U+0143, soft hyphen: the last of the 68
    CHECK(table['A'] == U'A');
    CHECK(table[0xE4] == U'ä');
}

TEST_CASE("bpe: merges apply by rank, leftmost first among equals (hand-worked)", "[bpe]") {
    const BpeTokenizer tokenizer = load_bpe_tokenizer(kTiny);
    // " abc": Ġ a b c. Ranks: (a b)=0, (Ġ a)=1, (ab c)=2, (b c)=3. (a b) goes first although
    // (Ġ a) is leftmost; then (ab c); (Ġ abc) is no merge. Leftmost-first would give Ġab c.
    CHECK(bpe_encode(tokenizer, " abc") == Ids{kSpace, abc});
    // "abcd": (a b)=0 then (ab c)=2; (b c)=3 and (c d)=4 are stale by then.
    CHECK(bpe_encode(tokenizer, "abcd") == Ids{abc, 'd'});
    CHECK(bpe_encode(tokenizer, "bcd") == Ids{bc, 'd'});  // (b c)=3 before (c d)=4
    CHECK(bpe_encode(tokenizer, "cd") == Ids{cd});
    // "aaa": (a a) at 0 and at 1 tie on rank; position 0 wins, then position 1 is stale.
    CHECK(bpe_encode(tokenizer, "aaa") == Ids{aa, 'a'});
    CHECK(bpe_encode(tokenizer, "aaaa") == Ids{aa, aa});
    // h e l l o: (h e)=7, (l l)=8, then the new pair (he ll)=9, then (hell o)=10.
    CHECK(bpe_encode(tokenizer, "hello") == Ids{hello});
    CHECK(bpe_encode(tokenizer, " hello") == Ids{Ghello});  // (Ġ hello)=11 last
    CHECK(bpe_encode(tokenizer, " ab") == Ids{kSpace, ab});  // (a b)=0 before (Ġ a)=1: no Ġab
    CHECK(bpe_encode(tokenizer, " a") == Ids{Ga});
    // Bytes of a multi-byte character are separate symbols: ä is C3 A4.
    CHECK(bpe_encode(tokenizer, "x\xC3\xA4y") == Ids{'x', 0xC3, 0xA4, 'y'});
    CHECK(bpe_encode(tokenizer, "").empty());
}

TEST_CASE("bpe: merges read the same from \"a b\" strings and [a, b] pairs", "[bpe]") {
    TempDir dir("seek_bpe");
    const BpeTokenizer strings = load_bpe_tokenizer(kTiny);
    const BpeTokenizer pairs = load_edited(dir, [](json& t) {
        json merges = json::array();
        for (const auto& line : t["model"]["merges"]) {
            const std::string text = line;
            merges.push_back({text.substr(0, text.find(' ')), text.substr(text.find(' ') + 1)});
        }
        t["model"]["merges"] = merges;
    });
    CHECK(pairs.merges.size() == 12);
    for (const char* text : {" abc", "abcd", "aaa", " hello hello", "bcd cd"})
        CHECK(bpe_encode(pairs, text) == bpe_encode(strings, text));
}

TEST_CASE("bpe: the Split regexes cut pieces as the file says", "[bpe]") {
    const BpeTokenizer tokenizer = load_bpe_tokenizer(kTiny);
    // \p{N}{1,3} first, then the letters/punctuation/whitespace pattern on what is left.
    CHECK(bpe_pre_tokenize(tokenizer, "12345 abc") == Pieces{"123", "45", " abc"});
    // \s+(?!\S): a run of spaces leaves its last one to the next word.
    CHECK(bpe_pre_tokenize(tokenizer, "a   b") == Pieces{"a", "  ", " b"});
    // ... and of "  \n\n" before b, \s+(?!\S) takes "  \n" and the plain \s+ the last "\n".
    CHECK(bpe_pre_tokenize(tokenizer, "a!?  \n\nb") == Pieces{"a", "!?", "  \n", "\n", "b"});
    // Unicode properties: ٣ (Arabic-Indic three) and １ (full-width one) are \p{N}; é is \p{L}.
    CHECK(bpe_pre_tokenize(tokenizer, "x\xD9\xA3\xEF\xBC\x91 caf\xC3\xA9") ==
          Pieces{"x", "\xD9\xA3\xEF\xBC\x91", " caf\xC3\xA9"});
}

TEST_CASE("bpe: Split behaviors and invert as Hugging Face's own tests give them", "[bpe]") {
    // tokenizers/src/pre_tokenizers/split.rs, test `basic`: pattern \w+|[^\w\s]+, invert true.
    const std::vector<std::pair<std::string, Pieces>> cases = {
        {"Removed", {"How", "are", "you", "doing", "?"}},
        {"Isolated", {"How", " ", "are", " ", "you", " ", "doing", "?"}},
        {"MergedWithPrevious", {"How ", "are ", "you ", "doing", "?"}},
        {"MergedWithNext", {"How", " are", " you", " doing", "?"}},
        {"Contiguous", {"How", " ", "are", " ", "you", " ", "doing?"}},
    };
    for (const auto& [behavior_name, pieces] : cases) {
        const std::string behavior = behavior_name;  // a lambda may not capture a structured binding before C++20
        TempDir dir("seek_bpe");
        const BpeTokenizer tokenizer = load_edited(dir, [&](json& t) {
            t["pre_tokenizer"]["pretokenizers"] = {
                {{"type", "Split"}, {"pattern", {{"Regex", R"(\w+|[^\w\s]+)"}}}, {"behavior", behavior}, {"invert", true}},
                {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}};
        });
        INFO(behavior);
        CHECK(bpe_pre_tokenize(tokenizer, "How are you doing?") == pieces);
    }
    // A literal "String" pattern: its regex characters mean themselves.
    TempDir dir("seek_bpe");
    const BpeTokenizer literal = load_edited(dir, [](json& t) {
        t["pre_tokenizer"]["pretokenizers"] = {
            {{"type", "Split"}, {"pattern", {{"String", "."}}}, {"behavior", "Removed"}, {"invert", false}},
            {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}};
    });
    CHECK(bpe_pre_tokenize(literal, "a.b..c") == Pieces{"a", "b", "c"});
}

TEST_CASE("bpe: ByteLevel's own regex and prefix space", "[bpe]") {
    TempDir dir("seek_bpe");
    const BpeTokenizer tokenizer = load_edited(dir, [](json& t) {
        t["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
    });
    // GPT-2's pattern: contractions, ' ?\p{L}+', ' ?\p{N}+', ...; a prefix space on the text.
    CHECK(bpe_pre_tokenize(tokenizer, "hello it's 2024") == Pieces{" hello", " it", "'s", " 2024"});
    CHECK(bpe_encode(tokenizer, "hello") == Ids{Ghello});
}

TEST_CASE("bpe: ignore_merges takes a piece that is in the vocab whole", "[bpe]") {
    TempDir dir("seek_bpe");
    const auto with_bcd = [](bool ignore_merges) {
        return [ignore_merges](json& t) {
            t["model"]["vocab"]["bcd"] = 268;  // the added tokens move up one id
            for (auto& added : t["added_tokens"]) added["id"] = added["id"].get<int>() + 1;
            t["model"]["ignore_merges"] = ignore_merges;
        };
    };
    CHECK(bpe_encode(load_edited(dir, with_bcd(false)), "bcd") == Ids{bc, 'd'});  // no merge makes bcd
    CHECK(bpe_encode(load_edited(dir, with_bcd(true)), "bcd") == Ids{268});
    CHECK(bpe_encode(load_edited(dir, with_bcd(true)), "abcd") == Ids{abc, 'd'});
}

TEST_CASE("bpe: added tokens are cut out first, leftmost-longest", "[bpe]") {
    const BpeTokenizer tokenizer = load_bpe_tokenizer(kTiny, kTinyConfig);
    CHECK(bpe_encode(tokenizer, "<s>") == Ids{kBos});
    CHECK(bpe_encode(tokenizer, "a<s>longer[MASK]b<s>") == Ids{'a', kBosLong, 'e', 'r', kMask, 'b', kBos});
    CHECK(bpe_encode(tokenizer, "<s<s>>") == Ids{'<', 's', kBos, '>'});
    CHECK(bpe_encode(tokenizer, " <s> ab") == Ids{kSpace, kBos, kSpace, ab});
    CHECK(bpe_pre_tokenize(tokenizer, "x[MASK]y") == Pieces{"x", "[MASK]", "y"});
    // tokenizer_config.json: bos_token "<s>", add_bos_token true.
    CHECK(tokenizer.bos_token == "<s>");
    CHECK(tokenizer.bos_id == kBos);
    CHECK(tokenizer.add_bos_token);
    // Decoding: added tokens decode to their text; skip_special drops <s> and <s>long, not [MASK].
    const Ids ids = bpe_encode(tokenizer, "<s>hello[MASK]<s>long");
    CHECK(bpe_decode(tokenizer, ids) == "<s>hello[MASK]<s>long");
    CHECK(bpe_decode(tokenizer, ids, true) == "hello[MASK]");
}

TEST_CASE("bpe: decode gives back the text, any bytes included", "[bpe]") {
    const BpeTokenizer tokenizer = load_bpe_tokenizer(kTiny);
    for (const std::string& text : std::vector<std::string>{"hello world", "  \n\n\t x",
                                                            "\xE6\xB7\xB1\xE5\xBA\xA6 12345 \xF0\x9F\x91\x8B",
                                                            "<s>[MASK] abc", std::string("nul\0byte", 8)})
        CHECK(bpe_decode(tokenizer, bpe_encode(tokenizer, text)) == text);

    // Invalid UTF-8 is encoded byte by byte where no regex can match, and comes back unchanged.
    const std::string invalid = "ab\xFF\xFE cd \xC3 \xE6\xB7 \xED\xA0\x80 hello\x80";
    CHECK(invalid_utf8_offset(invalid) == 2);
    CHECK(bpe_decode(tokenizer, bpe_encode(tokenizer, invalid)) == invalid);
    CHECK(bpe_encode(tokenizer, "hello\xFF") == Ids{hello, 0xFF});

    std::mt19937 random(20240101);
    for (int trial = 0; trial < 200; ++trial) {
        std::string bytes(random() % 64, '\0');
        for (char& c : bytes) c = static_cast<char>(random() % 256);
        REQUIRE(bpe_decode(tokenizer, bpe_encode(tokenizer, bytes)) == bytes);
    }

    CHECK_THROWS_WITH(bpe_decode(tokenizer, {271}), Contains("token id 271") && Contains("tokenizer.json"));
    CHECK_THROWS_WITH(bpe_decode(tokenizer, {-1}), Contains("token id -1"));
}

TEST_CASE("bpe: pieces print readably", "[bpe]") {
    const BpeTokenizer tokenizer = load_bpe_tokenizer(kTiny);
    CHECK(printable_bytes(" hello") == " hello");
    CHECK(printable_bytes("a\nb\tc\\") == "a\\nb\\tc\\\\");
    CHECK(printable_bytes("\xC3\xA4") == "\xC3\xA4");                       // ä, whole
    CHECK(printable_bytes(bpe_decode(tokenizer, {0xC3})) == "\\xC3");         // half of it
    CHECK(printable_bytes(std::string("\0\x7F", 2)) == "\\x00\\x7F");
    CHECK(invalid_utf8_offset("plain \xE6\xB7\xB1") == std::string::npos);
    CHECK(invalid_utf8_offset("\xC0\x80") == 0);          // overlong
    CHECK(invalid_utf8_offset("ok\xED\xA0\x80") == 2);    // a surrogate
    CHECK(invalid_utf8_offset("ok\xF4\x90\x80\x80") == 2);  // past U+10FFFF
}

TEST_CASE("bpe: malformed tokenizer files name the file and field", "[bpe]") {
    CHECK_THROWS_WITH(load_bpe_tokenizer("/nonexistent/tokenizer.json"), Contains("/nonexistent/tokenizer.json: cannot open"));
    {
        TempDir dir("seek_bpe");
        std::ofstream(dir.file("tokenizer.json")) << "{\"model\": ";
        CHECK_THROWS_WITH(load_bpe_tokenizer(dir.file("tokenizer.json")), Contains("tokenizer.json: not valid JSON"));
    }
    CHECK_THAT(load_error([](json& t) { t.erase("model"); }), Contains("tokenizer.json: model: missing"));
    CHECK_THAT(load_error([](json& t) { t["model"]["type"] = "WordPiece"; }), Contains("model.type: unsupported model type"));
    CHECK_THAT(load_error([](json& t) { t["model"]["merges"].push_back("a zz"); }),
               Contains("model.merges[12]: \"zz\" is not in model.vocab"));
    CHECK_THAT(load_error([](json& t) { t["model"]["merges"].push_back("d a"); }),
               Contains("model.merges[12]: \"da\" is not in model.vocab"));
    CHECK_THAT(load_error([](json& t) { t["model"]["merges"][3] = "abc"; }),
               Contains("model.merges[3]: must be two tokens separated by one space"));
    CHECK_THAT(load_error([](json& t) { t["model"]["merges"][3] = {"a", "b"}; }), Contains("model.merges[3]: must be a string"));
    CHECK_THAT(load_error([](json& t) { t["model"]["vocab"]["a"] = -5; }), Contains("model.vocab[\"a\"]: must be an id"));
    CHECK_THAT(load_error([](json& t) { t["model"]["vocab"]["a"] = 98; }), Contains("is given to two tokens"));
    CHECK_THAT(load_error([](json& t) { t["model"]["byte_fallback"] = true; }), Contains("model.byte_fallback"));
    CHECK_THAT(load_error([](json& t) { t["model"]["dropout"] = 0.1; }), Contains("model.dropout"));
    CHECK_THAT(load_error([](json& t) { t["model"]["unk_token"] = "<unk>"; }),
               Contains("model.unk_token: \"<unk>\" is not in model.vocab"));
    CHECK_THAT(load_error([](json& t) { t["pre_tokenizer"]["pretokenizers"][1]["type"] = "Metaspace"; }),
               Contains("pre_tokenizer.pretokenizers[1].type: unsupported pre-tokenizer type 'Metaspace'"));
    CHECK_THAT(load_error([](json& t) { t["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Sideways"; }),
               Contains("pre_tokenizer.pretokenizers[0].behavior: unknown behavior 'Sideways'"));
    CHECK_THAT(load_error([](json& t) { t["pre_tokenizer"]["pretokenizers"][0]["pattern"] = {{"Regex", "(\\p{N}"}}; }),
               Contains("pre_tokenizer.pretokenizers[0].pattern: cannot compile the pattern"));
    CHECK_THAT(load_error([](json& t) { t["pre_tokenizer"]["pretokenizers"].erase(2); }),
               Contains("pre_tokenizer: must end with one ByteLevel step"));
    CHECK_THAT(load_error([](json& t) { t["normalizer"] = {{"type", "NFC"}}; }),
               Contains("normalizer.type: unsupported normalizer type 'NFC'"));
    CHECK_THAT(load_error([](json& t) { t["decoder"] = {{"type", "WordPiece"}}; }), Contains("decoder: must be"));
    CHECK_THAT(load_error([](json& t) { t["added_tokens"][1]["id"] = 300; }),
               Contains("added_tokens[1].id: 300, but Hugging Face's library gives \"<s>long\" id 269"));
    CHECK_THAT(load_error([](json& t) { t["version"] = "2.0"; }), Contains("version: unknown tokenizer.json version"));

    TempDir dir("seek_bpe");
    std::ofstream(dir.file("tokenizer_config.json")) << R"({"bos_token": "<nope>"})";
    CHECK_THROWS_WITH(load_bpe_tokenizer(kTiny, dir.file("tokenizer_config.json")),
                      Contains("tokenizer_config.json: bos_token: \"<nope>\" is not a token of"));
}
