# seek fp8 (encode, quant, gemm) and seek convert.

# fp8: dispatch and help
seek_cli_test(fp8_no_subcommand 2 "expected a subcommand: encode, quant or gemm" fp8)
seek_cli_test(fp8_unknown_subcommand 2 "unknown subcommand 'cast'" fp8 cast)
seek_cli_test(fp8_help_lists_subcommands 0 "seek fp8 encode VALUE.*seek fp8 quant.*seek fp8 gemm" fp8 --help)
foreach(sub encode quant gemm)
  seek_cli_test(fp8_${sub}_help 0 "usage: seek fp8 ${sub}" fp8 ${sub} --help)
endforeach()
seek_cli_test(fp8_gemm_help_model 0 "truncated toward zero" fp8 gemm --help)

# fp8 encode: round to nearest even, saturation, the special values
seek_cli_test(fp8_encode_value 0 "300[.]7.*E4M3 +0x79 +0[.]1111[.]001 +288 +-12[.]7" fp8 encode 300.7)
seek_cli_test(fp8_encode_tie_to_even 0 "E4M3 +0x7e +0[.]1111[.]110 +448 +-16 +-0[.]5000" fp8 encode 464)
seek_cli_test(fp8_encode_saturates 0 "E4M3 +0x7e .*E5M2 +0x7b +0[.]11110[.]11 +57344" fp8 encode 1e9)
seek_cli_test(fp8_encode_nosat 0 "E4M3 +0x7f +0[.]1111[.]111 +nan.*E5M2 +0x7c .* inf" fp8 encode --nosat 1e9)
seek_cli_test(fp8_encode_negative_subnormal 0 "E4M3 +0x81 +1[.]0000[.]001 +-0[.]001953125" fp8 encode -0.002)
seek_cli_test(fp8_encode_bf16 0 "BF16 +0x3dcd +0[.]01111011[.]1001101" fp8 encode 0.1)
seek_cli_test(fp8_encode_json 0 "\"code\": 126" fp8 encode 448 --json)
seek_cli_test(fp8_encode_not_a_number 2 "VALUE: expected a number, got 'lots'" fp8 encode lots)
seek_cli_test(fp8_encode_nothing 2 "expected VALUE" fp8 encode)

# fp8 quant: 1x128 keeps the outlier-heavy activations far better than one scale per tensor
seek_cli_test(fp8_quant_small 0 "activations.*per-tensor +\\[1, 1\\].*1x128 +\\[32, 4\\].*128x128 +\\[1, 4\\].*weights"
              fp8 quant --tokens 32 --channels 512 --weight-rows 64)
seek_cli_test(fp8_quant_json 0 "\"snr_db\"" fp8 quant --tokens 8 --channels 256 --weight-rows 8 --json)
seek_cli_test(fp8_quant_ue8m0 0 "UE8M0 scales" fp8 quant --tokens 8 --channels 256 --weight-rows 8 --ue8m0)
seek_cli_test(fp8_quant_bad_tokens 2 "--tokens must be between 1" fp8 quant --tokens 0)
seek_cli_test(fp8_quant_bad_outliers 2 "--outlier-channels must be between 0 and --channels" fp8 quant --channels 256 --outlier-channels 300)

# fp8 gemm: the error table over K and its argument checks
seek_cli_test(fp8_gemm_small 0 "14-bit accumulator.* 256 .* 1024 " fp8 gemm --m 8 --n 8 --k 256,1024)
seek_cli_test(fp8_gemm_json 0 "\"no_promotion\"" fp8 gemm --m 4 --n 4 --k 512 --json --data uniform)
seek_cli_test(fp8_gemm_bad_data 2 "--data must be 'normal' or 'uniform'" fp8 gemm --data gaussian)
seek_cli_test(fp8_gemm_bad_promote 2 "--promote must be 0 or a positive multiple of --group" fp8 gemm --promote 100)
seek_cli_test(fp8_gemm_bad_bits 2 "--accum-bits must be between 2 and 40" fp8 gemm --accum-bits 1)
seek_cli_test(fp8_gemm_bad_k 2 "--k: each K must be between 1 and" fp8 gemm --k 256,0)

# seek convert: f32 -> fp8 -> bf16 -> f32 on a small checkpoint, and broken FP8 inputs. The
# inputs are written by a hidden unit test (test_checkpoint.cpp) into the CLI working directory.
add_test(NAME cli.convert_inputs COMMAND seek_tests "[convert_inputs]" WORKING_DIRECTORY ${SEEK_CLI_WORKDIR})
set_tests_properties(cli.convert_inputs PROPERTIES LABELS cpu FIXTURES_SETUP convert_inputs)

seek_cli_test(convert_to_fp8 0 "4 BF16 4 F32 3 F8_E4M3.*with quantization_config" convert --in convert_in --out converted_fp8 --to fp8)
seek_cli_test(convert_fp8_to_bf16 0 "7 BF16 1 F32.*without quantization_config" convert --in converted_fp8 --out converted_bf16 --to bf16)
seek_cli_test(convert_bf16_to_f32 0 "8 F32" convert --in converted_bf16 --out converted_f32 --to f32)
seek_cli_test(convert_ue8m0 0 "F8_E4M3" convert --in convert_in --out converted_ue8m0 --to fp8 --ue8m0)
set_tests_properties(cli.convert_to_fp8 cli.convert_ue8m0 PROPERTIES FIXTURES_REQUIRED convert_inputs)
set_tests_properties(cli.convert_to_fp8 PROPERTIES FIXTURES_SETUP converted_fp8)
set_tests_properties(cli.convert_fp8_to_bf16 PROPERTIES FIXTURES_REQUIRED converted_fp8 FIXTURES_SETUP converted_bf16)
set_tests_properties(cli.convert_bf16_to_f32 PROPERTIES FIXTURES_REQUIRED converted_bf16)

seek_cli_test(convert_missing_scale 1
              "tensor 'model[.]layers[.]1[.]mlp[.]experts[.]0[.]down_proj[.]weight' is F8_E4M3 .*no '.*down_proj[.]weight_scale_inv'"
              convert --in convert_missing_scale --out converted_never --to bf16)
seek_cli_test(convert_bad_scale 1 "kv_a_proj_with_mqa[.]weight_scale_inv' has shape \\[1, 1\\], expected \\[2, 1\\]"
              convert --in convert_bad_scale --out converted_never --to f32)
seek_cli_test(convert_truncated 1 "convert_truncated/model[.]safetensors: tensor 'lm_head[.]weight'.*extend past"
              convert --in convert_truncated --out converted_never --to fp8)
set_tests_properties(cli.convert_missing_scale cli.convert_bad_scale cli.convert_truncated
                     PROPERTIES FIXTURES_REQUIRED convert_inputs)
seek_cli_test(convert_no_config 1 "no_such_dir/config[.]json: cannot open" convert --in no_such_dir --out x --to f32)
seek_cli_test(convert_bad_precision 2 "--to: unknown precision 'fp16'" convert --in convert_in --out x --to fp16)
seek_cli_test(convert_missing_in 2 "missing required option --in DIR" convert --out x --to f32)
seek_cli_test(convert_ue8m0_needs_fp8 2 "--ue8m0 goes with --to fp8" convert --in convert_in --out x --to bf16 --ue8m0)
