# seek bench train: training throughput per GEMM precision, and the PyTorch peer (tiny runs: the
# numbers are not checked, only that each part runs and reports).
seek_cli_test(bench_train_toy 0 "fp32 .*x.*bf16 .*fp8 .*OpenMP threads|precision.*fp32.*bf16.*fp8"
              bench train --batch 2 --seq 8 --warmup 1 --steps 2)
seek_cli_test(bench_train_json 0 "\"tokens_per_second\".*\"precision\": \"fp8\""
              bench train --batch 2 --seq 8 --warmup 0 --steps 1 --json)
seek_cli_test(bench_train_one_precision 0 "bf16 +[0-9.]+ +[0-9]+ +-"
              bench train --batch 1 --seq 4 --warmup 0 --steps 1 --precision bf16)
seek_cli_test(bench_train_bad_precision 2 "--precision: precision must be fp32, bf16 or fp8, got 'fp4'"
              bench train --precision fp32,fp4)
seek_cli_test(bench_train_bad_seq 2 "--seq must be between 3" bench train --seq 2)
seek_cli_test(bench_train_bad_steps 2 "--steps must be >= 1" bench train --steps 0)
seek_cli_test(bench_train_too_big 2 "bench train trains at most" bench train --preset v3)
# Without the peer script: a message, not a failure.
seek_cli_test(bench_train_peer_missing 0 "PyTorch peer not run: the peer script no_such_peer.py is not there"
              bench train --batch 1 --seq 4 --warmup 0 --steps 1 --precision fp32 --peer --peer-script no_such_peer.py)
# With it: PyTorch's number where python3-torch is installed, the reason where it is not.
seek_cli_test(bench_train_peer 0 "seek fp32 / PyTorch: [0-9.]+x|PyTorch peer not run: "
              bench train --batch 2 --seq 8 --warmup 1 --steps 2 --precision fp32 --peer
              --peer-script ${PROJECT_SOURCE_DIR}/scripts/bench_torch_train.py)
# --rounds: each round's figures in the JSON; the peer's per-round ratios where it is installed.
seek_cli_test(bench_train_rounds 0 "\"rounds\": \\[.*fp32_tokens_per_second.*fp32_tokens_per_second.*fp32_tokens_per_second"
              bench train --batch 1 --seq 4 --warmup 0 --steps 1 --precision fp32 --rounds 3 --json)
seek_cli_test(bench_train_rounds_peer 0 "round +seek fp32 +PyTorch +ratio.*2 +[0-9]+ +[0-9]+ +[0-9.]+x|PyTorch peer not run: "
              bench train --batch 2 --seq 8 --warmup 0 --steps 1 --precision fp32 --rounds 2 --peer
              --peer-script ${PROJECT_SOURCE_DIR}/scripts/bench_torch_train.py)
seek_cli_test(bench_train_bad_rounds 2 "--rounds must be between 1 and 20" bench train --rounds 0)
