# Runs every `./build/seek ...` command line of one lesson (or the README), in order, in a fresh scratch directory, and
# fails on the first non-zero exit: lessons never drift away from the program they teach.
# Lines whose comment says "takes minutes" are listed but not run, to keep CI short; so are lines whose
# comment says "run by notebooks/..." (a notebook runs that command and checks what it prints).
# The scratch directory links data/ to the source tree's, so that `data/toy/...` paths work as from the checkout.
# -DSLOW=ON runs the "takes minutes" lines too (label course-slow, scripts/course-check.sh: hours on 2 cores).
# -DLESSON=file.md -DSEEK=path/to/seek -DWORKDIR=dir -DDATA_DIR=path/to/data [-DSLOW=ON]
file(STRINGS ${LESSON} lines REGEX "^\\./build/seek ")
file(REMOVE_RECURSE ${WORKDIR})  # commands like `seek train --out DIR` refuse a DIR an earlier run left
file(MAKE_DIRECTORY ${WORKDIR})
file(CREATE_LINK ${DATA_DIR} ${WORKDIR}/data SYMBOLIC)
list(LENGTH lines count)
if(count EQUAL 0)
  message(FATAL_ERROR "${LESSON}: no ./build/seek commands found")
endif()
foreach(line ${lines})
  if(line MATCHES "takes minutes" AND NOT SLOW)
    message("skipped (takes minutes): ${line}")
    continue()
  endif()
  if(line MATCHES "# run by notebooks/")
    message("skipped (a notebook runs it): ${line}")
    continue()
  endif()
  string(REGEX REPLACE "^\\./build/seek" "${SEEK}" command "${line}")
  string(REGEX REPLACE "[ ]+#.*$" "" command "${command}")
  separate_arguments(argv UNIX_COMMAND "${command}")
  message("$ ${line}")
  execute_process(COMMAND ${argv} WORKING_DIRECTORY ${WORKDIR} RESULT_VARIABLE status
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "${LESSON}: '${line}' exited with ${status}\n${out}${err}")
  endif()
endforeach()
message("${count} commands ran")
