# seek train and seek generate: option errors, a short run, resume rules, generation.
seek_cli_test(train_needs_out 2 "--out" train --steps 1)
seek_cli_test(train_bad_precision 2 "--precision: precision must be fp32, bf16 or fp8, got 'fp4'" train --out t_bad --precision fp4)
seek_cli_test(train_bad_task 2 "div:3" train --out t_bad --task div:3)
seek_cli_test(train_bad_mix 2 "--mix: expected four comma-separated shares" train --out t_bad --mix 1,2)
seek_cli_test(train_resume_nothing 2 "holds no saved run" train --out t_nothing --resume)

# A short run, then the rules around its directory (fixtures keep the order under ctest -j; the
# first removes what an earlier ctest run left).
add_test(NAME cli.train_clean COMMAND ${CMAKE_COMMAND} -E rm -rf ${SEEK_CLI_WORKDIR}/t_short ${SEEK_CLI_WORKDIR}/t_grpo_file)
set_tests_properties(cli.train_clean PROPERTIES LABELS cpu FIXTURES_SETUP train_clean)
seek_cli_test(train_short 0 "done: step 6, loss [0-9.]+  held-out [0-9.]+" train --out t_short --steps 6 --batch 4 --eval-every 3 --save-every 3)
seek_cli_test(train_refuses_overwrite 2 "already holds a run: pass --resume" train --out t_short --steps 6)
seek_cli_test(train_resume_keeps_options 2 "--steps cannot change them" train --out t_short --resume --steps 9)
seek_cli_test(generate_greedy 0 "<bos>12[+]34=.*" generate --model t_short --prompt 12+34= --max-new 8)
seek_cli_test(generate_json 0 "\"completions\": \\[" generate --model t_short --prompt 12+34= --max-new 4 --temperature 1 --samples 2 --json)
seek_cli_test(generate_unknown_character 2 "unknown character .\\\\xc3. at byte 8" generate --model t_short --prompt café)
seek_cli_test(generate_bad_top_p 2 "--top-p must be in [(]0, 1[]], got .0." generate --model t_short --prompt 1 --temperature 1 --top-p 0)
seek_cli_test(generate_missing_model 1 "t_missing" generate --model t_missing --prompt 1)
set_tests_properties(cli.train_short PROPERTIES FIXTURES_SETUP train_short FIXTURES_REQUIRED train_clean)
set_tests_properties(cli.train_refuses_overwrite cli.train_resume_keeps_options cli.generate_greedy cli.generate_json
                     cli.generate_unknown_character cli.generate_bad_top_p
                     PROPERTIES FIXTURES_REQUIRED train_short)

add_test(NAME cli.train_interrupt_resume COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/train_interrupt.sh $<TARGET_FILE:seek>)
set_tests_properties(cli.train_interrupt_resume PROPERTIES LABELS cpu)

# seek grpo and seek eval on the short run's model
seek_cli_test(grpo_needs_model 2 "missing required option --model DIR: the model to start from" grpo --out t_grpo_none)
seek_cli_test(grpo_bad_loss 2 "--loss: loss aggregation must be grpo, dapo or dr-grpo, got 'ppo'" grpo --model t_short --out t_grpo_bad --loss ppo)
seek_cli_test(grpo_bad_group 2 "group >= 2" grpo --model t_short --out t_grpo_bad --group 1)
seek_cli_test(grpo_bad_task 2 "mul:12" grpo --model t_short --out t_grpo_bad --task mul:12)
seek_cli_test(grpo_missing_model 1 "t_missing" grpo --model t_missing --out t_grpo_bad)
seek_cli_test(eval_short 0 "accuracy +format +think.*0 [(]greedy[)] +[0-9.]+%" eval --model t_short --task add:1 --n 5 --max-new 8)
seek_cli_test(eval_json 0 "\"think_rate\"" eval --model t_short --task add:1 --n 3 --max-new 8 --json)
seek_cli_test(eval_bad_temperature 2 "--temperatures: 'hot' is not a temperature" eval --model t_short --temperatures 0,hot)
set_tests_properties(cli.grpo_bad_loss cli.grpo_bad_group cli.grpo_bad_task cli.eval_short cli.eval_json
                     cli.eval_bad_temperature PROPERTIES FIXTURES_REQUIRED train_short)

# problem files for seek grpo and seek eval
set(SEEK_PROBLEMS ${CMAKE_CURRENT_SOURCE_DIR}/data/problems.txt)
seek_cli_test(eval_problem_file 0 "on 3 problems of .*problems.txt [(]1 held out from training[)]" eval --model t_short --problems ${SEEK_PROBLEMS} --max-new 8 --temperatures 0)
seek_cli_test(eval_bad_problem_file 1 "problems_bad.txt:4: '12[+]3x': operand '3x' is not a whole number" eval --model t_short --problems ${CMAKE_CURRENT_SOURCE_DIR}/data/problems_bad.txt)
seek_cli_test(grpo_bad_problem_file 1 "problems_bad.txt:4: '12[+]3x'" grpo --model t_short --out t_grpo_bad --problems ${CMAKE_CURRENT_SOURCE_DIR}/data/problems_bad.txt)
seek_cli_test(grpo_problem_file 0 "done: reward" grpo --model t_short --out t_grpo_file --problems ${SEEK_PROBLEMS} --steps 2 --prompts 2 --group 2 --max-new 6 --sample-prompts 1)
set_tests_properties(cli.eval_problem_file cli.eval_bad_problem_file cli.grpo_bad_problem_file cli.grpo_problem_file
                     PROPERTIES FIXTURES_REQUIRED train_short)
