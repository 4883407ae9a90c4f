# seek info and seek kv: exact analytics of a model shape, and their usage errors.
set(SEEK_CONFIGS ${CMAKE_CURRENT_SOURCE_DIR}/data/configs)

# info
seek_cli_test(info_v3 0 "671[.]03 B.*671,026,419,200.*36[.]63 B" info --preset v3)
seek_cli_test(info_v2_lite 0 "15[.]71 B.*15,706,484,224.*2,451,435,008" info --preset v2-lite)
seek_cli_test(info_toy 0 "578,352" info --preset toy)
seek_cli_test(info_v3_mtp 0 "MTP module.*11,610,068,224" info --preset v3)
seek_cli_test(info_flops 0 "FLOPs per token.*131,072" info --preset v3 --context 128k)
seek_cli_test(info_json 0 "\"total\": 671026419200" info --preset v3 --json)
seek_cli_test(info_config_file 0 "671,026,419,200" info --config ${SEEK_CONFIGS}/deepseek-v3-config.json)
seek_cli_test(info_help_formulas 0 "Activated = what one token uses" info --help)
seek_cli_test(info_unknown_preset 2 "unknown preset 'nope'" info --preset nope)
seek_cli_test(info_context_zero 2 "--context must be between 1" info --context 0)
seek_cli_test(info_context_negative 2 "--context must be between 1" info --context -5)
seek_cli_test(info_context_not_a_number 2 "--context" info --context lots)
seek_cli_test(info_preset_and_config 2 "not both" info --preset v3 --config ${SEEK_CONFIGS}/deepseek-v3-config.json)
seek_cli_test(info_bad_group 1 "bad_group[.]json: n_routed_experts [(]10[)] not divisible by n_group [(]4[)]"
              info --config ${SEEK_CONFIGS}/bad_group.json)
seek_cli_test(info_bad_type 1 "bad_type[.]json: field 'kv_lora_rank' must be an integer"
              info --config ${SEEK_CONFIGS}/bad_type.json)
seek_cli_test(info_bad_json 1 "bad_json[.]json: invalid JSON" info --config ${SEEK_CONFIGS}/bad_json.json)
seek_cli_test(info_missing_file 1 "cannot open" info --config ${SEEK_CONFIGS}/no_such_file.json)

# kv
seek_cli_test(kv_v3 0 "70,272" kv --preset v3 --context 128k)
seek_cli_test(kv_v3_mha 0 "MHA +32,768 +1,998,848 +3,997,696" kv --preset v3 --context 128k)
seek_cli_test(kv_v3_context 0 "131,072 tokens.*9,210,691,584" kv --preset v3 --context 128k)
seek_cli_test(kv_json 0 "\"bytes_per_token_bf16\": 70272" kv --preset v3 --json)
seek_cli_test(kv_toy_default_groups 0 "n_g = 4" kv --preset toy)
seek_cli_test(kv_groups 0 "GQA +4,096 +249,856" kv --preset v3 --groups 16)
seek_cli_test(kv_help_formulas 0 "[(]d_c [+] d_h.R[)][*]l" kv --help)
seek_cli_test(kv_context_zero 2 "--context must be between 1" kv --context 0)
seek_cli_test(kv_context_negative 2 "--context must be between 1" kv --context -1k)
seek_cli_test(kv_groups_not_dividing 2 "--groups: GQA groups [(]3[)] must divide num_attention_heads [(]128[)]"
              kv --preset v3 --groups 3)
seek_cli_test(kv_groups_zero 2 "--groups" kv --preset v3 --groups 0)
seek_cli_test(kv_unknown_preset 2 "unknown preset 'nope'" kv --preset nope)
seek_cli_test(kv_bad_group 1 "n_routed_experts [(]10[)] not divisible" kv --config ${SEEK_CONFIGS}/bad_group.json)
