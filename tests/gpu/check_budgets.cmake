# Register, shared-memory and spill budgets of the kernels in one .cu file.
#
# Compiles SOURCE with nvcc for sm_80, sm_89 and sm_90a with -Xptxas -v (ptxas then reports, per
# kernel and architecture, the registers per thread, static shared memory and spilled bytes) and
# checks each kernel against the budget line written next to it in the file:
#
#   // budget: <kernel> regs<=<registers> smem<=<bytes>[K] spills=<bytes>
#
# e.g. `// budget: rms_norm_kernel2 regs<=32 smem<=1K spills=0`. regs and smem are upper limits;
# spills=N allows at most N bytes of spill stores plus loads (0: none). smem counts __shared__
# arrays only: dynamic shared memory is chosen at launch and ptxas cannot see it. A template kernel
# has one budget for all its instantiations. Fails when a kernel exceeds its budget on any of the
# three architectures, has no budget line, or when a budget line names no kernel or is malformed.
#
# A kernel built on some architectures only (tensor-core instructions: mma.sync e4m3 from sm_89,
# wgmma on sm_90a alone) names them at the end of its line:
#
#   // budget: fp8_gemm_kernel4 regs<=176 smem<=0 spills=0 archs=sm_90a
#
# Its budget is then checked on those architectures only, and ptxas must have compiled it for each
# of them (a kernel defined under an #if that leaves out a named architecture fails); on the others
# whatever the source leaves (a trap under an #if on __CUDA_ARCH__, or nothing) is reported, not
# checked.
#
# Arguments (-D): NVCC, CXX (nvcc's host compiler), CXXFILT, INCLUDE_DIR, SOURCE, WORK_DIR.
cmake_minimum_required(VERSION 3.18)
get_filename_component(file_name ${SOURCE} NAME)
get_filename_component(base_name ${SOURCE} NAME_WE)
file(MAKE_DIRECTORY ${WORK_DIR})

# ---- the budgets ----------------------------------------------------------------------------------
file(STRINGS ${SOURCE} budget_lines REGEX "//[ \t]*budget:")
set(budget_kernels "")
set(failures "")
foreach(line IN LISTS budget_lines)
  if(line MATCHES "//[ \t]*budget:[ \t]+([A-Za-z_][A-Za-z0-9_]*)[ \t]+regs<=([0-9]+)[ \t]+smem<=([0-9]+)(K?)[ \t]+spills=([0-9]+)([ \t]+archs=([a-z0-9_,]+))?[ \t]*$")
    set(kernel ${CMAKE_MATCH_1})
    set(budget_regs_${kernel} ${CMAKE_MATCH_2})
    set(budget_smem_${kernel} ${CMAKE_MATCH_3})
    if(CMAKE_MATCH_4 STREQUAL "K")
      math(EXPR budget_smem_${kernel} "${CMAKE_MATCH_3} * 1024")
    endif()
    set(budget_spills_${kernel} ${CMAKE_MATCH_5})
    set(archs_field "${CMAKE_MATCH_7}")
    list(APPEND budget_kernels ${kernel})
    if(NOT archs_field STREQUAL "")  # (last: the MATCHES below resets CMAKE_MATCH_*)
      string(REPLACE "," ";" archs "${archs_field}")
      foreach(arch IN LISTS archs)
        if(NOT arch MATCHES "^sm_(80|89|90a)$")
          list(APPEND failures "${file_name}: the budget line for ${kernel} names ${arch}; the architectures compiled are sm_80, sm_89 and sm_90a")
        endif()
      endforeach()
      set(budget_archs_${kernel} ${archs})
    endif()
  else()
    string(STRIP "${line}" line)
    list(APPEND failures "${file_name}: budget line not understood: '${line}' (expected: // budget: <kernel> regs<=N smem<=N[K] spills=N [archs=sm_89,sm_90a])")
  endif()
endforeach()

# ---- what ptxas reports ---------------------------------------------------------------------------
execute_process(
  COMMAND ${NVCC} -ccbin ${CXX} -std=c++17 -O3 -I${INCLUDE_DIR} -Xptxas -v
          -gencode arch=compute_80,code=sm_80 -gencode arch=compute_89,code=sm_89
          -gencode arch=compute_90a,code=sm_90a
          -c ${SOURCE} -o ${WORK_DIR}/${base_name}.o
  RESULT_VARIABLE status
  OUTPUT_VARIABLE compiler_output
  ERROR_VARIABLE compiler_output)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "nvcc failed on ${file_name}:\n${compiler_output}")
endif()

