# Viewer tests (label viewer): seekscope draws under Xvfb, saves a screenshot, and check_png reads
# it back. Without xvfb-run the Xvfb tests are still registered, and skip saying why.
add_executable(check_png check_png.cpp)
target_link_libraries(check_png PRIVATE seek_stb)

find_program(SEEK_XVFB_RUN xvfb-run)
set(SEEK_VIEWER_WORKDIR ${CMAKE_BINARY_DIR}/viewer_tests)
file(MAKE_DIRECTORY ${SEEK_VIEWER_WORKDIR})
file(WRITE ${SEEK_VIEWER_WORKDIR}/corrupt.safetensors "this is not a safetensors file\n")
# Logs for the GRPO panel: one with no usable line, and the GRPO fixture with a bad line 3.
file(WRITE ${SEEK_VIEWER_WORKDIR}/corrupt_log.jsonl "this is not a log\n{\"step\": 1}\n")
file(STRINGS ${CMAKE_SOURCE_DIR}/tests/data/grpo_fixture.jsonl SEEK_GRPO_FIXTURE_LINES)
list(INSERT SEEK_GRPO_FIXTURE_LINES 2 "{\"kind\": \"step\", \"step\": \"three\"}")
list(JOIN SEEK_GRPO_FIXTURE_LINES "\n" SEEK_GRPO_FIXTURE_TEXT)
file(WRITE ${SEEK_VIEWER_WORKDIR}/partial_log.jsonl "${SEEK_GRPO_FIXTURE_TEXT}\n")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/data/grpo_fixture.jsonl)

# seek_viewer_test(NAME "seekscope options" "check_png options" [STDERR_REGEX [OUTPUT_REGEX]])
# STDERR_REGEX: seekscope's stderr must match ("" for no check); OUTPUT_REGEX: its stdout and stderr.
function(seek_viewer_test name args checks)
  if(SEEK_XVFB_RUN)
    set(expect_stderr "")
    if(ARGC GREATER 3 AND NOT "${ARGV3}" STREQUAL "")
      set(expect_stderr "-DEXPECT_STDERR=${ARGV3}")
    endif()
    set(expect_output "")
    if(ARGC GREATER 4)
      set(expect_output "-DEXPECT_VIEWER_OUTPUT=${ARGV4}")
    endif()
    add_test(NAME viewer.${name}
             COMMAND ${CMAKE_COMMAND} -DXVFB_RUN=${SEEK_XVFB_RUN} -DSEEKSCOPE=$<TARGET_FILE:seekscope> "-DARGS=${args}"
                     -DPNG=${SEEK_VIEWER_WORKDIR}/${name}.png -DCHECK_PNG=$<TARGET_FILE:check_png> "-DCHECKS=${checks}"
                     ${expect_stderr} ${expect_output} -DWORKDIR=${SEEK_VIEWER_WORKDIR}
                     -P ${CMAKE_CURRENT_SOURCE_DIR}/run_viewer.cmake)
  else()
    add_test(NAME viewer.${name} COMMAND sh -c "echo 'skipped: xvfb-run not found (scripts/setup.sh installs xvfb)'; exit 77")
    set_tests_properties(viewer.${name} PROPERTIES SKIP_RETURN_CODE 77)
  endif()
  # One Xvfb at a time: parallel `xvfb-run -a` can race for the same display number.
  set_tests_properties(viewer.${name} PROPERTIES LABELS viewer RESOURCE_LOCK xvfb)
endfunction()

# Without a display: the command line.
foreach(case "help;0;usage: seekscope;--help" "unknown_panel;2;no panel 'nope';--panel nope"
             "compare_needs_two;2;needs two trace files;--compare a.safetensors")
  list(GET case 0 name)
  list(GET case 1 exit)
  list(GET case 2 regex)
  list(GET case 3 args)
  add_test(NAME viewer.${name}
           COMMAND ${CMAKE_COMMAND} "-DCOMMAND=$<TARGET_FILE:seekscope> ${args}" -DEXPECT_EXIT=${exit}
                   "-DEXPECT_OUTPUT=${regex}" -P ${CMAKE_CURRENT_SOURCE_DIR}/run_cli.cmake)
  set_tests_properties(viewer.${name} PROPERTIES LABELS viewer)
endforeach()

