# seek_emulated_sources(<target> <file.cu>...): compiles CUDA sources with the host compiler, against
# the thread-block emulator, into <target>.
#
# Each .cu gets a generated one-line .cpp that #includes it, so the host compiler sees C++ and
# compiler messages, __FILE__/__LINE__ and gdb all point at the .cu's own lines. With the CUDA
# toolkit's headers found (SEEK_CUDA_INCLUDE_DIR), the kernels get NVIDIA's cuda_fp8.h / cuda_bf16.h,
# whose conversions are host code too (gpu/seek_cuda.h).
function(seek_emulated_sources target)
  foreach(cu ${ARGN})
    get_filename_component(cu ${cu} ABSOLUTE)
    get_filename_component(name ${cu} NAME_WE)
    set(wrapper ${CMAKE_CURRENT_BINARY_DIR}/emulated/${name}.cpp)
    file(CONFIGURE OUTPUT ${wrapper}
         CONTENT "// ${name}.cu, compiled by the host compiler against the thread-block emulator (gpu/emulator)\n#include \"${cu}\"\n")
    target_sources(${target} PRIVATE ${wrapper})
  endforeach()
  target_include_directories(${target} PRIVATE ${CMAKE_SOURCE_DIR})
  if(SEEK_CUDA_INCLUDE_DIR)
    target_include_directories(${target} SYSTEM PRIVATE ${SEEK_CUDA_INCLUDE_DIR})
    target_compile_definitions(${target} PRIVATE SEEK_EMU_HAVE_CUDA_FP8=1)
  endif()
endfunction()