# The lines for one kernel and architecture:
#   ptxas info    : Compiling entry function '_ZN4seek4cuda16rms_norm_kernel2EPfPKfS3_iif' for 'sm_90a'
#   ptxas info    : Function properties for _ZN4seek4cuda16rms_norm_kernel2EPfPKfS3_iif
#       0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
#   ptxas info    : Used 16 registers, used 1 barriers, 1024 bytes smem, 380 bytes cmem[0]
# (a non-inlined device function gets the "Function properties" lines only).
string(REPLACE ";" "," compiler_output "${compiler_output}")
string(REPLACE "\n" ";" output_lines "${compiler_output}")
set(reports "")  # one "mangled|arch|registers|smem|spilled" per kernel and architecture
set(entry "")
set(properties_of "")
foreach(line IN LISTS output_lines)
  if(line MATCHES "Compiling entry function '([^']+)' for '([^']+)'")
    set(entry ${CMAKE_MATCH_1})
    set(arch ${CMAKE_MATCH_2})
    set(spilled 0)
  elseif(line MATCHES "Function properties for ([^ ]+)")
    set(properties_of ${CMAKE_MATCH_1})
  elseif(line MATCHES "([0-9]+) bytes stack frame, ([0-9]+) bytes spill stores, ([0-9]+) bytes spill loads")
    math(EXPR function_spilled "${CMAKE_MATCH_2} + ${CMAKE_MATCH_3}")
    if(properties_of STREQUAL entry)
      set(spilled ${function_spilled})
    elseif(function_spilled GREATER 0)
      list(APPEND failures "${file_name}: device function ${properties_of} spills ${function_spilled} bytes")
    endif()
  elseif(line MATCHES "Used ([0-9]+) registers" AND NOT entry STREQUAL "")
    set(registers ${CMAKE_MATCH_1})
    set(smem 0)
    if(line MATCHES "([0-9]+) bytes smem")
      set(smem ${CMAKE_MATCH_1})
    endif()
    list(APPEND reports "${entry}|${arch}|${registers}|${smem}|${spilled}")
    set(entry "")
  endif()
endforeach()
if(reports STREQUAL "")
  message(FATAL_ERROR "${file_name}: ptxas reported no kernels; its output was:\n${compiler_output}")
endif()

# ---- kernel names: _ZN4seek4cuda16rms_norm_kernel2EPfPKfS3_iif -> rms_norm_kernel2 -------------------
set(mangled_names "")
foreach(report IN LISTS reports)
  string(REGEX MATCH "^[^|]+" mangled "${report}")
  list(APPEND mangled_names ${mangled})
endforeach()
list(REMOVE_DUPLICATES mangled_names)
execute_process(COMMAND ${CXXFILT} ${mangled_names} OUTPUT_VARIABLE demangled_output RESULT_VARIABLE status
                OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${CXXFILT} failed")
endif()
string(REPLACE ";" "," demangled_output "${demangled_output}")
string(REPLACE "\n" ";" demangled_names "${demangled_output}")
foreach(mangled demangled IN ZIP_LISTS mangled_names demangled_names)
  # "void seek::cuda::f<(seek::demo::Bug)1>(float*, int)": what precedes the first ( or <, without
  # the return type and the namespaces.
  string(REGEX MATCH "^[^(<]*" head "${demangled}")
  string(REGEX REPLACE "^.*[ :]" "" name_${mangled} "${head}")
endforeach()

# ---- the check ------------------------------------------------------------------------------------
set(used_budgets "")
foreach(report IN LISTS reports)
  string(REPLACE "|" ";" fields "${report}")
  list(GET fields 0 mangled)
  list(GET fields 1 arch)
  list(GET fields 2 registers)
  list(GET fields 3 smem)
  list(GET fields 4 spilled)
  set(kernel ${name_${mangled}})
  if(NOT DEFINED budget_regs_${kernel})
    list(APPEND failures "${file_name}: kernel ${kernel} has no budget line (${arch}: ${registers} registers, ${smem} bytes smem, ${spilled} bytes spilled); add: // budget: ${kernel} regs<=N smem<=N spills=0")
    continue()
  endif()
  if(DEFINED budget_archs_${kernel} AND NOT arch IN_LIST budget_archs_${kernel})
    message("${kernel} ${arch}: ${registers} registers, ${smem} bytes smem: not built for ${arch} (budgeted on ${budget_archs_${kernel}} only)")
    continue()
  endif()
  list(APPEND used_budgets ${kernel})
  list(APPEND compiled_for_${kernel} ${arch})
  set(verdict "ok")
  if(registers GREATER budget_regs_${kernel})
    set(verdict "OVER BUDGET")
    list(APPEND failures "${file_name}: ${kernel} on ${arch} uses ${registers} registers, its budget is ${budget_regs_${kernel}}")
  endif()
  if(smem GREATER budget_smem_${kernel})
    set(verdict "OVER BUDGET")
    list(APPEND failures "${file_name}: ${kernel} on ${arch} uses ${smem} bytes of shared memory, its budget is ${budget_smem_${kernel}}")
  endif()
  if(spilled GREATER budget_spills_${kernel})
    set(verdict "OVER BUDGET")
    list(APPEND failures "${file_name}: ${kernel} on ${arch} spills ${spilled} bytes, its budget is ${budget_spills_${kernel}}")
  endif()
  message("${kernel} ${arch}: ${registers} registers (budget ${budget_regs_${kernel}}), ${smem} bytes smem (${budget_smem_${kernel}}), ${spilled} bytes spilled (${budget_spills_${kernel}}): ${verdict}")
endforeach()
foreach(kernel IN LISTS budget_kernels)
  if(NOT kernel IN_LIST used_budgets)
    list(APPEND failures "${file_name}: the budget line for ${kernel} names no kernel ptxas compiled")
  endif()
  foreach(arch IN LISTS budget_archs_${kernel})
    if(NOT arch IN_LIST compiled_for_${kernel})
      list(APPEND failures "${file_name}: ${kernel}'s budget line names ${arch}, but ptxas compiled no ${kernel} for ${arch}")
    endif()
  endforeach()
endforeach()

if(failures)
  string(REPLACE ";" "\n" failures "${failures}")
  message(FATAL_ERROR "${failures}")
endif()
