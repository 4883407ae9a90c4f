# Runs seekscope headless under Xvfb (exit 0, stderr matching EXPECT_STDERR when given), then
# check_png on its screenshot: run_cli.cmake twice.
# -DXVFB_RUN=path -DSEEKSCOPE=path -DARGS="seekscope options" -DPNG=file -DCHECK_PNG=path
# -DCHECKS="check_png options" -DWORKDIR=dir [-DEXPECT_STDERR=regex] [-DEXPECT_VIEWER_OUTPUT=regex]
# (EXPECT_VIEWER_OUTPUT: seekscope's stdout and stderr together must match)
file(REMOVE ${PNG})
set(EXPECT_EXIT 0)
if(DEFINED EXPECT_VIEWER_OUTPUT)
  set(EXPECT_OUTPUT "${EXPECT_VIEWER_OUTPUT}")
endif()
# A 24-bit screen larger than the window: xvfb-run's default is 1280x1024.
set(COMMAND "${XVFB_RUN} -a -s '-screen 0 1920x1200x24' ${SEEKSCOPE} ${ARGS} --screenshot ${PNG}")
include(${CMAKE_CURRENT_LIST_DIR}/run_cli.cmake)
set(COMMAND "${CHECK_PNG} ${PNG} ${CHECKS}")
set(EXPECT_STDERR "")
unset(EXPECT_OUTPUT)
include(${CMAKE_CURRENT_LIST_DIR}/run_cli.cmake)
