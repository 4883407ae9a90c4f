# Usage errors a student meets first: one prefix per message, a suggestion for a typo, one wording
# for a missing required option, values quoted as typed, and a folder of checkpoints explained.
set(SEEK_TOY ${CMAKE_SOURCE_DIR}/data/toy)

# "seek info: unknown option ..." once, not "seek info: seek info: ..."
seek_cli_test(usage_single_prefix 2 "^seek info: unknown option --prest; did you mean --preset[?]" info --prest v3)
seek_cli_test(usage_suggest_option 2 "unknown option --contxt; did you mean --context[?]" kv --contxt 4k)
seek_cli_test(usage_no_suggestion 2 "unknown option --zzzzzz [(]see --help[)]" info --zzzzzz)
seek_cli_test(usage_suggest_command 2 "unknown command 'trian'; did you mean 'train'[?]" trian)
seek_cli_test(usage_unexpected_argument 2 "^seek info: unexpected argument 'v3'" info v3)

# One wording for a missing required option, with its value name, for every command that has one.
seek_cli_test(usage_train_needs_out 2 "^seek train: missing required option --out DIR [(]see --help[)]" train --steps 1)
seek_cli_test(usage_generate_needs_model 2 "^seek generate: missing required option --model DIR" generate --prompt 1)
seek_cli_test(usage_generate_needs_prompt 2 "missing required option --prompt TEXT" generate --model ${SEEK_TOY}/base)
seek_cli_test(usage_eval_needs_model 2 "^seek eval: missing required option --model DIR" eval)
seek_cli_test(usage_convert_needs_to 2 "missing required option --to PRECISION" convert --in a --out b)
seek_cli_test(usage_help_says_required 0 "--model DIR +checkpoint directory [^\n]*[(]required[)]" eval --help)

# Every command that takes --preset prints its default in --help.
foreach(command info kv step route bench train)
  seek_cli_test(usage_${command}_preset_default 0 "--preset NAME[^\n]*[(]default: (toy|v3)[)]" ${command} --help)
endforeach()

# Values are reported as they were typed.
seek_cli_test(usage_negative_temperature 2 "--temperature must be >= 0 [(]0 = greedy[)], got '-1'"
              generate --model ${SEEK_TOY}/base --prompt 1+1= --temperature -1)
seek_cli_test(usage_grpo_negative_temperature 2 "--temperature must be > 0 [(]rollouts sample[)], got '-0[.]5'"
              grpo --model ${SEEK_TOY}/base --out t_grpo_never --temperature -0.5)

# A folder of checkpoints names the subfolders that hold one.
seek_cli_test(usage_model_folder_of_models 2 "--model [^\n]*data/toy: no config[.]json there[^\n]*toy/base [^\n]*toy/grpo"
              eval --model ${SEEK_TOY} --n 1)
seek_cli_test(usage_model_folder_empty 2 "no config[.]json there, so no model [(]a checkpoint folder holds"
              generate --model ${CMAKE_SOURCE_DIR}/cli --prompt 1)
# SEEK_SIMD narrows the vectors of core's dispatched loops for a measurement; a level it does not know is an error, not a fallback.
seek_cli_test(usage_bad_simd 1 "^seek info: error: SEEK_SIMD=bogus: expected scalar, avx2 or avx512" info --preset toy)
set_tests_properties(cli.usage_bad_simd PROPERTIES ENVIRONMENT "SEEK_SIMD=bogus")
