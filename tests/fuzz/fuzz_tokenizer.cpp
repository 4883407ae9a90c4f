// Fuzz target: the BPE tokenizer (core/bpe.h), both of its untrusted inputs:
//  - the input as text, encoded by the test tokenizer (tests/data/tokenizer): any bytes, valid
//    UTF-8 or not, encode to known ids and decode back to the same bytes (bpe.h's promise);
//  - the input as a tokenizer.json: loaded, or refused with an error naming the field; a loaded
//    one encodes a sample text to ids it can decode.
#include <stdexcept>

#include "core/bpe.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const seek::BpeTokenizer test_tokenizer = seek::load_bpe_tokenizer(SEEK_FUZZ_TOKENIZER);
    static seek::fuzz::InputFile input;
    const std::string text(reinterpret_cast<const char*>(data), size);
    const std::vector<int32_t> ids = seek::bpe_encode(test_tokenizer, text);
    seek::fuzz::require(seek::bpe_decode(test_tokenizer, ids) == text);

    const std::string& path = input.hold(data, size);
    seek::BpeTokenizer tokenizer;
    try {
        tokenizer = seek::load_bpe_tokenizer(path);
    } catch (const std::runtime_error&) {
        return 0;
    }
    const std::string sample = "Hello, world! 12345 <s> \xe4\xbd\xa0\xe5\xa5\xbd\n\t \xff";
    seek::bpe_decode(tokenizer, seek::bpe_encode(tokenizer, sample));  // every id it gives is a token
    return 0;
}
