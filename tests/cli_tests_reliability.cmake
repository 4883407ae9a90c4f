# Reliability from the command line: hostile inputs refused at once by name (bad_inputs.sh), and
# `seek train` / `seek grpo` killed after every file operation of their saves, or failed with a
# full disk or an I/O error, then resumed to the bytes of a run never killed (crash_consistency.sh).
add_test(NAME cli.bad_inputs COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/bad_inputs.sh $<TARGET_FILE:seek> ${CMAKE_SOURCE_DIR}/data)
set_tests_properties(cli.bad_inputs PROPERTIES LABELS cpu)
foreach(part train grpo failures)
  add_test(NAME cli.crash_consistency_${part}
           COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/crash_consistency.sh $<TARGET_FILE:seek>
                   ${CMAKE_CURRENT_SOURCE_DIR}/data/configs/tiny.json ${part})
  set_tests_properties(cli.crash_consistency_${part} PROPERTIES LABELS cpu)
endforeach()
