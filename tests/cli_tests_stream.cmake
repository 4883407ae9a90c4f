# Real-checkpoint layouts through `seek step --model` and `seek route --model`: hand-made tiny
# checkpoints (V3: FP8, sharded, sigmoid gate with bias and groups, MTP; V2-Lite: BF16, q_proj,
# softmax gate, group_limited_greedy) and the float64 reference traces the hidden unit test
# test_stream.cpp computes for them, written into the CLI working directory.
add_test(NAME cli.stream_inputs COMMAND seek_tests "[.stream_fixtures]" WORKING_DIRECTORY ${SEEK_CLI_WORKDIR})
set_tests_properties(cli.stream_inputs PROPERTIES LABELS cpu FIXTURES_SETUP stream_inputs)

set(SEEK_STREAM_TOKENS 0,17,250,3,99,17,42,7)
foreach(layout tiny_v3 tiny_v2_lite)
  # In memory (load_model), and read in place layer by layer under a budget of a few experts.
  seek_cli_test(stream_${layout}_memory 0 "written"
                step --model ${layout} --tokens ${SEEK_STREAM_TOKENS} --trace ${layout}_memory.safetensors --quiet)
  seek_cli_test(stream_${layout}_streamed 0 "reading ${layout} in place.*read in place: 2 layers.*peak RSS.*written"
                step --model ${layout} --tokens ${SEEK_STREAM_TOKENS} --memory 2M --trace ${layout}_streamed.safetensors --quiet)
  set_tests_properties(cli.stream_${layout}_memory cli.stream_${layout}_streamed
                       PROPERTIES FIXTURES_REQUIRED stream_inputs FIXTURES_SETUP stream_${layout}_traces)
  foreach(run memory streamed)
    seek_cli_test(stream_${layout}_${run}_vs_reference 0 "OK: every common tensor within 2e-05"
                  compare ${layout}_reference.safetensors ${layout}_${run}.safetensors --tol 2e-5)
    set_tests_properties(cli.stream_${layout}_${run}_vs_reference PROPERTIES FIXTURES_REQUIRED "stream_inputs;stream_${layout}_traces")
  endforeach()
  seek_cli_test(stream_${layout}_route 0 "token 6 .=. [(]id [0-9]+[)].*layer +1: +[0-9]+ [(][0-9][.][0-9]+[)]"
                route --model ${layout} --prompt 12+34=)
  set_tests_properties(cli.stream_${layout}_route PROPERTIES FIXTURES_REQUIRED stream_inputs)
endforeach()
seek_cli_test(stream_memory_too_small 2 "--memory 1[.]00 KiB is too small"
              step --model tiny_v3 --tokens 0,1 --memory 1K)
seek_cli_test(stream_memory_bad 2 "--memory: 'lots' is not a size" step --model tiny_v3 --tokens 0,1 --memory lots)
set_tests_properties(cli.stream_memory_too_small cli.stream_memory_bad PROPERTIES FIXTURES_REQUIRED stream_inputs)

# A checkpoint folder with its own tokenizer.json and tokenizer_config.json (the tiny hand-written
# BPE of tests/data/tokenizer, ids < the fixture's vocab of 300): the prompt is tokenized with it,
# BOS from tokenizer_config.json in front, and its pieces are what route and step print.
add_test(NAME cli.stream_bpe_inputs
         COMMAND ${CMAKE_COMMAND} -E copy_directory tiny_v2_lite ${CMAKE_CURRENT_SOURCE_DIR}/data/tokenizer tiny_v2_lite_bpe
         WORKING_DIRECTORY ${SEEK_CLI_WORKDIR})
set_tests_properties(cli.stream_bpe_inputs PROPERTIES LABELS cpu FIXTURES_REQUIRED stream_inputs FIXTURES_SETUP stream_bpe_inputs)
seek_cli_test(stream_bpe_route 0 "token 0 '<s>' [(]id 268[)].*token 1 'abc' [(]id 257[)].*token 2 'd' [(]id 100[)].*token 4 'hello' [(]id 266[)]"
              route --model tiny_v2_lite_bpe --prompt abcd,hello)
seek_cli_test(stream_bpe_step 0 "tokens: 5: .<s>.=268 .abc.=257 .d.=100 .,.=44 .hello.=266.*next token: .*trace: [0-9]+ tensors written"
              step --model tiny_v2_lite_bpe --prompt abcd,hello --trace tiny_v2_lite_bpe.safetensors --quiet)
set_tests_properties(cli.stream_bpe_route cli.stream_bpe_step PROPERTIES FIXTURES_REQUIRED stream_bpe_inputs)