# Every panel renders on the toy model: one test per viewer/panel_NAME.cpp (`--panel NAME`, with
# dashes for underscores), so a new panel is covered by adding its file.
file(GLOB SEEK_PANEL_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/viewer/panel_*.cpp)
foreach(source ${SEEK_PANEL_SOURCES})
  get_filename_component(panel ${source} NAME_WE)
  string(REGEX REPLACE "^panel_" "" panel ${panel})
  string(REPLACE "_" "-" panel ${panel})
  seek_viewer_test(panel.${panel} "--panel ${panel} --size 1600x1000" "--size 1600,1000 --not-blank")
endforeach()

# A projector's 1280x800 at scale 1, and 1920x1080 at scale 1.5: every tab's panel is complete.
# seekscope --layout writes each chart's plotting area and each view's content rectangle
# (viewer/layout.h); check_png fails when one leaves the window or the view that holds it (cut
# off), when a chart is squeezed under 80x50 pixels, or shows nothing in the screenshot.
foreach(panel forward mla moe fp8 compare grpo)
  set(extra "")
  if(panel STREQUAL "compare")
    set(extra "--compare naive.safetensors absorb.safetensors")
  elseif(panel STREQUAL "grpo")
    set(extra "--log ${CMAKE_SOURCE_DIR}/data/toy/grpo/grpo.jsonl")
  endif()
  foreach(size_scale "1280x800;1" "1920x1080;1.5")
    list(GET size_scale 0 size)
    list(GET size_scale 1 scale)
    string(REPLACE "x" "," png_size ${size})
    seek_viewer_test(layout.${panel}.${size}
                     "--panel ${panel} ${extra} --size ${size} --scale ${scale} --layout ${SEEK_VIEWER_WORKDIR}/layout.${panel}.${size}.txt"
                     "--size ${png_size} --not-blank --layout ${SEEK_VIEWER_WORKDIR}/layout.${panel}.${size}.txt")
  endforeach()
endforeach()
set_tests_properties(viewer.layout.compare.1280x800 viewer.layout.compare.1920x1080 PROPERTIES FIXTURES_REQUIRED viewer_traces)

# Known tensors, known colours: the heatmap-test panel draws 4x4 ramps with 100 px cells from
# (100, 200) and (600, 200); the centres of the cells holding the colour maps' stops must have
# the stops' colours: viridis #440154 #31688e #35b779 #fde725 down the magnitude ramp's diagonal,
# RdBu #2166ac #92c5de #f7f7f7 #f4a582 down the signed ramp's first column.
seek_viewer_test(heatmap_colours "--panel heatmap-test --size 1000x800"
                 "--pixel 150,250,68,1,84 --pixel 250,350,49,104,142 --pixel 350,450,53,183,121 --pixel 450,550,253,231,37 --pixel 650,250,33,102,172 --pixel 650,350,146,197,222 --pixel 650,450,247,247,247 --pixel 650,550,244,165,130")

# Trace files from `seek step`, for the tests that open them.
add_test(NAME viewer.make_traces
         COMMAND sh -c "$<TARGET_FILE:seek> step --attn naive --trace naive.safetensors --quiet && $<TARGET_FILE:seek> step --attn absorb --trace absorb.safetensors --quiet"
         WORKING_DIRECTORY ${SEEK_VIEWER_WORKDIR})
set_tests_properties(viewer.make_traces PROPERTIES LABELS viewer FIXTURES_SETUP viewer_traces)
seek_viewer_test(trace_file "--trace naive.safetensors --tensor layers.0.attn.k_nope" "--not-blank")
seek_viewer_test(compare_files "--panel compare --compare naive.safetensors absorb.safetensors" "--not-blank")
set_tests_properties(viewer.trace_file viewer.compare_files PROPERTIES FIXTURES_REQUIRED viewer_traces)

# Files that cannot be read: the error is on stderr and on the window's red banner (140, 30, 30),
# the viewer draws on and exits 0.
seek_viewer_test(missing_trace "--trace missing.safetensors --panel compare" "--not-blank --count 140,30,30,5000"
                 "could not open the trace: missing.safetensors: cannot open")
seek_viewer_test(corrupt_trace "--trace corrupt.safetensors" "--not-blank --count 140,30,30,5000"
                 "could not open the trace: corrupt.safetensors")
