# The FP8 oracle: core/fp8 against NVIDIA's cuda_fp8.h / cuda_bf16.h conversions, which are host
# functions (plain C++ on the CPU), so the test needs the CUDA toolkit but no GPU.
#
# fp8_oracle.cpp is compiled by nvcc (as host C++: nvcc hands it to the host compiler with the
# toolkit's include directory), then linked with seek_core by the ordinary C++ linker; the top
# level does not need to enable the CUDA language for this. Without nvcc the test is registered
# anyway and reports itself skipped (exit code 77 -> SKIP_RETURN_CODE), so a missing toolkit is
# visible in the CTest summary instead of silently passing.
find_program(SEEK_NVCC nvcc
             HINTS ENV CUDA_PATH ENV CUDA_HOME
             PATHS /usr/local/cuda
             PATH_SUFFIXES bin)

if(SEEK_NVCC)
  set(oracle_source ${CMAKE_CURRENT_SOURCE_DIR}/fp8_oracle.cpp)
  set(oracle_object ${CMAKE_CURRENT_BINARY_DIR}/fp8_oracle.o)
  set(oracle_flags -O2)
  if(CMAKE_BUILD_TYPE STREQUAL "Debug")
    set(oracle_flags -g)
  endif()
  add_custom_command(
    OUTPUT ${oracle_object}
    COMMAND ${SEEK_NVCC} -ccbin ${CMAKE_CXX_COMPILER} -std=c++17 ${oracle_flags} -I${CMAKE_SOURCE_DIR}
            "-I$<JOIN:$<TARGET_PROPERTY:Eigen3::Eigen,INTERFACE_INCLUDE_DIRECTORIES>,;-I>"
            -c ${oracle_source} -o ${oracle_object}
    DEPENDS ${oracle_source} ${CMAKE_SOURCE_DIR}/core/fp8.h ${CMAKE_SOURCE_DIR}/core/random.h
            ${CMAKE_SOURCE_DIR}/core/tensor.h
    COMMENT "Compiling the FP8 oracle with ${SEEK_NVCC}"
    VERBATIM COMMAND_EXPAND_LISTS)
  add_executable(seek_fp8_oracle ${oracle_object})
  set_target_properties(seek_fp8_oracle PROPERTIES LINKER_LANGUAGE CXX)
  target_link_libraries(seek_fp8_oracle PRIVATE seek_core)
  add_test(NAME fp8.oracle_cuda_fp8 COMMAND seek_fp8_oracle)
else()
  add_test(NAME fp8.oracle_cuda_fp8
           COMMAND sh -c "echo 'skipped: nvcc not found at /usr/local/cuda/bin, in CUDA_PATH or CUDA_HOME, or on PATH'; exit 77")
endif()
set_tests_properties(fp8.oracle_cuda_fp8 PROPERTIES LABELS cpu SKIP_RETURN_CODE 77)
