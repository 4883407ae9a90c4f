# Command-line tests: each runs `seek ...` and checks the exit status and a regex on the output.
# seek_cli_test(NAME EXIT REGEX ARGS...)
set(SEEK_CLI_WORKDIR ${CMAKE_BINARY_DIR}/cli_tests)
file(MAKE_DIRECTORY ${SEEK_CLI_WORKDIR})

function(seek_cli_test name expect_exit expect_output)
  string(REPLACE ";" " " command "$<TARGET_FILE:seek>;${ARGN}")
  add_test(NAME cli.${name}
           COMMAND ${CMAKE_COMMAND} -DCOMMAND=${command} -DEXPECT_EXIT=${expect_exit}
                   -DEXPECT_OUTPUT=${expect_output} -DWORKDIR=${SEEK_CLI_WORKDIR}
                   -P ${CMAKE_CURRENT_SOURCE_DIR}/run_cli.cmake)
  set_tests_properties(cli.${name} PROPERTIES LABELS cpu)
endfunction()

# Usage and help
seek_cli_test(help 0 "commands:" --help)
seek_cli_test(no_command 2 "usage: seek" )
seek_cli_test(unknown_command 2 "unknown command 'frobnicate'" frobnicate)
foreach(command info kv step compare bench route fp8 convert train generate grpo eval kernels)
  seek_cli_test(${command}_help 0 "usage: seek ${command}" ${command} --help)
endforeach()
file(GLOB SEEK_CLI_TEST_PARTS ${CMAKE_CURRENT_SOURCE_DIR}/cli_tests_*.cmake)
foreach(part ${SEEK_CLI_TEST_PARTS})
  include(${part})
endforeach()