seek_viewer_test(corrupt_comparison "--panel compare --compare corrupt.safetensors missing.safetensors"
                 "--not-blank --count 140,30,30,5000" "could not compare the traces: corrupt.safetensors")

# The GRPO panel on logs: tests/data/grpo_fixture.jsonl (made by make_grpo_fixture.py in the format
# `seek grpo` writes) must draw its sampled groups (the "correct" badges, 0,171,120) and their
# <answer> text (240,228,66); tests/data/train_fixture.jsonl (a real `seek train --steps 40 --batch 8
# --eval-every 10` log) its four curves, MaxVio's fourth block in yellow (240,228,66).
seek_viewer_test(grpo_log "--panel grpo --view samples --log ${CMAKE_SOURCE_DIR}/tests/data/grpo_fixture.jsonl --size 1600x1000"
                 "--not-blank --count 0,171,120,2000 --count 240,228,66,200")
seek_viewer_test(train_log "--panel grpo --log ${CMAKE_SOURCE_DIR}/tests/data/train_fixture.jsonl --size 1600x1000"
                 "--not-blank --count 240,228,66,500")
# Logs that cannot be read, wholly or in part: reported (file and line) on stderr and in the banner;
# the good lines of a partly bad log still draw.
seek_viewer_test(corrupt_log "--panel grpo --log corrupt_log.jsonl" "--not-blank --count 140,30,30,5000"
                 "corrupt_log.jsonl:1: not JSON.*could not read the log: corrupt_log.jsonl")
seek_viewer_test(partial_log "--panel grpo --view samples --log partial_log.jsonl" "--not-blank --count 140,30,30,5000 --count 0,171,120,2000"
                 "partial_log.jsonl:3: .step. is string, not a number")
seek_viewer_test(missing_log "--panel grpo --log missing.jsonl" "--not-blank --count 140,30,30,5000"
                 "could not read the log: missing.jsonl: cannot open")

# --model: a checkpoint from `seek train` runs the live forward pass (all its layers, so the trace
# ends in logits, which the generated 2-layer run does not have); a missing directory or a corrupt
# checkpoint is reported and the viewer falls back to generated weights.
add_test(NAME viewer.make_model
         COMMAND sh -c "rm -rf model corrupt_model && $<TARGET_FILE:seek> train --steps 2 --batch 2 --eval-every 0 --out model && mkdir corrupt_model && cp model/config.json corrupt_model/ && echo 'not safetensors' > corrupt_model/model.safetensors"
         WORKING_DIRECTORY ${SEEK_VIEWER_WORKDIR})
set_tests_properties(viewer.make_model PROPERTIES LABELS viewer FIXTURES_SETUP viewer_model)
seek_viewer_test(model_forward "--model model --tensor logits" "--not-blank" "" "seekscope: model model .4 layers")
seek_viewer_test(model_mla "--model model --panel mla" "--not-blank" "" "seekscope: model model")
seek_viewer_test(missing_model "--model no_such_model" "--not-blank --count 140,30,30,5000"
                 "could not load the model from no_such_model: no_such_model: no such directory")
seek_viewer_test(corrupt_model "--model corrupt_model" "--not-blank --count 140,30,30,5000"
                 "could not load the model from corrupt_model: corrupt_model/model.safetensors")
set_tests_properties(viewer.model_forward viewer.model_mla viewer.corrupt_model PROPERTIES FIXTURES_REQUIRED viewer_model)

# Keyboard stepping in the Forward panel: from embed, down, down, j, right (+4) then k (-1) is the
# fourth tensor, layers.0.attn.q_norm.
seek_viewer_test(forward_keys "--tensor embed --keys down,down,j,right,k --frames 14" "--not-blank" ""
                 "seekscope: showing layers.0.attn.q_norm")

# A checkpoint read in place (viewer/app.cpp's streamed path, what a full-scale V3 takes): the
# tiny V3-layout fixture of the CLI tests (FP8, three shards and an index, so it is never loaded
# whole), its prompt traced as each MoE layer's topk_idx/topk_weight and layer 0's c_kv/k_pe only, and the MoE panel's
# token path drawn from that trace, every chart inside its view. --memory forces the unsharded
# V2-Lite fixture with its own tokenizer.json the same way: the path names the token by its BPE
# piece. A budget too small for one layer is reported, and the viewer draws on.
seek_viewer_test(stream_path
                 "--model ${SEEK_CLI_WORKDIR}/tiny_v3 --memory 2M --panel moe --view path --token 3 --size 1600x1000 --layout ${SEEK_VIEWER_WORKDIR}/layout.stream_path.txt"
                 "--size 1600,1000 --not-blank --layout ${SEEK_VIEWER_WORKDIR}/layout.stream_path.txt" ""
                 "seekscope: moe path: token 3 '[+]': 1 MoE layers x 8 experts; in layer 1 experts [0-7] [0-7]")
