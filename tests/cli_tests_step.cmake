# seek step / compare / bench on the toy preset.
seek_cli_test(step_toy 0 "layers\\.0\\.attn\\.c_kv.*the latent" step --preset toy --prompt 12+34=)
seek_cli_test(step_bad_prompt 2 "unknown character .\\\\xc3. at byte 3" step --prompt café)
seek_cli_test(step_bad_attn 2 "--attn: attention implementation must be 'naive' or 'absorb'" step --attn fast)
seek_cli_test(step_bad_preset 2 "preset" step --preset nope)
seek_cli_test(step_unknown_option 2 "unknown option --colour" step --colour)

# Naive and absorbed traces agree name by name; decoding token by token agrees with the prefill.
seek_cli_test(step_trace_naive 0 "written" step --attn naive --prompt 7*8=56 --trace naive.safetensors --quiet)
seek_cli_test(step_trace_absorb 0 "written" step --attn absorb --prompt 7*8=56 --trace absorb.safetensors --quiet)
seek_cli_test(step_trace_decode 0 "written" step --attn absorb --decode --prompt 7*8=56 --trace decode.safetensors --quiet)
set_tests_properties(cli.step_trace_naive cli.step_trace_absorb cli.step_trace_decode PROPERTIES FIXTURES_SETUP step_traces)
seek_cli_test(compare_naive_absorb 0 "OK: every common tensor within 1e-05" compare naive.safetensors absorb.safetensors --tol 1e-5)
seek_cli_test(compare_decode_prefill 0 "layers\\.0\\.attn\\.out.*OK" compare absorb.safetensors decode.safetensors --tol 1e-5)
# naive and absorbed round differently, so a zero tolerance must fail: the check can fail
seek_cli_test(compare_zero_tol_fails 1 "FAIL: [0-9]+ tensor" compare naive.safetensors absorb.safetensors --tol 0)
set_tests_properties(cli.compare_naive_absorb cli.compare_decode_prefill cli.compare_zero_tol_fails
                     PROPERTIES FIXTURES_REQUIRED step_traces)
seek_cli_test(compare_missing_file 1 "missing\\.safetensors" compare missing.safetensors absorb.safetensors)
seek_cli_test(compare_one_file 2 "expected A B" compare absorb.safetensors)

seek_cli_test(bench_mla_toy 0 "absorb" bench mla --preset toy --context 64 --repeats 2)
seek_cli_test(bench_unknown 2 "unknown benchmark" bench sorting)
