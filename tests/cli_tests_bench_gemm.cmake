# seek bench gemm: the GEMMs of linear.h against the measured peak (tiny timings: the table's shape
# and columns, not the speed, are what a test can hold).
seek_cli_test(bench_gemm_toy 0 "peak, measured: [0-9.]+ GFLOP/s.*q_a_proj +16 +32 +64 .*lm_head +16 +128 +64 .*the shapes above together.*square +24 +24 +24"
              bench gemm --batch 1 --seq 16 --large 24 --time 0.001)
seek_cli_test(bench_gemm_json 0 "\"peak_gflops\".*\"layer\": \"kv_b_proj\".*\"toy_backward_gflops\""
              bench gemm --batch 1 --seq 8 --large 8 --time 0.001 --json)
seek_cli_test(bench_gemm_bad_large 2 "--large: '0' is not a size between 1 and 8192" bench gemm --large 512,0)
seek_cli_test(bench_gemm_bad_time 2 "--time must be between 0 and 60 seconds" bench gemm --time 0)
seek_cli_test(bench_gemm_too_large 2 "has an operand over 64M values" bench gemm --preset v3 --large 8)
