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

seek_cli_test(bench_mla_toy 0 "memory GB/s +bound ms +of bound.*absorb +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+.*bandwidth measured between.*projections alone.*absorb [0-9.]+ of their bound.*floor: .*GFLOP/s.*absorb [0-9.]+ ms \\([0-9.]+ of it\\)" bench mla --preset toy --context 64 --repeats 2)
seek_cli_test(bench_unknown 2 "unknown benchmark" bench sorting)

# Any checkpoint through all its layers and the logits: the bundled GRPO model, and the same model
# converted to FP8, compared with the tolerance rule at the FP8 checkpoint's precision.
set(SEEK_TOY_GRPO ${CMAKE_SOURCE_DIR}/data/toy/grpo)
seek_cli_test(step_model 0 "all 4 layers.*final_norm.*layers\\.3\\.moe.*next token: '<think>'"
              step --model ${SEEK_TOY_GRPO} --prompt 12+34= --values 2)
seek_cli_test(step_model_logits 0 "trace: 1 tensors written to logits\\.safetensors"
              step --model ${SEEK_TOY_GRPO} --prompt 12+34= --filter logits --trace logits.safetensors --quiet)
seek_cli_test(step_model_mtp 0 "mtp\\.in.*mtp\\.attn\\.c_kv.*mtp\\.logits" step --model ${SEEK_TOY_GRPO} --filter 'mtp.*' --values 1)
seek_cli_test(step_model_tokens 0 "tokens: 3: '<bos>'=1 '1'=49 '2'=50" step --model ${SEEK_TOY_GRPO} --tokens 1,49,50 --quiet)
seek_cli_test(convert_grpo_fp8 0 "fp8" convert --in ${SEEK_TOY_GRPO} --out grpo_fp8 --to fp8)
set_tests_properties(cli.convert_grpo_fp8 PROPERTIES FIXTURES_SETUP grpo_fp8)
seek_cli_test(step_model_fp8_logits 0 "trace: 1 tensors written"
              step --model grpo_fp8 --prompt 12+34= --filter logits --trace logits_fp8.safetensors --quiet)
set_tests_properties(cli.step_model_logits PROPERTIES FIXTURES_SETUP grpo_logits)
set_tests_properties(cli.step_model_fp8_logits PROPERTIES FIXTURES_REQUIRED grpo_fp8 FIXTURES_SETUP grpo_logits)
seek_cli_test(compare_fp8_logits 0 "tolerance rule at fp8.*OK: every common tensor within the tolerance rule"
              compare logits.safetensors logits_fp8.safetensors --tol auto)
set_tests_properties(cli.compare_fp8_logits PROPERTIES FIXTURES_REQUIRED grpo_logits)
seek_cli_test(step_model_and_preset 2 "--preset is for generated weights" step --model ${SEEK_TOY_GRPO} --preset toy)
seek_cli_test(step_prompt_and_tokens 2 "give --prompt or --tokens, not both" step --prompt 1 --tokens 1)
seek_cli_test(step_token_outside 2 "--tokens: token 500 at position 1 is outside the vocabulary" step --tokens 2,500)
seek_cli_test(step_model_missing 1 "nowhere" step --model nowhere)

# The same checkpoint with gpu/'s kernels in the emulator, every op of the kernel table on them:
# every tensor within the FP32 rule. Prefill with the absorbed attention (latent_attention's
# split-KV kernel), the naive form (attention's kernel) and token-by-token decoding (T = 1 over a
# growing cache); and the FP8 checkpoint, whose dequantized weights both sides multiply in FP32
# (so 1e-5 holds there too, not only the fp8 rule's 0.3).
set(SEEK_TABLE_OPS "embedding rms_norm rope linear attention latent_attention route moe_dispatch moe_experts moe_combine swiglu")
seek_cli_test(step_model_emu 0 "ops on it: ${SEEK_TABLE_OPS}\n.*latent_attention +gpu/mla_decode\.cu variant 2"
              step --model ${SEEK_TOY_GRPO} --prompt 12+34= --device emu --trace emu.safetensors --quiet)
