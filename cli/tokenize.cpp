// seek tokenize: DeepSeek's byte-level BPE tokenizer (core/bpe) on texts: ids and pieces.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "../core/bpe.h"
#include "commands.h"

namespace seek::cli {

namespace {

const CommandSpec spec = {
    "tokenize",
    "DeepSeek's BPE tokenizer from a tokenizer.json: the ids and pieces of texts",
    "Reads a Hugging Face tokenizer.json (--tokenizer FILE, or --model DIR for a checkpoint folder\n"
    "that has one) and tokenizes each TEXT as Hugging Face's tokenizers library does: added tokens\n"
    "such as <｜User｜> first, then the pre-tokenizer's Split regexes, the byte-to-unicode map and\n"
    "the BPE merges by rank. For each text it prints the ids and the pieces, each piece the bytes\n"
    "its token decodes to (a byte that is only part of a character shows as \\xNN).\n\n"
    "Without --bos the ids are those of the text alone, as the tokenizers library gives them;\n"
    "--bos puts the BOS token that tokenizer_config.json (beside tokenizer.json) names in front,\n"
    "as the model sees a prompt. --input FILE reads the texts from a file with one JSON string per\n"
    "line and prints the time taken and tokens/s on stderr. --decode turns ids back into text.\n"
    "A text must be valid UTF-8, as the tokenizers library requires (core/bpe itself encodes any\n"
    "bytes, and decodes them back unchanged).",
    {
        {"tokenizer", "FILE", "a tokenizer.json (tokenizer_config.json is read from beside it when there)", ""},
        {"model", "DIR", "a checkpoint folder with tokenizer.json (and tokenizer_config.json)", ""},
        {"json", "", "print one {\"ids\": [...], \"pieces\": [...]} object per line per text", ""},
        {"bos", "", "put the BOS token from tokenizer_config.json in front of each text's ids", ""},
        {"input", "FILE", "read the texts from FILE, one JSON string per line, instead of TEXT arguments", ""},
        {"decode", "", "the arguments are ids (with --input: one JSON array of ids per line); print the text", ""},
    },
    "TEXT...",
    0,
    SIZE_MAX,
};

struct TokenizerFiles {
    std::string tokenizer, config;  // config "" when there is no tokenizer_config.json
};

TokenizerFiles tokenizer_files(const ParsedArgs& args) {
    namespace fs = std::filesystem;
    if (args.flag("tokenizer") == args.flag("model")) throw UsageError("give one of --tokenizer FILE or --model DIR");
    TokenizerFiles files;
    fs::path folder;
    if (args.flag("model")) {
        folder = args.str("model");
        files.tokenizer = (folder / "tokenizer.json").string();
        if (!fs::is_regular_file(files.tokenizer))
            throw std::runtime_error(folder.string() + ": no tokenizer.json in this folder (--model DIR)");
    } else {
        files.tokenizer = args.str("tokenizer");
        folder = fs::path(files.tokenizer).parent_path();
    }
    const fs::path config = folder / "tokenizer_config.json";
    if (fs::is_regular_file(config)) files.config = config.string();
    return files;
}

// --input FILE: one JSON value per line (blank lines skipped), each checked by `check`.
std::vector<nlohmann::json> read_json_lines(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error(path + ": cannot open (--input)");
    std::vector<nlohmann::json> values;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        try {
            values.push_back(nlohmann::json::parse(line));
        } catch (const nlohmann::json::parse_error& error) {
            throw std::runtime_error(path + ":" + std::to_string(number) + ": not a JSON value: " + error.what());
        }
    }
    return values;
}

std::vector<int32_t> ids_from_json(const nlohmann::json& value, const std::string& where) {
    if (!value.is_array()) throw std::runtime_error(where + ": expected a JSON array of ids");
    std::vector<int32_t> ids;
    for (const auto& id : value) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
            throw std::runtime_error(where + ": not a token id: " + id.dump());
        ids.push_back(id.get<int32_t>());
    }
    return ids;
}

int run_decode(const BpeTokenizer& tokenizer, const ParsedArgs& args) {
    std::vector<std::vector<int32_t>> sequences;
    if (args.flag("input")) {
        const std::string path = args.str("input");
        const auto lines = read_json_lines(path);
        for (size_t i = 0; i < lines.size(); ++i) sequences.push_back(ids_from_json(lines[i], path + ": entry " + std::to_string(i + 1)));
    } else {
        if (args.positional.empty()) throw UsageError("--decode needs ids (ID... or --input FILE)");
        std::vector<int32_t> ids;
        for (const std::string& id : args.positional) {
            const int64_t value = parse_count(id, "token id");
            if (value < 0 || value > INT32_MAX) throw UsageError("token id out of range: " + id);
            ids.push_back(static_cast<int32_t>(value));
        }
        sequences.push_back(ids);
    }
    for (const auto& ids : sequences) {
        const std::string text = bpe_decode(tokenizer, ids);
        if (args.flag("json"))  // bytes that are no valid UTF-8 become U+FFFD, as HF's decode does
            std::printf("%s\n", nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
        else
            std::printf("%s\n", text.c_str());
    }
    return 0;
}

}  // namespace

