// gemm.h's vector kernels as gemm.cpp calls them: one set of functions per instruction set, each
// compiled from gemm_kernel.inc in a file built for those instructions.
#pragma once

#include <cstdint>

namespace seek {

struct GemmKernelFunctions {
    int64_t block_rows;  // rows of C per pass_over_block
    int64_t depth;       // terms of the sum per pass (pass_over_block's a_strips: block_rows x depth floats)
    int64_t (*packed_b_floats)(int64_t n);
    void (*pack_b)(int64_t depth, int64_t n, const float* b, int64_t b_row, int64_t b_col, float* packed);
    void (*pass_over_block)(int64_t block, int64_t m, int64_t n, int64_t depth, const float* a, int64_t a_row,
                            int64_t a_col, const float* packed, float* c, int64_t c_stride, bool from_c, float* a_strips);
};

// Null when the build has no such kernel (the compiler cannot target it); the CPU is not asked here.
const GemmKernelFunctions* gemm_avx2_functions();
const GemmKernelFunctions* gemm_avx512_functions();

}  // namespace seek
