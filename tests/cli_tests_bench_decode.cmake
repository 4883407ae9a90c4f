# seek bench decode: greedy decoding throughput, one sequence at a time and as one batch, and the
# PyTorch peer (tiny runs: the numbers are not checked, only that each part runs and reports).
seek_cli_test(bench_decode_toy 0 "one at a time \\(batch 1\\) +4 +[0-9]+.*one batch +6 +[0-9]+"
              bench decode --batch 6 --prompt 3 --new 5 --repeats 1)
seek_cli_test(bench_decode_json 0 "\"batched\".*\"of_peak\".*\"tokens_per_second\""
              bench decode --batch 2 --prompt 2 --new 3 --repeats 1 --json)
seek_cli_test(bench_decode_bad_length 2 "--prompt \\+ --new is 300, more than max_position_embeddings \\(256\\)"
              bench decode --prompt 100 --new 200)
seek_cli_test(bench_decode_bad_new 2 "--prompt and --new must be >= 1" bench decode --new 0)
seek_cli_test(bench_decode_too_big 2 "bench decode holds at most" bench decode --preset v3)
seek_cli_test(bench_decode_peer_missing 0 "PyTorch peer not run: the peer script no_such_peer.py is not there"
              bench decode --batch 1 --prompt 2 --new 2 --repeats 1 --peer --peer-script no_such_peer.py)
# With the peer: PyTorch's numbers where python3-torch is installed, the reason where it is not.
seek_cli_test(bench_decode_peer 0 "one batch +2 +[0-9]+ .*x|PyTorch peer not run: "
              bench decode --batch 2 --prompt 2 --new 3 --repeats 1 --peer
              --peer-script ${PROJECT_SOURCE_DIR}/scripts/bench_torch_decode.py)