int run_tokenize(int argc, char** argv) {
    if (wants_help(spec, argc, argv)) return 0;
    const ParsedArgs args = parse_args(spec, argc, argv);
    const TokenizerFiles files = tokenizer_files(args);
    if (args.flag("input") && !args.positional.empty()) throw UsageError("give TEXT arguments or --input FILE, not both");
    if (args.flag("decode") && args.flag("bos")) throw UsageError("--bos is for encoding; --decode prints what the ids say");

    const BpeTokenizer tokenizer = load_bpe_tokenizer(files.tokenizer, files.config);
    if (args.flag("decode")) return run_decode(tokenizer, args);
    if (args.flag("bos") && tokenizer.bos_id < 0)
        throw std::runtime_error("--bos: no BOS token: " +
                                 (files.config.empty() ? "no tokenizer_config.json beside " + files.tokenizer
                                                       : files.config + " names no bos_token"));

    std::vector<std::string> texts;
    if (args.flag("input")) {
        const std::string path = args.str("input");
        const auto lines = read_json_lines(path);
        for (size_t i = 0; i < lines.size(); ++i) {
            if (!lines[i].is_string())
                throw std::runtime_error(path + ": entry " + std::to_string(i + 1) + ": expected a JSON string");
            texts.push_back(lines[i].get<std::string>());
        }
    } else {
        if (args.positional.empty()) throw UsageError("nothing to tokenize: give TEXT... or --input FILE");
        texts = args.positional;
    }
    for (size_t i = 0; i < texts.size(); ++i) {
        const size_t bad = invalid_utf8_offset(texts[i]);
        if (bad != std::string::npos)
            throw UsageError("text " + std::to_string(i + 1) + " is not valid UTF-8 (byte " + std::to_string(bad) + ")");
    }

    if (!args.flag("json")) {
        std::printf("tokenizer: %s (%zu tokens in model.vocab, %zu added tokens)\n", files.tokenizer.c_str(),
                    tokenizer.vocab.size(), tokenizer.added_tokens.size());
        if (tokenizer.bos_id >= 0)  // whether a prompt for this model should get --bos
            std::printf("BOS: \"%s\" = %d; %s sets add_bos_token %s\n", printable_bytes(tokenizer.bos_token).c_str(),
                        tokenizer.bos_id, files.config.c_str(), tokenizer.add_bos_token ? "true" : "false");
    }
    double encode_seconds = 0;  // bpe_encode alone, not the printing
    size_t total_tokens = 0, total_bytes = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
        const auto start = std::chrono::steady_clock::now();
        std::vector<int32_t> ids = bpe_encode(tokenizer, texts[i]);
        encode_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (args.flag("bos")) ids.insert(ids.begin(), tokenizer.bos_id);
        total_tokens += ids.size();
        total_bytes += texts[i].size();
        std::vector<std::string> pieces;
        for (int32_t id : ids) pieces.push_back(printable_bytes(bpe_decode(tokenizer, {id})));
        if (args.flag("json")) {
            std::printf("%s\n", nlohmann::json{{"ids", ids}, {"pieces", pieces}}.dump().c_str());
            continue;
        }
        std::printf("\ntext %zu: \"%s\" -> %zu tokens\n%8s  %s\n", i + 1, printable_bytes(texts[i]).c_str(), ids.size(),
                    "id", "piece");
        for (size_t k = 0; k < ids.size(); ++k) {
            std::string quoted;
            for (char c : pieces[k]) quoted += c == '"' ? std::string("\\\"") : std::string(1, c);
            std::printf("%8d  \"%s\"\n", ids[k], quoted.c_str());
        }
    }
    if (args.flag("input"))
        std::fprintf(stderr, "encoded %zu texts, %zu bytes, %zu tokens in %.3f s: %.0f tokens/s, %.2f MB/s\n",
                     texts.size(), total_bytes, total_tokens, encode_seconds, total_tokens / encode_seconds,
                     total_bytes / encode_seconds / 1e6);
    return 0;
}

}  // namespace seek::cli