seek_cli_test(step_model_cpu 0 "written" step --model ${SEEK_TOY_GRPO} --prompt 12+34= --trace cpu.safetensors --quiet)
seek_cli_test(step_naive_emu 0 "written" step --model ${SEEK_TOY_GRPO} --prompt 7*8=56 --attn naive --device emu
              --trace naive_emu.safetensors --quiet)
seek_cli_test(step_naive_cpu 0 "written" step --model ${SEEK_TOY_GRPO} --prompt 7*8=56 --attn naive --trace naive_cpu.safetensors --quiet)
seek_cli_test(step_decode_emu 0 "written" step --model ${SEEK_TOY_GRPO} --prompt 9-5= --decode --device emu
              --trace decode_emu.safetensors --quiet)
seek_cli_test(step_decode_cpu 0 "written" step --model ${SEEK_TOY_GRPO} --prompt 9-5= --decode --trace decode_cpu.safetensors --quiet)
set_tests_properties(cli.step_model_emu cli.step_model_cpu cli.step_naive_emu cli.step_naive_cpu cli.step_decode_emu
                     cli.step_decode_cpu PROPERTIES FIXTURES_SETUP emu_traces)
seek_cli_test(compare_cpu_emu 0 "OK: every common tensor within the tolerance rule \\(f32\\)"
              compare cpu.safetensors emu.safetensors --tol auto)
seek_cli_test(compare_cpu_emu_naive 0 "layers\\.0\\.attn\\.probs.*OK: every common tensor within the tolerance rule \\(f32\\)"
              compare naive_cpu.safetensors naive_emu.safetensors --tol auto)
seek_cli_test(compare_cpu_emu_decode 0 "OK: every common tensor within the tolerance rule \\(f32\\)"
              compare decode_cpu.safetensors decode_emu.safetensors --tol auto)
set_tests_properties(cli.compare_cpu_emu cli.compare_cpu_emu_naive cli.compare_cpu_emu_decode
                     PROPERTIES FIXTURES_REQUIRED emu_traces)
seek_cli_test(step_fp8_emu 0 "written" step --model grpo_fp8 --prompt 12+34= --device emu --trace fp8_emu.safetensors --quiet)
seek_cli_test(step_fp8_cpu 0 "written" step --model grpo_fp8 --prompt 12+34= --trace fp8_cpu.safetensors --quiet)
set_tests_properties(cli.step_fp8_emu cli.step_fp8_cpu PROPERTIES FIXTURES_REQUIRED grpo_fp8 FIXTURES_SETUP fp8_emu_traces)
seek_cli_test(compare_cpu_emu_fp8 0 "OK: every common tensor within 1e-05 relative"
              compare fp8_cpu.safetensors fp8_emu.safetensors --tol 1e-5)
set_tests_properties(cli.compare_cpu_emu_fp8 PROPERTIES FIXTURES_REQUIRED fp8_emu_traces)
seek_cli_test(step_bad_device 2 "--device: device must be cpu, emu or cuda, got 'tpu'" step --device tpu)
# Every kernel and variant in the emulator at the toy's sizes; every op of the kernel table has one.
seek_cli_test(kernels_emu 0 "grpo +1 .* ok.*[0-9]+ kernel variants: [0-9]+ within tolerance, 0 beyond" kernels --device emu)
seek_cli_test(kernels_ops 0 "ops: ${SEEK_TABLE_OPS} " kernels --help)
seek_cli_test(kernels_emu_json 0 "failures.: 0,.*name.: .topk_idx" kernels --device emu --op route --json)
# Without a GPU (or without CUDA in the build) a clear error; with one, the check runs.
seek_cli_test(kernels_cuda "0|1" "--device cuda: (no CUDA device|this build has no CUDA)|within tolerance"
              kernels --device cuda --op rms_norm --scale small --repeats 2)
seek_cli_test(step_cuda "0|1" "--device cuda: (no CUDA device|this build has no CUDA)|written"
              step --model ${SEEK_TOY_GRPO} --prompt 12+34= --device cuda --trace cuda.safetensors --quiet)
seek_cli_test(kernels_bad_op 2 "--op: no kernel for 'frobnicate'" kernels --op frobnicate)
