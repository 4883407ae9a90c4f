# seek tokenize on the tiny hand-written tokenizer (tests/data/tokenizer), whose ids test_bpe.cpp
# works out by hand: "<s>" is 268, "abc" 257, "d" 100, "hello" 266.
set(SEEK_TINY_TOKENIZER ${CMAKE_CURRENT_SOURCE_DIR}/data/tokenizer)
seek_cli_test(tokenize_help 0 "usage: seek tokenize" tokenize --help)
seek_cli_test(tokenize_text 0 "text 1: \"hello\" -> 1 tokens.* 266  \"hello\""
              tokenize --tokenizer ${SEEK_TINY_TOKENIZER}/tokenizer.json hello)
seek_cli_test(tokenize_json 0 "^\\{\"ids\":\\[257,100\\],\"pieces\":\\[\"abc\",\"d\"\\]\\}\n\\{\"ids\":\\[266\\]"
              tokenize --model ${SEEK_TINY_TOKENIZER} --json abcd hello)
seek_cli_test(tokenize_bos 0 "^\\{\"ids\":\\[268,257,100\\],\"pieces\":\\[\"<s>\",\"abc\",\"d\"\\]\\}"
              tokenize --model ${SEEK_TINY_TOKENIZER} --json --bos abcd)
seek_cli_test(tokenize_partial_character 0 "\"pieces\":\\[\"x\",\"\\\\\\\\xC3\",\"\\\\\\\\xA4\"\\]"
              tokenize --model ${SEEK_TINY_TOKENIZER} --json xä)
seek_cli_test(tokenize_decode 0 "^<s>abcd\n$" tokenize --model ${SEEK_TINY_TOKENIZER} --decode 268 257 100)
seek_cli_test(tokenize_decode_unknown 1 "token id 9999 is not in" tokenize --model ${SEEK_TINY_TOKENIZER} --decode 9999)
seek_cli_test(tokenize_no_tokenizer 2 "give one of --tokenizer FILE or --model DIR" tokenize hello)
seek_cli_test(tokenize_no_text 2 "nothing to tokenize" tokenize --model ${SEEK_TINY_TOKENIZER})
seek_cli_test(tokenize_missing_file 1 "nope/tokenizer\\.json: cannot open" tokenize --tokenizer nope/tokenizer.json hello)
seek_cli_test(tokenize_model_without_tokenizer 1 "no tokenizer\\.json in this folder" tokenize --model . hello)
seek_cli_test(tokenize_malformed 1 "tokenizer_config\\.json: pre_tokenizer: missing"
              tokenize --tokenizer ${SEEK_TINY_TOKENIZER}/tokenizer_config.json hello)
