# seek route, the MoE half of seek step, and seek bench moe.
set(SEEK_MOE_CONFIGS ${CMAKE_CURRENT_SOURCE_DIR}/data/configs)

# The gate on a prompt: a per-token table, the load, MaxVio.
seek_cli_test(route_toy 0 "e[0-9]+/g[0-9] .*[(]sum 2[.]500[)].*MaxVio = max load / mean load - 1 = " route --preset toy)
seek_cli_test(route_v3 0 "256 routed experts in 8 groups of 32, top-4 groups, top-8 experts, sigmoid [+] bias"
              route --preset v3 --prompt hi)
seek_cli_test(route_v2_lite 0 "64 routed experts in 1 groups of 64, top-1 groups, top-6 experts, softmax.*bias: none"
              route --preset v2-lite --prompt hi)
seek_cli_test(route_json 0 "\"topk_idx\": \\[" route --json)
seek_cli_test(route_node_limit 0 "more than M = 1 groups: [1-6] of 6" route --node-limit 1)
seek_cli_test(route_help_math 0 "b_i <- b_i [+] gamma sign[(]mean load - load_i[)].*rho = exp[(]-1/drift_steps[)]" route --help)
seek_cli_test(route_dense_layer 2 "--layer 0 is not an MoE layer of toy" route --layer 0)
seek_cli_test(route_bad_group 1 "bad_group[.]json: n_routed_experts [(]10[)] not divisible by n_group [(]4[)]"
              route --config ${SEEK_MOE_CONFIGS}/bad_group.json)
seek_cli_test(route_bad_topk_group 1 "bad_topk_group[.]json: topk_group [(]1[)] groups of 4 experts hold fewer than num_experts_per_tok [(]5[)]"
              route --config ${SEEK_MOE_CONFIGS}/bad_topk_group.json --simulate)
seek_cli_test(route_unknown_option 2 "unknown option --colour" route --colour)

# The simulator, small: the three methods side by side, JSON summary, JSON lines.
seek_cli_test(route_simulate_toy 0 "none +aux_loss +bias.*start MaxVio.*the bias ends with"
              route --preset toy --simulate --steps 40 --tokens 256 --every 10)
seek_cli_test(route_simulate_json 0 "\"none_over_bias_end\""
              route --preset toy --simulate --steps 20 --tokens 128 --json)
seek_cli_test(route_simulate_out 0 "per-step JSON lines: route_sim[.]jsonl"
              route --preset toy --simulate --steps 20 --tokens 128 --out route_sim.jsonl)
seek_cli_test(route_simulate_bad_steps 2 "--steps must be >= 1" route --simulate --steps 0)
seek_cli_test(route_simulate_bad_gamma 2 "--gamma must be >= 0" route --simulate --gamma -1)
seek_cli_test(route_simulate_bad_drift 2 "--drift-steps must be > 0" route --simulate --drift-steps 0)
seek_cli_test(route_simulate_bad_out 1 "no/such/dir/x[.]jsonl: cannot open for writing"
              route --simulate --steps 1 --out no/such/dir/x.jsonl)

# seek step runs a dense block (layer 0) and an MoE block (layer 1) of the toy.
seek_cli_test(step_dense_ffn 0 "layers[.]0[.]ffn[.]out.*dense SwiGLU FFN output" step --values 2)
seek_cli_test(step_moe_trace 0 "layers[.]1[.]moe[.]topk_idx.*the experts chosen, best first.*layers[.]1[.]moe[.]out.*layers[.]1[.]out"
              step --values 2)
seek_cli_test(step_moe_load 0 "layers[.]1[.]moe: tokens per expert.*MaxVio" step --quiet)
seek_cli_test(step_one_layer 0 "layers 0[.][.]0 .*layer 0: MLA, then dense SwiGLU FFN" step --layers 1 --quiet)
seek_cli_test(step_bad_layers 2 "--layers must be between 1 and num_hidden_layers [(]4[)], got 0" step --layers 0)
seek_cli_test(step_too_many_layers 2 "--layers must be between 1 and num_hidden_layers [(]4[)], got 5" step --layers 5)
# Decoding token by token routes every token as the prefill does (traces from cli_tests_step.cmake).
seek_cli_test(compare_decode_prefill_moe 0 "layers[.]1[.]moe[.]out .*layers[.]1[.]out .*OK"
              compare absorb.safetensors decode.safetensors --tol 1e-5)
seek_cli_test(compare_naive_absorb_routing 0 "layers[.]1[.]moe[.]topk_idx +[[]6, 4[]] .*identical"
              compare naive.safetensors absorb.safetensors --tol 1e-5)
set_tests_properties(cli.compare_decode_prefill_moe cli.compare_naive_absorb_routing PROPERTIES FIXTURES_REQUIRED step_traces)

# One MoE layer on this CPU.
seek_cli_test(bench_moe_toy 0 "tokens/s: .*bound: the [0-9.]+ MB of weights this batch needs.*of the bound.*memory: weights held at most" bench moe --preset toy --tokens 16)
seek_cli_test(bench_moe_json 0 "\"compute_of_bound\".*\"tokens_per_second\"" bench moe --preset toy --tokens 8 --json)
seek_cli_test(bench_moe_bad_cache 2 "--cache must be >= 1 expert" bench moe --preset toy --cache 0)
seek_cli_test(bench_moe_bad_tokens 2 "--tokens must be >= 1" bench moe --preset toy --tokens 0)