seek_viewer_test(stream_forward
                 "--model ${SEEK_CLI_WORKDIR}/tiny_v3 --memory 2M --size 1600x1000 --layout ${SEEK_VIEWER_WORKDIR}/layout.stream_forward.txt"
                 "--size 1600,1000 --not-blank --layout ${SEEK_VIEWER_WORKDIR}/layout.stream_forward.txt" ""
                 "seekscope: showing layers.0.attn.c_kv")
# The MLA panel of a checkpoint read in place: no stepping, the prompt's latent cache of layer 0 from
# the live trace (layers.0.attn.c_kv and k_pe), the byte bars at the prompt's length.
seek_viewer_test(stream_mla
                 "--model ${SEEK_CLI_WORKDIR}/tiny_v3 --memory 2M --prompt 12+34= --panel mla --size 1600x1000 --layout ${SEEK_VIEWER_WORKDIR}/layout.stream_mla.txt"
                 "--size 1600,1000 --not-blank --layout ${SEEK_VIEWER_WORKDIR}/layout.stream_mla.txt" ""
                 "seekscope: mla decode: read in place, the prompt's latent cache: 7 tokens x c_kv 144")
seek_viewer_test(stream_memory_too_small "--model ${SEEK_CLI_WORKDIR}/tiny_v3 --memory 1K" "--not-blank --count 140,30,30,5000"
                 "could not load the model from .*tiny_v3: --memory 1.00 KiB is too small")
# Broken copies of that fixture: a shard gone, a tokenizer.json that is no BPE tokenizer. Each is
# reported naming the file, and the viewer draws on.
add_test(NAME viewer.make_broken_checkpoints
         COMMAND sh -c "rm -rf tiny_v3_missing_shard tiny_v3_bad_tokenizer && cp -r ${SEEK_CLI_WORKDIR}/tiny_v3 tiny_v3_missing_shard && rm tiny_v3_missing_shard/model-00002-of-00003.safetensors && cp -r ${SEEK_CLI_WORKDIR}/tiny_v3 tiny_v3_bad_tokenizer && echo '{\"model\": {\"type\": \"BPE\"}}' > tiny_v3_bad_tokenizer/tokenizer.json"
         WORKING_DIRECTORY ${SEEK_VIEWER_WORKDIR})
set_tests_properties(viewer.make_broken_checkpoints PROPERTIES LABELS viewer FIXTURES_REQUIRED stream_inputs
                     FIXTURES_SETUP viewer_broken_checkpoints)
seek_viewer_test(stream_missing_shard "--model tiny_v3_missing_shard" "--not-blank --count 140,30,30,5000"
                 "could not load the model from tiny_v3_missing_shard: tiny_v3_missing_shard/model-00002-of-00003.safetensors: cannot open")
seek_viewer_test(stream_bad_tokenizer "--model tiny_v3_bad_tokenizer" "--not-blank --count 140,30,30,5000"
                 "could not load the model from tiny_v3_bad_tokenizer: tiny_v3_bad_tokenizer/tokenizer.json: ")
set_tests_properties(viewer.stream_missing_shard viewer.stream_bad_tokenizer PROPERTIES FIXTURES_REQUIRED viewer_broken_checkpoints)
set_tests_properties(viewer.stream_path viewer.stream_forward viewer.stream_mla viewer.stream_memory_too_small
                     PROPERTIES FIXTURES_REQUIRED stream_inputs)
seek_viewer_test(stream_bpe_path
                 "--model ${SEEK_CLI_WORKDIR}/tiny_v2_lite_bpe --memory 2M --prompt abcd,hello --panel moe --view path --token 1"
                 "--not-blank" "" "seekscope: moe path: token 1 'abc': [0-9]+ MoE layers x [0-9]+ experts")
set_tests_properties(viewer.stream_bpe_path PROPERTIES FIXTURES_REQUIRED stream_bpe_inputs)
